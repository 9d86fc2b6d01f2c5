//! KOM-LE S/MIME profile checks: the CMS structure rules of gemSMIME_KOMLE 1.7 as
//! `shared/KIM-FACTS.md` §2.1 lists them (requirement IDs in brackets there), on a message
//! that has been decrypted.
//!
//! Three layers are checked, outside in:
//! - the envelope (`ContentInfo` → `AuthEnvelopedData`): content type, no originatorInfo,
//!   unauthAttrs present, only KeyTransRecipientInfo with issuerAndSerialNumber, a
//!   RecipientInfo for the sender, encryptedContent present, the recipient-emails attribute
//!   (one RecipientEmail per RecipientInfo, rid issuerAndSerialNumber);
//! - the signed entity inside it (`application/pkcs7-mime; smime-type=signed-data` →
//!   `SignedData`): no crls, only the signer certificate, eContent present, one signerInfo, sid
//!   issuerAndSerialNumber, no unsignedAttrs, signed recipient-emails equal to the unprotected
//!   one;
//! - the outer header against the inner message (the eContent's message/rfc822): orig-date,
//!   from, sender, reply-to, to, cc, bcc and every X-KIM-* copied, Message-ID copied, Subject
//!   exactly `KOM-LE-Nachricht`.
//!
//! Each [`ProfileFinding`] names its [`Check`] (rule id, requirement ID), the field, its ASN.1
//! path (RFC 5652 / RFC 5083 field names, 0-based indices, e.g.
//! `AuthEnvelopedData.unauthAttrs[recipient-emails]`, `SignedData.signerInfos[0].signedAttrs`)
//! and what was observed against what the profile expects. A check whose layer cannot be read
//! (the SignedData does not parse, nothing was decrypted) is [`NotEvaluated`] with the reason,
//! never passed.
//!
//! Entry points:
//! - [`check_message`]: a message (.eml or bare CMS) and the recipient's key: what the runner
//!   calls on a captured KOM-LE message;
//! - [`check_opened`]: the same on parts already at hand (`message::open_message_named` calls it
//!   after decrypting, so `lint --key` decrypts once);
//! - [`check_envelope`], [`check_signed_data`], [`check_headers`]: one layer each (e.g. the
//!   intermediate files of gematik's sample).
//!
//! Nothing here runs unless called: `lint` reaches it only through `--key`.

mod envelope;
mod headers;
mod signed;

use crate::error::Result;
use crate::keys::PrivateKeyMaterial;
use crate::message::Severity;
use crate::mime::{self, Headers};
use envelope::{envelope_into, sender_recipient_into};
use headers::{headers_into, outer_subject_into};
use signed::{signed_data_into, signed_entity_into};

/// The fixed outer Subject of every KOM-LE message (KOM-LE-A_2102).
pub const OUTER_SUBJECT: &str = "KOM-LE-Nachricht";

/// The header fields the outer header copies from the inner one (KOM-LE-A_2098-03), besides
/// every `X-KIM-*` field.
pub const COPIED_FIELDS: [&str; 7] = ["Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc"];

/// One profile check: a rule id, the requirement it reports under, what it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// `ContentInfo.contentType` is id-ct-authEnvelopedData (KOM-LE-A_2104).
    AuthEnvelopedData,
    /// No `originatorInfo` (KOM-LE-A_2106).
    NoOriginatorInfo,
    /// `unauthAttrs` present (KOM-LE-A_2107).
    UnauthAttrs,
    /// Only KeyTransRecipientInfo (KOM-LE-A_2108).
    KeyTransOnly,
    /// Every KeyTransRecipientInfo's rid is issuerAndSerialNumber (KOM-LE-A_2109).
    KtriIssuerSerial,
    /// A RecipientInfo for the sender (KOM-LE-A_2111-01).
    SenderRecipientInfo,
    /// encryptedContent present (KOM-LE-A_2112).
    EncryptedContent,
    /// The recipient-emails attribute in the unauthenticated attributes, well-formed
    /// (KOM-LE-A_2114-01).
    RecipientEmails,
    /// One RecipientEmail per RecipientInfo, naming the same certificate (KOM-LE-A_2115-02).
    RecipientEmailPerRecipientInfo,
    /// Each RecipientEmail's rid is issuerAndSerialNumber (KOM-LE-A_2117).
    RecipientEmailIssuerSerial,
    /// The decrypted content is an opaque signed-data entity holding a SignedData
    /// (KOM-LE-A_2103).
    SignedDataEntity,
    /// No `crls` (KOM-LE-A_2118).
    NoCrls,
    /// `certificates` holds the signer certificate and nothing else (KOM-LE-A_2119).
    SignerCertificateOnly,
    /// eContent present, eContentType id-data (KOM-LE-A_2121).
    EContent,
    /// Exactly one signerInfo (KOM-LE-A_2123).
    OneSignerInfo,
    /// sid is issuerAndSerialNumber (KOM-LE-A_2124).
    SidIssuerSerial,
    /// No `unsignedAttrs` (KOM-LE-A_2126).
    NoUnsignedAttrs,
    /// The signed attribute recipient-emails, equal to the unprotected one (KOM-LE-A_2127).
    SignedRecipientEmails,
    /// Outer header = inner header for orig-date, from, sender, reply-to, to, cc, bcc and every
    /// X-KIM-* field (KOM-LE-A_2098-03).
    OuterHeaderCopy,
    /// Outer Message-ID = inner Message-ID (KOM-LE-A_2101-01).
    OuterMessageId,
    /// Outer Subject exactly `KOM-LE-Nachricht` (KOM-LE-A_2102).
    OuterSubject,
}

