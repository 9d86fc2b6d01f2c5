//! What the mock Konnektor does per operation: the card and PIN state, the cryptography of the
//! card keys (on the card test PKI), and the answer body in the shape of the XSD. A refusal is a
//! [`Violation`] (answered with a SOAP fault) whatever caused it: a non-conforming request or a
//! scripted fault.

use std::time::SystemTime;

use der::{Decode, Encode};
use kvc_smime::card_pki::{AuthScheme, Card, CardKeyRole, CardKind};
use kvc_smime::cms::{
    self, ContentEncryption, EnvelopeOptions, KeyTransport, SignOptions, SignatureScheme,
};
use x509_cert::Certificate;

use super::services::{
    NS_CARD, NS_CARD_COMMON, NS_CERT, NS_CERT_COMMON, NS_COMMON, NS_DSS, NS_ERROR, NS_EVENT,
};
use super::soap::{Call, SignRequest, Violation, codes};
use super::xml::{b64, escape};
use super::{InsertedCard, PinState, State};

fn refuse((code, error_text): (u32, &'static str), reason: impl Into<String>) -> Violation {
    Violation {
        code,
        error_text,
        reason: reason.into(),
    }
}

/// The SignatureType / EncryptionType of CMS (the only one the mock produces).
const CMS: &str = "urn:ietf:rfc:5652";

const STATUS_OK: &str = "<CONN:Status><CONN:Result>OK</CONN:Result></CONN:Status>";

/// The response element (with its namespace declarations) for `call`, changing the card state
/// where the call does (VerifyPin).
pub fn answer(
    state: &mut State,
    call: &Call,
    ns: &str,
    now: SystemTime,
) -> Result<String, Violation> {
    match call {
        Call::GetCards { card_type } => Ok(get_cards(state, card_type.as_deref())),
        Call::GetPinStatus { card_handle, .. } => {
            let card = inserted(state, card_handle)?;
            let (status, tries) = match card.pin {
                PinState::Verified => ("VERIFIED", 3),
                PinState::Verifiable => ("VERIFIABLE", 3),
                PinState::Blocked => ("BLOCKED", 0),
                PinState::TransportPin => ("TRANSPORT_PIN", 3),
            };
            Ok(format!(
                "<CARD:GetPinStatusResponse xmlns:CARD=\"{NS_CARD}\" xmlns:CONN=\"{NS_COMMON}\">{STATUS_OK}<CARD:PinStatus>{status}</CARD:PinStatus><CARD:LeftTries>{tries}</CARD:LeftTries></CARD:GetPinStatusResponse>"
            ))
        }
        Call::VerifyPin { card_handle, .. } => {
            let card = inserted_mut(state, card_handle)?;
            let (result, tries) = match card.pin {
                PinState::Blocked => ("WASBLOCKED", 0),
                PinState::TransportPin => ("TRANSPORT_PIN", 3),
                PinState::Verified | PinState::Verifiable => {
                    // The PIN is entered at the card terminal; the mock's user always gets it right.
                    card.pin = PinState::Verified;
                    ("OK", 3)
                }
            };
            Ok(format!(
                "<CARD:VerifyPinResponse xmlns:CARD=\"{NS_CARD}\" xmlns:CARDCMN=\"{NS_CARD_COMMON}\" xmlns:CONN=\"{NS_COMMON}\">{STATUS_OK}<CARDCMN:PinResult>{result}</CARDCMN:PinResult><CARDCMN:LeftTries>{tries}</CARDCMN:LeftTries></CARD:VerifyPinResponse>"
            ))
        }
        Call::ReadCardCertificate {
            card_handle,
            cert_refs,
            crypt,
        } => {
            let card = inserted(state, card_handle)?;
            read_card_certificate(&card.card, cert_refs, crypt.as_deref())
        }
        Call::VerifyCertificate { certificate } => Ok(verify_certificate(state, certificate, now)),
        Call::SignDocument {
            card_handle,
            crypt,
            requests,
        } => {
            let broken = state.faults.broken_signature;
            let card = inserted(state, card_handle)?;
            needs_verified_pin(card)?;
            let mut out = format!(
                "<SIG:SignDocumentResponse xmlns:SIG=\"{ns}\" xmlns:CONN=\"{NS_COMMON}\" xmlns:dss=\"{NS_DSS}\">"
            );
            for r in requests {
                let mut cms = sign(&card.card, crypt.as_deref(), r)?;
                if broken {
                    // A CMS cut in half: no parser accepts it.
                    cms.truncate(cms.len() / 2);
                }
                out.push_str(&format!(
                    "<SIG:SignResponse RequestID=\"{}\">{STATUS_OK}<dss:SignatureObject><dss:Base64Signature Type=\"{CMS}\">{}</dss:Base64Signature></dss:SignatureObject></SIG:SignResponse>",
                    escape(&r.request_id),
                    b64(&cms)
                ));
            }
            out.push_str("</SIG:SignDocumentResponse>");
            Ok(out)
        }
        Call::VerifyDocument {
            signature,
            document,
        } => Ok(verify_document(
            state,
            signature.as_deref(),
            document.as_deref(),
            ns,
            now,
        )),
        Call::GetJobNumber => {
            state.job_number += 1;
            Ok(format!(
                "<SIG:GetJobNumberResponse xmlns:SIG=\"{ns}\"><SIG:JobNumber>KVC-{:03}</SIG:JobNumber></SIG:GetJobNumberResponse>",
                state.job_number % 1000
            ))
        }
        Call::ExternalAuthenticate {
            card_handle,
            signature_type,
            scheme,
            binary,
        } => {
            let card = inserted(state, card_handle)?;
            needs_verified_pin(card)?;
            let key = card_key(&card.card, CardKeyRole::Aut)?;
            let ecdsa = signature_type.as_deref() == Some("urn:bsi:tr:03111:ecdsa");
            let auth = match (ecdsa, scheme.as_deref()) {
                (true, _) => AuthScheme::Ecdsa,
                (false, Some("RSASSA-PKCS1-v1_5")) => AuthScheme::RsaPkcs1v15,
                (false, _) => AuthScheme::RsaPss,
            };
            let sig = key
                .sign_hash(auth, binary)
                .map_err(|e| refuse(codes::CRYPTO, format!("ExternalAuthenticate: {e}")))?;
            let sig_type = if ecdsa {
                "urn:bsi:tr:03111:ecdsa"
            } else {
                "urn:ietf:rfc:3447"
            };
            Ok(format!(
                "<SIG:ExternalAuthenticateResponse xmlns:SIG=\"{ns}\" xmlns:CONN=\"{NS_COMMON}\" xmlns:dss=\"{NS_DSS}\">{STATUS_OK}<dss:SignatureObject><dss:Base64Signature Type=\"{sig_type}\">{}</dss:Base64Signature></dss:SignatureObject></SIG:ExternalAuthenticateResponse>",
                b64(&sig)
            ))
        }
        Call::EncryptDocument {
            certificates,
            encryption_type,
            recipient_emails,
            document,
        } => {
            if let Some(t) = encryption_type
                && t != CMS
            {
                return Err(refuse(
                    codes::UNSUPPORTED,
                    format!("EncryptionType `{t}`: the mock encrypts CMS ({CMS}) only"),
                ));
            }
            let certs = certificates
                .iter()
                .enumerate()
                .map(|(i, der)| {
                    Certificate::from_der(der).map_err(|e| {
                        refuse(
                            codes::SYNTAX,
                            format!(
                                "RecipientKeys/Certificate[{i}] is not an X.509 certificate: {e}"
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let emails = recipient_emails
                .as_deref()
                .map(parse_recipient_emails)
                .transpose()?;
            let opts = EnvelopeOptions {
                content_encryption: ContentEncryption::Aes256Gcm,
                key_transport: KeyTransport::OaepSha256,
                recipient_emails: emails,
                extra_attributes: Vec::new(),
            };
            let cms = cms::envelope(document, &certs, &opts).map_err(|e| {
                refuse(
                    codes::CRYPTO,
                    format!("EncryptDocument: {e} (the mock encrypts to RSA certificates only)"),
                )
            })?;
            Ok(format!(
                "<CRYPT:EncryptDocumentResponse xmlns:CRYPT=\"{ns}\" xmlns:CONN=\"{NS_COMMON}\" xmlns:dss=\"{NS_DSS}\">{STATUS_OK}<CONN:Document><dss:Base64Data MimeType=\"application/pkcs7-mime\">{}</dss:Base64Data></CONN:Document></CRYPT:EncryptDocumentResponse>",
                b64(&cms)
            ))
        }
        Call::DecryptDocument {
            card_handle,
            key_reference,
            crypt,
            document,
        } => {
            let card = inserted(state, card_handle)?;
            needs_verified_pin(card)?;
            if let Some(r) = key_reference
                && r != "C.ENC"
                && r != "C.HP.ENC"
            {
                return Err(refuse(
                    codes::CERT_REF,
                    format!("PrivateKeyOnCard/KeyReference `{r}` is not an encryption key"),
                ));
            }
            if crypt.as_deref() == Some("ECC") {
                return Err(refuse(
                    codes::CRYPTO,
                    "DecryptDocument with the ECC key: the mock decrypts with the RSA C.ENC key only",
                ));
            }
            let key = card_key(&card.card, CardKeyRole::Enc)?;
            let material = key.rsa.to_key_material("card C.ENC");
            let plain = cms::decrypt(document, &material, "DecryptDocument/Document")
                .map_err(|e| refuse(codes::CRYPTO, format!("DecryptDocument: {e}")))?;
            Ok(format!(
                "<CRYPT:DecryptDocumentResponse xmlns:CRYPT=\"{ns}\" xmlns:CONN=\"{NS_COMMON}\" xmlns:dss=\"{NS_DSS}\">{STATUS_OK}<CONN:Document><dss:Base64Data>{}</dss:Base64Data></CONN:Document></CRYPT:DecryptDocumentResponse>",
                b64(&plain.content)
            ))
        }
    }
}

fn inserted<'a>(state: &'a State, handle: &str) -> Result<&'a InsertedCard, Violation> {
    let known = state.cards.iter().find(|c| c.handle == handle);
    match known {
        Some(c) if c.inserted && !state.faults.no_card => Ok(c),
        Some(_) => Err(refuse(
            codes::NO_CARD,
            format!("card `{handle}` is not inserted (scripted: card removed or no card)"),
        )),
        None => Err(refuse(
            codes::CARD_HANDLE,
            format!("card handle `{handle}` is not known to the Konnektor"),
        )),
    }
}

fn inserted_mut<'a>(state: &'a mut State, handle: &str) -> Result<&'a mut InsertedCard, Violation> {
    inserted(state, handle)?;
    state
        .cards
        .iter_mut()
        .find(|c| c.handle == handle)
        .ok_or_else(|| {
            refuse(
                codes::CARD_HANDLE,
                format!("card handle `{handle}` is not known"),
            )
        })
}

fn needs_verified_pin(card: &InsertedCard) -> Result<(), Violation> {
    match card.pin {
        PinState::Verified => Ok(()),
        PinState::Blocked => Err(refuse(
            codes::PIN_BLOCKED,
            format!("the PIN of card `{}` is blocked", card.handle),
        )),
        PinState::Verifiable | PinState::TransportPin => Err(refuse(
            codes::SECURITY_STATUS,
            format!(
                "the PIN of card `{}` is not verified (call VerifyPin first)",
                card.handle
            ),
        )),
    }
}

fn card_key(
    card: &Card,
    role: CardKeyRole,
) -> Result<&kvc_smime::card_pki::CardKeyPair, Violation> {
    card.key(role)
        .ok_or_else(|| refuse(codes::CERT_REF, format!("the card has no {:?} key", role)))
}

fn card_type(kind: CardKind) -> &'static str {
    match kind {
        CardKind::SmcB => "SMC-B",
        CardKind::Hba => "HBA",
    }
}

fn get_cards(state: &State, wanted: Option<&str>) -> String {
    let mut out = format!(
        "<EVT:GetCardsResponse xmlns:EVT=\"{NS_EVENT}\" xmlns:CARD=\"{NS_CARD}\" xmlns:CARDCMN=\"{NS_CARD_COMMON}\" xmlns:CONN=\"{NS_COMMON}\">{STATUS_OK}<CARD:Cards>"
    );
    if !state.faults.no_card {
        for c in state.cards.iter().filter(|c| c.inserted) {
            let t = card_type(c.card.kind);
            if wanted.is_some_and(|w| w != t) {
                continue;
            }
            let expiry = c
                .card
                .key(CardKeyRole::Enc)
                .map(|k| {
                    k.rsa
                        .certificate
                        .tbs_certificate()
                        .validity()
                        .not_after
                        .to_system_time()
                })
                .map(xsd_date)
                .unwrap_or_default();
            out.push_str(&format!(
                "<CARD:Card><CONN:CardHandle>{}</CONN:CardHandle><CARDCMN:CardType>{t}</CARDCMN:CardType><CARDCMN:Iccsn>{}</CARDCMN:Iccsn><CARDCMN:CtId>{}</CARDCMN:CtId><CARDCMN:SlotId>{}</CARDCMN:SlotId><CARD:InsertTime>2026-01-01T08:00:00Z</CARD:InsertTime><CARD:CardHolderName>{}</CARD:CardHolderName><CARD:CertificateExpirationDate>{expiry}</CARD:CertificateExpirationDate></CARD:Card>",
                escape(&c.handle),
                escape(&c.card.holder.iccsn),
                escape(&c.ct_id),
                c.slot_id,
                escape(&c.card.holder.common_name),
            ));
        }
    }
    out.push_str("</CARD:Cards></EVT:GetCardsResponse>");
    out
}

/// `YYYY-MM-DD` (xs:date) of a time.
fn xsd_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        Err(_) => "1970-01-01".to_string(),
    }
}

