//! The few XML bodies of the REST interface the reference PVS reads (KVC-FACTS §4: account
//! uid, header lists, certificate), read with quick-xml.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};

fn entity(r: &BytesRef<'_>) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    let name = r.decode().map(|n| n.to_string()).unwrap_or_default();
    match name.as_str() {
        "lt" => "<".into(),
        "gt" => ">".into(),
        "amp" => "&".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        other => format!("&{other};"),
    }
}

/// `uid` attribute of the `<account>` element.
pub fn account_uid(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let mut r = Reader::from_str(&text);
    loop {
        match r.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == b"account" => {
                let a = e.try_get_attribute("uid").ok()??;
                return a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.trim().to_string());
            }
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// Text of the child elements of every element named `record`, in document order: one map
/// (lower-case local name → text) per record.
fn records(body: &[u8], record: &[u8]) -> Result<Vec<BTreeMap<String, String>>, String> {
    let text = String::from_utf8_lossy(body);
    let mut r = Reader::from_str(&text);
    let mut out = Vec::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    let mut field: Option<(String, String)> = None;
    loop {
        match r.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_lowercase();
                if name.as_bytes() == record {
                    current = Some(BTreeMap::new());
                } else if current.is_some() {
                    field = Some((name, String::new()));
                }
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_lowercase();
                if name.as_bytes() == record {
                    out.push(BTreeMap::new());
                } else if let Some(c) = current.as_mut() {
                    c.insert(name, String::new());
                }
            }
            Event::Text(t) => {
                if let Some((_, v)) = field.as_mut() {
                    v.push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::CData(t) => {
                if let Some((_, v)) = field.as_mut() {
                    v.push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::GeneralRef(g) => {
                if let Some((_, v)) = field.as_mut() {
                    v.push_str(&entity(&g));
                }
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_lowercase();
                if name.as_bytes() == record {
                    if let Some(c) = current.take() {
                        out.push(c);
                    }
                } else if let (Some(c), Some((n, v))) = (current.as_mut(), field.take()) {
                    c.insert(n, v.trim().to_string());
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// `<headers><header><message-id>..</message-id>...</header>...</headers>`.
pub fn headers(body: &[u8]) -> Result<Vec<BTreeMap<String, String>>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    records(body, b"header")
}

/// `<certificate><body>PEM</body>...</certificate>`.
pub fn certificate_body(body: &[u8]) -> Option<String> {
    records(body, b"certificate")
        .ok()?
        .into_iter()
        .next()?
        .remove("body")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rest_bodies() {
        assert_eq!(
            account_uid(
                b"<?xml version=\"1.0\"?>\n<account uid=\"u&amp;1\"><email>a@b</email></account>"
            ),
            Some("u&1".into())
        );
        let h = headers(b"<headers><header><message-id>a&lt;1&gt;@x</message-id><subject>S</subject></header><header><message-id>b@x</message-id></header></headers>").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0]["message-id"], "a<1>@x");
        assert_eq!(h[0]["subject"], "S");
        assert_eq!(h[1]["message-id"], "b@x");
        assert!(headers(b"").unwrap().is_empty());
        assert!(headers(b"<headers/>").unwrap().is_empty());
        assert_eq!(
            certificate_body(b"<certificate><id>1</id><body>-----BEGIN X-----\nAA\n-----END X-----</body></certificate>").as_deref(),
            Some("-----BEGIN X-----\nAA\n-----END X-----")
        );
    }

    proptest::proptest! {
        /// Server answers are untrusted input: any bytes give a value or an error, never a
        /// panic.
        #[test]
        fn any_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = account_uid(&body);
            let _ = headers(&body);
            let _ = certificate_body(&body);
        }

        /// Near-valid documents (element soup from the real names) too.
        #[test]
        fn element_soup_never_panics(parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "<headers>", "</headers>", "<header>", "</header>", "<message-id>",
                "</message-id>", "<account uid=\"x\">", "<account uid='", "</account>",
                "<certificate>", "<body>", "</body>", "</certificate>", "&amp;", "&#x0;",
                "&bogus;", "<![CDATA[", "]]>", "<!--", "-->", "a@b", "\u{0}", "<?xml ?>",
            ]),
            0..40,
        )) {
            let body = parts.concat().into_bytes();
            let _ = account_uid(&body);
            let _ = headers(&body);
            let _ = certificate_body(&body);
        }
    }
}