/// Which part of the message a check reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layer {
    Envelope,
    Signed,
    /// Needs the outer header and the inner message.
    Header,
    /// Needs the outer header only.
    Outer,
}

impl Check {
    /// Every check, outside in.
    pub const ALL: [Check; 21] = [
        Check::AuthEnvelopedData,
        Check::NoOriginatorInfo,
        Check::UnauthAttrs,
        Check::KeyTransOnly,
        Check::KtriIssuerSerial,
        Check::SenderRecipientInfo,
        Check::EncryptedContent,
        Check::RecipientEmails,
        Check::RecipientEmailPerRecipientInfo,
        Check::RecipientEmailIssuerSerial,
        Check::SignedDataEntity,
        Check::NoCrls,
        Check::SignerCertificateOnly,
        Check::EContent,
        Check::OneSignerInfo,
        Check::SidIssuerSerial,
        Check::NoUnsignedAttrs,
        Check::SignedRecipientEmails,
        Check::OuterHeaderCopy,
        Check::OuterMessageId,
        Check::OuterSubject,
    ];

    /// (rule id, requirement ID as KIM-FACTS §2.1 gives it, description).
    fn meta(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Check::AuthEnvelopedData => (
                "smime/auth-enveloped-data",
                "KOM-LE-A_2104",
                "the encrypted message is a CMS AuthEnvelopedData (id-ct-authEnvelopedData)",
            ),
            Check::NoOriginatorInfo => (
                "smime/no-originator-info",
                "KOM-LE-A_2106",
                "AuthEnvelopedData has no originatorInfo",
            ),
            Check::UnauthAttrs => (
                "smime/unauth-attrs",
                "KOM-LE-A_2107",
                "AuthEnvelopedData carries unauthAttrs",
            ),
            Check::KeyTransOnly => (
                "smime/ktri-only",
                "KOM-LE-A_2108",
                "every RecipientInfo is a KeyTransRecipientInfo",
            ),
            Check::KtriIssuerSerial => (
                "smime/ktri-issuer-serial",
                "KOM-LE-A_2109",
                "every KeyTransRecipientInfo names its certificate by issuerAndSerialNumber",
            ),
            Check::SenderRecipientInfo => (
                "smime/sender-recipient-info",
                "KOM-LE-A_2111-01",
                "the message is encrypted for its sender too (a RecipientInfo for the From address)",
            ),
            Check::EncryptedContent => (
                "smime/encrypted-content",
                "KOM-LE-A_2112",
                "encryptedContent is present",
            ),
            Check::RecipientEmails => (
                "smime/recipient-emails",
                "KOM-LE-A_2114-01",
                "the unauthenticated attributes carry one well-formed recipient-emails attribute (1.2.276.0.76.4.173)",
            ),
            Check::RecipientEmailPerRecipientInfo => (
                "smime/recipient-email-per-recipient-info",
                "KOM-LE-A_2115-02",
                "one RecipientEmail per RecipientInfo, naming the same certificate",
            ),
            Check::RecipientEmailIssuerSerial => (
                "smime/recipient-email-issuer-serial",
                "KOM-LE-A_2117",
                "every RecipientEmail names its certificate by issuerAndSerialNumber",
            ),
            Check::SignedDataEntity => (
                "smime/signed-data-entity",
                "KOM-LE-A_2103",
                "the decrypted content is an application/pkcs7-mime; smime-type=signed-data entity holding a SignedData",
            ),
            Check::NoCrls => ("smime/no-crls", "KOM-LE-A_2118", "SignedData has no crls"),
            Check::SignerCertificateOnly => (
                "smime/signer-certificate-only",
                "KOM-LE-A_2119",
                "SignedData.certificates holds exactly the signer certificate",
            ),
            Check::EContent => (
                "smime/econtent",
                "KOM-LE-A_2121",
                "SignedData encapsulates its content (eContent present, eContentType id-data)",
            ),
            Check::OneSignerInfo => (
                "smime/one-signer-info",
                "KOM-LE-A_2123",
                "SignedData has exactly one signerInfo",
            ),
            Check::SidIssuerSerial => (
                "smime/sid-issuer-serial",
                "KOM-LE-A_2124",
                "the signerInfo names the signer by issuerAndSerialNumber",
            ),
            Check::NoUnsignedAttrs => (
                "smime/no-unsigned-attrs",
                "KOM-LE-A_2126",
                "the signerInfo has no unsignedAttrs",
            ),
            Check::SignedRecipientEmails => (
                "smime/signed-recipient-emails",
                "KOM-LE-A_2127",
                "the signed attributes carry recipient-emails with the values of the unauthenticated one",
            ),
            Check::OuterHeaderCopy => (
                "smime/outer-header-copy",
                "KOM-LE-A_2098-03",
                "the outer header repeats the inner orig-date, from, sender, reply-to, to, cc, bcc and every X-KIM-* field",
            ),
            Check::OuterMessageId => (
                "smime/outer-message-id",
                "KOM-LE-A_2101-01",
                "the outer Message-ID is the inner Message-ID",
            ),
            Check::OuterSubject => (
                "smime/outer-subject",
                "KOM-LE-A_2102",
                "the outer Subject is exactly KOM-LE-Nachricht",
            ),
        }
    }

    /// Stable rule id (`smime/…`), the SARIF rule id in `lint`.
    pub fn rule(self) -> &'static str {
        self.meta().0
    }

    /// The requirement ID with the version suffix KIM-FACTS §2.1 gives (`KOM-LE-A_2114-01`).
    pub fn requirement(self) -> &'static str {
        self.meta().1
    }

    /// The requirement ID without version suffix (the catalogue's key).
    pub fn base_requirement(self) -> &'static str {
        let r = self.requirement();
        match r.rfind('-') {
            Some(i) if r[i + 1..].bytes().all(|b| b.is_ascii_digit()) && i > 6 => &r[..i],
            _ => r,
        }
    }

    /// One line on what the check asks.
    pub fn description(self) -> &'static str {
        self.meta().2
    }

    fn layer(self) -> Layer {
        match self {
            Check::AuthEnvelopedData
            | Check::NoOriginatorInfo
            | Check::UnauthAttrs
            | Check::KeyTransOnly
            | Check::KtriIssuerSerial
            | Check::SenderRecipientInfo
            | Check::EncryptedContent
            | Check::RecipientEmails
            | Check::RecipientEmailPerRecipientInfo
            | Check::RecipientEmailIssuerSerial => Layer::Envelope,
            Check::SignedDataEntity
            | Check::NoCrls
            | Check::SignerCertificateOnly
            | Check::EContent
            | Check::OneSignerInfo
            | Check::SidIssuerSerial
            | Check::NoUnsignedAttrs
            | Check::SignedRecipientEmails => Layer::Signed,
            Check::OuterHeaderCopy | Check::OuterMessageId => Layer::Header,
            Check::OuterSubject => Layer::Outer,
        }
    }
}

