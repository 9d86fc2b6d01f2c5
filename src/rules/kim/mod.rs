//! KIM rules (profiles `kim-1.0`, `kim-1.5`): client mails, KOM-LE messages, and the mails a
//! Clientmodul delivers or sends back (Vermerke, error mails, DSNs). Seed: kim-hotfix-1.5.2-1;
//! what differs between KIM versions is data in `kim_profiles.yaml` (see `profile`).
//!
//! A rule first asks what kind of message it looks at (`Kind`, from the header block only); rules
//! that need the MIME tree call `Message::parsed()`, which parses once and caches.
//!
//! Every rule reports under the requirement it checks; the catalogue entry of that requirement
//! names the rule (`rules:` in requirements.yaml, checked by tests/catalogue.rs).

pub mod attachment;
pub mod error_mail;
pub mod headers;
pub mod profile;
pub mod size;

use mail_parser::{MessagePart, MimeHeaders, PartType};

use super::{Emitter, Location, Profile, Rule, header_location};
use crate::message::{Message, RawField};

pub static RULES: &[&dyn Rule] = &[
    &headers::LineEndings,
    &headers::MessageIdSyntax,
    &headers::DateSyntax,
    &headers::DienstkennungSyntax,
    &headers::SendersystemSyntax,
    &headers::CmVersionSyntax,
    &headers::PtVersionSyntax,
    &headers::KonVersionSyntax,
    &headers::KomLeVersionValue,
    &headers::OUTER_VERSION_HEADERS,
    &headers::OUTER_EXPIRES,
    &headers::OuterSubject,
    &headers::OuterContentType,
    &headers::DecryptionResultValues,
    &headers::IntegrityCheckResultValues,
    &headers::FehlermeldungValues,
    &attachment::KasPartHeaders,
    &attachment::KasOnlyBodyElement,
    &attachment::KasJson,
    &attachment::KasValues,
    &attachment::KasLink,
    &attachment::KasSingleStructure,
    &size::CLIENT_MAIL_LIMIT_REJECT,
    &size::CLIENT_MAIL_LIMIT_KAS,
    &size::BodyLimit,
    &error_mail::DSN_A23165,
    &error_mail::DSN_A19372,
    &error_mail::IntegrityReplacement,
    &error_mail::KAS_ERROR_A19369,
    &error_mail::KAS_ERROR_A19370,
    &error_mail::KAS_ERROR_A19371,
    &error_mail::HashMismatch,
    &error_mail::AccessLimit,
    &error_mail::VERMERK_SIGNATURE_VALID,
    &error_mail::VERMERK_DECRYPTED,
];

/// Declares a KIM rule that applies to both KIM profiles and runs `Self::run`.
macro_rules! kim_rule {
    ($ty:ident, $id:literal, $req:literal, $desc:literal) => {
        $crate::rules::declare_rule!($ty, $id, $req, $desc, |profile| {
            $crate::rules::kim::is_kim(profile)
        });
    };
}
pub(crate) use kim_rule;

pub fn is_kim(profile: Profile) -> bool {
    matches!(profile, Profile::Kim10 | Profile::Kim15)
}

// Header names as gematik spells them (KIM-FACTS §1.5, seed).
pub const DIENSTKENNUNG: &str = "X-KIM-Dienstkennung";
pub const SENDERSYSTEM: &str = "X-KIM-Sendersystem";
pub const CM_VERSION: &str = "X-KIM-CMVersion";
pub const PT_VERSION: &str = "X-KIM-PTVersion";
pub const KON_VERSION: &str = "X-KIM-KONVersion";
pub const KOM_LE_VERSION: &str = "X-KOM-LE-Version";
pub const DECRYPTION_RESULT: &str = "X-KIM-DecryptionResult";
pub const INTEGRITY_RESULT: &str = "X-KIM-IntegrityCheckResult";
pub const FEHLERMELDUNG: &str = "X-KIM-Fehlermeldung";
/// Outer Subject of every KOM-LE message (KOM-LE-A_2102, KIM-FACTS §1.5).
pub const KOM_LE_SUBJECT: &str = kvc_smime::profile::OUTER_SUBJECT;

/// What a message is, judged from its header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The outer, encrypted KOM-LE message (X-KOM-LE-Version present, A_21390).
    KomLe,
    /// A delivery status notification (multipart/report).
    Dsn,
    /// A mail a Clientmodul produced about an error (X-KIM-Fehlermeldung present).
    ErrorMail,
    /// A mail delivered to the client system after decryption (result headers present).
    Delivered,
    /// The inner message of a KIM 1.5 KOM-LE message: client-mail header, x-kas body (or a
    /// body that is a KIM-Attachment structure without the disposition).
    KasBody,
    /// A client mail as a client system hands it to the Clientmodul.
    ClientMail,
}

impl Kind {
    /// The kind of this message, computed once per message (most KIM rules ask).
    pub fn of(msg: &Message) -> Kind {
        msg.memo(Kind::classify)
    }

