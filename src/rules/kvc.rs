//! KV-Connect header rules (profile `kvc`), seed "Anbindung an KV-Connect" V4.1 §3.1, §3.2.

use super::personal_data::scan_subject;
use super::{Emitter, Location, Profile, Rule, RuleContext, header_location, single_field};
use crate::message::{Message, RawField};

/// Header names as the seed spells them (KVC-Anb090, KVC-Anb110, KVC-Anb160, KVC-Anb170).
pub const SENDERSYSTEM: &str = "X-KVC-Sendersystem";
pub const DIENSTKENNUNG: &str = "X-KVC-Dienstkennung";
pub const SUBJECT: &str = "Subject";
pub use super::msg_id::MESSAGE_ID;
pub const BCC: &str = "Bcc";

#[cfg(test)]
mod tests {
    use super::unfold_at_separators;

    #[test]
    fn folds_next_to_separators_carry_no_whitespace() {
        assert_eq!(
            unfold_at_separators(b" Arztbrief;\r\n VHitG-Versand;V1.0"),
            ("Arztbrief;VHitG-Versand;V1.0".into(), true)
        );
        assert_eq!(
            unfold_at_separators(b"\r\n Arztbrief;VHitG-Versand\r\n\t;V1.0"),
            ("Arztbrief;VHitG-Versand;V1.0".into(), true)
        );
        assert_eq!(
            unfold_at_separators(b" IT\r\n Doktor;V1.2"),
            ("IT Doktor;V1.2".into(), false)
        );
        assert_eq!(unfold_at_separators(b" a; b"), ("a; b".into(), false));
    }
}

pub static RULES: &[&dyn Rule] = &[
    &LineEndings,
    &SendersystemPresent,
    &SendersystemSyntax,
    &DienstkennungPresent,
    &DienstkennungSyntax,
    &DienstkennungFallback,
    &SubjectPerApplication,
    &SubjectWithoutPersonalData,
    &MessageIdValid,
    &NoBcc,
];

/// Declares a KV-Connect rule (profile `kvc`) that runs `Self::run`.
macro_rules! kvc_rule {
    ($ty:ident, $id:literal, $req:literal, $desc:literal) => {
        super::declare_rule!($ty, $id, $req, $desc, |profile| profile == Profile::Kvc);
    };
}

kvc_rule!(
    LineEndings,
    "kvc/crlf-only",
    "KVC-Anb023",
    "Every line of the message ends with CRLF; no bare LF or bare CR."
);
kvc_rule!(
    SendersystemPresent,
    "kvc/sendersystem-present",
    "KVC-Anb090",
    "The header contains X-KVC-Sendersystem."
);
kvc_rule!(
    SendersystemSyntax,
    "kvc/sendersystem-syntax",
    "KVC-Anb100",
    "X-KVC-Sendersystem is `<product>;<version>` with both parts non-empty, in one field."
);
kvc_rule!(
    DienstkennungPresent,
    "kvc/dienstkennung-present",
    "KVC-Anb110",
    "The header contains X-KVC-Dienstkennung."
);
kvc_rule!(
    DienstkennungSyntax,
    "kvc/dienstkennung-syntax",
    "KVC-Anb120",
    "X-KVC-Dienstkennung is `<app>{-<type>};<sendungstyp>;<version>`, one field, spelled as the application specifies."
);
kvc_rule!(
    DienstkennungFallback,
    "kvc/dienstkennung-fallback",
    "KVC-Anb130",
    "A Dienstkennung of an unknown application should be the eNachricht fallback."
);
kvc_rule!(
    SubjectPerApplication,
    "kvc/subject-application",
    "KVC-Anb140",
    "Subject is present and, where the application specifies it, filled accordingly."
);
kvc_rule!(
    SubjectWithoutPersonalData,
    "kvc/subject-personal-data",
    "KVC-Anb150",
    "Where the application does not specify the Subject, it carries no personal data."
);
kvc_rule!(
    MessageIdValid,
    "kvc/message-id",
    "KVC-Anb160",
    "Exactly one Message-ID field with RFC 5322 msg-id syntax."
);
kvc_rule!(
    NoBcc,
    "kvc/no-bcc",
    "KVC-Anb170",
    "No Bcc header field, in any spelling, not even empty."
);

