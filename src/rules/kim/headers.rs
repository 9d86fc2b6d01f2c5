//! KIM header rules: syntax of the X-KIM-* / X-KOM-LE-* fields, the outer KOM-LE header, and
//! the RFC 5322 basics a KIM message must meet (line ends, Message-ID, Date).

use std::sync::OnceLock;

use regex::Regex;

use super::{
    CM_VERSION, DECRYPTION_RESULT, DIENSTKENNUNG, FEHLERMELDUNG, INTEGRITY_RESULT, KOM_LE_SUBJECT,
    KOM_LE_VERSION, KON_VERSION, Kind, PT_VERSION, SENDERSYSTEM, kim_rule, top_content_type,
    values, with_profile,
};
use crate::message::{Message, RawField};
use crate::rules::{Emitter, Location, Profile, Rule, RuleContext, header_location, single_field};

kim_rule!(
    LineEndings,
    "kim/crlf-only",
    "KOM-LE-A_2006",
    "Every line ends with CRLF (RFC 5322 §2.1, S/MIME canonical form; RFC 5322 among the standards \
     of KOM-LE-A_2006 is inferred from its title)."
);
kim_rule!(
    MessageIdSyntax,
    "kim/message-id",
    "KOM-LE-A_2006",
    "Exactly one Message-ID with RFC 5322 msg-id syntax (angle brackets). The KAS upload and the \
     outer message reuse it."
);
kim_rule!(
    DateSyntax,
    "kim/date",
    "KOM-LE-A_2006",
    "Exactly one Date (and Expires, when present) in RFC 5322 date-time syntax: English day and \
     month names, numeric zone."
);
kim_rule!(
    DienstkennungSyntax,
    "kim/dienstkennung",
    "A_19488",
    "X-KIM-Dienstkennung is `<app>;<type>;V<x.y>` in one field; required once a Clientmodul has \
     handled the mail (it sets the default); unknown values are warnings."
);
kim_rule!(
    SendersystemSyntax,
    "kim/sendersystem",
    "KIM-PS-Sendersystem",
    "A client mail carries X-KIM-Sendersystem `<name>;<version>`, both parts non-empty \
     (api-kim Primaersystem.adoc, which gives no requirement ID)."
);
kim_rule!(
    CmVersionSyntax,
    "kim/cm-version",
    "A_21388",
    "X-KIM-CMVersion matches the published pattern `<vendor 1-5>_<x.y.z>[-<0-255>]`."
);
kim_rule!(
    PtVersionSyntax,
    "kim/pt-version",
    "A_21388",
    "X-KIM-PTVersion matches the published pattern `<x.y.z>[-<0-255>]`."
);
kim_rule!(
    KonVersionSyntax,
    "kim/kon-version",
    "A_21388",
    "X-KIM-KONVersion is `<Productname><ProductType><ProductTypeVersion><HWVersion><FWVersion>`."
);
kim_rule!(
    KomLeVersionValue,
    "kim/kom-le-version",
    "KOM-LE-A_2100",
    "X-KOM-LE-Version appears once with a value the profile allows (kim_profiles.yaml): 1.0 \
     without, 1.5 with the KAS."
);
kim_rule!(
    OuterSubject,
    "kim/outer-subject",
    "KOM-LE-A_2102",
    "The Subject of a KOM-LE message is exactly `KOM-LE-Nachricht`."
);
kim_rule!(
    OuterContentType,
    "kim/outer-content-type",
    "KOM-LE-A_2104",
    "A KOM-LE message is application/pkcs7-mime with smime-type=authenticated-enveloped-data."
);

/// Header fields the profile requires on the outer KOM-LE message, per requirement
/// (`outer_required_headers` in kim_profiles.yaml).
pub struct OuterRequiredHeaders {
    id: &'static str,
    requirement: &'static str,
}

pub static OUTER_VERSION_HEADERS: OuterRequiredHeaders = OuterRequiredHeaders {
    id: "kim/outer-version-headers",
    requirement: "A_21388",
};
pub static OUTER_EXPIRES: OuterRequiredHeaders = OuterRequiredHeaders {
    id: "kim/outer-expires",
    requirement: "A_22417",
};

