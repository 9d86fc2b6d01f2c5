//! XML text helpers for the Konnektor's answers (the answers are written as text: their shape is
//! fixed by the XSDs and small).

use base64::Engine;

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    crate::kvc::rest::xml_escape(s)
}

/// Base64 (standard alphabet, no line breaks), as `base64Binary` values are written.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a `base64Binary` value (whitespace inside is allowed, as XML Schema allows it).
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()
}
