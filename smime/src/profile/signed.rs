//! The signed-entity and SignedData checks: the decrypted content is an opaque signed-data
//! entity, its SignedData carries only the signer certificate, no crls, its content, one
//! signerInfo by issuerAndSerialNumber without unsignedAttrs and the signed recipient-emails.

use cms::cert::CertificateChoices;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::Encode;
use der::asn1::SetOfVec;
use x509_cert::attr::Attribute;

use super::envelope::{EmailEntry, EmailsAttr, EnvelopeFacts, attribute_names, read_emails};
use super::{Check, Layer, ProfileReport};
use crate::asn1::{hex, serial_hex};
use crate::cms::{cert_ski, issuer_and_serial};
use crate::mime::{self, Headers};
use crate::oids;

/// KOM-LE-A_2103 and the SignedData checks on the decrypted content; returns the inner
/// message (the eContent's message/rfc822 body, or the decrypted message/rfc822 when the
/// content is not signed), or why there is none.
pub(super) fn signed_entity_into(
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
pub(super) fn signed_data_into(
    report: &mut ProfileReport,
    sd: &SignedData,
    facts: Option<&EnvelopeFacts>,
) -> std::result::Result<Vec<u8>, String> {
    if let Some(crls) = &sd.crls {
        report.error(
            Check::NoCrls,
            "crls",
            "SignedData.crls",
            match crls.0.len() {
                1 => "present: 1 revocation entry".to_string(),
                n => format!("present: {n} revocation entries"),
            },
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