impl LineEndings {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let raw = msg.raw();
        let mut bare_lf = 0usize;
        let mut first_lf = None;
        for i in memchr::memchr_iter(b'\n', raw) {
            if i == 0 || raw[i - 1] != b'\r' {
                bare_lf += 1;
                first_lf.get_or_insert(i);
            }
        }
        let mut bare_cr = 0usize;
        let mut first_cr = None;
        for i in memchr::memchr_iter(b'\r', raw) {
            if raw.get(i + 1) != Some(&b'\n') {
                bare_cr += 1;
                first_cr.get_or_insert(i);
            }
        }
        if let Some(offset) = first_lf {
            let line = msg.line_of_offset(offset);
            out.error(
                Location::Line { line },
                format!(
                    "line {line} ends with a bare LF (byte offset {offset}); only CRLF is allowed \
                     ({bare_lf} line(s) with bare LF in total)"
                ),
            );
        }
        if let Some(offset) = first_cr {
            let line = msg.line_of_offset(offset);
            out.error(
                Location::Line { line },
                format!(
                    "line {line} contains a bare CR not followed by LF (byte offset {offset}); \
                     only CRLF is allowed ({bare_cr} bare CR in total)"
                ),
            );
        }
    }
}

/// Reports a field that is missing, and a field-name spelling that differs from the seed's.
fn check_present(msg: &Message, name: &str, out: &mut Emitter) {
    let mut fields = msg.fields_named(name);
    match fields.next() {
        None => out.error(Location::Message, format!("the header field {name} is missing")),
        Some(field) if field.name != name => out.warning(
            header_location(field),
            format!(
                "field name spelled `{}`; names are case-insensitive, but the specified spelling is `{name}`",
                field.name
            ),
        ),
        Some(_) => {}
    }
}

/// The value of an X-KVC field after unfolding; encoded-words are decoded with a warning, since
/// receivers compare the raw text.
fn structured_text(msg: &Message, field: &RawField, out: &mut Emitter) -> String {
    if msg.has_encoded_word(field) {
        let decoded = msg.decoded_value(field);
        if decoded != msg.unfolded_value(field) {
            out.warning(
                header_location(field),
                format!(
                    "{} uses RFC 2047 encoded-words; receivers compare the raw value (decoded: `{decoded}`)",
                    field.name
                ),
            );
            return decoded;
        }
    }
    let (value, fold_at_separator) = unfold_at_separators(msg.raw_value(field));
    if fold_at_separator {
        out.warning(
            header_location(field),
            format!(
                "{} is folded next to a `;`; unfolding keeps the whitespace that follows the line break, \
                 which strict receivers see as part of the value (compared here without it)",
                field.name
            ),
        );
    }
    value
}

/// RFC 5322 unfolding, except that the whitespace a fold carries is dropped where the fold
/// stands next to a `;` separator: these values never contain whitespace there, so such a fold
/// is a line-length artefact rather than content. Returns the value and whether that happened.
fn unfold_at_separators(raw: &[u8]) -> (String, bool) {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut dropped = false;
    let mut rest = text.as_ref();
    while let Some(i) = rest.find('\n') {
        let (line, after) = (&rest[..i], &rest[i + 1..]);
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        let ws_len = after.len() - after.trim_start_matches([' ', '\t']).len();
        let next_is_sep = after[ws_len..].starts_with(';');
        if out.trim_end_matches([' ', '\t']).ends_with(';') || next_is_sep {
            dropped |= ws_len > 0 && !out.trim().is_empty();
            rest = &after[ws_len..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    (out.trim_matches([' ', '\t']).to_string(), dropped)
}

impl SendersystemPresent {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        check_present(msg, SENDERSYSTEM, out);
    }
}

impl SendersystemSyntax {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let Some(field) = single_field(msg, SENDERSYSTEM, out) else {
            out.not_evaluated(format!("{SENDERSYSTEM} is absent (see KVC-Anb090)"));
            return;
        };
        let value = structured_text(msg, field, out);
        let parts: Vec<&str> = value.split(';').collect();
        let loc = header_location(field);
        if parts.len() != 2 {
            out.error(
                loc,
                format!(
                    "`{value}` has {} part(s); the value is exactly two parts `<product>;<version>`",
                    parts.len()
                ),
            );
            return;
        }
        for (part, label) in parts.iter().zip(["product", "version"]) {
            if part.trim().is_empty() {
                out.error(loc.clone(), format!("`{value}`: the {label} part is empty"));
            } else if part.trim() != *part {
                out.warning(
                    loc.clone(),
                    format!("`{value}`: the {label} part has surrounding whitespace; the spelling must be identical in every message"),
                );
            }
        }
    }
}

impl DienstkennungPresent {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        check_present(msg, DIENSTKENNUNG, out);
    }
}

