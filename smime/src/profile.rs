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

use cms::authenveloped_data::AuthEnvelopedData;
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientIdentifier, RecipientInfo};
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, SetOfVec};
use der::{Decode, Encode};
use x509_cert::attr::Attribute;

use crate::asn1::{RecipientEmailAnyRid, hex, serial_hex};
use crate::cms::{cert_ski, describe_rid, issuer_and_serial};
use crate::error::Result;
use crate::keys::PrivateKeyMaterial;
use crate::message::Severity;
use crate::mime::{self, Headers};
use crate::oids;

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

// ------------------------------------------------------------------------------------------------
// envelope

/// What the later layers need to know of the envelope.
struct EnvelopeFacts {
    /// `AuthEnvelopedData` or `EnvelopedData`.
    name: &'static str,
    /// `unauthAttrs` or `unprotectedAttrs`.
    attrs: &'static str,
    /// (index in recipientInfos, rid) of every KeyTransRecipientInfo.
    ktris: Vec<(usize, RecipientIdentifier)>,
    /// The unauthenticated recipient-emails attribute as read.
    emails: EmailsAttr,
}

impl EnvelopeFacts {
    fn emails_path(&self) -> String {
        format!("{}.{}[recipient-emails]", self.name, self.attrs)
    }
}

/// A recipient-emails attribute as read from a set of attributes.
enum EmailsAttr {
    /// No attribute set at all.
    NoAttributes,
    /// Attributes, but none of type recipient-emails.
    Absent,
    /// Present but not readable (the reason).
    Malformed(String),
    /// Its entries.
    Entries(Vec<EmailEntry>),
}

/// One RecipientEmail value.
struct EmailEntry {
    email: String,
    rid: RecipientIdentifier,
    /// The value's DER encoding (compared between the signed and the unprotected attribute).
    der: Vec<u8>,
}

fn describe_rid_choice(rid: &RecipientIdentifier) -> String {
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(ias) => describe_rid(ias),
        RecipientIdentifier::SubjectKeyIdentifier(ski) => {
            format!("subjectKeyIdentifier {}", hex(ski.0.as_bytes()))
        }
    }
}

impl EmailEntry {
    fn describe(&self) -> String {
        match &self.rid {
            RecipientIdentifier::IssuerAndSerialNumber(ias) => {
                format!("{} (serial {})", self.email, serial_hex(&ias.serial_number))
            }
            other => format!("{} ({})", self.email, describe_rid_choice(other)),
        }
    }
}

/// Reads the recipient-emails attribute of `attrs`; `Err` = its values (where, why).
fn read_emails(attrs: Option<&SetOfVec<Attribute>>) -> EmailsAttr {
    let Some(attrs) = attrs else {
        return EmailsAttr::NoAttributes;
    };
    let found: Vec<&Attribute> = attrs
        .iter()
        .filter(|a| a.oid == oids::RECIPIENT_EMAILS)
        .collect();
    let attr = match found.as_slice() {
        [] => return EmailsAttr::Absent,
        [one] => *one,
        many => {
            return EmailsAttr::Malformed(format!(
                "{} attributes of type recipient-emails (one expected)",
                many.len()
            ));
        }
    };
    if attr.values.is_empty() {
        return EmailsAttr::Malformed("the attribute has no value (SET SIZE (1..MAX))".into());
    }
    let mut entries = Vec::new();
    for (j, v) in attr.values.iter().enumerate() {
        let der = match v.to_der() {
            Ok(d) => d,
            Err(e) => return EmailsAttr::Malformed(format!("values[{j}]: {e}")),
        };
        match RecipientEmailAnyRid::from_der(&der).or_else(|_| RecipientEmailAnyRid::from_ber(&der))
        {
            Ok(r) => entries.push(EmailEntry {
                email: r.email_address.to_string(),
                rid: r.rid,
                der,
            }),
            Err(e) => {
                return EmailsAttr::Malformed(format!(
                    "values[{j}] is not a RecipientEmail ::= SEQUENCE {{ emailAddress IA5String, rid RecipientIdentifier }}: {e}"
                ));
            }
        }
    }
    EmailsAttr::Entries(entries)
}