impl OuterRequiredHeaders {
    /// The header names the profile requires for this rule's requirement.
    fn required(&self, profile: Profile) -> Vec<&'static str> {
        super::profile::profile_data(profile)
            .map(|p| {
                p.outer_required_headers
                    .iter()
                    .filter(|h| h.requirement == self.requirement)
                    .map(|h| h.header.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Rule for OuterRequiredHeaders {
    fn id(&self) -> &'static str {
        self.id
    }
    fn requirement(&self) -> &'static str {
        self.requirement
    }
    fn description(&self) -> &'static str {
        if self.requirement == OUTER_EXPIRES.requirement {
            "A KOM-LE message carries Expires where its profile requires it (kim_profiles.yaml: \
             KIM 1.5)."
        } else {
            "A KOM-LE message carries X-KIM-CMVersion, X-KIM-PTVersion and X-KIM-KONVersion where \
             its profile requires them (kim_profiles.yaml: KIM 1.5)."
        }
    }
    fn applies_to(&self, profile: Profile) -> bool {
        !self.required(profile).is_empty()
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        if Kind::of(msg) != Kind::KomLe {
            out.not_evaluated("not a KOM-LE message (no X-KOM-LE-Version)");
            return;
        }
        for name in self.required(ctx.profile) {
            if msg.fields_named(name).next().is_none() {
                out.error(
                    Location::Message,
                    format!(
                        "the KOM-LE message lacks {name}, which profile {} requires on the outer header",
                        ctx.profile.as_str()
                    ),
                );
            }
        }
    }
}
kim_rule!(
    DecryptionResultValues,
    "kim/decryption-result",
    "KOM-LE-A_2047",
    "Every X-KIM-DecryptionResult holds one ID of Tab_Fehlertext_Entschl (profile data) or a vendor \
     code starting with `X`; the field may repeat."
);
kim_rule!(
    IntegrityCheckResultValues,
    "kim/integrity-check-result",
    "KOM-LE-A_2050",
    "Every X-KIM-IntegrityCheckResult holds one ID of Tab_Verm_Sig_Prüf (or 4012, A_19372) from \
     the profile data, or a vendor code starting with `X`; the field may repeat."
);

/// A_20650 applies where the profile data lists Fehlermeldung codes (KIM 1.5).
pub struct FehlermeldungValues;

impl Rule for FehlermeldungValues {
    fn id(&self) -> &'static str {
        "kim/fehlermeldung"
    }
    fn requirement(&self) -> &'static str {
        "A_20650"
    }
    fn description(&self) -> &'static str {
        "Every X-KIM-Fehlermeldung holds one code of Tab_Fehlercodes_KOMLE-Clientmodul (profile \
         data) or a vendor code starting with `X`; with an integrity result (Tab_Verm_Sig_Prüf) \
         also a Konnektor code taken over from that table, an unassigned one (warning) only \
         with ID 06; the field may repeat."
    }
    fn applies_to(&self, profile: Profile) -> bool {
        super::profile::profile_data(profile).is_some_and(|p| !p.fehlermeldung_codes.is_empty())
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((data, profile)) = with_profile(ctx.profile, out) else {
            return;
        };
        let fields = values(msg, FEHLERMELDUNG);
        if fields.is_empty() {
            out.not_evaluated(format!("no {FEHLERMELDUNG} field"));
            return;
        }
        // The take-over row of Tab_Fehlercodes_KOMLE-Clientmodul ("[Fehlercode]") is about
        // integrity results: Konnektor codes belong in a message that reports a
        // Tab_Verm_Sig_Prüf result, an unassigned one only with ID 06.
        let integrity: Vec<String> = values(msg, INTEGRITY_RESULT)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        let konnektor_row = integrity.iter().any(|v| v == KONNEKTOR_CODE_ID);
        for (field, value) in fields {
            if profile.fehlermeldung_codes.contains(&value) || is_vendor_code(&value) {
                continue;
            }
            let loc = header_location(field);
            let four_digits = value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit());
            if !integrity.is_empty() && data.tab_verm_sig_pruef_codes.contains(&value) {
                continue;
            }
            if konnektor_row && four_digits {
                out.warning(
                    loc,
                    format!(
                        "{FEHLERMELDUNG} `{value}` is not in Tab_Fehlercodes_KOMLE-Clientmodul; \
                         accepted as the Konnektor's code taken over with {INTEGRITY_RESULT} \
                         {KONNEKTOR_CODE_ID} (Tab_Verm_Sig_Prüf)"
                    ),
                );
                continue;
            }
            let context = if integrity.is_empty() {
                format!(
                    "Konnektor codes are taken over only with an integrity result \
                     ({INTEGRITY_RESULT}, Tab_Verm_Sig_Prüf) and this message carries none{}",
                    if msg.fields_named(DECRYPTION_RESULT).next().is_some() {
                        " (it reports a decryption result)"
                    } else {
                        ""
                    }
                )
            } else {
                format!(
                    "with {INTEGRITY_RESULT} {} only the codes of Tab_Verm_Sig_Prüf ({}) are \
                     taken over; an unassigned Konnektor code needs ID {KONNEKTOR_CODE_ID}",
                    integrity.join("/"),
                    data.tab_verm_sig_pruef_codes.join(", ")
                )
            };
            out.error(
                loc,
                format!(
                    "{FEHLERMELDUNG} `{value}` is not a code of Tab_Fehlercodes_KOMLE-Clientmodul \
                     ({}) nor a vendor code starting with `X`; {context}",
                    range_text(&profile.fehlermeldung_codes),
                ),
            );
        }
    }
}