/// A Dienstkennung split into its parts.
struct Dienstkennung {
    value: String,
    parts: Vec<String>,
}

fn dienstkennung(msg: &Message, out: &mut Emitter) -> Option<(RawField, Dienstkennung)> {
    let field = single_field(msg, DIENSTKENNUNG, out)?.clone();
    let value = structured_text(msg, &field, out);
    let parts = value.split(';').map(str::to_string).collect();
    Some((field, Dienstkennung { value, parts }))
}

/// Dienstkennung without emitting duplicate/encoding findings again (for the rules after 120).
fn dienstkennung_quiet(msg: &Message) -> Option<Dienstkennung> {
    let mut scratch = Emitter::default();
    dienstkennung(msg, &mut scratch).map(|(_, d)| d)
}

fn valid_part1(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn valid_version(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('V') else {
        return false;
    };
    !digits.is_empty()
        && digits
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl DienstkennungSyntax {
    fn run(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((field, dk)) = dienstkennung(msg, out) else {
            out.not_evaluated(format!("{DIENSTKENNUNG} is absent (see KVC-Anb110)"));
            return;
        };
        let loc = header_location(&field);
        let value = &dk.value;
        if dk.parts.len() > 3 {
            out.error(
                loc,
                format!(
                    "`{value}` has {} parts; the format is `<app>{{-<type>}};<sendungstyp>;<version>` (at most three)",
                    dk.parts.len()
                ),
            );
            return;
        }
        if let Some((i, _)) = dk
            .parts
            .iter()
            .enumerate()
            .find(|(_, p)| p.trim() != p.as_str())
        {
            out.error(
                loc.clone(),
                format!("`{value}`: part {} has surrounding whitespace; the value is case- and spelling-sensitive", i + 1),
            );
        }
        let part1 = dk.parts[0].trim();
        if part1.is_empty() {
            out.error(
                loc,
                format!("`{value}`: part 1 (the application) is mandatory and empty"),
            );
            return;
        }
        if !valid_part1(part1) {
            out.error(
                loc.clone(),
                format!("`{value}`: part 1 `{part1}` is not an application name (letters, digits, `-`, `_`, `.`)"),
            );
        }
        if let Some((i, _)) = dk
            .parts
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, p)| p.trim().is_empty())
        {
            out.error(
                loc.clone(),
                format!("`{value}`: part {} is present but empty", i + 1),
            );
        }
        let Some(found) = ctx.kvc_registry.find_app(part1) else {
            if let Some(app) = ctx.kvc_registry.find_app_ignoring_case(part1) {
                out.error(
                    loc,
                    format!(
                        "`{value}`: application `{part1}` differs in case from the registered `{}`; the value is case-sensitive",
                        app.app
                    ),
                );
                return;
            }
            if let Some(version) = dk.parts.get(2).map(|v| v.trim())
                && !version.is_empty()
                && !valid_version(version)
            {
                out.warning(
                    loc,
                    format!("`{value}`: the version part `{version}` does not look like `V<major>.<minor>`"),
                );
            }
            return;
        };
        let app = found.application;
        if let Some(t) = found.app_type
            && !app.types.iter().any(|known| known == t)
        {
            let msg_text = format!(
                "`{value}`: `{t}` is not a known type of application {} (known: {})",
                app.app,
                if app.types.is_empty() {
                    "none".to_string()
                } else {
                    app.types.join(", ")
                }
            );
            if app.closed {
                out.error(loc.clone(), msg_text);
            } else {
                out.warning(loc.clone(), msg_text);
            }
        }
        if app.dienstkennungen.iter().any(|k| &k.value == value) {
            return;
        }
        if let Some(k) = app
            .dienstkennungen
            .iter()
            .find(|k| k.value.eq_ignore_ascii_case(value) || k.value == value.replace(' ', ""))
        {
            out.error(
                loc,
                format!("`{value}` differs in spelling from the specified `{}`; the value is case-sensitive", k.value),
            );
            return;
        }
        let known: Vec<&str> = app
            .dienstkennungen
            .iter()
            .map(|k| k.value.as_str())
            .collect();
        let text = format!(
            "`{value}` is not a known Dienstkennung of application {} ({}); known values: {}",
            app.app,
            app.title,
            known.join(", ")
        );
        if app.closed {
            out.error(loc, text);
        } else {
            out.warning(
                loc,
                format!(
                    "{text} (registry incomplete for this application; extend it with --registry)"
                ),
            );
        }
    }
}

