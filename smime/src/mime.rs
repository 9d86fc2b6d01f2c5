//! Just enough MIME for S/MIME: header parsing on raw bytes, body decoding, multipart/signed
//! splitting that keeps the signed part byte for byte, and address extraction.

use crate::error::{Result, SmimeError};

/// Split a message/entity into raw header block and body (the blank line belongs to neither).
pub fn split_header_body(raw: &[u8]) -> (&[u8], &[u8]) {
    if raw.starts_with(b"\r\n") {
        return (&[], &raw[2..]);
    }
    if raw.starts_with(b"\n") {
        return (&[], &raw[1..]);
    }
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\n' {
            let rest = &raw[i + 1..];
            if rest.starts_with(b"\r\n") {
                return (&raw[..i + 1], &rest[2..]);
            }
            if rest.starts_with(b"\n") {
                return (&raw[..i + 1], &rest[1..]);
            }
        }
        i += 1;
    }
    (raw, &[])
}

/// The header fields of a raw block in order, as (name, value) with the value's continuation
/// lines kept behind CRLF (folding intact, as a signer must keep it); lines without a colon
/// are skipped.
pub fn folded_fields(block: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(block);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push_str("\r\n");
                last.1.push_str(line);
            }
            continue;
        }
        if let Some((n, v)) = line.split_once(':') {
            fields.push((n.to_string(), v.trim_start().to_string()));
        }
    }
    fields
}

/// Parsed header fields (unfolded, in order).
#[derive(Clone, Debug, Default)]
pub struct Headers {
    /// (name, unfolded value) pairs.
    pub fields: Vec<(String, String)>,
}

impl Headers {
    /// Parse a raw header block.
    pub fn parse(block: &[u8]) -> Self {
        let fields = folded_fields(block)
            .into_iter()
            .map(|(n, v)| {
                let unfolded: Vec<&str> = v.split("\r\n").map(str::trim).collect();
                (n.trim().to_string(), unfolded.join(" "))
            })
            .collect();
        Self { fields }
    }
    /// First value of a field (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// All values of a field.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// Parsed Content-Type (default text/plain).
    pub fn content_type(&self) -> ContentType {
        self.get("Content-Type")
            .map(ContentType::parse)
            .unwrap_or_else(|| ContentType::parse("text/plain"))
    }
}

/// A Content-Type value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentType {
    /// `type/subtype`, lower case.
    pub mime: String,
    /// Parameters (names lower case).
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// Parse `type/subtype; a=b; c="d"`.
    pub fn parse(v: &str) -> Self {
        let mut parts = split_params(v).into_iter();
        let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let params = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|x| x.strip_suffix('"'))
                    .unwrap_or(v);
                Some((k.trim().to_ascii_lowercase(), v.to_string()))
            })
            .collect();
        Self { mime, params }
    }
    /// Parameter value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// `application/pkcs7-mime` or `application/x-pkcs7-mime`.
    pub fn is_pkcs7_mime(&self) -> bool {
        self.mime == "application/pkcs7-mime" || self.mime == "application/x-pkcs7-mime"
    }
    /// smime-type parameter, lower case.
    pub fn smime_type(&self) -> Option<String> {
        self.param("smime-type").map(|s| s.to_ascii_lowercase())
    }
}

fn split_params(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in v.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Decode a body according to Content-Transfer-Encoding (base64, 7bit, 8bit, binary, quoted-printable).
pub fn decode_body(headers: &Headers, body: &[u8], input: &str) -> Result<Vec<u8>> {
    let cte = headers
        .get("Content-Transfer-Encoding")
        .unwrap_or("7bit")
        .trim()
        .to_ascii_lowercase();
    match cte.as_str() {
        "base64" => decode_base64(body, input),
        "quoted-printable" => Ok(decode_qp(body)),
        _ => Ok(body.to_vec()),
    }
}

/// Decode base64 ignoring whitespace. The data is public (a message body), so a fast
/// table decoder serves; the constant-time one is for key material.
///
/// Line by line: each line (without its CR) is copied into a staging buffer of 48 KiB, decoded
/// whenever it fills, so the body is never copied whole. Lines holding anything but base64
/// (other white space, padding in the middle) take the byte-by-byte path, which has the
/// same result and error.
pub fn decode_base64(body: &[u8], input: &str) -> Result<Vec<u8>> {
    decode_base64_lines(body).map_or_else(|| decode_base64_filtered(body, input), Ok)
}

/// The staged line-by-line decoder; `None` when the body needs the filtered path.
fn decode_base64_lines(body: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    const STAGE: usize = 48 * 1024;
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut stage: Vec<u8> = Vec::with_capacity(STAGE + 128);
    let mut rest = body;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        stage.extend_from_slice(line);
        if stage.len() >= STAGE {
            // Decode whole groups; padding may only end the body.
            let whole = stage.len() / 4 * 4;
            if stage[..whole].contains(&b'=') {
                return None;
            }
            engine.decode_vec(&stage[..whole], &mut out).ok()?;
            stage.drain(..whole);
        }
    }
    engine.decode_vec(&stage, &mut out).ok()?;
    Some(out)
}

