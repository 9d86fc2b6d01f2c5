//! Minimal BER reader used where the typed `der` decoder cannot help:
//! flattening constructed (chunked, possibly indefinite-length) OCTET STRINGs such as the
//! `eContent` of a SignedData written by a streaming encoder.
//!
//! The typed structures themselves are decoded with `der` 0.8 in BER mode (`from_ber`), which
//! accepts indefinite lengths and flattens constructed OCTET STRINGs in typed fields. An `Any`
//! (like `eContent`) keeps its raw inner encoding, and that is what this module flattens.

use crate::error::{Result, SmimeError};

const MAX_DEPTH: usize = 32;

/// One BER TLV.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// First identifier octet (class, constructed bit, low tag number or 0x1f).
    pub first: u8,
    /// Whether the constructed bit is set.
    pub constructed: bool,
    /// The content octets (for indefinite length: everything between header and end-of-contents).
    pub content: &'a [u8],
    /// Total encoded length including header (and end-of-contents octets).
    pub total_len: usize,
    /// Whether the length was indefinite.
    pub indefinite: bool,
}

fn err(msg: impl Into<String>) -> SmimeError {
    SmimeError::bad_input("BER", msg)
}

/// Read one TLV from the start of `data`.
pub fn read_tlv(data: &[u8]) -> Result<Tlv<'_>> {
    read_tlv_depth(data, 0)
}

fn read_tlv_depth(data: &[u8], depth: usize) -> Result<Tlv<'_>> {
    if depth > MAX_DEPTH {
        return Err(err("nesting too deep"));
    }
    let first = *data.first().ok_or_else(|| err("truncated: missing tag"))?;
    let mut pos = 1;
    if first & 0x1f == 0x1f {
        loop {
            let b = *data
                .get(pos)
                .ok_or_else(|| err("truncated in high tag number"))?;
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            if pos > 6 {
                return Err(err("tag number too long"));
            }
        }
    }
    let constructed = first & 0x20 != 0;
    let lb = *data
        .get(pos)
        .ok_or_else(|| err("truncated: missing length"))?;
    pos += 1;
    if lb == 0x80 {
        if !constructed {
            return Err(err("indefinite length on a primitive encoding"));
        }
        let start = pos;
        loop {
            let rest = data
                .get(pos..)
                .ok_or_else(|| err("truncated: missing end-of-contents"))?;
            if rest.len() >= 2 && rest[0] == 0 && rest[1] == 0 {
                return Ok(Tlv {
                    first,
                    constructed,
                    content: &data[start..pos],
                    total_len: pos + 2,
                    indefinite: true,
                });
            }
            if rest.is_empty() {
                return Err(err("truncated: missing end-of-contents"));
            }
            let child = read_tlv_depth(rest, depth + 1)?;
            pos += child.total_len;
        }
    }
    let len = if lb & 0x80 == 0 {
        lb as usize
    } else {
        let n = (lb & 0x7f) as usize;
        if n > 4 {
            return Err(err("length field too long"));
        }
        let mut len = 0usize;
        for i in 0..n {
            let b = *data
                .get(pos + i)
                .ok_or_else(|| err("truncated in length"))?;
            len = (len << 8) | b as usize;
        }
        pos += n;
        len
    };
    let end = pos.checked_add(len).ok_or_else(|| err("length overflow"))?;
    let content = data.get(pos..end).ok_or_else(|| {
        err(format!(
            "truncated: element declares {len} content bytes, only {} present",
            data.len().saturating_sub(pos)
        ))
    })?;
    Ok(Tlv {
        first,
        constructed,
        content,
        total_len: end,
        indefinite: false,
    })
}

/// Iterate over the child TLVs of a constructed content (skipping end-of-contents markers).
pub fn children(content: &[u8]) -> Result<Vec<Tlv<'_>>> {
    children_raw(content)?.into_iter().map(read_tlv).collect()
}

