//! What the KV-Connect mocks send to the system under test: messages built like the real
//! reference-system sample (KVC-FACTS §6, `specs/kvc-samples-vivy/kvconnect-mail-dec`), and
//! deliberately broken variants.
//!
//! Layering (§6, evidenced): RFC 5322 outer headers with `Return-Path`, `Date`, `From`, `To`,
//! `Message-ID`, `Subject`, optional `Disposition-Notification-To`, `X-KVC-Dienstkennung`,
//! `X-KVC-Sendersystem`; body = base64 CMS EnvelopedData (AES-256-CBC, RSA PKCS#1 v1.5 key
//! transport, recipients by issuerAndSerialNumber: the addressee AND the sender); inside a
//! detached `multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256`
//! (sha256WithRSA, signer certificate embedded) over a `multipart/mixed` with a
//! `text/plain; charset=utf-8; format=flowed` part and an attachment. All lines CRLF.
//!
//! Built with `kvc_smime::message::build_kvconnect_message` (and its CMS primitives for the
//! tampered-signature variant).

use std::time::SystemTime;

use kvc_smime::cms::{self, KeyTransport, SignOptions, SignatureScheme};
use kvc_smime::message::{
    KvConnectMessage, build_kvconnect_message, kvconnect_envelope, multipart_signed,
};
use kvc_smime::mime;
use kvc_smime::pki::{CertVariant, CertifiedKey, EndEntitySpec, KeyPurpose, TestPki};

use crate::error::MockError;

fn pki_err(e: kvc_smime::SmimeError) -> MockError {
    MockError::Pki(e.to_string())
}

/// The user PKI behind served messages: one trusted root (what the SUT is told to trust as the
/// KV-Connect user CA), the SUT's and the mock sender's certificates, a third trusted user
/// (`other`) and a sender certificate from a foreign CA.
#[derive(Clone, Debug)]
pub struct KvcMessagePki {
    pub pki: TestPki,
    /// The system under test (addressee): certificate + key (the SUT gets the key).
    pub sut: CertifiedKey,
    /// The mock's sending account.
    pub sender: CertifiedKey,
    /// A third, trusted account (wrong signer / "someone else").
    pub other: CertifiedKey,
    /// A certificate for the sender's address from a CA the SUT does not trust.
    pub foreign: CertifiedKey,
}

impl KvcMessagePki {
    /// Generates the PKI: six RSA-2048 keys (two CAs, four users), generated in parallel.
    pub fn generate(sut_email: &str, sender_email: &str) -> Result<KvcMessagePki, MockError> {
        let keys = kvc_smime::pki::generate_rsa_keys(6).map_err(pki_err)?;
        let [root, untrusted, sut, sender, other, foreign]: [_; 6] = keys
            .try_into()
            .map_err(|_| MockError::Pki("RSA key generation: too few keys".into()))?;
        let pki = TestPki::from_keys(SystemTime::now(), root, untrusted).map_err(pki_err)?;
        let issue = |email: &str, v: CertVariant, key| {
            let mut spec = EndEntitySpec::new(email, KeyPurpose::Both).variant(v);
            spec.key = Some(key);
            pki.issue(&spec).map_err(pki_err)
        };
        Ok(KvcMessagePki {
            sut: issue(sut_email, CertVariant::Valid, sut)?,
            sender: issue(sender_email, CertVariant::Valid, sender)?,
            other: issue("andere.praxis@kv-safenet.de", CertVariant::Valid, other)?,
            foreign: issue(sender_email, CertVariant::UntrustedIssuer, foreign)?,
            pki,
        })
    }

    /// The trust anchor (PEM) the SUT must be configured with.
    pub fn root_pem(&self) -> Result<String, MockError> {
        self.pki.root.certificate_pem().map_err(pki_err)
    }

    /// An expired certificate (PEM) for `email`, e.g. for
    /// [`crate::kvc::rest::RecipientCertFault::Replace`] (KVC-Anb080).
    pub fn expired_certificate_pem(&self, email: &str) -> Result<String, MockError> {
        // Reuse a key: RSA key generation is the slow part.
        let mut spec = EndEntitySpec::new(email, KeyPurpose::Both).variant(CertVariant::Expired);
        spec.key = Some(self.other.key.clone());
        self.pki
            .issue(&spec)
            .and_then(|c| c.certificate_pem())
            .map_err(pki_err)
    }
}

/// X.500 `x500UniqueIdentifier` (2.5.4.45): the only subject attribute a real client puts into
/// its CSR (KVC-FACTS §5, INS `openssl req -subj /x500UniqueIdentifier=<username>`).
const X500_UNIQUE_IDENTIFIER: &str = "2.5.4.45";