impl serde::Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.rule())
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.rule())
    }
}

/// One break of the profile.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProfileFinding {
    /// The check (serialised as its rule id).
    pub check: Check,
    /// Its requirement ID (versioned where KIM-FACTS gives the suffix).
    pub requirement: &'static str,
    /// Error (the profile is broken) or warning (equal in meaning, written differently).
    pub severity: Severity,
    /// The field, as the ASN.1 module or the header names it (`crls`, `rid`, `From`).
    pub field: String,
    /// Where: the ASN.1 path (`SignedData.signerInfos[0].unsignedAttrs`) or the header field.
    pub path: String,
    /// What the message has.
    pub observed: String,
    /// What the profile asks for.
    pub expected: String,
}

impl ProfileFinding {
    /// `field: observed; expected: …` (the location is the path).
    pub fn message(&self) -> String {
        format!(
            "{}: {}; expected: {}",
            self.field, self.observed, self.expected
        )
    }
}

/// A check that could not be judged, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NotEvaluated {
    /// The check (serialised as its rule id).
    pub check: Check,
    /// Why (names the check that failed before it, or the part that could not be read).
    pub reason: String,
}

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckVerdict {
    /// Evaluated; no error (warnings possible).
    Pass,
    /// At least one error finding.
    Fail,
    /// Could not be judged (see [`ProfileReport::not_evaluated`]).
    NotEvaluated,
}