/// Tab_Verm_Sig_Prüf ID whose Fehlercode column is the Konnektor's own, unassigned code
/// (`[Fehlercode]`, seed 1.1/2.1).
const KONNEKTOR_CODE_ID: &str = "06";

fn range_text(codes: &[String]) -> String {
    match (codes.first(), codes.last()) {
        (Some(a), Some(b)) if codes.len() > 2 => format!("{a}–{b}"),
        _ => codes.join(", "),
    }
}

/// Vendor-specific result codes start with `X` (KOM-LE-A_2047-02), e.g. `X99`.
fn is_vendor_code(value: &str) -> bool {
    value.len() > 1
        && value.starts_with('X')
        && value[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl LineEndings {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let raw = msg.raw();
        let mut bare_lf = 0usize;
        let mut crlf = 0usize;
        let mut first = None;
        for i in memchr::memchr_iter(b'\n', raw) {
            if i > 0 && raw[i - 1] == b'\r' {
                crlf += 1;
            } else {
                bare_lf += 1;
                first.get_or_insert(i);
            }
        }
        if let Some(offset) = first {
            let line = msg.line_of_offset(offset);
            out.error(
                Location::Line { line },
                format!(
                    "line {line} ends with a bare LF (byte offset {offset}); KIM messages use CRLF \
                     line ends ({bare_lf} line(s) with bare LF in total)"
                ),
            );
        }
        // Every CR is part of a CRLF unless there are more CRs than CRLFs (a fast count first;
        // the position is looked up only when needed).
        if memchr::memchr_iter(b'\r', raw).count() > crlf
            && let Some(offset) =
                memchr::memchr_iter(b'\r', raw).find(|&i| raw.get(i + 1) != Some(&b'\n'))
        {
            let line = msg.line_of_offset(offset);
            out.error(
                Location::Line { line },
                format!("line {line} contains a bare CR not followed by LF (byte offset {offset})"),
            );
        }
    }
}

impl MessageIdSyntax {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        crate::rules::msg_id::check_message_id_field(msg, out);
    }
}

impl DateSyntax {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        match single_field(msg, "Date", out) {
            Some(field) => check_date_field(msg, field, out),
            None => out.error(
                Location::Message,
                "the header field Date (orig-date) is missing; RFC 5322 requires it",
            ),
        }
        if let Some(field) = single_field(msg, "Expires", out) {
            check_date_field(msg, field, out);
        }
    }
}

