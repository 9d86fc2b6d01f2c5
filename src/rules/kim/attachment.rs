//! The KIM-Attachment structure (A_19359, A_19364, A_19369): the x-kas body part that replaces a
//! client mail stored on the KAS.

use std::sync::OnceLock;

use base64::Engine;
use mail_parser::{MimeHeaders, PartType};
use serde_json::Value;

use super::headers::content_type_params;
use super::profile::{AttachmentSchema, FieldType};
use super::{excerpt, kim_rule, part_disposition, part_type, with_profile};
use crate::message::Message;
use crate::rules::{Emitter, Location, RuleContext};

kim_rule!(
    KasPartHeaders,
    "kim/kas-part-headers",
    "A_19359",
    "The x-kas part has exactly `Content-Type: text/plain; charset=utf-8` and \
     `Content-Disposition: x-kas`; a body holding a complete KIM-Attachment structure without \
     that disposition fails (A_19359-07)."
);
kim_rule!(
    KasOnlyBodyElement,
    "kim/kas-only-body-element",
    "A_19359",
    "The KIM-Attachment structure is the only body element of the message (A_19359-07; one x-kas \
     part per attachment inside a multipart was KIM 1.5.2, A_19359-06)."
);
kim_rule!(
    KasJson,
    "kim/kas-json",
    "A_19359",
    "The x-kas body is a JSON object with the fields and types of the profile's Attachment schema \
     (kim_profiles.yaml)."
);
kim_rule!(
    KasValues,
    "kim/kas-values",
    "A_19359",
    "`k` and `hash` are base64 of 32 bytes (AES-256 key, SHA-256), `size` a non-negative integer."
);
kim_rule!(
    KasLink,
    "kim/kas-link",
    "A_19364",
    "`link` is the KAS share link: an https URL whose host is a FQDN and whose last path segment \
     is the random unique resource id (a UUID per A_19380)."
);
kim_rule!(
    KasSingleStructure,
    "kim/kas-single-structure",
    "A_19369",
    "A message carries at most one KIM-Attachment structure (a receiving Clientmodul must not \
     process more than one)."
);

/// One KAS body part of the top-level message: an x-kas part, or a text/plain part whose body
/// is a complete KIM-Attachment structure (recognised by its content).
#[derive(Debug, Clone)]
pub struct KasPart {
    /// Index in mail-parser's part list (0 = the message itself).
    pub index: usize,
    /// 1-based line where the part's header starts.
    pub line: usize,
    /// 1-based line where the part's body (the JSON) starts.
    pub body_line: usize,
    /// Raw Content-Type and Content-Disposition values, unfolded.
    pub content_type: Option<String>,
    pub disposition: Option<String>,
    /// Recognised by its content, not by `Content-Disposition: x-kas`.
    pub by_content: bool,
    /// The decoded body.
    pub text: String,
}

fn mentions_x_kas(raw: &[u8]) -> bool {
    static RE: OnceLock<Option<regex::bytes::Regex>> = OnceLock::new();
    RE.get_or_init(|| regex::bytes::Regex::new("(?i)x-kas").ok())
        .as_ref()
        .is_none_or(|re| re.is_match(raw))
}

/// Every KIM-Attachment schema names `link`; a message without the key cannot hold one.
fn mentions_link_key(raw: &[u8]) -> bool {
    memchr::memmem::find(raw, b"\"link\"").is_some()
}

/// Above this size the MIME tree is parsed anyway (the size rules need it and it is cached), so a
/// text scan per rule would only add cost.
const PREFILTER_MAX: usize = 1024 * 1024;

/// Whether `text` is a complete KIM-Attachment structure: JSON whose first value is an object
/// with every required field of one of the known schemas (kim_profiles.yaml).
pub fn is_kim_attachment_structure(text: &str) -> bool {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') && !trimmed.starts_with('[') {
        return false;
    }
    let Ok(data) = super::profile::data() else {
        return false;
    };
    let (values, _) = structures(trimmed);
    values
        .first()
        .and_then(Value::as_object)
        .is_some_and(|obj| {
            data.attachment_schemas
                .iter()
                .any(|schema| schema.required.iter().all(|f| obj.contains_key(f)))
        })
}