impl DienstkennungFallback {
    fn run(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some(dk) = dienstkennung_quiet(msg) else {
            out.not_evaluated(format!("{DIENSTKENNUNG} is absent (see KVC-Anb110)"));
            return;
        };
        let part1 = dk.parts[0].trim();
        if part1.is_empty()
            || ctx.kvc_registry.find_app(part1).is_some()
            || ctx.kvc_registry.find_app_ignoring_case(part1).is_some()
        {
            return;
        }
        let registry = ctx.kvc_registry;
        let fallback = registry
            .fallback()
            .map(|a| {
                let values: Vec<&str> =
                    a.dienstkennungen.iter().map(|k| k.value.as_str()).collect();
                format!("{} ({})", a.app, values.join(", "))
            })
            .unwrap_or_else(|| registry.fallback_app().to_string());
        let location = msg
            .fields_named(DIENSTKENNUNG)
            .next()
            .map_or(Location::Message, header_location);
        out.warning(
            location,
            format!(
                "application `{part1}` is not in the registry; if its Dienstkennung is not specified, \
                 the fallback of application {fallback} must be used (add known applications with --registry)"
            ),
        );
    }
}

/// The subject rule the registry specifies for this message's Dienstkennung, if any.
fn specified_subject(
    msg: &Message,
    ctx: &RuleContext,
) -> Option<(String, super::kvc_registry::SubjectRule)> {
    let dk = dienstkennung_quiet(msg)?;
    let found = ctx.kvc_registry.find_app(dk.parts[0].trim())?;
    let known = found
        .application
        .dienstkennungen
        .iter()
        .find(|k| k.value == dk.value)?;
    known
        .subject
        .clone()
        .map(|rule| (known.value.clone(), rule))
}

impl SubjectPerApplication {
    fn run(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some(field) = single_field(msg, SUBJECT, out) else {
            out.error(Location::Message, "the header field Subject is missing");
            return;
        };
        let subject = msg.decoded_value(field);
        let loc = header_location(field);
        match specified_subject(msg, ctx) {
            Some((value, rule)) if !ctx.kvc_registry.subject_matches(&rule, &value, &subject) => {
                out.error(
                    loc,
                    format!(
                        "Subject `{subject}` does not match the application's specification for {value}: expected {}",
                        rule.describe(&value)
                    ),
                );
            }
            Some(_) => {}
            None if subject.is_empty() => {
                out.warning(loc, "Subject is empty; the application does not specify it, so it should still say what the message is")
            }
            None => {}
        }
    }
}

impl SubjectWithoutPersonalData {
    fn run(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some(field) = msg.fields_named(SUBJECT).next() else {
            out.not_evaluated("Subject is absent (see KVC-Anb140)");
            return;
        };
        if let Some((value, _)) = specified_subject(msg, ctx) {
            out.not_evaluated(format!(
                "the application specifies the Subject for {value} (see KVC-Anb140)"
            ));
            return;
        }
        let subject = msg.decoded_value(field);
        for signal in scan_subject(&subject) {
            let text = format!(
                "Subject `{subject}` contains {}: `{}`",
                signal.what, signal.matched
            );
            if signal.confident {
                out.error(header_location(field), text);
            } else {
                out.warning(
                    header_location(field),
                    format!("{text} (heuristic; check by hand)"),
                );
            }
        }
    }
}

impl MessageIdValid {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        super::msg_id::check_message_id_field(msg, out);
    }
}

impl NoBcc {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        for field in msg.fields_named(BCC) {
            let value = msg.unfolded_value(field);
            let shown = if value.is_empty() {
                "empty".to_string()
            } else {
                format!("`{value}`")
            };
            out.error(
                header_location(field),
                format!("a `{}` field ({shown}) is present; Bcc must not appear in a KV-Connect message", field.name),
            );
        }
    }
}
