//! Mails a receiving Clientmodul produces instead of, or in addition to, the delivered message:
//! DSNs to the sender (RFC 3461-3464), the replacement after a failed integrity check (A_23165),
//! the KAS error mails (A_19369, A_19370, A_19371, A_19372, A_22412) and the success Vermerke
//! (KOM-LE-A_2050 for the signature, KOM-LE-A_2179-01 for the decryption).
//! The fixed texts are data (`kim_profiles.yaml`, next to their requirement IDs).

use mail_parser::{MimeHeaders, PartType};

use super::headers::content_type_params;
use super::profile::{Accepts, Alternative, FixedText, KimData, profile_data};
use super::{
    DECRYPTION_RESULT, FEHLERMELDUNG, INTEGRITY_RESULT, Kind, body_text, excerpt, field_location,
    has_code, is_kim, loose_subject, normalize_space, part_disposition, part_type,
    top_content_type, values, with_profile,
};
use crate::message::{Message, RawField};
use crate::rules::{Emitter, Location, Profile, Rule, RuleContext, header_location};

fn accepted(data: &'static KimData, profile: Profile, usage: &str) -> Vec<&'static FixedText> {
    data.texts(profile, usage).collect()
}

fn matches_any(body: &str, texts: &[&FixedText]) -> bool {
    texts
        .iter()
        .any(|t| super::contains_pieces(body, &t.pieces()))
}

fn shown(texts: &[&FixedText]) -> String {
    texts
        .iter()
        .map(|t| format!("`{}` ({})", excerpt(&t.shown(), 90), t.source()))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn mentions(raw: &[u8], needle: &str) -> bool {
    memchr::memmem::find(raw, needle.as_bytes()).is_some()
}

/// Whether the message mentions the security text at all (A_23165 and A_19372 both ask):
/// searched once per message.
fn mentions_security_text(msg: &Message) -> bool {
    #[derive(Clone)]
    struct Mentions(bool);
    msg.memo(|m| Mentions(mentions(m.raw(), "Sicherheitsverletzung")))
        .0
}

/// Integrity failure codes that belong to A_23165 (everything but the KAS hash code 4012).
fn a23165_codes(profile: Profile) -> Vec<String> {
    profile_data(profile)
        .map(|p| {
            p.integrity_failure_results
                .iter()
                .filter(|c| c.as_str() != "4012")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

const HASH_CODE: &str = "4012";

/// The KAS hash mismatch code carried in another header than X-KIM-IntegrityCheckResult, where
/// the profile allows that (kim_alternatives.yaml): the alternative and the field with the code.
fn hash_code_alternative<'m>(
    msg: &'m Message,
    profile: Profile,
    requirement: &str,
) -> Option<(&'static Alternative, &'m RawField)> {
    let data = super::profile::data().ok()?;
    data.alternatives_of(profile, requirement)
        .find_map(|a| match &a.accepts {
            Accepts::HeaderCode { header, code } if code == HASH_CODE => msg
                .fields_named(header)
                .find(|f| msg.unfolded_value(f) == *code)
                .map(|f| (a, f)),
            _ => None,
        })
}

/// The finding that names the accepted hash-code alternative.
fn hash_code_accepted(out: &mut Emitter, alt: &Alternative, field: &RawField) {
    out.warning(
        header_location(field),
        format!(
            "{} {HASH_CODE} in place of {INTEGRITY_RESULT} {HASH_CODE} is the {}; accepted, the \
             seed's reading is primary ({})",
            field.name,
            alt.named(),
            alt.primary
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// DSN structure

/// The DSN a Clientmodul sends to the sender after a failed check.
pub struct DsnStructure {
    requirement: &'static str,
    id: &'static str,
}

pub static DSN_A23165: DsnStructure = DsnStructure {
    requirement: "A_23165",
    id: "kim/dsn-integrity",
};
pub static DSN_A19372: DsnStructure = DsnStructure {
    requirement: "A_19372",
    id: "kim/dsn-kas-hash",
};

impl DsnStructure {
    fn codes(&self, profile: Profile) -> Vec<String> {
        if self.requirement == "A_19372" {
            vec![HASH_CODE.to_string()]
        } else {
            a23165_codes(profile)
        }
    }
}

impl Rule for DsnStructure {
    fn id(&self) -> &'static str {
        self.id
    }
    fn requirement(&self) -> &'static str {
        self.requirement
    }
    fn description(&self) -> &'static str {
        if self.requirement == "A_19372" {
            "The sender's notice of a KAS hash mismatch (X-KIM-IntegrityCheckResult 4012, or \
             X-KIM-Fehlermeldung 4012 as allowed alternative) is an unsigned, unencrypted DSN: \
             multipart/report; report-type=delivery-status with a message/delivery-status part \
             (RFC 3461-3464)."
        } else {
            "The sender's notice of a failed integrity check (X-KIM-IntegrityCheckResult failure \
             ID) is an unsigned, unencrypted DSN: multipart/report; report-type=delivery-status \
             with a message/delivery-status part (RFC 3461-3464)."
        }
    }
    fn applies_to(&self, profile: Profile) -> bool {
        profile_data(profile).is_some_and(|p| {
            self.codes(profile)
                .iter()
                .any(|c| p.integrity_failure_results.contains(c))
        })
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let codes = self.codes(ctx.profile);
        let is_dsn = Kind::of(msg) == Kind::Dsn;
        let by_header = is_dsn && has_code(msg, INTEGRITY_RESULT, &codes);
        let alternative = (is_dsn && !by_header)
            .then(|| hash_code_alternative(msg, ctx.profile, self.requirement))
            .flatten();
        if !by_header && alternative.is_none() {
            out.not_evaluated(format!(
                "not a DSN carrying {INTEGRITY_RESULT} {}",
                codes.join("/")
            ));
            return;
        }
        if let Some((alt, field)) = alternative {
            hash_code_accepted(out, alt, field);
        }
        let top = top_content_type(msg);
        let (_, params) = content_type_params(&top);
        let report_type = params
            .iter()
            .find(|(k, _)| k == "report-type")
            .map(|(_, v)| v.to_ascii_lowercase());
        let ct_loc = field_location(msg, "Content-Type");
        if report_type.as_deref() != Some("delivery-status") {
            out.error(
                ct_loc.clone(),
                format!("Content-Type `{top}` lacks report-type=delivery-status (RFC 3462/3464)"),
            );
        }
        let Some(parsed) = msg.parsed() else {
            out.error(Location::Message, "the MIME structure cannot be read");
            return;
        };
        let types: Vec<String> = parsed.parts.iter().map(part_type).collect();
        for t in &types {
            if matches!(
                t.as_str(),
                "application/pkcs7-mime"
                    | "application/x-pkcs7-mime"
                    | "application/pkcs7-signature"
                    | "application/x-pkcs7-signature"
                    | "multipart/signed"
            ) {
                out.error(
                    Location::Message,
                    format!(
                        "the DSN contains a `{t}` part; it must be neither signed nor encrypted"
                    ),
                );
            }
        }
        let status = parsed
            .parts
            .iter()
            .find(|p| part_type(p) == "message/delivery-status");
        match status {
            None => out.error(
                ct_loc,
                "the DSN has no message/delivery-status part (RFC 3464)",
            ),
            Some(part) => {
                let text = String::from_utf8_lossy(part.contents()).to_ascii_lowercase();
                let missing: Vec<&str> = ["reporting-mta", "final-recipient", "action", "status"]
                    .into_iter()
                    .filter(|f| {
                        !text
                            .lines()
                            .any(|l| l.trim_start().starts_with(&format!("{f}:")))
                    })
                    .collect();
                if !missing.is_empty() {
                    out.error(
                        Location::Line {
                            line: msg.line_of_offset(part.offset_body as usize),
                        },
                        format!(
                            "the message/delivery-status part lacks the field(s) {} (RFC 3464 §2.2, §2.3)",
                            missing.join(", ")
                        ),
                    );
                }
            }
        }
        if let Some(first) = parsed
            .parts
            .first()
            .and_then(|p| p.sub_parts())
            .and_then(|ids| ids.first())
            .and_then(|id| parsed.parts.get(*id as usize))
            && !part_type(first).starts_with("text/")
        {
            out.warning(
                Location::Message,
                "the first part of the report is not human-readable text (RFC 3462 §2)",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A_23165 replacement

pub struct IntegrityReplacement;

impl Rule for IntegrityReplacement {
    fn id(&self) -> &'static str {
        "kim/integrity-replacement"
    }
    fn requirement(&self) -> &'static str {
        "A_23165"
    }
    fn description(&self) -> &'static str {
        "After a failed integrity check the delivered message carries the fixed replacement text \
         of its KIM version (kim_profiles.yaml) and X-KIM-IntegrityCheckResult with the failure ID."
    }
    fn applies_to(&self, profile: Profile) -> bool {
        is_kim(profile)
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((data, _)) = with_profile(ctx.profile, out) else {
            return;
        };
        let kind = Kind::of(msg);
        let codes = a23165_codes(ctx.profile);
        let by_header = kind != Kind::Dsn && has_code(msg, INTEGRITY_RESULT, &codes);
        let all: Vec<&FixedText> = data.texts_any("integrity-replacement").collect();
        let maybe_text = kind != Kind::Dsn && mentions_security_text(msg);
        if !by_header && !maybe_text {
            out.not_evaluated("no failed integrity check (no failure ID, no replacement text)");
            return;
        }
        let Some(parsed) = msg.parsed() else {
            out.error(Location::Message, "the MIME structure cannot be read");
            return;
        };
        let body = body_text(parsed);
        let by_text = matches_any(&body, &all);
        if !by_header && !by_text {
            out.not_evaluated("no failed integrity check (no failure ID, no replacement text)");
            return;
        }
        let ok = accepted(data, ctx.profile, "integrity-replacement");
        if !matches_any(&body, &ok) {
            let other: Vec<&FixedText> = all
                .iter()
                .copied()
                .filter(|t| super::contains_pieces(&body, &t.pieces()))
                .collect();
            let text = if other.is_empty() {
                format!(
                    "the replacement text is missing or differs; expected {}; body starts `{}`",
                    shown(&ok),
                    excerpt(&body, 120)
                )
            } else {
                format!(
                    "the body has the replacement text of another KIM version ({}); profile {} expects {}",
                    shown(&other),
                    ctx.profile.as_str(),
                    shown(&ok)
                )
            };
            out.error(field_location(msg, INTEGRITY_RESULT), text);
        } else {
            let primary: Vec<&FixedText> = ok
                .iter()
                .copied()
                .filter(|t| t.alternative.is_none())
                .collect();
            if !matches_any(&body, &primary)
                && let Some(alt) = ok
                    .iter()
                    .find(|t| t.alternative.is_some() && super::contains_pieces(&body, &t.pieces()))
            {
                out.warning(
                    field_location(msg, INTEGRITY_RESULT),
                    format!(
                        "the replacement text `{}` is the allowed alternative {} ({}); accepted, \
                         the seed's text is {}",
                        excerpt(&alt.shown(), 90),
                        alt.alternative.as_deref().unwrap_or_default(),
                        alt.origin,
                        shown(&primary)
                    ),
                );
            }
        }
        if !by_header {
            let found: Vec<String> = values(msg, INTEGRITY_RESULT)
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            out.error(
                field_location(msg, INTEGRITY_RESULT),
                format!(
                    "the message carries the replacement text but no {INTEGRITY_RESULT} with a \
                     failure ID of Tab_Verm_Sig_Prüf ({}); found: {}",
                    codes.join(", "),
                    if found.is_empty() {
                        "none".to_string()
                    } else {
                        found.join(", ")
                    }
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A_19369 / A_19370 / A_19371 error mails

pub struct KasErrorMail {
    requirement: &'static str,
    id: &'static str,
}

pub static KAS_ERROR_A19369: KasErrorMail = KasErrorMail {
    requirement: "A_19369",
    id: "kim/error-mail-ambiguous",
};
pub static KAS_ERROR_A19370: KasErrorMail = KasErrorMail {
    requirement: "A_19370",
    id: "kim/error-mail-download",
};
pub static KAS_ERROR_A19371: KasErrorMail = KasErrorMail {
    requirement: "A_19371",
    id: "kim/error-mail-decrypt",
};

/// Header fields the error mail takes over from the received message.
const COPIED: [&str; 6] = ["Date", "From", "Sender", "Reply-To", "To", "Cc"];

impl KasErrorMail {
    fn texts(
        &self,
        data: &'static KimData,
        profile: Option<Profile>,
        usage: &str,
    ) -> Vec<&'static FixedText> {
        data.fixed_texts
            .iter()
            .filter(|t| t.requirement == self.requirement && t.usage == usage)
            .filter(|t| match profile {
                None => true,
                Some(p) => data.texts(p, usage).any(|x| std::ptr::eq(x, *t)),
            })
            .collect()
    }
}

/// What told an error mail's requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    Subject,
    Text,
    Code,
}

impl Basis {
    fn describe(self) -> &'static str {
        match self {
            Basis::Subject => "its Subject",
            Basis::Text => "its error text",
            Basis::Code => "its X-KIM-Fehlermeldung code",
        }
    }
}

/// Which KAS error mail (A_19369, A_19370, A_19371) a message is, told apart by the fixed texts
/// it carries: a fixed Subject first (compared loosely, so a misspelt one is still recognised
/// and then failed), else the fixed error text of its first text/plain part, and only when it
/// carries neither by its X-KIM-Fehlermeldung code (a Clientmodul may put 4006 on an A_19369
/// mail too). Computed once per message.
fn kas_error_kind(msg: &Message, data: &'static KimData) -> Option<(&'static str, Basis)> {
    #[derive(Clone)]
    struct KasErrorKind(Option<(&'static str, Basis)>);
    msg.memo(|m| KasErrorKind(classify_kas_error(m, data))).0
}

fn classify_kas_error(msg: &Message, data: &'static KimData) -> Option<(&'static str, Basis)> {
    let is_kas_error = |req: &str| data.kas_error_mails.iter().any(|m| m.requirement == req);
    if msg.fields_named("Subject").next().is_some() {
        let subject = loose_subject(msg);
        if let Some((requirement, _)) = super::loose_fixed_subjects(data)
            .subjects
            .iter()
            .find(|(req, text)| is_kas_error(req) && *text == subject)
        {
            return Some((requirement.as_str(), Basis::Subject));
        }
    }
    // Without a fixed subject only an error mail (X-KIM-Fehlermeldung present) is looked into.
    msg.fields_named(FEHLERMELDUNG).next()?;
    let text = msg.parsed().and_then(|parsed| {
        parsed
            .parts
            .iter()
            .find(|p| matches!(p.body, PartType::Text(_)) && part_type(p) == "text/plain")
            .map(|p| normalize_space(p.text_contents().unwrap_or("")))
    });
    if let Some(text) = text
        && let Some(t) = data
            .texts_any("error-body")
            .find(|t| is_kas_error(&t.requirement) && super::contains_pieces(&text, &t.pieces()))
    {
        return Some((t.requirement.as_str(), Basis::Text));
    }
    data.kas_error_mails
        .iter()
        .find(|m| !m.fehlermeldung.is_empty() && has_code(msg, FEHLERMELDUNG, &m.fehlermeldung))
        .map(|m| (m.requirement.as_str(), Basis::Code))
}

/// Checks `found` against the accepted fixed texts: an error when none matches, a warning
/// naming the alternative when only a later spec version's wording matches.
fn check_fixed(
    out: &mut Emitter,
    location: Location,
    what: &str,
    found: &str,
    accepted: &[&FixedText],
    matches: impl Fn(&FixedText) -> bool,
) {
    let primary: Vec<&FixedText> = accepted
        .iter()
        .copied()
        .filter(|t| t.alternative.is_none())
        .collect();
    if primary.iter().any(|t| matches(t)) {
        return;
    }
    match accepted
        .iter()
        .find(|t| t.alternative.is_some() && matches(t))
    {
        Some(alt) => out.warning(
            location,
            format!(
                "{what} `{}` is the allowed alternative {} ({}); accepted in place of the seed's {}",
                excerpt(found, 100),
                alt.alternative.as_deref().unwrap_or_default(),
                alt.origin,
                shown(&primary)
            ),
        ),
        None => out.error(
            location,
            format!(
                "{what} `{}` is not the fixed text {}",
                excerpt(found, 100),
                shown(accepted)
            ),
        ),
    }
}

impl Rule for KasErrorMail {
    fn id(&self) -> &'static str {
        self.id
    }
    fn requirement(&self) -> &'static str {
        self.requirement
    }
    fn description(&self) -> &'static str {
        match self.requirement {
            "A_19369" => {
                "The error mail for a message with more than one KIM-Attachment structure: \
                 multipart/mixed with the fixed text/plain text, the original as message/rfc822, \
                 the fixed Subject, and orig-date/from/sender/reply-to/to/cc copied from the original."
            }
            "A_19370" => {
                "The error mail after a failed KAS download: multipart/mixed with a text/plain part, \
                 the original as message/rfc822, the fixed Subject, copied orig-date/from/sender/\
                 reply-to/to/cc, and X-KIM-Fehlermeldung 4006."
            }
            _ => {
                "The error mail after failed decryption of KAS data: multipart/mixed with a \
                 text/plain part, the original as message/rfc822, the fixed Subject, copied \
                 orig-date/from/sender/reply-to/to/cc, and X-KIM-Fehlermeldung 4007."
            }
        }
    }
    fn applies_to(&self, profile: Profile) -> bool {
        super::profile::data().is_ok_and(|d| {
            d.texts(profile, "error-subject")
                .any(|t| t.requirement == self.requirement)
        })
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Ok(data) = super::profile::data() else {
            out.not_evaluated("KIM profile data unreadable");
            return;
        };
        // Error mails are told apart by the requirement whose fixed texts they carry.
        match kas_error_kind(msg, data) {
            None => {
                out.not_evaluated(format!("not an error mail of {}", self.requirement));
                return;
            }
            Some((other, basis)) if other != self.requirement => {
                out.not_evaluated(format!(
                    "an error mail of {other} (by {}), not of {}",
                    basis.describe(),
                    self.requirement
                ));
                return;
            }
            Some(_) => {}
        }
        let codes: Vec<String> = data
            .kas_error_mails
            .iter()
            .filter(|m| m.requirement == self.requirement)
            .flat_map(|m| m.fehlermeldung.clone())
            .collect();
        let by_code = !codes.is_empty() && has_code(msg, FEHLERMELDUNG, &codes);
        let subject_field = msg.fields_named("Subject").next();
        let subjects = self.texts(data, Some(ctx.profile), "error-subject");
        let subject = subject_field
            .map(|f| msg.decoded_value(f))
            .unwrap_or_default();
        check_fixed(
            out,
            subject_field.map_or(Location::Message, header_location),
            "Subject",
            &subject,
            &subjects,
            |t| t.text.as_deref() == Some(subject.as_str()),
        );
        if !codes.is_empty() && !by_code {
            out.error(
                field_location(msg, FEHLERMELDUNG),
                format!(
                    "{FEHLERMELDUNG} {} is missing (Tab_Fehlercodes_KOMLE-Clientmodul, A_20650)",
                    codes.join("/")
                ),
            );
        }
        let top = top_content_type(msg);
        if !top.starts_with("multipart/mixed") {
            out.error(
                field_location(msg, "Content-Type"),
                format!("the error mail is `{top}`; it must be multipart/mixed"),
            );
        }
        let Some(parsed) = msg.parsed() else {
            out.error(Location::Message, "the MIME structure cannot be read");
            return;
        };
        let text_part = parsed
            .parts
            .iter()
            .find(|p| matches!(p.body, PartType::Text(_)) && part_type(p) == "text/plain");
        match text_part {
            None => out.error(
                Location::Message,
                "the error mail has no text/plain part with the error text",
            ),
            Some(part) => {
                let bodies = self.texts(data, Some(ctx.profile), "error-body");
                let text = normalize_space(part.text_contents().unwrap_or(""));
                if !bodies.is_empty() {
                    check_fixed(
                        out,
                        Location::Line {
                            line: msg.line_of_offset(part.offset_body as usize),
                        },
                        "the text/plain part's error text",
                        &text,
                        &bodies,
                        |t| super::contains_pieces(&text, &t.pieces()),
                    );
                }
            }
        }
        let original = parsed.parts.iter().find_map(|p| match &p.body {
            PartType::Message(m) => Some(m.raw_message()),
            _ => None,
        });
        let Some(original) = original else {
            out.error(
                Location::Message,
                "the error mail does not contain the original message as a message/rfc822 part",
            );
            return;
        };
        let original = Message::new(original);
        for name in COPIED {
            let Some(field) = original.fields_named(name).next() else {
                continue;
            };
            let want = normalize_space(&original.unfolded_value(field));
            let have = msg
                .fields_named(name)
                .next()
                .map(|f| (f, normalize_space(&msg.unfolded_value(f))));
            match have {
                None => out.error(
                    Location::Message,
                    format!(
                        "{name} is not copied from the original (`{}`)",
                        excerpt(&want, 80)
                    ),
                ),
                Some((f, v)) if v != want => out.error(
                    header_location(f),
                    format!(
                        "{name} `{}` differs from the original's `{}`; it must be copied",
                        excerpt(&v, 80),
                        excerpt(&want, 80)
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A_19372 hash mismatch

pub struct HashMismatch;

impl Rule for HashMismatch {
    fn id(&self) -> &'static str {
        "kim/kas-hash-mismatch"
    }
    fn requirement(&self) -> &'static str {
        "A_19372"
    }
    fn description(&self) -> &'static str {
        "After a KAS hash mismatch the recipient's message carries the fixed security text, the \
         Vermerk naming the checksum, and X-KIM-IntegrityCheckResult 4012 (X-KIM-Fehlermeldung \
         4012 accepted as allowed alternative, kim_alternatives.yaml)."
    }
    fn applies_to(&self, profile: Profile) -> bool {
        profile_data(profile)
            .is_some_and(|p| p.integrity_failure_results.iter().any(|c| c == HASH_CODE))
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((data, _)) = with_profile(ctx.profile, out) else {
            return;
        };
        let kind = Kind::of(msg);
        let code = [HASH_CODE.to_string()];
        let by_header = kind != Kind::Dsn && has_code(msg, INTEGRITY_RESULT, &code);
        let alternative = (kind != Kind::Dsn && !by_header)
            .then(|| hash_code_alternative(msg, ctx.profile, self.requirement()))
            .flatten();
        let maybe_text = kind != Kind::Dsn && mentions_security_text(msg);
        if !by_header && alternative.is_none() && !maybe_text {
            out.not_evaluated("no KAS hash mismatch (no 4012, no security text)");
            return;
        }
        let Some(parsed) = msg.parsed() else {
            out.error(Location::Message, "the MIME structure cannot be read");
            return;
        };
        let body = body_text(parsed);
        let texts = accepted(data, ctx.profile, "hash-mismatch-replacement");
        let vermerk = accepted(data, ctx.profile, "hash-mismatch-vermerk");
        let by_text = matches_any(&body, &texts);
        if !by_header && alternative.is_none() && !by_text {
            out.not_evaluated("no KAS hash mismatch (no 4012, no security text)");
            return;
        }
        let loc = field_location(msg, INTEGRITY_RESULT);
        if !by_text {
            out.error(
                loc.clone(),
                format!(
                    "the fixed security text is missing; expected {}; body starts `{}`",
                    shown(&texts),
                    excerpt(&body, 120)
                ),
            );
        }
        if !matches_any(&body, &vermerk) {
            out.error(
                loc.clone(),
                format!(
                    "the Vermerk naming the checksum is missing; expected {}",
                    shown(&vermerk)
                ),
            );
        }
        match (by_header, alternative) {
            (true, _) => {}
            (false, Some((alt, field))) => hash_code_accepted(out, alt, field),
            (false, None) => out.error(loc, format!("{INTEGRITY_RESULT} {HASH_CODE} is missing")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A_22412 access limit (HTTP 429)

pub struct AccessLimit;

impl Rule for AccessLimit {
    fn id(&self) -> &'static str {
        "kim/kas-access-limit"
    }
    fn requirement(&self) -> &'static str {
        "A_22412"
    }
    fn description(&self) -> &'static str {
        "After a KAS 429: X-KIM-Fehlermeldung 4013, a text/plain; charset=utf-8 attachment \
         `<name>_Fehlermeldung.txt` with the fixed text, and the fixed Subject prefix."
    }
    fn applies_to(&self, profile: Profile) -> bool {
        super::profile::data().is_ok_and(|d| {
            d.texts(profile, "access-limit-subject-prefix")
                .next()
                .is_some()
        })
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((data, _)) = with_profile(ctx.profile, out) else {
            return;
        };
        let prefixes = accepted(data, ctx.profile, "access-limit-subject-prefix");
        let part_texts = accepted(data, ctx.profile, "access-limit-part-text");
        let code = ["4013".to_string()];
        let subject_field = msg.fields_named("Subject").next();
        let subject = subject_field
            .map(|f| msg.decoded_value(f))
            .unwrap_or_default();
        let first_piece = prefixes
            .first()
            .and_then(|t| t.pieces().first().map(|s| s.to_string()))
            .unwrap_or_default();
        let by_subject = !first_piece.is_empty() && subject.starts_with(first_piece.trim_end());
        let by_code = has_code(msg, FEHLERMELDUNG, &code);
        if !by_subject && !by_code {
            out.not_evaluated("no KAS access limit (no 4013, no error subject)");
            return;
        }
        if !by_code {
            out.error(
                field_location(msg, FEHLERMELDUNG),
                format!("{FEHLERMELDUNG} 4013 is missing"),
            );
        }
        let subject_ok = prefixes.iter().any(|t| {
            let pieces = t.pieces();
            subject.starts_with(pieces.first().copied().unwrap_or(""))
                && super::contains_pieces(&subject, &pieces)
        });
        if !subject_ok {
            out.error(
                subject_field.map_or(Location::Message, header_location),
                format!(
                    "Subject `{subject}` does not start with the fixed prefix {}",
                    shown(&prefixes)
                ),
            );
        }
        let Some(parsed) = msg.parsed() else {
            out.error(Location::Message, "the MIME structure cannot be read");
            return;
        };
        let placeholder = parsed.parts.iter().find(|p| {
            p.attachment_name()
                .is_some_and(|n| n.ends_with("_Fehlermeldung.txt"))
        });
        let Some(part) = placeholder else {
            out.error(
                Location::Message,
                "no attachment `<name>_Fehlermeldung.txt` stands in place of the data",
            );
            return;
        };
        let line = Location::Line {
            line: msg.line_of_offset(part.offset_header as usize),
        };
        let charset_ok = part
            .content_type()
            .and_then(|c| c.attribute("charset"))
            .is_some_and(|c| c.eq_ignore_ascii_case("utf-8"));
        if part_type(part) != "text/plain" || !charset_ok {
            out.error(
                line.clone(),
                format!(
                    "the placeholder part is `{}`; it must be text/plain; charset=utf-8",
                    part_type(part)
                ),
            );
        }
        if part_disposition(part).as_deref() != Some("attachment") {
            out.error(
                line.clone(),
                "the placeholder part is not Content-Disposition: attachment",
            );
        }
        let text = normalize_space(part.text_contents().unwrap_or(""));
        if !matches_any(&text, &part_texts) {
            out.error(
                line,
                format!(
                    "the placeholder part lacks the fixed text {}; it says `{}`",
                    shown(&part_texts),
                    excerpt(&text, 100)
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Success Vermerke: KOM-LE-A_2050 (signature valid) and KOM-LE-A_2179-01 (decrypted)

/// A Vermerk the delivered message carries when its result header reports success.
pub struct SuccessVermerk {
    id: &'static str,
    requirement: &'static str,
    /// `use` of the fixed text in kim_profiles.yaml.
    usage: &'static str,
    header: &'static str,
    code: &'static str,
}

pub static VERMERK_SIGNATURE_VALID: SuccessVermerk = SuccessVermerk {
    id: "kim/success-vermerk",
    requirement: "KOM-LE-A_2050",
    usage: "vermerk-signature-valid",
    header: INTEGRITY_RESULT,
    code: "01",
};
pub static VERMERK_DECRYPTED: SuccessVermerk = SuccessVermerk {
    id: "kim/decrypted-vermerk",
    requirement: "KOM-LE-A_2179",
    usage: "vermerk-decrypted",
    header: DECRYPTION_RESULT,
    code: "00",
};

impl Rule for SuccessVermerk {
    fn id(&self) -> &'static str {
        self.id
    }
    fn requirement(&self) -> &'static str {
        self.requirement
    }
    fn description(&self) -> &'static str {
        if self.header == INTEGRITY_RESULT {
            "A delivered message with X-KIM-IntegrityCheckResult 01 carries the Vermerk of \
             Tab_Verm_Sig_Prüf ID 01 (text in kim_profiles.yaml)."
        } else {
            "A delivered message with X-KIM-DecryptionResult 00 carries the decryption Vermerk \
             (text in kim_profiles.yaml)."
        }
    }
    fn applies_to(&self, profile: Profile) -> bool {
        is_kim(profile)
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((data, _)) = with_profile(ctx.profile, out) else {
            return;
        };
        let Some(profile) = profile_data(ctx.profile) else {
            return;
        };
        if has_code(msg, INTEGRITY_RESULT, &profile.integrity_failure_results) {
            out.not_evaluated(format!(
                "{INTEGRITY_RESULT} reports a failed check: the content is replaced, no Vermerk"
            ));
            return;
        }
        if let Some((alt, field)) =
            hash_code_alternative(msg, ctx.profile, HashMismatch.requirement())
        {
            out.not_evaluated(format!(
                "{} {HASH_CODE} reports a KAS hash mismatch (allowed alternative {}): the content \
                 is replaced, no Vermerk",
                field.name, alt.id
            ));
            return;
        }
        if !has_code(msg, self.header, &[self.code.to_string()]) {
            out.not_evaluated(format!("no {} {}", self.header, self.code));
            return;
        }
        let Some(parsed) = msg.parsed() else {
            out.error(Location::Message, "the MIME structure cannot be read");
            return;
        };
        let body = body_text(parsed);
        let texts = accepted(data, ctx.profile, self.usage);
        if !matches_any(&body, &texts) {
            out.error(
                field_location(msg, self.header),
                format!(
                    "{} says success but the text part lacks the Vermerk {}; its end reads `{}`",
                    self.header,
                    shown(&texts),
                    tail(&body, 100)
                ),
            );
        }
    }
}

fn tail(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().skip(n - max).collect();
        format!("…{cut}")
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::{LintOptions, ProfileChoice, lint_bytes};
    use crate::rules::{KvcRegistry, Severity};

    /// The reference Clientmodul (`kvc_mocks::reference::kim_cm::texts`) writes the fixed texts
    /// and codes these rules accept: the two copies of each seed text cannot drift apart.
    #[test]
    fn the_reference_clientmodul_writes_what_the_rules_accept() {
        use kvc_mocks::reference::kim_cm::texts as t;
        let data = super::super::profile::data().expect("profile data");
        let profile = super::Profile::Kim15;
        for (usage, text) in [
            ("integrity-replacement", t::INTEGRITY_REPLACEMENT),
            ("error-subject", t::SUBJECT_KAS_AMBIGUOUS),
            ("error-body", t::TEXT_KAS_AMBIGUOUS),
            ("error-subject", t::SUBJECT_KAS_DOWNLOAD),
            ("error-subject", t::SUBJECT_KAS_DECRYPT),
            ("hash-mismatch-replacement", t::HASH_MISMATCH_REPLACEMENT),
            ("hash-mismatch-vermerk", t::VERMERK_HASH_MISMATCH),
            ("vermerk-signature-valid", t::VERMERK_SIGNATURE_VALID),
            ("vermerk-decrypted", t::VERMERK_DECRYPTED),
        ] {
            let accepted = super::accepted(data, profile, usage);
            assert!(
                super::matches_any(text, &accepted),
                "`{text}` is not among the {usage} texts: {}",
                super::shown(&accepted)
            );
        }
        let codes = &super::profile_data(profile)
            .expect("kim-1.5")
            .fehlermeldung_codes;
        for code in [
            t::FEHLERMELDUNG_UNSUPPORTED_VERSION,
            t::FEHLERMELDUNG_KAS_DOWNLOAD,
            t::FEHLERMELDUNG_KAS_DECRYPT,
            t::FEHLERMELDUNG_KAS_HASH,
            t::FEHLERMELDUNG_KAS_LIMIT,
            t::FEHLERMELDUNG_LARGE_NOT_ENABLED,
        ] {
            assert!(
                codes.iter().any(|c| c == code),
                "{code} not in Tab_Fehlercodes"
            );
        }
    }

    fn errors(raw: &[u8], profile: ProfileChoice) -> Vec<&'static str> {
        let opts = LintOptions {
            profile,
            registry: KvcRegistry::builtin().expect("registry"),
            max_size: 1 << 20,
            smime: None,
        };
        lint_bytes("t", raw, &opts)
            .findings
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.rule)
            .collect()
    }

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("vectors/kim")
                .join(name),
        )
        .expect("vector")
    }

    /// A KIM vector linted as `--profile kim-1.5`.
    fn lint_vector(name: &str) -> crate::lint::FileResult {
        let opts = LintOptions {
            profile: ProfileChoice::Kim15,
            registry: KvcRegistry::builtin().expect("registry"),
            max_size: 1 << 20,
            smime: None,
        };
        lint_bytes("t", &vector(name), &opts)
    }

    /// An A_19369 mail carrying 4006 is judged by its fixed texts; A_19370 is skipped and says why.
    #[test]
    fn error_mails_are_told_apart_by_their_fixed_texts() {
        let result = lint_vector("a19369-code-4006-pass.eml");
        let a19370 = result
            .requirements
            .iter()
            .find(|r| r.requirement == "A_19370")
            .expect("A_19370 evaluated");
        assert_eq!(a19370.verdict, crate::rules::RequirementVerdict::Skip);
        assert_eq!(
            a19370.reason.as_deref(),
            Some("an error mail of A_19369 (by its Subject), not of A_19370")
        );
    }

    /// The hash mismatch code in X-KIM-Fehlermeldung is accepted through the alternatives
    /// table, and the finding names the alternative, its source and the seed's reading.
    #[test]
    fn accepted_hash_code_alternative_is_named() {
        for (vector, rule) in [
            (
                "a19372-fehlermeldung-4012-pass.eml",
                "kim/kas-hash-mismatch",
            ),
            ("a19372-dsn-fehlermeldung-4012-pass.eml", "kim/dsn-kas-hash"),
        ] {
            let result = lint_vector(vector);
            let warning = result
                .findings
                .iter()
                .find(|f| f.rule == rule)
                .expect("a finding naming the alternative");
            assert_eq!(warning.severity, Severity::Warning, "{vector}");
            assert!(
                warning
                    .message
                    .contains("allowed alternative A_19372-4012-fehlermeldung (A_20650-05")
                    && warning.message.contains("primary (seed 2.1, A_19372-03"),
                "{}",
                warning.message
            );
        }
    }

    /// A later spec version's wording is accepted, and the finding names it and the seed's text.
    #[test]
    fn accepted_alternative_is_named() {
        let result = lint_vector("a19370-cm116-subject-pass.eml");
        let warning = result
            .findings
            .iter()
            .find(|f| f.rule == "kim/error-mail-download")
            .expect("a finding naming the alternative");
        assert_eq!(warning.severity, Severity::Warning);
        assert!(
            warning
                .message
                .contains("allowed alternative A_19370-subject-cm116 (CM-1.16")
                && warning
                    .message
                    .contains("`Die E-Mail-Daten konnten nicht heruntergeladen werden` (seed 2.1"),
            "{}",
            warning.message
        );
    }

    /// The replacement text of CM 1.16 (KIM 1.5.3) is accepted in kim-1.5 only: the version
    /// difference lives in kim_profiles.yaml, not in code.
    #[test]
    fn replacement_text_depends_on_the_profile() {
        let raw = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("vectors/kim/a23165-cm116-text-kim15-pass.eml"),
        )
        .expect("vector");
        assert!(errors(&raw, ProfileChoice::Kim15).is_empty());
        assert_eq!(
            errors(&raw, ProfileChoice::Kim10),
            ["kim/integrity-replacement"]
        );
    }
}