/// The complete encodings (header + content) of the child TLVs of a constructed content.
pub fn children_raw(content: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        if rest.len() >= 2 && rest[0] == 0 && rest[1] == 0 {
            rest = &rest[2..];
            continue;
        }
        let t = read_tlv(rest)?;
        out.push(&rest[..t.total_len]);
        rest = &rest[t.total_len..];
    }
    Ok(out)
}

/// The bytes of an OCTET STRING given as a full TLV (primitive or constructed/chunked).
pub fn octet_string_bytes(tlv: &[u8]) -> Result<Vec<u8>> {
    let t = read_tlv(tlv)?;
    let mut out = Vec::with_capacity(t.content.len());
    flatten(&t, &mut out, 0)?;
    Ok(out)
}

/// Flatten the content of a constructed OCTET STRING whose child TLVs are `content`.
pub fn flatten_chunks(content: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(content.len());
    for c in children(content)? {
        flatten(&c, &mut out, 1)?;
    }
    Ok(out)
}

fn flatten(t: &Tlv<'_>, out: &mut Vec<u8>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(err("OCTET STRING chunks nested too deep"));
    }
    if !t.constructed {
        out.extend_from_slice(t.content);
        return Ok(());
    }
    for c in children(t.content)? {
        if c.first & 0x1f != 0x04 {
            return Err(err(format!(
                "constructed OCTET STRING contains a non-OCTET STRING chunk (tag 0x{:02x})",
                c.first
            )));
        }
        flatten(&c, out, depth + 1)?;
    }
    Ok(())
}

/// Convert a BER encoding to DER where that is unambiguous without a schema:
/// indefinite lengths become definite, constructed universal OCTET STRINGs become primitive.
/// (Implicitly tagged constructed strings and SET ordering are left as they are.)
pub fn normalize(data: &[u8]) -> Result<Vec<u8>> {
    let t = read_tlv(data)?;
    let mut out = Vec::with_capacity(data.len());
    normalize_into(data, &t, &mut out, 0)?;
    Ok(out)
}

fn header_len(data: &[u8]) -> usize {
    let mut pos = 1;
    if data[0] & 0x1f == 0x1f {
        while pos < data.len() && data[pos] & 0x80 != 0 {
            pos += 1;
        }
        pos += 1;
    }
    pos
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn normalize_into(raw: &[u8], t: &Tlv<'_>, out: &mut Vec<u8>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(err("nesting too deep"));
    }
    let tag_len = header_len(raw).min(raw.len());
    if t.first == 0x24 {
        let mut bytes = Vec::new();
        flatten(t, &mut bytes, 0)?;
        out.push(0x04);
        push_len(out, bytes.len());
        out.extend_from_slice(&bytes);
        return Ok(());
    }
    if !t.constructed {
        out.extend_from_slice(&raw[..tag_len]);
        push_len(out, t.content.len());
        out.extend_from_slice(t.content);
        return Ok(());
    }
    let mut inner = Vec::with_capacity(t.content.len());
    let mut rest = t.content;
    while !rest.is_empty() {
        if rest.len() >= 2 && rest[0] == 0 && rest[1] == 0 {
            rest = &rest[2..];
            continue;
        }
        let c = read_tlv(rest)?;
        normalize_into(&rest[..c.total_len], &c, &mut inner, depth + 1)?;
        rest = &rest[c.total_len..];
    }
    out.extend_from_slice(&raw[..tag_len]);
    push_len(out, inner.len());
    out.extend_from_slice(&inner);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_indefinite_chunked_octet_string() {
        // 24 80 04 02 'ab' 04 01 'c' 00 00
        let ber = [0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0];
        assert_eq!(octet_string_bytes(&ber).unwrap(), b"abc");
        assert_eq!(normalize(&ber).unwrap(), vec![0x04, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn truncated_is_an_error() {
        assert!(read_tlv(&[0x30, 0x05, 0x01]).is_err());
        assert!(read_tlv(&[0x30, 0x80, 0x04, 0x00]).is_err());
        assert!(read_tlv(&[]).is_err());
    }
}