/// What the profile checks found on one message.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProfileReport {
    /// Every break (errors and warnings), outside in.
    pub findings: Vec<ProfileFinding>,
    /// Checks that could not be judged.
    pub not_evaluated: Vec<NotEvaluated>,
}

impl ProfileReport {
    /// The verdict of `check`: a check neither failed nor left unevaluated passed.
    pub fn verdict(&self, check: Check) -> CheckVerdict {
        if self.not_evaluated.iter().any(|n| n.check == check) {
            CheckVerdict::NotEvaluated
        } else if self
            .findings
            .iter()
            .any(|f| f.check == check && f.severity == Severity::Error)
        {
            CheckVerdict::Fail
        } else {
            CheckVerdict::Pass
        }
    }

    /// The checks with an error finding, in [`Check::ALL`] order.
    pub fn failed(&self) -> Vec<Check> {
        Check::ALL
            .into_iter()
            .filter(|c| self.verdict(*c) == CheckVerdict::Fail)
            .collect()
    }

    /// Why `check` was not evaluated, if it was not.
    pub fn not_evaluated_reason(&self, check: Check) -> Option<&str> {
        self.not_evaluated
            .iter()
            .find(|n| n.check == check)
            .map(|n| n.reason.as_str())
    }

    fn error(&mut self, check: Check, field: &str, path: &str, observed: String, expected: &str) {
        self.push(Severity::Error, check, field, path, observed, expected);
    }

    fn warning(&mut self, check: Check, field: &str, path: &str, observed: String, expected: &str) {
        self.push(Severity::Warning, check, field, path, observed, expected);
    }

    fn push(
        &mut self,
        severity: Severity,
        check: Check,
        field: &str,
        path: &str,
        observed: String,
        expected: &str,
    ) {
        self.findings.push(ProfileFinding {
            check,
            requirement: check.requirement(),
            severity,
            field: field.to_string(),
            path: path.to_string(),
            observed,
            expected: expected.to_string(),
        });
    }

    /// Marks `check` as not evaluated, unless it was judged already (a finding of its own).
    fn skip(&mut self, check: Check, reason: impl Into<String>) {
        if !self.not_evaluated.iter().any(|n| n.check == check)
            && !self.findings.iter().any(|f| f.check == check)
        {
            self.not_evaluated.push(NotEvaluated {
                check,
                reason: reason.into(),
            });
        }
    }

    fn skip_layer(&mut self, layer: Layer, reason: &str) {
        for c in Check::ALL.into_iter().filter(|c| c.layer() == layer) {
            self.skip(c, reason);
        }
    }

    /// Keeps findings and unevaluated checks in [`Check::ALL`] order (stable within a check).
    fn sort(&mut self) {
        self.findings.sort_by_key(|f| f.check);
        self.not_evaluated.sort_by_key(|n| n.check);
    }
}

// ------------------------------------------------------------------------------------------------
// entry points

/// The profile checks on a message (`raw` = .eml, or a bare CMS blob) opened with the
/// recipient's `key`: what the runner calls on a captured KOM-LE message.
///
/// The envelope is checked even when the key does not open it (then the SignedData and
/// header checks are [`NotEvaluated`] with the reason). Errors only when `raw` holds no CMS
/// at all (not `application/pkcs7-mime`, no base64 body): [`crate::ErrorKind::BadInput`]
/// naming `input`.
pub fn check_message(raw: &[u8], key: &PrivateKeyMaterial, input: &str) -> Result<ProfileReport> {
    let blob = crate::message::cms_from_message(raw, input)?;
    let outer = outer_header_block(raw);
    let decrypted = crate::cms::decrypt(&blob, key, input);
    Ok(match &decrypted {
        Ok(d) => check_opened(outer, &blob, Ok(&d.content)),
        Err(e) => check_opened(outer, &blob, Err(&e.to_string())),
    })
}

