//! The envelope checks: `ContentInfo` → `AuthEnvelopedData` (or the `EnvelopedData` a broken
//! sender uses), its RecipientInfos and the unauthenticated recipient-emails attribute.

use cms::authenveloped_data::AuthEnvelopedData;
use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientIdentifier, RecipientInfo};
use der::asn1::{ObjectIdentifier, SetOfVec};
use der::{Decode, Encode};
use x509_cert::attr::Attribute;

use super::{Check, Layer, ProfileReport};
use crate::asn1::{RecipientEmailAnyRid, hex, serial_hex};
use crate::cms::describe_rid;
use crate::oids;

/// What the later layers need to know of the envelope.
pub(super) struct EnvelopeFacts {
    /// `AuthEnvelopedData` or `EnvelopedData`.
    pub(super) name: &'static str,
    /// `unauthAttrs` or `unprotectedAttrs`.
    pub(super) attrs: &'static str,
    /// (index in recipientInfos, rid) of every KeyTransRecipientInfo.
    pub(super) ktris: Vec<(usize, RecipientIdentifier)>,
    /// The unauthenticated recipient-emails attribute as read.
    pub(super) emails: EmailsAttr,
}

impl EnvelopeFacts {
    pub(super) fn emails_path(&self) -> String {
        format!("{}.{}[recipient-emails]", self.name, self.attrs)
    }
}

/// A recipient-emails attribute as read from a set of attributes.
pub(super) enum EmailsAttr {
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
pub(super) struct EmailEntry {
    pub(super) email: String,
    pub(super) rid: RecipientIdentifier,
    /// The value's DER encoding (compared between the signed and the unprotected attribute).
    pub(super) der: Vec<u8>,
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
    pub(super) fn describe(&self) -> String {
        match &self.rid {
            RecipientIdentifier::IssuerAndSerialNumber(ias) => {
                format!("{} (serial {})", self.email, serial_hex(&ias.serial_number))
            }
            other => format!("{} ({})", self.email, describe_rid_choice(other)),
        }
    }
}

/// Reads the recipient-emails attribute of `attrs`; `Err` = its values (where, why).
pub(super) fn read_emails(attrs: Option<&SetOfVec<Attribute>>) -> EmailsAttr {
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

pub(super) fn attribute_names(attrs: &SetOfVec<Attribute>) -> String {
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
pub(super) fn envelope_into(report: &mut ProfileReport, blob: &[u8]) -> Option<EnvelopeFacts> {
    // DER is read in place (`crate::cms::der_content_info`); BER is decoded and re-encoded.
    let (content_type, content) = match crate::cms::der_content_info(blob) {
        Some((oid, content)) => (oid, std::borrow::Cow::Borrowed(content)),
        None => {
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
            match ci.content.to_der() {
                Ok(c) => (ci.content_type, std::borrow::Cow::Owned(c)),
                Err(e) => {
                    report.skip_layer(Layer::Envelope, &format!("CMS content: {e}"));
                    return None;
                }
            }
        }
    };
    let expected_type = "id-ct-authEnvelopedData (1.2.840.113549.1.9.16.1.23)";
    // (name, attrs field, encryptedContent path, originatorInfo, RecipientInfos, attributes,
    // encryptedContent present)
    let parsed = if content_type == oids::ID_AUTH_ENVELOPED_DATA {
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
    } else if content_type == oids::ID_ENVELOPED_DATA {
        report.error(
            Check::AuthEnvelopedData,
            "contentType",
            "ContentInfo.contentType",
            format!(
                "{} ({}): AES-CBC without authentication",
                oids::name(&content_type),
                content_type
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
                oids::name(&content_type),
                content_type
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
pub(super) fn sender_recipient_into(
    report: &mut ProfileReport,
    f: &EnvelopeFacts,
    senders: &[String],
) {
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