/// Every white-space byte removed, then decoded: the general path.
fn decode_base64_filtered(body: &[u8], input: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    let mut clean = body.to_vec();
    clean.retain(|b| !b.is_ascii_whitespace());
    base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .map_err(|e| {
            SmimeError::bad_input(input, format!("body is not valid base64 (truncated?): {e}"))
        })
}

fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'=' {
            if body[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if body[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(h) = body.get(i + 1..i + 3)
                && let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(h), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

/// Base64 with CRLF line breaks every 76 characters.
pub fn encode_base64_lines(data: &[u8]) -> Vec<u8> {
    use base64ct::Encoding;
    let s = base64ct::Base64::encode_string(data);
    let mut out = Vec::with_capacity(s.len() + s.len() / 76 * 2 + 2);
    for chunk in s.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Split a multipart body into its raw parts (each part = headers + body, byte for byte, without
/// the line break that precedes the next delimiter). Preamble and epilogue are dropped.
pub fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new(); // (start of delimiter line, end of delimiter line incl. newline, is_close)
    let mut i = 0;
    while i + d.len() <= body.len() {
        let at_line_start = i == 0 || body[i - 1] == b'\n';
        if at_line_start && &body[i..i + d.len()] == d {
            let after = &body[i + d.len()..];
            let close = after.starts_with(b"--");
            let eol = after
                .iter()
                .position(|b| *b == b'\n')
                .map(|p| i + d.len() + p + 1)
                .unwrap_or(body.len());
            starts.push((i, eol, close));
            if close {
                break;
            }
            i = eol;
            continue;
        }
        i += 1;
    }
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let (_, content_start, close) = w[0];
        if close {
            break;
        }
        let mut end = w[1].0;
        if end > content_start && body[end - 1] == b'\n' {
            end -= 1;
            if end > content_start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        parts.push(&body[content_start..end.max(content_start)]);
    }
    parts
}

/// Lower-cased addr-specs of an address-list header value.
pub fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut angle = false;
    let mut flush = |cur: &mut String| {
        let item = cur.trim();
        if !item.is_empty() {
            let addr = match (item.rfind('<'), item.rfind('>')) {
                (Some(a), Some(b)) if a < b => &item[a + 1..b],
                _ => item,
            };
            let addr = addr.trim().to_ascii_lowercase();
            if !addr.is_empty() {
                out.push(addr);
            }
        }
        cur.clear();
    };
    for c in value.chars() {
        match c {
            '"' if !angle => {
                quoted = !quoted;
                cur.push(c);
            }
            '<' if !quoted => {
                angle = true;
                cur.push(c);
            }
            '>' if !quoted => {
                angle = false;
                cur.push(c);
            }
            ',' if !quoted && !angle => flush(&mut cur),
            _ => cur.push(c),
        }
    }
    flush(&mut cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_keeps_part_bytes() {
        let body = b"pre\r\n--b\r\nA: 1\r\n\r\nx\r\n--b\r\nB: 2\r\n\r\ny\r\n--b--\r\n";
        let parts = split_multipart(body, "b");
        assert_eq!(parts, vec![&b"A: 1\r\n\r\nx"[..], &b"B: 2\r\n\r\ny"[..]]);
    }

    #[test]
    fn address_lists() {
        assert_eq!(
            addresses("\"Doe, J\" <J@X.de>, k@y.de"),
            vec!["j@x.de".to_string(), "k@y.de".to_string()]
        );
    }

    proptest::proptest! {
        /// The staged line decoder gives what the filtered decoder gives (value or error), for
        /// any data, line length, line ending and stray white space or padding.
        #[test]
        fn staged_decoder_is_the_filtered_one(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..200_000),
            width in 1usize..120,
            crlf in proptest::bool::ANY,
            noise in proptest::collection::vec((0usize..300_000, 0usize..6), 0..3),
        ) {
            use base64::Engine;
            let text = base64::engine::general_purpose::STANDARD.encode(&data);
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut body = Vec::new();
            for line in text.as_bytes().chunks(width) {
                body.extend_from_slice(line);
                body.extend_from_slice(eol);
            }
            for (at, what) in noise {
                let at = at.min(body.len());
                body.insert(at, [b' ', b'\t', b'=', b'\x0c', b'\r', b'*'][what]);
            }
            let staged = decode_base64(&body, "x").map_err(|e| e.to_string());
            let filtered = decode_base64_filtered(&body, "x").map_err(|e| e.to_string());
            proptest::prop_assert_eq!(staged, filtered);
        }
    }

    #[test]
    fn content_type_params() {
        let ct = ContentType::parse(
            "application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data",
        );
        assert!(ct.is_pkcs7_mime());
        assert_eq!(ct.smime_type().as_deref(), Some("enveloped-data"));
    }
}