fn check_date_field(msg: &Message, field: &RawField, out: &mut Emitter) {
    let value = msg.unfolded_value(field);
    match check_date(&value) {
        Ok(None) => {}
        Ok(Some(warning)) => out.warning(
            header_location(field),
            format!("{} `{value}`: {warning}", field.name),
        ),
        Err(why) => out.error(
            header_location(field),
            format!(
                "{} `{value}` is not an RFC 5322 date-time: {why}",
                field.name
            ),
        ),
    }
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// German abbreviations and names that differ from the English ones, with the English month.
const GERMAN_MONTHS: [(&str, &str); 12] = [
    ("Mär", "Mar"),
    ("Mrz", "Mar"),
    ("Mai", "May"),
    ("Okt", "Oct"),
    ("Dez", "Dec"),
    ("Januar", "Jan"),
    ("Februar", "Feb"),
    ("März", "Mar"),
    ("Juni", "Jun"),
    ("Juli", "Jul"),
    ("Oktober", "Oct"),
    ("Dezember", "Dec"),
];
const GERMAN_DAYS: [&str; 7] = ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"];
const OBSOLETE_ZONES: [&str; 10] = [
    "UT", "GMT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT",
];

/// Checks an RFC 5322 §3.3 date-time. `Ok(Some(_))` carries a warning (obsolete but allowed).
pub fn check_date(value: &str) -> Result<Option<String>, String> {
    // Drop comments such as "(CET)".
    let mut text = String::with_capacity(value.len());
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    let text = text.replace(',', ", ");
    let mut tokens: Vec<&str> = text.split_whitespace().collect();
    if tokens.is_empty() {
        return Err("the value is empty".into());
    }
    let mut warning = None;
    if tokens[0].ends_with(',') || tokens.get(1) == Some(&",") {
        let name = tokens[0].trim_end_matches(',');
        tokens.remove(0);
        if tokens.first() == Some(&",") {
            tokens.remove(0);
        }
        if GERMAN_DAYS.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "day name `{name}` is German; RFC 5322 day names are English ({})",
                DAYS.join(", ")
            ));
        }
        if !DAYS.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            return Err(format!("`{name}` is not a day name ({})", DAYS.join(", ")));
        }
    }
    let [day, month, year, time, zone] = tokens[..] else {
        return Err(format!(
            "expected `[day-name,] day month year hh:mm[:ss] zone`, found {} part(s)",
            tokens.len()
        ));
    };
    let day_ok =
        (1..=2).contains(&day.len()) && day.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d));
    if !day_ok {
        return Err(format!("`{day}` is not a day of the month (1-31)"));
    }
    if !MONTHS.iter().any(|m| m.eq_ignore_ascii_case(month)) {
        if let Some((_, en)) = GERMAN_MONTHS
            .iter()
            .find(|(de, _)| de.eq_ignore_ascii_case(month))
        {
            return Err(format!(
                "month `{month}` is German; RFC 5322 month names are English (`{en}`)"
            ));
        }
        return Err(format!(
            "`{month}` is not a month name ({})",
            MONTHS.join(", ")
        ));
    }
    if !year.bytes().all(|b| b.is_ascii_digit()) || year.len() < 2 {
        return Err(format!("`{year}` is not a year"));
    }
    if year.len() < 4 {
        warning = Some(format!(
            "the year `{year}` has fewer than 4 digits (obsolete syntax, RFC 5322 §4.3)"
        ));
    }
    let parts: Vec<&str> = time.split(':').collect();
    let limits = [23u8, 59, 60];
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .zip(limits)
            .any(|(p, max)| p.len() != 2 || p.parse::<u8>().map_or(true, |n| n > max))
    {
        return Err(format!("`{time}` is not a time of day `hh:mm[:ss]`"));
    }
    let numeric = zone.len() == 5
        && (zone.starts_with('+') || zone.starts_with('-'))
        && zone[1..].bytes().all(|b| b.is_ascii_digit())
        && zone[3..].parse::<u8>().is_ok_and(|m| m < 60);
    if !numeric {
        if OBSOLETE_ZONES.iter().any(|z| z.eq_ignore_ascii_case(zone)) {
            warning = Some(format!(
                "zone `{zone}` is obsolete syntax (RFC 5322 §4.3); use a numeric offset"
            ));
        } else {
            return Err(format!(
                "zone `{zone}` is not a numeric offset `+hhmm` / `-hhmm`"
            ));
        }
    }
    Ok(warning)
}

fn dienstkennung_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^V[0-9]+\.[0-9]+$").expect("static regex"))
}