    fn classify(msg: &Message) -> Kind {
        if msg.fields_named(KOM_LE_VERSION).next().is_some() {
            return Kind::KomLe;
        }
        let content_type = top_content_type(msg);
        if content_type.starts_with("multipart/report") {
            return Kind::Dsn;
        }
        if msg.fields_named(FEHLERMELDUNG).next().is_some() || has_error_subject(msg) {
            return Kind::ErrorMail;
        }
        if msg.fields_named(DECRYPTION_RESULT).next().is_some()
            || msg.fields_named(INTEGRITY_RESULT).next().is_some()
        {
            return Kind::Delivered;
        }
        let disposition = msg
            .fields_named("Content-Disposition")
            .next()
            .map(|f| msg.unfolded_value(f).to_ascii_lowercase())
            .unwrap_or_default();
        if disposition.split(';').next().map(str::trim) == Some("x-kas") {
            return Kind::KasBody;
        }
        // A KAS body is recognised by its content too: a single text/plain body that is a
        // complete KIM-Attachment structure (kim/kas-part-headers fails the missing x-kas).
        let single_text = content_type.is_empty() || content_type.starts_with("text/plain");
        let body = msg.body().trim_ascii_start();
        if single_text
            && disposition.is_empty()
            && matches!(body.first(), Some(b'{' | b'['))
            && attachment::is_kim_attachment_structure(&String::from_utf8_lossy(body))
        {
            return Kind::KasBody;
        }
        Kind::ClientMail
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::KomLe => "a KOM-LE message",
            Kind::Dsn => "a delivery status notification",
            Kind::ErrorMail => "an error mail",
            Kind::Delivered => "a delivered message",
            Kind::KasBody => "a message with an x-kas body",
            Kind::ClientMail => "a client mail",
        }
    }
}

/// Whether the Subject is one of the fixed error-mail subjects (or the A_22412 prefix), compared
/// loosely (case, spacing, final period) so that a misspelt error mail is still recognised.
pub fn has_error_subject(msg: &Message) -> bool {
    if msg.fields_named("Subject").next().is_none() {
        return false;
    }
    let Ok(data) = profile::data() else {
        return false;
    };
    let subject = loose_subject(msg);
    let fixed = loose_fixed_subjects(data);
    fixed.subjects.iter().any(|(_, t)| *t == subject)
        || fixed
            .prefixes
            .iter()
            .any(|p| subject.starts_with(p.as_str()))
}

/// The fixed error-mail subjects (with their requirement) and the A_22412 prefixes in `loose`
/// form, computed once per process instead of once per message.
pub struct LooseFixedSubjects {
    pub subjects: Vec<(String, String)>,
    pub prefixes: Vec<String>,
}

pub fn loose_fixed_subjects(data: &'static profile::KimData) -> &'static LooseFixedSubjects {
    static FIXED: std::sync::OnceLock<LooseFixedSubjects> = std::sync::OnceLock::new();
    FIXED.get_or_init(|| LooseFixedSubjects {
        subjects: data
            .texts_any("error-subject")
            .filter_map(|t| t.text.as_deref().map(|s| (t.requirement.clone(), loose(s))))
            .collect(),
        prefixes: data
            .texts_any("access-limit-subject-prefix")
            .filter_map(|t| t.pieces().first().map(|p| loose(p)))
            .collect(),
    })
}

/// The decoded Subject in `loose` form (empty when absent), computed once per message.
pub fn loose_subject(msg: &Message) -> String {
    #[derive(Clone)]
    struct LooseSubject(String);
    msg.memo(|m| {
        LooseSubject(
            m.fields_named("Subject")
                .next()
                .map(|f| loose(&m.decoded_value(f)))
                .unwrap_or_default(),
        )
    })
    .0
}

/// Lower case, collapsed spaces, no final period.
pub fn loose(s: &str) -> String {
    normalize_space(s).trim_end_matches('.').to_lowercase()
}

/// The top-level Content-Type, unfolded and lower-cased ("" when absent).
pub fn top_content_type(msg: &Message) -> String {
    msg.fields_named("Content-Type")
        .next()
        .map(|f| msg.unfolded_value(f).to_ascii_lowercase())
        .unwrap_or_default()
}

/// Unfolded values of every field with this name, each with its field.
pub fn values<'m>(msg: &'m Message, name: &str) -> Vec<(&'m RawField, String)> {
    msg.fields_named(name)
        .map(|f| (f, msg.unfolded_value(f)))
        .collect()
}

/// Whether any field `name` carries one of `codes` (values compared trimmed).
pub fn has_code(msg: &Message, name: &str, codes: &[String]) -> bool {
    msg.fields_named(name)
        .any(|f| codes.iter().any(|c| *c == msg.unfolded_value(f)))
}

/// Location of the first field `name`, or the message.
pub fn field_location(msg: &Message, name: &str) -> Location {
    msg.fields_named(name)
        .next()
        .map_or(Location::Message, header_location)
}