fn read_card_certificate(
    card: &Card,
    refs: &[String],
    crypt: Option<&str>,
) -> Result<String, Violation> {
    let ecc = match crypt.unwrap_or("RSA") {
        "RSA" => false,
        "ECC" => true,
        other => {
            return Err(refuse(
                codes::SYNTAX,
                format!("ReadCardCertificate/Crypt `{other}` is neither RSA nor ECC"),
            ));
        }
    };
    let mut out = format!(
        "<CERT:ReadCardCertificateResponse xmlns:CERT=\"{NS_CERT}\" xmlns:CERTCMN=\"{NS_CERT_COMMON}\" xmlns:CONN=\"{NS_COMMON}\">{STATUS_OK}<CERTCMN:X509DataInfoList>"
    );
    for r in refs {
        let role = CardKeyRole::ALL
            .into_iter()
            .find(|role| role.certificate_ref(card.kind) == r)
            .ok_or_else(|| {
                refuse(
                    codes::CERT_REF,
                    format!("CertRef `{r}` is not on a {} card", card_type(card.kind)),
                )
            })?;
        let pair = card_key(card, role)?;
        let cert = if ecc {
            &pair.ecc.certificate
        } else {
            &pair.rsa.certificate
        };
        let der = cert
            .to_der()
            .map_err(|e| refuse(codes::CRYPTO, format!("certificate encoding: {e}")))?;
        let tbs = cert.tbs_certificate();
        out.push_str(&format!(
            "<CERTCMN:X509DataInfo><CERTCMN:CertRef>{}</CERTCMN:CertRef><CERTCMN:X509Data><CERTCMN:X509IssuerSerial><CERTCMN:X509IssuerName>{}</CERTCMN:X509IssuerName><CERTCMN:X509SerialNumber>{}</CERTCMN:X509SerialNumber></CERTCMN:X509IssuerSerial><CERTCMN:X509SubjectName>{}</CERTCMN:X509SubjectName><CERTCMN:X509Certificate>{}</CERTCMN:X509Certificate></CERTCMN:X509Data></CERTCMN:X509DataInfo>",
            escape(r),
            escape(&tbs.issuer().to_string()),
            serial_decimal(tbs.serial_number().as_bytes()),
            escape(&tbs.subject().to_string()),
            b64(&der)
        ));
    }
    out.push_str("</CERTCMN:X509DataInfoList></CERT:ReadCardCertificateResponse>");
    Ok(out)
}