impl DienstkennungSyntax {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let kind = Kind::of(msg);
        let Some(field) = single_field(msg, DIENSTKENNUNG, out) else {
            match kind {
                Kind::KomLe | Kind::KasBody | Kind::Delivered => out.error(
                    Location::Message,
                    format!(
                        "{DIENSTKENNUNG} is missing in {}; a Clientmodul sets the default \
                         Dienstkennung (A_19488-02) when the client system gives none",
                        kind.describe()
                    ),
                ),
                _ => out.not_evaluated(format!(
                    "no {DIENSTKENNUNG} in {} (the Clientmodul adds the default)",
                    kind.describe()
                )),
            }
            return;
        };
        let value = msg.unfolded_value(field);
        let loc = header_location(field);
        let parts: Vec<&str> = value.split(';').collect();
        if parts.len() != 3 {
            out.error(
                loc,
                format!(
                    "`{value}` has {} part(s); {DIENSTKENNUNG} is `<app>;<type>;V<x.y>` (three parts)",
                    parts.len()
                ),
            );
            return;
        }
        if let Some((i, _)) = parts.iter().enumerate().find(|(_, p)| p.trim().is_empty()) {
            out.error(loc, format!("`{value}`: part {} is empty", i + 1));
            return;
        }
        let version = parts[2].trim();
        if !dienstkennung_pattern().is_match(version) {
            out.error(
                loc.clone(),
                format!("`{value}`: the version part `{version}` is not `V<major>.<minor>`"),
            );
        }
        if parts.iter().any(|p| p.trim() != *p) {
            out.warning(
                loc.clone(),
                format!(
                    "`{value}`: whitespace around the parts; receivers compare the value as written"
                ),
            );
        }
        if let Ok(data) = super::profile::data() {
            let compact: String = parts.iter().map(|p| p.trim()).collect::<Vec<_>>().join(";");
            if !data.known_dienstkennungen.contains(&compact) {
                out.warning(
                    loc,
                    format!(
                        "`{value}` is not among the observed Dienstkennungen ({}); check it against \
                         gematik's list",
                        data.known_dienstkennungen.join(", ")
                    ),
                );
            }
        }
    }
}

impl SendersystemSyntax {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let kind = Kind::of(msg);
        let Some(field) = single_field(msg, SENDERSYSTEM, out) else {
            if kind == Kind::ClientMail {
                out.error(
                    Location::Message,
                    format!("{SENDERSYSTEM} is missing; a client system names itself as `<name>;<version>`"),
                );
            } else {
                out.not_evaluated(format!("no {SENDERSYSTEM} in {}", kind.describe()));
            }
            return;
        };
        let value = msg.unfolded_value(field);
        let parts: Vec<&str> = value.split(';').collect();
        let loc = header_location(field);
        if parts.len() != 2 || parts.iter().any(|p| p.trim().is_empty()) {
            out.error(
                loc,
                format!("`{value}` is not `<name>;<version>` with both parts non-empty"),
            );
        } else if parts.iter().any(|p| p.trim() != *p) {
            out.warning(loc, format!("`{value}`: whitespace around the parts"));
        }
    }
}

/// Published patterns of A_21388-01 (KIM-FACTS §1.5), anchored: the whole value must match.
const CM_VERSION_PATTERN: &str = r"^[a-zA-Z0-9_]{1,5}_[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}(-25[0-5]|-2[0-4][0-9]|-[0-1]?[0-9]?[0-9])?$";
const PT_VERSION_PATTERN: &str =
    r"^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}(-25[0-5]|-2[0-4][0-9]|-[0-1]?[0-9]?[0-9])?$";

fn version_regexes() -> &'static (Regex, Regex, Regex) {
    static RE: OnceLock<(Regex, Regex, Regex)> = OnceLock::new();
    RE.get_or_init(|| {
        (
            Regex::new(CM_VERSION_PATTERN).expect("static regex"),
            Regex::new(PT_VERSION_PATTERN).expect("static regex"),
            Regex::new(r"^(<[^<>]*>)+$").expect("static regex"),
        )
    })
}

fn check_pattern(msg: &Message, name: &str, re: &Regex, shown: &str, out: &mut Emitter) {
    let Some(field) = single_field(msg, name, out) else {
        out.not_evaluated(format!(
            "no {name} field (presence: kim/outer-version-headers)"
        ));
        return;
    };
    let value = msg.unfolded_value(field);
    if !re.is_match(&value) {
        out.error(
            header_location(field),
            format!("{name} `{value}` does not match the published pattern {shown}"),
        );
    }
}

impl CmVersionSyntax {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let re = &version_regexes().0;
        check_pattern(
            msg,
            CM_VERSION,
            re,
            "`[a-zA-Z0-9_]{1,5}_[0-9]{1,2}.[0-9]{1,2}.[0-9]{1,2}(-<0..255>)?` (vendor prefix of at most 5 characters)",
            out,
        );
    }
}