/// The KAS body parts of the message (not of attached messages): x-kas parts, and text/plain
/// parts that are not attachments and hold a complete KIM-Attachment structure. A small message
/// is parsed only when its bytes mention x-kas or a `"link"` key at all. Computed once.
pub fn kas_parts(msg: &Message) -> Vec<KasPart> {
    #[derive(Clone)]
    struct KasParts(Vec<KasPart>);
    msg.memo(|m| KasParts(find_kas_parts(m))).0
}

fn find_kas_parts(msg: &Message) -> Vec<KasPart> {
    let raw = msg.raw();
    if raw.len() <= PREFILTER_MAX && !mentions_x_kas(raw) && !mentions_link_key(raw) {
        return Vec::new();
    }
    let Some(parsed) = msg.parsed() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, part) in parsed.parts.iter().enumerate() {
        let x_kas = part_disposition(part).as_deref() == Some("x-kas");
        let by_content = !x_kas
            && matches!(part.body, PartType::Text(_))
            && part_type(part) == "text/plain"
            && part.attachment_name().is_none()
            && part_disposition(part).as_deref() != Some("attachment")
            && may_hold_json(part.contents())
            && is_kim_attachment_structure(&String::from_utf8_lossy(part.contents()));
        if !x_kas && !by_content {
            continue;
        }
        let header_value = |name: &str| {
            part.headers
                .iter()
                .find(|h| h.name().eq_ignore_ascii_case(name))
                .and_then(|h| raw.get(h.offset_start() as usize..h.offset_end() as usize))
                .map(crate::message::unfold)
        };
        out.push(KasPart {
            index,
            line: msg.line_of_offset(part.offset_header as usize),
            body_line: msg.line_of_offset(part.offset_body as usize),
            content_type: header_value("Content-Type"),
            disposition: header_value("Content-Disposition"),
            by_content,
            text: String::from_utf8_lossy(part.contents()).into_owned(),
        });
    }
    out
}