/// A big-endian unsigned integer in decimal (X509SerialNumber is written in decimal).
fn serial_decimal(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0];
    for &b in bytes {
        let mut carry = b as u32;
        for d in digits.iter_mut() {
            let v = *d as u32 * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

fn verify_certificate(state: &State, der: &[u8], now: SystemTime) -> String {
    let (result, note, roles) = match Certificate::from_der(der) {
        Err(e) => (
            "INVALID",
            Some(format!("not an X.509 certificate: {e}")),
            Vec::new(),
        ),
        Ok(cert) => {
            let revoked = state
                .cards
                .iter()
                .filter(|c| c.card.revoked)
                .flat_map(|c| c.card.keys.iter())
                .any(|k| k.rsa.certificate == cert || k.ecc.certificate == cert);
            let roles = kvc_smime::admission::Admission::of_certificate(&cert)
                .ok()
                .flatten()
                .map(|a| a.profession_oids.iter().map(|o| o.to_string()).collect())
                .unwrap_or_default();
            match cms::validate_chain(&cert, &[], &state.trust, now) {
                _ if revoked => ("INVALID", Some("certificate revoked".to_string()), roles),
                Ok(()) => ("VALID", None, roles),
                Err(p) => ("INVALID", Some(p.explain()), roles),
            }
        }
    };
    let error = note
        .map(|n| error_element(1036, &format!("Zertifikat ungültig: {n}")))
        .unwrap_or_default();
    let mut role_list = String::from("<CERT:RoleList>");
    if roles.is_empty() {
        role_list.push_str("<CERT:Role>unknown</CERT:Role>");
    }
    for r in roles {
        role_list.push_str(&format!("<CERT:Role>{}</CERT:Role>", escape(&r)));
    }
    role_list.push_str("</CERT:RoleList>");
    format!(
        "<CERT:VerifyCertificateResponse xmlns:CERT=\"{NS_CERT}\" xmlns:CONN=\"{NS_COMMON}\" xmlns:GERROR=\"{NS_ERROR}\">{STATUS_OK}<CERT:VerificationStatus><CERT:VerificationResult>{result}</CERT:VerificationResult>{error}</CERT:VerificationStatus>{role_list}</CERT:VerifyCertificateResponse>"
    )
}

fn parse_recipient_emails(der: &[u8]) -> Result<Vec<kvc_smime::asn1::RecipientEmail>, Violation> {
    let attr = x509_cert::attr::Attribute::from_der(der).map_err(|e| {
        refuse(
            codes::SYNTAX,
            format!("RecipientEmailsAttribute is not a DER Attribute: {e}"),
        )
    })?;
    kvc_smime::asn1::parse_recipient_emails(&attr)
        .map_err(|e| refuse(codes::SYNTAX, format!("RecipientEmailsAttribute: {e}")))
}

fn sign(card: &Card, crypt: Option<&str>, r: &SignRequest) -> Result<Vec<u8>, Violation> {
    if let Some(t) = &r.signature_type
        && t != CMS
    {
        return Err(refuse(
            codes::UNSUPPORTED,
            format!("SignatureType `{t}`: the mock signs CMS ({CMS}) only"),
        ));
    }
    let key = card_key(card, CardKeyRole::Sig)?;
    let opts = SignOptions {
        scheme: SignatureScheme::RsaPss,
        attached: r.include_econtent,
        recipient_emails: r
            .recipient_emails
            .as_deref()
            .map(parse_recipient_emails)
            .transpose()?,
        signing_time: None,
        extra_certificates: Vec::new(),
        extra_signed_attributes: Vec::new(),
    };
    let signed = match crypt {
        Some("ECC") => cms::sign_brainpool(&r.document, &key.ecc, &opts),
        _ => cms::sign(&r.document, &key.rsa, &opts),
    };
    signed.map_err(|e| refuse(codes::CRYPTO, format!("SignDocument: {e}")))
}

fn verify_document(
    state: &State,
    signature: Option<&[u8]>,
    document: Option<&[u8]>,
    ns: &str,
    now: SystemTime,
) -> String {
    let (blob, detached) = match (signature, document) {
        (Some(s), d) => (s, d),
        (None, Some(d)) => (d, None),
        (None, None) => (&[][..], None),
    };
    let (high, code) = match state.faults.verify_document_code {
        Some(code) => (scripted_result(code), Some(code)),
        None => {
            match cms::verify_signed_data(blob, detached, &state.trust, now, "VerifyDocument") {
                Err(_) => ("INVALID", Some(4112)),
                Ok(r) if r.signature.is_err() => ("INVALID", Some(4115)),
                Ok(r) if r.chain.is_err() => ("INCONCLUSIVE", Some(4206)),
                Ok(_) => ("VALID", None),
            }
        }
    };
    let status = match code {
        None => STATUS_OK.to_string(),
        Some(c) => format!(
            "<CONN:Status><CONN:Result>Warning</CONN:Result>{}</CONN:Status>",
            error_element(c, verify_text(c))
        ),
    };
    format!(
        "<SIG:VerifyDocumentResponse xmlns:SIG=\"{ns}\" xmlns:CONN=\"{NS_COMMON}\" xmlns:GERROR=\"{NS_ERROR}\">{status}<SIG:VerificationResult><SIG:HighLevelResult>{high}</SIG:HighLevelResult><SIG:TimestampType>SIGNATURE_EMBEDDED_TIMESTAMP</SIG:TimestampType><SIG:Timestamp>{}</SIG:Timestamp></SIG:VerificationResult></SIG:VerifyDocumentResponse>",
        super::xsd_date_time(now)
    )
}

/// The HighLevelResult a scripted VerifyDocument code comes with (KIM-FACTS §1.5: 4264 means
/// the signature is fine but the certificate status unknown).
fn scripted_result(code: u32) -> &'static str {
    match code {
        4264 => "INCONCLUSIVE",
        4206 => "INCONCLUSIVE",
        _ => "INVALID",
    }
}

fn verify_text(code: u32) -> &'static str {
    match code {
        4115 => "Integrität der Signatur verletzt",
        4253 => "Keine Signatur gefunden",
        4112 => "Dokumentformat nicht unterstützt",
        4206 => "Zertifikatsprüfung fehlgeschlagen",
        4264 => "Zertifikatsstatus nicht ermittelbar",
        _ => "Signaturprüfung fehlgeschlagen",
    }
}

/// A TelematikError `Error` element (tel/error v2.0).
pub fn error_element(code: u32, text: &str) -> String {
    format!(
        "<GERROR:Error xmlns:GERROR=\"{NS_ERROR}\"><GERROR:MessageID>{}</GERROR:MessageID><GERROR:Timestamp>{}</GERROR:Timestamp><GERROR:Trace><GERROR:EventID>{}</GERROR:EventID><GERROR:Instance>kvc-check-mock-konnektor</GERROR:Instance><GERROR:LogReference>{}</GERROR:LogReference><GERROR:CompType>Konnektor</GERROR:CompType><GERROR:Code>{code}</GERROR:Code><GERROR:Severity>Error</GERROR:Severity><GERROR:ErrorType>Technical</GERROR:ErrorType><GERROR:ErrorText>{}</GERROR:ErrorText></GERROR:Trace></GERROR:Error>",
        uuid::Uuid::new_v4(),
        super::xsd_date_time(SystemTime::now()),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        escape(text)
    )
}