impl PtVersionSyntax {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let re = &version_regexes().1;
        check_pattern(
            msg,
            PT_VERSION,
            re,
            "`[0-9]{1,2}.[0-9]{1,2}.[0-9]{1,2}(-<0..255>)?`",
            out,
        );
    }
}

impl KonVersionSyntax {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        let Some(field) = single_field(msg, KON_VERSION, out) else {
            out.not_evaluated(format!(
                "no {KON_VERSION} field (presence: kim/outer-version-headers)"
            ));
            return;
        };
        let value = msg.unfolded_value(field);
        let loc = header_location(field);
        if !version_regexes().2.is_match(&value) {
            out.error(
                loc,
                format!(
                    "{KON_VERSION} `{value}` is not a sequence of `<…>` elements \
                     (<Productname><ProductType><ProductTypeVersion><HWVersion><FWVersion>)"
                ),
            );
            return;
        }
        let elements: Vec<&str> = value
            .trim_start_matches('<')
            .trim_end_matches('>')
            .split("><")
            .collect();
        match elements.len() {
            5 => {}
            6 => out.warning(
                loc.clone(),
                format!(
                    "{KON_VERSION} has a sixth element `<{}>`; A_21388-01 lists five (the gematik \
                     KAS sample has the same sixth `<null>`)",
                    elements[5]
                ),
            ),
            n => {
                out.error(
                    loc.clone(),
                    format!("{KON_VERSION} `{value}` has {n} element(s); A_21388-01 lists five"),
                );
                return;
            }
        }
        if let Some(i) = elements.iter().take(5).position(|e| e.trim().is_empty()) {
            out.error(loc, format!("{KON_VERSION}: element {} is empty", i + 1));
        }
    }
}

impl KomLeVersionValue {
    fn run(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((_, profile)) = with_profile(ctx.profile, out) else {
            return;
        };
        let Some(field) = single_field(msg, KOM_LE_VERSION, out) else {
            out.not_evaluated(format!("no {KOM_LE_VERSION}: not a KOM-LE message"));
            return;
        };
        let value = msg.unfolded_value(field);
        if !profile.kom_le_versions.contains(&value) {
            out.error(
                header_location(field),
                format!(
                    "{KOM_LE_VERSION} `{value}` is not allowed in profile {} (allowed: {}); a \
                     receiving Clientmodul answers an unsupported version with error 4008",
                    ctx.profile.as_str(),
                    profile.kom_le_versions.join(", ")
                ),
            );
        }
    }
}

impl OuterSubject {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        if Kind::of(msg) != Kind::KomLe {
            out.not_evaluated("not a KOM-LE message (no X-KOM-LE-Version)");
            return;
        }
        match single_field(msg, "Subject", out) {
            None => out.error(
                Location::Message,
                format!("the KOM-LE message has no Subject; it must be `{KOM_LE_SUBJECT}`"),
            ),
            Some(field) => {
                let subject = msg.decoded_value(field);
                if subject != KOM_LE_SUBJECT {
                    out.error(
                        header_location(field),
                        format!(
                            "the outer Subject is `{subject}`; a KOM-LE message has `{KOM_LE_SUBJECT}` \
                             (the real subject travels encrypted)"
                        ),
                    );
                }
            }
        }
    }
}

/// Splits a Content-Type value into its lower-cased type and its parameters (names lower-cased,
/// values unquoted).
pub fn content_type_params(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = value.split(';');
    let ctype = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    (ctype, params)
}

impl OuterContentType {
    fn run(&self, msg: &Message, _: &RuleContext, out: &mut Emitter) {
        if Kind::of(msg) != Kind::KomLe {
            out.not_evaluated("not a KOM-LE message (no X-KOM-LE-Version)");
            return;
        }
        let Some(field) = single_field(msg, "Content-Type", out) else {
            out.error(
                Location::Message,
                "the KOM-LE message has no Content-Type; it must be application/pkcs7-mime; \
                 smime-type=authenticated-enveloped-data",
            );
            return;
        };
        let (ctype, params) = content_type_params(&top_content_type(msg));
        let smime_type = params
            .iter()
            .find(|(k, _)| k == "smime-type")
            .map(|(_, v)| v.to_ascii_lowercase());
        if ctype != "application/pkcs7-mime"
            || smime_type.as_deref() != Some("authenticated-enveloped-data")
        {
            out.error(
                header_location(field),
                format!(
                    "Content-Type `{}` is not application/pkcs7-mime with \
                     smime-type=authenticated-enveloped-data",
                    msg.unfolded_value(field)
                ),
            );
        }
    }
}