/// Collapses every whitespace run into one space and trims (for comparing texts that a
/// Clientmodul may wrap).
pub fn normalize_space(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether `haystack` (space-normalised) contains every piece in order.
pub fn contains_pieces(haystack: &str, pieces: &[&str]) -> bool {
    let mut rest = haystack;
    for piece in pieces {
        let piece = normalize_space(piece);
        // A piece may start or end with a space that joins it to a placeholder.
        let piece = piece.as_str();
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    true
}

/// `type/subtype` of a MIME part, lower-cased ("text/plain" when absent, RFC 2045 §5.2).
pub fn part_type(part: &MessagePart) -> String {
    match part.content_type() {
        Some(ct) => format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        ),
        None => "text/plain".to_string(),
    }
}

/// The disposition type of a part, lower-cased.
pub fn part_disposition(part: &MessagePart) -> Option<String> {
    part.content_disposition()
        .map(|d| d.ctype().to_ascii_lowercase())
}

/// The decoded text of the message's text/plain (or, failing that, text/html) leaf parts at the
/// top level (not inside attached messages), space-normalised.
pub fn body_text(parsed: &mail_parser::Message) -> String {
    let mut plain = String::new();
    let mut html = String::new();
    for part in &parsed.parts {
        if part_disposition(part).as_deref() == Some("attachment") {
            continue;
        }
        match &part.body {
            PartType::Text(text) => {
                plain.push_str(text);
                plain.push('\n');
            }
            PartType::Html(text) => {
                html.push_str(&html_to_text(text));
                html.push('\n');
            }
            _ => {}
        }
    }
    if plain.trim().is_empty() {
        normalize_space(&html)
    } else {
        normalize_space(&plain)
    }
}

/// A rough text view of HTML: tags dropped, the entities a German Vermerk needs decoded.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    [
        ("&uuml;", "ü"),
        ("&ouml;", "ö"),
        ("&auml;", "ä"),
        ("&Uuml;", "Ü"),
        ("&Ouml;", "Ö"),
        ("&Auml;", "Ä"),
        ("&szlig;", "ß"),
        ("&nbsp;", " "),
        ("&quot;", "\""),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(out, |acc, (from, to)| acc.replace(from, to))
}

/// A short excerpt of a text for findings.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Emits a reason when the profile data cannot be read (never expected: a test guards it).
pub fn with_profile(
    profile: Profile,
    out: &mut Emitter,
) -> Option<(&'static profile::KimData, &'static profile::ProfileData)> {
    match profile::data() {
        Ok(data) => match data.profile(profile) {
            Some(p) => Some((data, p)),
            None => {
                out.not_evaluated(format!("no KIM profile data for {}", profile.as_str()));
                None
            }
        },
        Err(e) => {
            out.not_evaluated(format!("KIM profile data unreadable: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_headers() {
        let kind = |raw: &[u8]| Kind::of(&Message::new(raw));
        assert_eq!(kind(b"X-KOM-LE-Version: 1.5\r\n\r\n"), Kind::KomLe);
        assert_eq!(
            kind(b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\n"),
            Kind::Dsn
        );
        assert_eq!(kind(b"X-KIM-Fehlermeldung: 4008\r\n\r\n"), Kind::ErrorMail);
        assert_eq!(
            kind(b"X-KIM-IntegrityCheckResult: 01\r\n\r\n"),
            Kind::Delivered
        );
        assert_eq!(kind(b"Content-Disposition: X-KAS\r\n\r\n"), Kind::KasBody);
        assert_eq!(kind(b"From: a@b.de\r\n\r\n"), Kind::ClientMail);
        assert_eq!(
            kind(b"From: a@b.de\r\n\r\n{\"link\":\"https://k.example/a\",\"k\":\"\",\"hash\":\"\",\"size\":1}\r\n"),
            Kind::KasBody
        );
        assert_eq!(
            kind(b"From: a@b.de\r\n\r\n{\"link\":\"https://k.example/a\"}\r\n"),
            Kind::ClientMail
        );
    }

    #[test]
    fn pieces_in_order() {
        let hay = normalize_space("Alpha beta\r\n  gamma delta. Ende");
        assert!(contains_pieces(&hay, &["Alpha beta ", " delta."]));
        assert!(!contains_pieces(&hay, &[" delta.", "Alpha"]));
    }

    #[test]
    fn every_rule_names_a_catalogue_requirement() {
        let catalogue = crate::catalogue::Catalogue::embedded().expect("catalogue");
        let mut ids = std::collections::HashSet::new();
        for rule in RULES {
            assert!(
                catalogue.contains(rule.requirement()),
                "{} names {} which is not in the catalogue",
                rule.id(),
                rule.requirement()
            );
            assert!(ids.insert(rule.id()), "duplicate rule id {}", rule.id());
            assert!(rule.id().starts_with("kim/"));
        }
    }
}