/// Whether a body can start with a JSON object or array after leading whitespace: a cheap test
/// before the lossy UTF-8 copy (a non-ASCII first character is left to the full check, which
/// trims Unicode whitespace).
fn may_hold_json(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{' || b == b'[' || !b.is_ascii())
}

/// The JSON values in a part body (several when concatenated or in an array).
fn structures(text: &str) -> (Vec<Value>, Option<String>) {
    let mut values = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut error = None;
    for item in &mut stream {
        match item {
            Ok(Value::Array(items)) => values.extend(items),
            Ok(v) => values.push(v),
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    (values, error)
}

fn line(part: &KasPart) -> Location {
    Location::Line { line: part.line }
}

fn body_line(part: &KasPart) -> Location {
    Location::Line {
        line: part.body_line,
    }
}

/// The message's KAS parts; none: the rule is not evaluated (and says why).
fn kas_parts_or_none(msg: &Message, out: &mut Emitter) -> Option<Vec<KasPart>> {
    let parts = kas_parts(msg);
    if parts.is_empty() {
        out.not_evaluated("no x-kas part and no body holding a KIM-Attachment structure");
        return None;
    }
    Some(parts)
}

impl KasPartHeaders {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let Some(parts) = kas_parts_or_none(msg, out) else {
            return;
        };
        for part in &parts {
            let value = part.content_type.clone().unwrap_or_default();
            let (ctype, params) = content_type_params(&value);
            let charset = params
                .iter()
                .find(|(k, _)| k == "charset")
                .map(|(_, v)| v.clone());
            if ctype != "text/plain"
                || !charset
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case("utf-8"))
            {
                out.error(
                    line(part),
                    format!(
                        "the x-kas part has Content-Type `{value}`; it must be `text/plain; charset=utf-8`"
                    ),
                );
            } else if value != "text/plain; charset=utf-8" {
                out.warning(
                    line(part),
                    format!(
                        "Content-Type `{value}` is equivalent to, but not spelled as, `text/plain; charset=utf-8`"
                    ),
                );
            }
            let disposition = part.disposition.clone().unwrap_or_default();
            if part.by_content {
                out.error(
                    line(part),
                    if disposition.is_empty() {
                        "the part holds a complete KIM-Attachment structure but has no \
                         `Content-Disposition: x-kas` (A_19359-07); a receiving Clientmodul \
                         recognises the structure by that disposition"
                            .to_string()
                    } else {
                        format!(
                            "the part holds a complete KIM-Attachment structure but has \
                             Content-Disposition `{disposition}`; A_19359-07 requires `x-kas`"
                        )
                    },
                );
            } else if disposition != "x-kas" {
                out.warning(
                    line(part),
                    format!("Content-Disposition `{disposition}` is not spelled exactly `x-kas`"),
                );
            }
        }
    }
}

impl KasOnlyBodyElement {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let Some(parts) = kas_parts_or_none(msg, out) else {
            return;
        };
        for part in &parts {
            if part.index != 0 {
                out.error(
                    line(part),
                    "the x-kas part is one of several body parts; since A_19359-07 the \
                     KIM-Attachment structure replaces the whole body (an x-kas part per \
                     attachment inside a multipart was KIM 1.5.2)",
                );
            }
        }
    }
}

/// The schema that best explains an object: the profile's first, else a known older one.
fn schema_findings(obj: &serde_json::Map<String, Value>, schema: &AttachmentSchema) -> Vec<String> {
    let mut problems = Vec::new();
    for name in &schema.required {
        if !obj.contains_key(name) {
            problems.push(format!("required field `{name}` is missing"));
        }
    }
    for (name, ty) in &schema.fields {
        let Some(v) = obj.get(name) else { continue };
        let ok = match ty {
            FieldType::String => v.is_string(),
            FieldType::Integer => v.is_i64() || v.is_u64(),
        };
        if !ok {
            problems
                .push(format!("field `{name}` is {v} but must be a JSON {ty:?}").to_lowercase());
        }
    }
    problems
}

impl KasJson {
    fn run(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some(parts) = kas_parts_or_none(msg, out) else {
            return;
        };
        let Some((data, profile)) = with_profile(ctx.profile, out) else {
            return;
        };
        let Some(schema) = profile
            .attachment_schemas
            .first()
            .and_then(|name| data.schema(name))
        else {
            out.error(
                Location::Message,
                format!(
                    "profile {} has no KAS: an x-kas part (KIM-Attachment structure) is not allowed",
                    ctx.profile.as_str()
                ),
            );
            return;
        };
        for part in &parts {
            let (values, error) = structures(&part.text);
            let Some(first) = values.first() else {
                out.error(
                    body_line(part),
                    format!(
                        "the x-kas body is not JSON: {} (body: `{}`)",
                        error.unwrap_or_else(|| "empty".into()),
                        excerpt(part.text.trim(), 60)
                    ),
                );
                continue;
            };
            let Some(obj) = first.as_object() else {
                out.error(
                    body_line(part),
                    format!("the x-kas body is {first}, not a JSON object"),
                );
                continue;
            };
            let problems = schema_findings(obj, schema);
            let older = data
                .attachment_schemas
                .iter()
                .filter(|s| s.name != schema.name)
                .find(|s| schema_findings(obj, s).is_empty());
            if !problems.is_empty() {
                let mut text = format!(
                    "the KIM-Attachment structure does not match schema `{}` ({}): {}",
                    schema.name,
                    schema.origin,
                    problems.join("; ")
                );
                if let Some(older) = older {
                    text.push_str(&format!(
                        "; it matches the older schema `{}` ({})",
                        older.name, older.origin
                    ));
                }
                out.error(body_line(part), text);
            }
            let extra: Vec<&String> = obj
                .keys()
                .filter(|k| !schema.fields.contains_key(*k))
                .collect();
            if !extra.is_empty() {
                let names: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
                out.warning(
                    body_line(part),
                    format!(
                        "field(s) {} are not part of schema `{}`",
                        names.join(", "),
                        schema.name
                    ),
                );
            }
        }
    }
}

fn decoded_len(value: &str) -> Result<usize, String> {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map(|b| b.len())
        .map_err(|e| e.to_string())
}

impl KasValues {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let Some(parts) = kas_parts_or_none(msg, out) else {
            return;
        };
        for part in &parts {
            let (values, _) = structures(&part.text);
            let Some(obj) = values.first().and_then(Value::as_object) else {
                out.not_evaluated("the x-kas body is not a JSON object (see kim/kas-json)");
                continue;
            };
            for (name, what) in [("k", "an AES-256 key"), ("hash", "a SHA-256 value")] {
                let Some(value) = obj.get(name).and_then(Value::as_str) else {
                    continue;
                };
                match decoded_len(value) {
                    Ok(32) => {}
                    Ok(n) => out.error(
                        body_line(part),
                        format!("`{name}` decodes to {n} bytes; {what} is 32 bytes"),
                    ),
                    Err(e) => out.error(
                        body_line(part),
                        format!("`{name}` `{}` is not base64: {e}", excerpt(value, 50)),
                    ),
                }
            }
            if let Some(size) = obj.get("size")
                && size.is_number()
                && !size.is_u64()
            {
                out.error(
                    body_line(part),
                    format!("`size` is {size}; it must be a non-negative integer (bytes)"),
                );
            }
        }
    }
}