fn attribute_names(attrs: &SetOfVec<Attribute>) -> String {
    let names: Vec<String> = attrs.iter().map(|a| attribute_name(&a.oid)).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn attribute_name(oid: &ObjectIdentifier) -> String {
    match *oid {
        o if o == oids::RECIPIENT_EMAILS => "recipient-emails".into(),
        o if o == oids::CONTENT_TYPE => "contentType".into(),
        o if o == oids::MESSAGE_DIGEST => "messageDigest".into(),
        o if o == oids::SIGNING_TIME => "signingTime".into(),
        o => o.to_string(),
    }
}

/// The envelope checks except KOM-LE-A_2111 (which needs the sender); `None` when the
/// envelope cannot be read (then every envelope check is decided or not evaluated here).
fn envelope_into(report: &mut ProfileReport, blob: &[u8]) -> Option<EnvelopeFacts> {
    let ci = match ContentInfo::from_ber(blob) {
        Ok(ci) => ci,
        Err(e) => {
            report.skip_layer(
                Layer::Envelope,
                format!("the message is not a CMS ContentInfo: {e}").as_str(),
            );
            return None;
        }
    };
    let content = match ci.content.to_der() {
        Ok(c) => c,
        Err(e) => {
            report.skip_layer(Layer::Envelope, &format!("CMS content: {e}"));
            return None;
        }
    };
    let expected_type = "id-ct-authEnvelopedData (1.2.840.113549.1.9.16.1.23)";
    // (name, attrs field, encryptedContent path, originatorInfo, RecipientInfos, attributes,
    // encryptedContent present)
    let parsed = if ci.content_type == oids::ID_AUTH_ENVELOPED_DATA {
        AuthEnvelopedData::from_ber(&content)
            .map(|a| {
                (
                    "AuthEnvelopedData",
                    "unauthAttrs",
                    "authEncryptedContentInfo.encryptedContent",
                    a.originator_info,
                    a.recip_infos,
                    a.unauth_attrs,
                    a.auth_encrypted_content_info.encrypted_content.is_some(),
                )
            })
            .map_err(|e| format!("AuthEnvelopedData does not parse: {e}"))
    } else if ci.content_type == oids::ID_ENVELOPED_DATA {
        report.error(
            Check::AuthEnvelopedData,
            "contentType",
            "ContentInfo.contentType",
            format!(
                "{} ({}): AES-CBC without authentication",
                oids::name(&ci.content_type),
                ci.content_type
            ),
            expected_type,
        );
        EnvelopedData::from_ber(&content)
            .map(|e| {
                (
                    "EnvelopedData",
                    "unprotectedAttrs",
                    "encryptedContentInfo.encryptedContent",
                    e.originator_info,
                    e.recip_infos,
                    e.unprotected_attrs,
                    e.encrypted_content.encrypted_content.is_some(),
                )
            })
            .map_err(|e| format!("EnvelopedData does not parse: {e}"))
    } else {
        report.error(
            Check::AuthEnvelopedData,
            "contentType",
            "ContentInfo.contentType",
            format!(
                "{} ({}): not an encrypted message",
                oids::name(&ci.content_type),
                ci.content_type
            ),
            expected_type,
        );
        Err("the message is not encrypted".to_string())
    };
    let (name, attrs_field, ec_path, originator, ris, attrs, has_ec) = match parsed {
        Ok(p) => p,
        Err(why) => {
            for c in Check::ALL
                .into_iter()
                .filter(|c| c.layer() == Layer::Envelope && *c != Check::AuthEnvelopedData)
            {
                report.skip(c, why.as_str());
            }
            return None;
        }
    };
    if let Some(oi) = &originator {
        let certs = oi.certs.as_ref().map_or(0, |c| c.0.len());
        let crls = oi.crls.as_ref().map_or(0, |c| c.0.len());
        report.error(
            Check::NoOriginatorInfo,
            "originatorInfo",
            &format!("{name}.originatorInfo"),
            format!("present ({certs} certificate(s), {crls} CRL(s))"),
            "absent",
        );
    }
    if !has_ec {
        report.error(
            Check::EncryptedContent,
            "encryptedContent",
            &format!("{name}.{ec_path}"),
            "absent (detached encrypted content)".into(),
            "present",
        );
    }
    let mut ktris = Vec::new();
    for (i, ri) in ris.0.iter().enumerate() {
        let kind = match ri {
            RecipientInfo::Ktri(k) => {
                if let RecipientIdentifier::SubjectKeyIdentifier(ski) = &k.rid {
                    report.error(
                        Check::KtriIssuerSerial,
                        "rid",
                        &format!("{name}.recipientInfos[{i}].ktri.rid"),
                        format!("subjectKeyIdentifier {}", hex(ski.0.as_bytes())),
                        "issuerAndSerialNumber",
                    );
                }
                ktris.push((i, k.rid.clone()));
                continue;
            }
            RecipientInfo::Kari(_) => "kari (KeyAgreeRecipientInfo)",
            RecipientInfo::Kekri(_) => "kekri (KEKRecipientInfo)",
            RecipientInfo::Pwri(_) => "pwri (PasswordRecipientInfo)",
            RecipientInfo::Ori(_) => "ori (OtherRecipientInfo)",
        };
        report.error(
            Check::KeyTransOnly,
            "RecipientInfo",
            &format!("{name}.recipientInfos[{i}]"),
            kind.to_string(),
            "ktri (KeyTransRecipientInfo)",
        );
    }
    let emails = read_emails(attrs.as_ref());
    let facts = EnvelopeFacts {
        name,
        attrs: attrs_field,
        ktris,
        emails,
    };
    let attrs_path = format!("{name}.{attrs_field}");
    let emails_path = facts.emails_path();
    let expected_emails = "the recipient-emails attribute (1.2.276.0.76.4.173): SET SIZE (1..MAX) OF RecipientEmail ::= SEQUENCE { emailAddress IA5String, rid RecipientIdentifier }";
    match (&facts.emails, &attrs) {
        (EmailsAttr::NoAttributes, _) => {
            report.error(
                Check::UnauthAttrs,
                attrs_field,
                &attrs_path,
                "absent".into(),
                "present, carrying the recipient-emails attribute",
            );
            let why = format!("{name} has no {attrs_field} (KOM-LE-A_2107)");
            for c in [
                Check::RecipientEmails,
                Check::RecipientEmailPerRecipientInfo,
                Check::RecipientEmailIssuerSerial,
            ] {
                report.skip(c, why.as_str());
            }
        }
        (EmailsAttr::Absent, Some(set)) => {
            report.error(
                Check::RecipientEmails,
                "recipient-emails",
                &attrs_path,
                format!("absent (attributes present: {})", attribute_names(set)),
                expected_emails,
            );
            skip_email_checks(report, "no recipient-emails attribute (KOM-LE-A_2114-01)");
        }
        (EmailsAttr::Absent, None) => {}
        (EmailsAttr::Malformed(why), _) => {
            report.error(
                Check::RecipientEmails,
                "recipient-emails",
                &emails_path,
                format!("not readable: {why}"),
                expected_emails,
            );
            skip_email_checks(
                report,
                "the recipient-emails attribute is not readable (KOM-LE-A_2114-01)",
            );
        }
        (EmailsAttr::Entries(entries), _) => {
            for (j, e) in entries.iter().enumerate() {
                if let RecipientIdentifier::SubjectKeyIdentifier(ski) = &e.rid {
                    report.error(
                        Check::RecipientEmailIssuerSerial,
                        "rid",
                        &format!("{emails_path}.values[{j}].rid"),
                        format!(
                            "subjectKeyIdentifier {} (RecipientEmail of {})",
                            hex(ski.0.as_bytes()),
                            e.email
                        ),
                        "issuerAndSerialNumber",
                    );
                }
            }
            per_recipient_info_into(report, &facts, entries);
        }
    }
    Some(facts)
}

fn skip_email_checks(report: &mut ProfileReport, why: &str) {
    for c in [
        Check::RecipientEmailPerRecipientInfo,
        Check::RecipientEmailIssuerSerial,
    ] {
        report.skip(c, why);
    }
}

/// KOM-LE-A_2115-02: every KeyTransRecipientInfo named by issuerAndSerialNumber has exactly
/// one RecipientEmail with that rid, and every RecipientEmail names a RecipientInfo.
/// Entries and RecipientInfos identified by subjectKeyIdentifier (reported under
/// KOM-LE-A_2117 / KOM-LE-A_2109) cannot be paired without the certificate; unpaired ones
/// are reported only where there are more than such identifiers could explain.
fn per_recipient_info_into(report: &mut ProfileReport, f: &EnvelopeFacts, entries: &[EmailEntry]) {
    let path = f.emails_path();
    let ski_entries = entries
        .iter()
        .filter(|e| matches!(e.rid, RecipientIdentifier::SubjectKeyIdentifier(_)))
        .count();
    let ski_ktris = f
        .ktris
        .iter()
        .filter(|(_, r)| matches!(r, RecipientIdentifier::SubjectKeyIdentifier(_)))
        .count();
    let listed = || {
        entries
            .iter()
            .map(EmailEntry::describe)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut missing = Vec::new();
    for (i, rid) in &f.ktris {
        let RecipientIdentifier::IssuerAndSerialNumber(ias) = rid else {
            continue;
        };
        let n = entries
            .iter()
            .filter(|e| matches!(&e.rid, RecipientIdentifier::IssuerAndSerialNumber(x) if x == ias))
            .count();
        if n > 1 {
            report.error(
                Check::RecipientEmailPerRecipientInfo,
                "RecipientEmail",
                &path,
                format!(
                    "{n} entries name the certificate of {}.recipientInfos[{i}] ({})",
                    f.name,
                    describe_rid(ias)
                ),
                "exactly one RecipientEmail per RecipientInfo",
            );
        } else if n == 0 {
            missing.push((*i, ias));
        }
    }
    if missing.len() > ski_entries {
        for (i, ias) in missing {
            report.error(
                Check::RecipientEmailPerRecipientInfo,
                "RecipientEmail",
                &path,
                format!(
                    "no entry names the certificate of {}.recipientInfos[{i}] ({}); entries: [{}]",
                    f.name,
                    describe_rid(ias),
                    listed()
                ),
                "exactly one RecipientEmail per RecipientInfo, with the same issuerAndSerialNumber",
            );
        }
    }
    let orphans: Vec<(usize, &EmailEntry)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| match &e.rid {
            RecipientIdentifier::IssuerAndSerialNumber(ias) => !f.ktris.iter().any(
                |(_, r)| matches!(r, RecipientIdentifier::IssuerAndSerialNumber(x) if x == ias),
            ),
            RecipientIdentifier::SubjectKeyIdentifier(_) => false,
        })
        .collect();
    if orphans.len() > ski_ktris {
        for (j, e) in orphans {
            report.error(
                Check::RecipientEmailPerRecipientInfo,
                "RecipientEmail",
                &format!("{path}.values[{j}]"),
                format!(
                    "{} names a certificate no RecipientInfo is encrypted for",
                    e.describe()
                ),
                "every RecipientEmail belongs to one of the message's RecipientInfos",
            );
        }
    }
}

/// KOM-LE-A_2111-01: every sender address has a RecipientEmail, and where that entry names
/// its certificate by issuerAndSerialNumber, a KeyTransRecipientInfo is encrypted for it.
fn sender_recipient_into(report: &mut ProfileReport, f: &EnvelopeFacts, senders: &[String]) {
    let check = Check::SenderRecipientInfo;
    let EmailsAttr::Entries(entries) = &f.emails else {
        report.skip(
            check,
            "the sender's RecipientInfo is found through recipient-emails, which is missing or unreadable (KOM-LE-A_2114-01)",
        );
        return;
    };
    if senders.is_empty() {
        report.skip(check, "no From address to look for");
        return;
    }
    for addr in senders {
        let mine: Vec<&EmailEntry> = entries
            .iter()
            .filter(|e| e.email.eq_ignore_ascii_case(addr))
            .collect();
        if mine.is_empty() {
            report.error(
                check,
                "RecipientEmail of the sender",
                &f.emails_path(),
                format!(
                    "the sender {addr} is not among the recipients [{}]: the message is not encrypted for its sender",
                    entries
                        .iter()
                        .map(|e| e.email.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "a RecipientInfo (and its RecipientEmail) for the sender's encryption certificate",
            );
            continue;
        }
        let encrypted_for = mine.iter().any(|e| match &e.rid {
            RecipientIdentifier::IssuerAndSerialNumber(ias) => f.ktris.iter().any(
                |(_, r)| matches!(r, RecipientIdentifier::IssuerAndSerialNumber(x) if x == ias),
            ),
            // Cannot be paired without the certificate; KOM-LE-A_2117 reports the entry.
            RecipientIdentifier::SubjectKeyIdentifier(_) => true,
        });
        if !encrypted_for {
            report.error(
                check,
                "RecipientInfo of the sender",
                &format!("{}.recipientInfos", f.name),
                format!(
                    "recipient-emails pairs the sender {addr} with {}, but no KeyTransRecipientInfo is encrypted for that certificate",
                    mine.iter()
                        .map(|e| describe_rid_choice(&e.rid))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                "a KeyTransRecipientInfo for the sender's encryption certificate",
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// signed entity and SignedData

/// KOM-LE-A_2103 and the SignedData checks on the decrypted content; returns the inner
/// message (the eContent's message/rfc822 body, or the decrypted message/rfc822 when the
/// content is not signed), or why there is none.
fn signed_entity_into(
    report: &mut ProfileReport,
    content: &[u8],
    facts: Option<&EnvelopeFacts>,
) -> std::result::Result<Vec<u8>, String> {
    let env = facts.map_or("AuthEnvelopedData", |f| f.name);
    let ec = if env == "EnvelopedData" {
        "encryptedContentInfo.encryptedContent"
    } else {
        "authEncryptedContentInfo.encryptedContent"
    };
    let entity_path = format!("{env}.{ec} (decrypted MIME entity)");
    let expected_entity = "application/pkcs7-mime; smime-type=signed-data (opaque signature)";
    let (h, b) = mime::split_header_body(content);
    let headers = Headers::parse(h);
    let ct = headers.content_type();
    let signed_type = ct.is_pkcs7_mime() && ct.smime_type().is_some_and(|t| t == "signed-data");
    if !signed_type {
        let shown = headers.get("Content-Type").unwrap_or("absent (text/plain)");
        report.error(
            Check::SignedDataEntity,
            "Content-Type",
            &format!("{entity_path} header Content-Type"),
            format!("{shown}: the content is not signed this way"),
            expected_entity,
        );
        let why = "the decrypted content is not a signed-data entity (KOM-LE-A_2103)";
        report.skip_layer(Layer::Signed, why);
        // A message/rfc822 encrypted without signature still has an inner message.
        return if ct.mime == "message/rfc822" {
            Ok(b.to_vec())
        } else {
            Err(why.to_string())
        };
    }
    let blob = match mime::decode_body(&headers, b, "signed-data entity") {
        Ok(x) => x,
        Err(e) => {
            report.error(
                Check::SignedDataEntity,
                "body",
                &format!("{entity_path} body"),
                format!("cannot be decoded: {}", e.message),
                "a CMS SignedData",
            );
            let why = "the signed-data entity cannot be decoded (KOM-LE-A_2103)";
            report.skip_layer(Layer::Signed, why);
            return Err(why.to_string());
        }
    };
    let sd = match crate::cms::parse_signed_data(&blob, "signed-data entity") {
        Ok(sd) => sd,
        Err(e) => {
            let hint = crate::message::line_end_damage(&blob)
                .map(|d| format!("; {d}"))
                .unwrap_or_default();
            report.error(
                Check::SignedDataEntity,
                "SignedData",
                &format!("{entity_path} body: ContentInfo"),
                format!(
                    "the body ({} bytes) does not parse as a CMS SignedData: {}{hint}",
                    blob.len(),
                    e.message
                ),
                "a CMS SignedData, byte for byte as signed",
            );
            let why = "the SignedData does not parse (KOM-LE-A_2103)";
            report.skip_layer(Layer::Signed, why);
            return Err(why.to_string());
        }
    };
    signed_data_into(report, &sd, facts)
}

/// The SignedData checks; returns the inner message when eContent is there (else why not).
fn signed_data_into(
    report: &mut ProfileReport,
    sd: &SignedData,
    facts: Option<&EnvelopeFacts>,
) -> std::result::Result<Vec<u8>, String> {
    if let Some(crls) = &sd.crls {
        report.error(
            Check::NoCrls,
            "crls",
            "SignedData.crls",
            format!("present ({} entries)", crls.0.len()),
            "absent",
        );
    }
    // The signer certificate as the first signerInfo names it.
    let sid = sd.signer_infos.0.iter().next().map(|si| &si.sid);
    let is_signer = |c: &x509_cert::Certificate| match sid {
        Some(SignerIdentifier::IssuerAndSerialNumber(ias)) => issuer_and_serial(c) == *ias,
        Some(SignerIdentifier::SubjectKeyIdentifier(ski)) => {
            cert_ski(c).as_deref() == Some(ski.0.as_bytes())
        }
        None => false,
    };
    let expected_certs = "exactly one certificate: the signer's (C.HCI.OSIG)";
    match &sd.certificates {
        None => report.error(
            Check::SignerCertificateOnly,
            "certificates",
            "SignedData.certificates",
            "absent".into(),
            expected_certs,
        ),
        Some(set) => {
            let described: Vec<String> = set
                .0
                .iter()
                .map(|c| match c {
                    CertificateChoices::Certificate(c) => format!(
                        "\"{}\" (serial {}){}",
                        c.tbs_certificate().subject(),
                        serial_hex(c.tbs_certificate().serial_number()),
                        if is_signer(c) { " = signer" } else { "" }
                    ),
                    CertificateChoices::Other(_) => "another certificate format".into(),
                })
                .collect();
            let only_signer = set.0.len() == 1
                && matches!(set.0.iter().next(), Some(CertificateChoices::Certificate(c)) if is_signer(c));
            if !only_signer {
                report.error(
                    Check::SignerCertificateOnly,
                    "certificates",
                    "SignedData.certificates",
                    format!("{} certificate(s): {}", set.0.len(), described.join(", ")),
                    expected_certs,
                );
            }
        }
    }
    let eci = &sd.encap_content_info;
    if eci.econtent_type != oids::ID_DATA {
        report.error(
            Check::EContent,
            "eContentType",
            "SignedData.encapContentInfo.eContentType",
            format!("{} ({})", oids::name(&eci.econtent_type), eci.econtent_type),
            "id-data (1.2.840.113549.1.7.1)",
        );
    }
    let inner = match &eci.econtent {
        None => {
            report.error(
                Check::EContent,
                "eContent",
                "SignedData.encapContentInfo.eContent",
                "absent (detached signature)".into(),
                "present: the signed message/rfc822 entity encapsulated",
            );
            Err("the SignedData encapsulates no content (KOM-LE-A_2121)".to_string())
        }
        Some(any) => any
            .to_der()
            .ok()
            .and_then(|d| crate::ber::octet_string_bytes(&d).ok())
            .map(|c| crate::message::strip_rfc822_wrapper(&c))
            .ok_or_else(|| "the eContent is not an OCTET STRING".to_string()),
    };
    let n = sd.signer_infos.0.len();
    if n != 1 {
        report.error(
            Check::OneSignerInfo,
            "signerInfos",
            "SignedData.signerInfos",
            format!("{n} signerInfos"),
            "exactly one",
        );
    }
    if n == 0 {
        for c in [
            Check::SidIssuerSerial,
            Check::NoUnsignedAttrs,
            Check::SignedRecipientEmails,
        ] {
            report.skip(c, "the SignedData has no signerInfo (KOM-LE-A_2123)");
        }
    }
    for (i, si) in sd.signer_infos.0.iter().enumerate() {
        let base = format!("SignedData.signerInfos[{i}]");
        if let SignerIdentifier::SubjectKeyIdentifier(ski) = &si.sid {
            report.error(
                Check::SidIssuerSerial,
                "sid",
                &format!("{base}.sid"),
                format!("subjectKeyIdentifier {}", hex(ski.0.as_bytes())),
                "issuerAndSerialNumber",
            );
        }
        if let Some(u) = &si.unsigned_attrs {
            report.error(
                Check::NoUnsignedAttrs,
                "unsignedAttrs",
                &format!("{base}.unsignedAttrs"),
                format!("present: {}", attribute_names(u)),
                "absent",
            );
        }
        signed_emails_into(report, &base, si.signed_attrs.as_ref(), facts);
    }
    inner
}

/// KOM-LE-A_2127: the signed recipient-emails is there and has the unprotected one's values.
fn signed_emails_into(
    report: &mut ProfileReport,
    base: &str,
    attrs: Option<&SetOfVec<Attribute>>,
    facts: Option<&EnvelopeFacts>,
) {
    let check = Check::SignedRecipientEmails;
    let unprotected = facts.map(|f| (f.emails_path(), &f.emails));
    let expected = match &unprotected {
        Some((p, _)) => format!("the recipient-emails attribute with the values of {p}"),
        None => "the recipient-emails attribute".into(),
    };
    let path = format!("{base}.signedAttrs[recipient-emails]");
    let signed = match read_emails(attrs) {
        EmailsAttr::NoAttributes => {
            report.error(
                check,
                "recipient-emails (signed)",
                &format!("{base}.signedAttrs"),
                "absent (no signed attributes)".into(),
                &expected,
            );
            return;
        }
        EmailsAttr::Absent => {
            let names = attrs.map(attribute_names).unwrap_or_default();
            report.error(
                check,
                "recipient-emails (signed)",
                &format!("{base}.signedAttrs"),
                format!("absent (signed attributes: {names})"),
                &expected,
            );
            return;
        }
        EmailsAttr::Malformed(why) => {
            report.error(
                check,
                "recipient-emails (signed)",
                &path,
                format!("not readable: {why}"),
                &expected,
            );
            return;
        }
        EmailsAttr::Entries(e) => e,
    };
    // Equality only where the unprotected attribute could be read; KOM-LE-A_2114-01 /
    // KOM-LE-A_2107 report it otherwise.
    let Some((_, EmailsAttr::Entries(unprot))) = unprotected else {
        return;
    };
    let only = |a: &[EmailEntry], b: &[EmailEntry]| -> Vec<String> {
        let mut rest: Vec<&Vec<u8>> = b.iter().map(|e| &e.der).collect();
        let mut out = Vec::new();
        for e in a {
            match rest.iter().position(|d| **d == e.der) {
                Some(p) => {
                    rest.swap_remove(p);
                }
                None => out.push(e.describe()),
            }
        }
        out
    };
    let only_signed = only(&signed, unprot);
    let only_unprot = only(unprot, &signed);
    if !only_signed.is_empty() || !only_unprot.is_empty() {
        report.error(
            check,
            "recipient-emails (signed)",
            &path,
            format!(
                "the values differ: only signed [{}], only unprotected [{}]",
                only_signed.join(", "),
                only_unprot.join(", ")
            ),
            &expected,
        );
    }
}

// ------------------------------------------------------------------------------------------------
// headers

fn outer_subject_into(report: &mut ProfileReport, outer: &Headers) {
    let subjects = outer.get_all("Subject");
    let ok = subjects.len() == 1 && subjects[0].trim() == OUTER_SUBJECT;
    if !ok {
        let observed = match subjects.as_slice() {
            [] => "absent".to_string(),
            [one] => format!("`{one}`"),
            many => format!("{} Subject fields", many.len()),
        };
        report.error(
            Check::OuterSubject,
            "Subject",
            "outer header Subject",
            observed,
            "exactly `KOM-LE-Nachricht` (KOM-LE-A_2102)",
        );
    }
}

fn headers_into(report: &mut ProfileReport, outer: &Headers, inner: &[u8]) {
    outer_subject_into(report, outer);
    let ih = Headers::parse(mime::split_header_body(inner).0);
    let path = |name: &str| {
        format!(
            "outer header {name} = SignedData.encapContentInfo.eContent (message/rfc822) header {name}"
        )
    };
    // Message-ID (KOM-LE-A_2101-01).
    let (o, i) = (outer.get_all("Message-ID"), ih.get_all("Message-ID"));
    if let Some(inner_id) = i.first() {
        let same = o.len() == 1 && o[0].trim() == inner_id.trim();
        if !same {
            report.error(
                Check::OuterMessageId,
                "Message-ID",
                &path("Message-ID"),
                match o.as_slice() {
                    [] => "absent".to_string(),
                    [one] => format!("`{one}`"),
                    many => format!("{} Message-ID fields", many.len()),
                },
                &format!("`{}` (the inner Message-ID)", inner_id.trim()),
            );
        }
    }
    // The copied fields (KOM-LE-A_2098-03).
    for name in COPIED_FIELDS {
        let (o, i) = (outer.get_all(name), ih.get_all(name));
        if o.is_empty() && i.is_empty() {
            continue;
        }
        let expected = match i.as_slice() {
            [] => "absent (the inner message has none)".to_string(),
            many => format!(
                "{} (copied from the inner header)",
                many.iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let shown = |v: &[&str]| match v {
            [] => "absent".to_string(),
            many => many
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        if o.len() != i.len() {
            report.error(
                Check::OuterHeaderCopy,
                name,
                &path(name),
                shown(&o),
                &expected,
            );
            continue;
        }
        if normalise(&o) == normalise(&i) {
            continue;
        }
        let verdict = if name == "Date" {
            compare_dates(&o, &i)
        } else {
            let addrs = |v: &[&str]| {
                let mut a: Vec<String> = v.iter().flat_map(|x| mime::addresses(x)).collect();
                a.sort();
                a
            };
            if addrs(&o) == addrs(&i) {
                Ok("the same addresses, written differently".to_string())
            } else {
                Err(String::new())
            }
        };
        match verdict {
            Ok(why) => report.warning(
                Check::OuterHeaderCopy,
                name,
                &path(name),
                format!("{} ({why})", shown(&o)),
                &expected,
            ),
            Err(why) => report.error(
                Check::OuterHeaderCopy,
                name,
                &path(name),
                format!("{}{why}", shown(&o)),
                &expected,
            ),
        }
    }
    // Every inner X-KIM-* field, copied with its value.
    for (name, value) in &ih.fields {
        if !name.to_ascii_lowercase().starts_with("x-kim-") {
            continue;
        }
        let outside = outer.get_all(name);
        if outside.iter().any(|v| v.trim() == value.trim()) {
            continue;
        }
        report.error(
            Check::OuterHeaderCopy,
            name,
            &path(name),
            if outside.is_empty() {
                "absent".to_string()
            } else {
                outside
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            &format!(
                "`{}` (every inner X-KIM-* field is copied outside)",
                value.trim()
            ),
        );
    }
}

/// Values with runs of whitespace collapsed.
fn normalise(v: &[&str]) -> Vec<String> {
    v.iter()
        .map(|x| x.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Two Date fields that differ as text: `Ok(why)` when they name the same instant (a
/// warning), `Err(addendum)` when not.
fn compare_dates(outer: &[&str], inner: &[&str]) -> std::result::Result<String, String> {
    let parse = |v: &str| {
        mail_parser::DateTime::parse_rfc822(v)
            .filter(mail_parser::DateTime::is_valid)
            .map(|d| (d.to_timestamp(), d))
    };
    let (Some(o), Some(i)) = (
        outer.first().and_then(|v| parse(v)),
        inner.first().and_then(|v| parse(v)),
    ) else {
        return Err(" (not comparable as RFC 5322 date-times)".into());
    };
    if o.0 != i.0 {
        return Err(" (another point in time)".into());
    }
    const DOW: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let actual = DOW[(i.1.day_of_week() % 7) as usize];
    let mut why = "the same point in time, written differently".to_string();
    for (which, v) in [("outer", outer[0]), ("inner", inner[0])] {
        if let Some((stated, _)) = v.trim().split_once(',')
            && DOW.iter().any(|d| d.eq_ignore_ascii_case(stated.trim()))
            && !stated.trim().eq_ignore_ascii_case(actual)
        {
            why.push_str(&format!(
                "; the {which} day of week `{}` is wrong, {:04}-{:02}-{:02} is a {actual}",
                stated.trim(),
                i.1.year,
                i.1.month,
                i.1.day
            ));
        }
    }
    Ok(why)
}