/// The profile checks on parts already at hand: the outer header block (`None` for a bare
/// CMS blob), the envelope (a CMS ContentInfo, BER or DER) and its decrypted content (or why
/// there is none).
pub fn check_opened(
    outer_header: Option<&[u8]>,
    envelope: &[u8],
    decrypted: std::result::Result<&[u8], &str>,
) -> ProfileReport {
    let mut report = ProfileReport::default();
    let outer = outer_header.map(Headers::parse);
    let facts = envelope_into(&mut report, envelope);
    let inner = match decrypted {
        Ok(content) => signed_entity_into(&mut report, content, facts.as_ref()),
        Err(why) => {
            let reason = format!("the content was not decrypted: {why}");
            report.skip_layer(Layer::Signed, &reason);
            Err(reason)
        }
    };
    // The sender: the From of the inner (signed) message, the outer one where the inner
    // message cannot be read (an outer From that differs is KOM-LE-A_2098-03's finding).
    let from_values: Vec<String> = match (&inner, &outer) {
        (Ok(i), _) => Headers::parse(mime::split_header_body(i).0)
            .get_all("From")
            .into_iter()
            .map(str::to_string)
            .collect(),
        (Err(_), Some(h)) => h.get_all("From").into_iter().map(str::to_string).collect(),
        (Err(_), None) => Vec::new(),
    };
    let senders: Vec<String> = from_values
        .iter()
        .flat_map(|v| mime::addresses(v))
        .collect();
    if let Some(f) = &facts {
        sender_recipient_into(&mut report, f, &senders);
    }
    match (&outer, &inner) {
        (Some(o), Ok(i)) => headers_into(&mut report, o, i),
        (Some(o), Err(why)) => {
            outer_subject_into(&mut report, o);
            report.skip_layer(
                Layer::Header,
                &format!("no inner message to compare with: {why}"),
            );
        }
        (None, _) => {
            let reason = "a bare CMS blob has no outer header";
            report.skip_layer(Layer::Header, reason);
            report.skip_layer(Layer::Outer, reason);
        }
    }
    report.sort();
    report
}

/// The envelope checks alone on a CMS ContentInfo (`sender` = the sender's addresses, for
/// KOM-LE-A_2111-01; empty = not evaluated); the SignedData and header checks are
/// [`NotEvaluated`].
pub fn check_envelope(envelope: &[u8], sender: &[String]) -> ProfileReport {
    let mut report = ProfileReport::default();
    if let Some(f) = envelope_into(&mut report, envelope) {
        sender_recipient_into(&mut report, &f, sender);
    }
    let reason = "only the envelope was checked";
    for layer in [Layer::Signed, Layer::Header, Layer::Outer] {
        report.skip_layer(layer, reason);
    }
    report.sort();
    report
}

/// The SignedData checks alone on a SignedData ContentInfo (BER or DER); with `envelope`, the
/// signed recipient-emails is compared with that envelope's unauthenticated one. The envelope
/// and header checks are [`NotEvaluated`].
pub fn check_signed_data(signed: &[u8], envelope: Option<&[u8]>) -> ProfileReport {
    let mut scratch = ProfileReport::default();
    let facts = envelope.and_then(|e| envelope_into(&mut scratch, e));
    let mut report = ProfileReport::default();
    match crate::cms::parse_signed_data(signed, "SignedData") {
        Ok(sd) => {
            // The inner message is not needed here.
            let _ = signed_data_into(&mut report, &sd, facts.as_ref());
        }
        Err(e) => {
            report.error(
                Check::SignedDataEntity,
                "SignedData",
                "ContentInfo",
                format!("does not parse as a CMS SignedData: {}", e.message),
                "a CMS SignedData (RFC 5652)",
            );
            report.skip_layer(
                Layer::Signed,
                "the SignedData does not parse (KOM-LE-A_2103)",
            );
        }
    }
    let reason = "only the SignedData was checked";
    for layer in [Layer::Envelope, Layer::Header, Layer::Outer] {
        report.skip_layer(layer, reason);
    }
    report.sort();
    report
}

/// The header checks alone: the outer header block against the inner message (its header
/// is read from the start of `inner`). The CMS checks are [`NotEvaluated`].
pub fn check_headers(outer_header: &[u8], inner: &[u8]) -> ProfileReport {
    let mut report = ProfileReport::default();
    headers_into(&mut report, &Headers::parse(outer_header), inner);
    let reason = "only the headers were checked";
    for layer in [Layer::Envelope, Layer::Signed] {
        report.skip_layer(layer, reason);
    }
    report.sort();
    report
}

fn outer_header_block(raw: &[u8]) -> Option<&[u8]> {
    if raw.first() == Some(&0x30) {
        return None;
    }
    Some(mime::split_header_body(raw).0)
}