impl KvcMessagePki {
    /// A CSR issuer for [`crate::kvc::rest::KvcRestMock::set_csr_issuer`]: issues a user
    /// certificate (RSA signature by this PKI's root, SAN = the account address, EKU clientAuth +
    /// emailProtection, like §8) for the CSR's public key. A CSR whose subject has no
    /// `x500UniqueIdentifier` containing the username is refused (status 903 "Falsches Subject";
    /// the exact rule is NOT FOUND, §8). The CSR's own signature is not checked.
    pub fn csr_issuer(&self) -> crate::kvc::accounts::CsrIssuer {
        let root = self.pki.root.clone();
        std::sync::Arc::new(
            move |pem: &str, account: &crate::kvc::accounts::KvcRestAccount| {
                issue_from_csr(&root, pem, account)
            },
        )
    }
}

fn issue_from_csr(
    root: &CertifiedKey,
    pem: &str,
    account: &crate::kvc::accounts::KvcRestAccount,
) -> Result<String, String> {
    use der::asn1::{BitString, Ia5String, OctetString};
    use der::{Decode, Encode, EncodePem};
    use kvc_smime::asn1::{CertOwned, TbsCert, ValidityOwned, alg_null};
    use kvc_smime::oids;
    use sha1::Digest as _;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{
        AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
        SubjectAltName, SubjectKeyIdentifier,
    };

    let blocks = kvc_smime::keys::pem_blocks(pem.as_bytes(), "CSR").map_err(|e| e.to_string())?;
    let der_csr = blocks
        .into_iter()
        .find(|b| b.label.contains("CERTIFICATE REQUEST"))
        .ok_or("no CERTIFICATE REQUEST block")?
        .der;
    let csr = x509_cert::request::CertReq::from_der(&der_csr).map_err(|e| format!("CSR: {e}"))?;
    let uid_ok = csr.info.subject.iter().any(|atv| {
        atv.oid.to_string() == X500_UNIQUE_IDENTIFIER
            && String::from_utf8_lossy(atv.value.value()).contains(&account.username)
    });
    if !uid_ok {
        return Err(format!(
            "subject has no x500UniqueIdentifier={} (903 Falsches Subject)",
            account.username
        ));
    }
    let e = |x: der::Error| x.to_string();
    let ext = |oid, critical, value: Vec<u8>| -> Result<x509_cert::ext::Extension, String> {
        Ok(x509_cert::ext::Extension {
            extn_id: oid,
            critical,
            extn_value: OctetString::new(value).map_err(e)?,
        })
    };
    let spki = csr.info.public_key.clone();
    let ski = sha1::Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec();
    let root_spki = root.certificate.tbs_certificate().subject_public_key_info();
    let aki = sha1::Sha1::digest(root_spki.subject_public_key.raw_bytes()).to_vec();
    let email = Ia5String::new(&account.email).map_err(e)?;
    let subject: x509_cert::name::Name = format!(
        "CN={} {},O=kvc-check Test TEST-ONLY,C=DE",
        account.given_name.replace([',', '+', '=', '\\', '"'], " "),
        account.surname.replace([',', '+', '=', '\\', '"'], " ")
    )
    .parse()
    .map_err(|x: der::Error| x.to_string())?;
    let now = SystemTime::now();
    let day = std::time::Duration::from_secs(86_400);
    let root_end = root
        .certificate
        .tbs_certificate()
        .validity()
        .not_after
        .to_system_time();
    // §8: notAfter is capped at the issuing CA's notAfter.
    let not_after = (now + 730 * day).min(root_end);
    let mut serial = *uuid::Uuid::new_v4().as_bytes();
    serial[0] = (serial[0] & 0x7f) | 0x10;
    let tbs = TbsCert {
        version: 2,
        serial: x509_cert::serial_number::SerialNumber::new(&serial[..8]).map_err(e)?,
        signature: alg_null(oids::SHA256_WITH_RSA),
        issuer: root.certificate.tbs_certificate().subject().clone(),
        validity: ValidityOwned {
            not_before: x509_cert::time::Time::try_from(now - day).map_err(e)?,
            not_after: x509_cert::time::Time::try_from(not_after).map_err(e)?,
        },
        subject,
        spki,
        extensions: vec![
            ext(
                oids::EXT_BASIC_CONSTRAINTS,
                true,
                BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                }
                .to_der()
                .map_err(e)?,
            )?,
            ext(
                oids::EXT_KEY_USAGE,
                true,
                KeyUsage(
                    KeyUsages::DigitalSignature
                        | KeyUsages::KeyEncipherment
                        | KeyUsages::DataEncipherment,
                )
                .to_der()
                .map_err(e)?,
            )?,
            ext(
                oids::EXT_EKU,
                false,
                ExtendedKeyUsage(vec![oids::EKU_CLIENT_AUTH, oids::EKU_EMAIL_PROTECTION])
                    .to_der()
                    .map_err(e)?,
            )?,
            ext(
                oids::EXT_SAN,
                false,
                SubjectAltName(vec![GeneralName::Rfc822Name(email)])
                    .to_der()
                    .map_err(e)?,
            )?,
            ext(
                oids::EXT_SKI,
                false,
                SubjectKeyIdentifier(OctetString::new(ski).map_err(e)?)
                    .to_der()
                    .map_err(e)?,
            )?,
            ext(
                oids::EXT_AKI,
                false,
                AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(aki).map_err(e)?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                }
                .to_der()
                .map_err(e)?,
            )?,
        ],
    };
    let tbs_der = tbs.to_der().map_err(e)?;
    let sig = root
        .key
        .sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(&tbs_der),
        )
        .map_err(|x| format!("signature: {x}"))?;
    let cert = CertOwned {
        tbs,
        alg: alg_null(oids::SHA256_WITH_RSA),
        signature: BitString::from_bytes(&sig).map_err(e)?,
    };
    let der_cert = cert.to_der().map_err(e)?;
    x509_cert::Certificate::from_der(&der_cert)
        .map_err(e)?
        .to_pem(der::pem::LineEnding::LF)
        .map_err(e)
}