fn check_codes(msg: &Message, name: &str, allowed: &[String], table: &str, out: &mut Emitter) {
    let fields = values(msg, name);
    if fields.is_empty() {
        out.not_evaluated(format!("no {name} field"));
        return;
    }
    for (field, value) in fields {
        if allowed.contains(&value) || is_vendor_code(&value) {
            continue;
        }
        let hint = if value.contains(',') || value.contains(' ') {
            " (one value per field; repeat the field for several results)"
        } else {
            ""
        };
        out.error(
            header_location(field),
            format!(
                "{name} `{value}` is neither an ID of {table} ({}) nor a vendor code starting with `X`{hint}",
                allowed.join(", ")
            ),
        );
    }
}

impl DecryptionResultValues {
    fn run(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((_, profile)) = with_profile(ctx.profile, out) else {
            return;
        };
        check_codes(
            msg,
            DECRYPTION_RESULT,
            &profile.decryption_results,
            "Tab_Fehlertext_Entschl",
            out,
        );
    }
}

impl IntegrityCheckResultValues {
    fn run(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((_, profile)) = with_profile(ctx.profile, out) else {
            return;
        };
        check_codes(
            msg,
            INTEGRITY_RESULT,
            &profile.integrity_results,
            "Tab_Verm_Sig_Prüf",
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(check_date("Fri, 9 Sep 2022 15:47:00 +0200"), Ok(None));
        assert_eq!(check_date("Fri, 4 Nov 2022 13:22:59 +0100 (CET)"), Ok(None));
        assert_eq!(check_date("9 Sep 2022 15:47 -0000"), Ok(None));
        assert!(
            check_date("Thu, 15 Dez 2022 11:51:21 +0100")
                .unwrap_err()
                .contains("German")
        );
        assert!(check_date("Do, 15 Dec 2022 11:51:21 +0100").is_err());
        assert!(check_date("Thu, 15 Dec 2022 25:51:21 +0100").is_err());
        assert!(
            check_date("Thu, 15 Dec 2022 11:51:21 GMT")
                .unwrap()
                .is_some()
        );
        assert!(check_date("Thu, 15 Dec 2022 11:51:21 CET").is_err());
        assert!(check_date("").is_err());
        assert!(check_date("Thu,").is_err());
    }

    #[test]
    fn version_patterns() {
        let (cm, pt, _) = version_regexes();
        assert!(cm.is_match("AKNET_1.1.0-0"));
        assert!(cm.is_match("ABC_2.1.2-8"));
        assert!(!cm.is_match("KIM_CM_1.1.0-0"));
        assert!(!cm.is_match("AKNET_1.1.0-256"));
        assert!(pt.is_match("1.2.1"));
        assert!(pt.is_match("1.5.0-2"));
        assert!(!pt.is_match("1.5"));
    }

    fn crlf_findings(raw: &[u8]) -> Vec<String> {
        let opts = crate::lint::LintOptions {
            profile: crate::lint::ProfileChoice::Kim15,
            registry: crate::rules::KvcRegistry::builtin().expect("registry"),
            max_size: 1 << 20,
            smime: None,
        };
        crate::lint::lint_bytes("t", raw, &opts)
            .findings
            .into_iter()
            .filter(|f| f.rule == "kim/crlf-only")
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn line_ends() {
        assert!(crlf_findings(b"Subject: a\r\n\r\nbody\r\n").is_empty());
        let lf = crlf_findings(b"Subject: a\r\n\r\nbody\nmore\r\n");
        assert_eq!(lf.len(), 1);
        assert!(lf[0].contains("line 3 ends with a bare LF"), "{lf:?}");
        let cr = crlf_findings(b"Subject: a\r\n\r\nbo\rdy\r\n");
        assert_eq!(cr.len(), 1);
        assert!(cr[0].contains("bare CR"), "{cr:?}");
    }

    #[test]
    fn vendor_codes() {
        assert!(is_vendor_code("X99"));
        assert!(!is_vendor_code("X"));
        assert!(!is_vendor_code("99"));
    }
}