/// Checks a host name: at least two labels of letters, digits and hyphens, an alphabetic
/// top-level label, not an IP address.
pub fn check_fqdn(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.len() > 253 {
        return Err("the host is longer than 253 characters".into());
    }
    if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!("`{host}` is an IP address, not a FQDN"));
    }
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    if labels.len() < 2 {
        return Err(format!(
            "`{host}` is a single label, not a fully qualified name"
        ));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("label `{label}` of `{host}` is not a DNS label"));
        }
    }
    let tld = labels.last().copied().unwrap_or("");
    if !tld.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(format!("`{host}` has a numeric top-level label"));
    }
    Ok(())
}

pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl KasLink {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let Some(parts) = kas_parts_or_none(msg, out) else {
            return;
        };
        for part in &parts {
            let (values, _) = structures(&part.text);
            let Some(link) = values
                .first()
                .and_then(|v| v.get("link"))
                .and_then(Value::as_str)
            else {
                out.not_evaluated("no string `link` in the structure (see kim/kas-json)");
                continue;
            };
            let Some(rest) = link
                .get(..8)
                .filter(|s| s.eq_ignore_ascii_case("https://"))
                .map(|_| &link[8..])
            else {
                out.error(
                    body_line(part),
                    format!("link `{}` is not an https URL", excerpt(link, 80)),
                );
                continue;
            };
            if !link.starts_with("https://") {
                out.warning(
                    body_line(part),
                    format!("link `{}`: scheme not in lower case", excerpt(link, 80)),
                );
            }
            let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            let host = match host.rsplit_once(':') {
                Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
                _ => host,
            };
            if let Err(e) = check_fqdn(host) {
                out.error(
                    body_line(part),
                    format!("link `{}`: {e}", excerpt(link, 80)),
                );
            }
            let path = path.split(['?', '#']).next().unwrap_or("");
            let last = path.rsplit('/').next().unwrap_or("");
            if last.is_empty() {
                out.error(
                    body_line(part),
                    format!(
                        "link `{}` has no resource id as its last path segment",
                        excerpt(link, 80)
                    ),
                );
            } else if !is_uuid(last) {
                out.warning(
                    body_line(part),
                    format!("the resource id `{last}` of the link is not a UUID (A_19380 names a UUID as the example)"),
                );
            }
        }
    }
}

impl KasSingleStructure {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let Some(parts) = kas_parts_or_none(msg, out) else {
            return;
        };
        let count: usize = parts
            .iter()
            .map(|p| structures(&p.text).0.len().max(1))
            .sum();
        if count > 1 {
            let loc = parts
                .get(1)
                .or(parts.first())
                .map_or(Location::Message, line);
            out.error(
                loc,
                format!(
                    "the message carries {count} KIM-Attachment structures in {} x-kas part(s); a \
                     receiving Clientmodul must not process it and sends an error mail instead",
                    parts.len()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_and_uuid() {
        assert!(check_fqdn("kas.gematik.kim.telematik-test").is_ok());
        assert!(check_fqdn("localhost").is_err());
        assert!(check_fqdn("10.0.0.1").is_err());
        assert!(check_fqdn("a..b").is_err());
        assert!(is_uuid("a566f001-7fa6-4f87-a088-7def2d609c87"));
        assert!(!is_uuid("CXFDTE82346dfzwr7634dfs76sd76sdtzq376e3tzsd"));
    }

    #[test]
    fn counts_structures() {
        assert_eq!(structures(r#"{"a":1}"#).0.len(), 1);
        assert_eq!(structures(r#"{"a":1}{"b":2}"#).0.len(), 2);
        assert_eq!(structures(r#"[{"a":1},{"b":2}]"#).0.len(), 2);
        assert!(structures("nope").1.is_some());
    }
}