/// A good message or one deliberately broken variant; in case files by its [`name`]
/// (`bad-signature`, ...).
///
/// [`name`]: KvcMessageVariant::name
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum KvcMessageVariant {
    /// Like the reference system: decrypts for the SUT, signature valid, signer = From.
    Valid,
    /// The signed content was changed after signing (messageDigest mismatch).
    BadSignature,
    /// Signed by another (trusted) account than the one in `From`.
    SignerNotFrom,
    /// Signed by a certificate for the `From` address issued by a foreign CA.
    ForeignCaSigner,
    /// Encrypted to someone else (and the sender), not to the SUT: undecryptable there; a
    /// conforming SUT leaves it on the server (SEED-ANB §3.1.2).
    EncryptedToSomeoneElse,
    /// `X-KVC-Dienstkennung` of an application that does not exist (KVC-Anb020/130).
    UnknownDienstkennung,
    /// `Disposition-Notification-To` (= `Return-Path` = From): an MDN is requested.
    MdnRequested,
}

impl KvcMessageVariant {
    pub fn all() -> &'static [KvcMessageVariant] {
        &[
            KvcMessageVariant::Valid,
            KvcMessageVariant::BadSignature,
            KvcMessageVariant::SignerNotFrom,
            KvcMessageVariant::ForeignCaSigner,
            KvcMessageVariant::EncryptedToSomeoneElse,
            KvcMessageVariant::UnknownDienstkennung,
            KvcMessageVariant::MdnRequested,
        ]
    }

    /// File-name friendly name.
    pub fn name(self) -> &'static str {
        match self {
            KvcMessageVariant::Valid => "valid",
            KvcMessageVariant::BadSignature => "bad-signature",
            KvcMessageVariant::SignerNotFrom => "signer-not-from",
            KvcMessageVariant::ForeignCaSigner => "foreign-ca-signer",
            KvcMessageVariant::EncryptedToSomeoneElse => "encrypted-to-someone-else",
            KvcMessageVariant::UnknownDienstkennung => "unknown-dienstkennung",
            KvcMessageVariant::MdnRequested => "mdn-requested",
        }
    }
}

/// `X-KVC-Dienstkennung` used by [`KvcMessageVariant::UnknownDienstkennung`].
pub const UNKNOWN_DIENSTKENNUNG: &str = "kvc-check-Unbekannt;Lieferung;V9.9";
/// eArztbrief Dienstkennung of the reference sample (§11).
pub const ARZTBRIEF_DIENSTKENNUNG: &str = "Arztbrief;VHitG-Versand;V1.0";

/// Content of a served message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvcMessageSpec {
    /// The mock sender's address (also `Return-Path`).
    pub from: String,
    /// The SUT's address.
    pub to: String,
    pub subject: String,
    pub dienstkennung: String,
    pub sendersystem: String,
    /// Without angle brackets; `None` = fresh `<uuid>@kv-safenet.de`.
    pub message_id: Option<String>,
    /// `None` = now.
    pub date: Option<SystemTime>,
    pub text: String,
    /// (file name, media type, Content-Description, bytes).
    pub attachment: Option<(String, String, String, Vec<u8>)>,
}

impl KvcMessageSpec {
    /// An eArztbrief like the reference-system sample (§6: Subject `Arztbrief`,
    /// `X-KVC-Sendersystem: eArztbrief-Pruefclient;v2.0`, XML attachment `eAB-XML`).
    pub fn arztbrief(from: &str, to: &str) -> KvcMessageSpec {
        KvcMessageSpec {
            from: from.into(),
            to: to.into(),
            subject: "Arztbrief".into(),
            dienstkennung: ARZTBRIEF_DIENSTKENNUNG.into(),
            sendersystem: "kvc-check-mock;1.0".into(),
            message_id: None,
            date: None,
            text: "Sehr geehrte Kollegin, sehr geehrter Kollege,\r\nanbei der Arztbrief.\r\n"
                .into(),
            attachment: Some((
                "eArztbrief Test.xml".into(),
                "application/xml".into(),
                "eAB-XML".into(),
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>\n".to_vec(),
            )),
        }
    }
}

fn rfc2822(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".into())
}

/// The signed entity: `multipart/mixed` with the text and the attachment (§6.4), CRLF.
fn inner_entity(spec: &KvcMessageSpec) -> Vec<u8> {
    let boundary = format!("----kvc-mock-mixed-{}", uuid::Uuid::new_v4().simple());
    let mut out = format!(
        "Content-Type: multipart/mixed; charset=utf-8; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    .into_bytes();
    let text = spec.text.replace("\r\n", "\n").replace('\n', "\r\n");
    out.extend_from_slice(text.as_bytes());
    if !text.ends_with("\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    if let Some((name, ct, desc, data)) = &spec.attachment {
        let name = name.replace('"', "");
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: {ct}; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Description: {desc}\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(&mime::encode_base64_lines(data));
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// Builds the message the mock serves to the SUT. Returns the raw e-mail (CRLF), ready for a
/// mailbox of [`crate::kvc::rest::KvcRestMock`].
pub fn build_served_message(
    pki: &KvcMessagePki,
    spec: &KvcMessageSpec,
    variant: KvcMessageVariant,
) -> Result<Vec<u8>, MockError> {
    let message_id = spec
        .message_id
        .clone()
        .unwrap_or_else(|| format!("{}@kv-safenet.de", uuid::Uuid::new_v4()));
    let dienstkennung = if variant == KvcMessageVariant::UnknownDienstkennung {
        UNKNOWN_DIENSTKENNUNG.to_string()
    } else {
        spec.dienstkennung.clone()
    };
    let mut headers = vec![
        ("Return-Path".to_string(), format!("<{}>", spec.from)),
        (
            "Date".to_string(),
            rfc2822(spec.date.unwrap_or_else(SystemTime::now)),
        ),
        ("From".to_string(), spec.from.clone()),
        ("To".to_string(), spec.to.clone()),
        ("Message-ID".to_string(), format!("<{message_id}>")),
        ("Subject".to_string(), spec.subject.clone()),
    ];
    if variant == KvcMessageVariant::MdnRequested {
        headers.push(("Disposition-Notification-To".into(), spec.from.clone()));
    }
    headers.push(("X-KVC-Dienstkennung".into(), dienstkennung));
    headers.push(("X-KVC-Sendersystem".into(), spec.sendersystem.clone()));

    let signer = match variant {
        KvcMessageVariant::SignerNotFrom => &pki.other,
        KvcMessageVariant::ForeignCaSigner => &pki.foreign,
        _ => &pki.sender,
    };
    let addressee = if variant == KvcMessageVariant::EncryptedToSomeoneElse {
        pki.other.certificate.clone()
    } else {
        pki.sut.certificate.clone()
    };
    let recipients = vec![addressee, signer.certificate.clone()];
    let content = inner_entity(spec);
    if variant == KvcMessageVariant::BadSignature {
        return build_tampered(&content, &headers, signer, &recipients);
    }
    build_kvconnect_message(&KvConnectMessage {
        content: &content,
        headers,
        sender: signer,
        recipients,
        key_transport: KeyTransport::Pkcs1v15,
    })
    .map_err(pki_err)
}

/// Like `build_kvconnect_message`, but the signed content is changed after signing.
fn build_tampered(
    content: &[u8],
    headers: &[(String, String)],
    signer: &CertifiedKey,
    recipients: &[x509_cert::Certificate],
) -> Result<Vec<u8>, MockError> {
    let sig = cms::sign(
        content,
        signer,
        &SignOptions {
            scheme: SignatureScheme::RsaPkcs1v15,
            attached: false,
            ..SignOptions::default()
        },
    )
    .map_err(pki_err)?;
    let mut altered = content.to_vec();
    // Change one letter of the text ("Sehr" -> "Mehr", or the first letter after the header).
    let pos = altered
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .and_then(|start| {
            altered[start..]
                .iter()
                .position(|b| b.is_ascii_alphabetic())
                .map(|i| start + i)
        })
        .unwrap_or(0);
    if let Some(b) = altered.get_mut(pos) {
        *b = if *b == b'M' { b'N' } else { b'M' };
    }
    let signed = multipart_signed(&altered, &sig);
    kvconnect_envelope(&signed, headers, recipients, KeyTransport::Pkcs1v15).map_err(pki_err)
}
