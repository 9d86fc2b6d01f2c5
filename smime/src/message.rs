//! Whole messages: open (decrypt + verify + header checks, with KIM result codes) and build
//! (KOM-LE and KV-Connect), including deliberately broken variants for mocks and mutants.

use std::time::SystemTime;

use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::asn1::RecipientEmail;
use crate::cms::{
    self, ChainProblem, CmsKind, ContentEncryption, EnvelopeOptions, KeyTransport, SignOptions,
    SignatureScheme, describe_rid,
};
use crate::error::{ErrorKind, Result, SmimeError};
use crate::keys::PrivateKeyMaterial;
use crate::mime::{self, Headers};
use crate::pki::{CertifiedKey, certificate_emails};

/// Which message family a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// KIM / KOM-LE (AuthEnvelopedData or `X-KOM-LE-Version` present).
    KomLe,
    /// KV-Connect (EnvelopedData around multipart/signed).
    KvConnect,
}

/// Severity of a [`SmimeFinding`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The message violates the requirement.
    Error,
    /// Suspicious / profile deviation that does not decide the verdict.
    Warning,
}

/// One finding, tied to a catalogue requirement ID.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SmimeFinding {
    /// Catalogue ID (`KOM-LE-A_2047`, `KOM-LE-A_2050`, `A_23165`, `KVC-Anb022`); the KOM-LE
    /// profile breaks are in [`SmimeOutcome::komle_profile`] under their own IDs.
    pub requirement: String,
    /// Severity.
    pub severity: Severity,
    /// Human explanation (names the code and the cause).
    pub message: String,
}

/// A result code with its explanation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CodeExplanation {
    /// The code (`00`..`03`, `01`..`09`, or vendor `X..`).
    pub code: String,
    /// Why.
    pub explanation: String,
}

/// Outcome of [`open_message`]. Serialises (serde) to the JSON shape used by `lint --format
/// json` under `smime`: `decryption_result` ("00"), `integrity_check_result` (["01"]), the
/// explanations, findings, signer and recipient-emails (as "addr (serial HEX)" strings);
/// the message bytes are not serialised.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SmimeOutcome {
    /// Message family.
    pub profile: Profile,
    /// X-KIM-DecryptionResult: `00` ok, `01` key not usable for this recipient, `02` wrong
    /// format / manipulated ciphertext.
    pub decryption_result: String,
    /// Why that decryption result.
    pub decryption_explanation: String,
    /// X-KIM-IntegrityCheckResult codes (Tab_Verm_Sig_Prüf): `01` ok, `02` integrity violated,
    /// `03` not signed, `04` wrong format, `05` certificate path, `08` outer/inner header
    /// mismatch, `09` recipient-emails signed ≠ unprotected; vendor `X10` signer e-mail ≠ From
    /// (KV-Connect). Empty if nothing could be decrypted.
    pub integrity_check_result: Vec<String>,
    /// One explanation per integrity code.
    pub integrity_explanations: Vec<CodeExplanation>,
    /// The innermost message: KOM-LE: the inner RFC 5322 mail; KV-Connect: the signed content
    /// entity of the innermost layer. `None` if decryption failed.
    #[serde(skip)]
    pub inner_message: Option<Vec<u8>>,
    /// The decrypted content of the outermost layer, byte for byte.
    #[serde(skip)]
    pub decrypted_content: Option<Vec<u8>>,
    /// Signer certificate subject (outermost signature).
    pub signer_subject: Option<String>,
    /// Signer certificate e-mail addresses.
    pub signer_emails: Vec<String>,
    /// Number of encryption layers opened (KV-Connect Mobile forwards wrap twice).
    pub layers: usize,
    /// recipient-emails from the signed attributes (outermost signature), if present.
    #[serde(serialize_with = "ser_emails")]
    pub signed_recipient_emails: Option<Vec<RecipientEmail>>,
    /// recipient-emails from the unauthenticated/unprotected attributes, if present.
    #[serde(serialize_with = "ser_emails")]
    pub unprotected_recipient_emails: Option<Vec<RecipientEmail>>,
    /// Findings (each code as a finding plus profile deviations).
    pub findings: Vec<SmimeFinding>,
    /// The RecipientInfos of the envelope, filled when the key is not among them
    /// ([`key_not_available`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipient_infos: Vec<cms::RecipientInfoSummary>,
    /// KOM-LE only: the S/MIME profile checks of gemSMIME_KOMLE ([`crate::profile`]) on the
    /// envelope, the SignedData and the outer against the inner header. Their findings are
    /// not repeated in `findings`: each carries its own requirement ID, field and ASN.1 path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub komle_profile: Option<crate::profile::ProfileReport>,
}

fn ser_emails<S: serde::Serializer>(
    v: &Option<Vec<RecipientEmail>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::Serialize;
    v.as_ref()
        .map(|l| l.iter().map(RecipientEmail::describe).collect::<Vec<_>>())
        .serialize(s)
}

impl SmimeOutcome {
    /// Decrypted (`00`, or nothing to decrypt) and integrity exactly `01`.
    pub fn is_valid(&self) -> bool {
        (self.decryption_result == "00" || self.decryption_result.is_empty())
            && self.integrity_check_result == ["01"]
    }

    /// Nothing decided yet: no result codes, no layers opened.
    fn empty(profile: Profile) -> SmimeOutcome {
        SmimeOutcome {
            profile,
            decryption_result: String::new(),
            decryption_explanation: String::new(),
            integrity_check_result: Vec::new(),
            integrity_explanations: Vec::new(),
            inner_message: None,
            decrypted_content: None,
            signer_subject: None,
            signer_emails: Vec::new(),
            layers: 0,
            signed_recipient_emails: None,
            unprotected_recipient_emails: None,
            findings: Vec::new(),
            recipient_infos: Vec::new(),
            komle_profile: None,
        }
    }
}

/// Does the message (raw .eml or bare CMS) look S/MIME-encrypted?
pub fn is_smime_encrypted(raw: &[u8]) -> bool {
    if looks_like_cms(raw) {
        return matches!(
            cms::cms_kind(raw),
            Some(CmsKind::EnvelopedData | CmsKind::AuthEnvelopedData)
        );
    }
    let (h, b) = mime::split_header_body(raw);
    let hdr = Headers::parse(h);
    let ct = hdr.content_type();
    if !ct.is_pkcs7_mime() {
        return false;
    }
    match ct.smime_type() {
        Some(t) => t.contains("enveloped"),
        // no smime-type parameter: look at the CMS content type itself
        None => mime::decode_body(&hdr, b, "message")
            .ok()
            .and_then(|blob| cms::cms_kind(&blob))
            .is_some_and(|k| matches!(k, CmsKind::EnvelopedData | CmsKind::AuthEnvelopedData)),
    }
}

fn looks_like_cms(raw: &[u8]) -> bool {
    raw.first() == Some(&0x30) && raw.get(1).is_some_and(|b| *b >= 0x80)
}

struct State<'a> {
    key: Option<&'a PrivateKeyMaterial>,
    trust: &'a [Certificate],
    at: SystemTime,
    input: String,
    out: SmimeOutcome,
}

impl State<'_> {
    fn integrity(&mut self, code: &str, explanation: impl Into<String>) {
        let explanation = explanation.into();
        let (req, sev) = match (self.out.profile, code) {
            (Profile::KvConnect, "01") => ("KVC-Anb022", None),
            (Profile::KvConnect, _) => ("KVC-Anb022", Some(Severity::Error)),
            (Profile::KomLe, "01") => ("KOM-LE-A_2050", None),
            (Profile::KomLe, _) => ("A_23165", Some(Severity::Error)),
        };
        if let Some(sev) = sev {
            self.out.findings.push(SmimeFinding {
                requirement: req.into(),
                severity: sev,
                message: format!("X-KIM-IntegrityCheckResult {code}: {explanation}"),
            });
        }
        if !self.out.integrity_check_result.iter().any(|c| c == code) {
            self.out.integrity_check_result.push(code.to_string());
            self.out.integrity_explanations.push(CodeExplanation {
                code: code.to_string(),
                explanation,
            });
        }
    }
    fn decryption(&mut self, code: &str, explanation: impl Into<String>) {
        let explanation = explanation.into();
        if code != "00" {
            let req = match self.out.profile {
                Profile::KomLe => "KOM-LE-A_2047",
                Profile::KvConnect => "KVC-Anb022",
            };
            self.out.findings.push(SmimeFinding {
                requirement: req.into(),
                severity: Severity::Error,
                message: format!("X-KIM-DecryptionResult {code}: {explanation}"),
            });
        }
        // The worst code wins (a failing inner layer overrides an outer "00").
        if self.out.decryption_result == "00" || self.out.decryption_result.is_empty() {
            self.out.decryption_result = code.to_string();
            self.out.decryption_explanation = explanation;
        }
    }
}

/// Open a message with the input name "message". See [`open_message_named`].
pub fn open_message(
    raw: &[u8],
    key: &PrivateKeyMaterial,
    trust: &[Certificate],
    at: Option<SystemTime>,
) -> Result<SmimeOutcome> {
    open_message_named(raw, key, trust, at, "message")
}

/// Decrypt and verify a KOM-LE or KV-Connect message (`raw` = .eml, or a bare CMS blob) and
/// map the result to X-KIM-DecryptionResult / X-KIM-IntegrityCheckResult codes.
///
/// `at` = time for certificate validity (default now). `input` names the message in errors.
///
/// Errors (the caller should report them as input errors, exit 2): the key opens no
/// RecipientInfo ([`ErrorKind::WrongKey`], names the key source), the message is not
/// S/MIME-encrypted or malformed/truncated ([`ErrorKind::BadInput`], names `input`).
/// [`SmimeError::decryption_result_code`] maps such errors to `01`/`02` if a code is wanted;
/// [`key_not_available`] turns a key whose certificate is not among the RecipientInfos into the
/// outcome a Clientmodul reports (`01` with the RecipientInfos).
/// Everything else — manipulated ciphertext, bad signatures, untrusted signers, header
/// mismatches — is reported in the outcome.
pub fn open_message_named(
    raw: &[u8],
    key: &PrivateKeyMaterial,
    trust: &[Certificate],
    at: Option<SystemTime>,
    input: &str,
) -> Result<SmimeOutcome> {
    let mut st = State {
        key: Some(key),
        trust,
        at: at.unwrap_or_else(SystemTime::now),
        input: input.to_string(),
        out: SmimeOutcome::empty(Profile::KvConnect),
    };
    open_layer(raw, &mut st, 0)?;
    // A failing check replaces "01".
    if st.out.integrity_check_result.len() > 1 {
        st.out.integrity_check_result.retain(|c| c != "01");
        st.out.integrity_explanations.retain(|c| c.code != "01");
    }
    Ok(st.out)
}

/// The outcome a KIM Clientmodul reports when the message is not encrypted for `key`: `key` has
/// a certificate and no RecipientInfo names it, so X-KIM-DecryptionResult is `01` (key not
/// available), with the RecipientInfos the message does carry (issuer, serial, recipient-emails
/// address) in the finding and in `recipient_infos`. A verdict about the message, where
/// [`open_message_named`] returns [`ErrorKind::WrongKey`].
///
/// `None` when the key has no certificate (then only trying every RecipientInfo tells, and a
/// key that opens none stays an input error), when its certificate is among the RecipientInfos
/// (a key that does not fit its own certificate), or when the envelope cannot be read.
pub fn key_not_available(
    raw: &[u8],
    key: &PrivateKeyMaterial,
    input: &str,
) -> Option<SmimeOutcome> {
    let cert = key.certificate.as_ref()?;
    let blob = cms_from_message(raw, input).ok()?;
    let recipients = cms::envelope_recipients(&blob, input).ok()?;
    if recipients.includes(cert) {
        return None;
    }
    let komle_header = !looks_like_cms(raw)
        && Headers::parse(mime::split_header_body(raw).0)
            .get("X-KOM-LE-Version")
            .is_some();
    let profile = if komle_header || cms::cms_kind(&blob) == Some(CmsKind::AuthEnvelopedData) {
        Profile::KomLe
    } else {
        Profile::KvConnect
    };
    let mut st = State {
        key: Some(key),
        trust: &[],
        at: SystemTime::now(),
        input: input.to_string(),
        out: SmimeOutcome::empty(profile),
    };
    let listed: Vec<String> = recipients
        .infos
        .iter()
        .map(cms::RecipientInfoSummary::describe)
        .collect();
    st.decryption(
        "01",
        format!(
            "key not available: the key's certificate ({}, from {}) is not among the {} \
             RecipientInfo(s) of the message [{}]; a Clientmodul holding only this key cannot \
             decrypt it (Tab_Fehlertext_Entschl ID 01)",
            describe_rid(&cms::issuer_and_serial(cert)),
            key.source,
            listed.len(),
            listed.join("; ")
        ),
    );
    st.out.recipient_infos = recipients.infos;
    if profile == Profile::KomLe {
        // The envelope can be judged without opening it.
        st.out.komle_profile = Some(crate::profile::check_opened(
            header_block(raw),
            &blob,
            Err("the key is not among the message's recipients"),
        ));
    }
    Some(st.out)
}

fn open_layer(raw: &[u8], st: &mut State<'_>, depth: usize) -> Result<()> {
    if depth > 4 {
        st.integrity("04", "more than 4 nested S/MIME layers");
        return Ok(());
    }
    let input = st.input.clone();
    let (outer, blob) = if looks_like_cms(raw) {
        (None, raw.to_vec())
    } else {
        let (h, b) = mime::split_header_body(raw);
        let hdr = Headers::parse(h);
        let ct = hdr.content_type();
        if !ct.is_pkcs7_mime() {
            return Err(SmimeError::bad_input(
                &input,
                format!(
                    "not an S/MIME encrypted message (Content-Type: {}); nothing to decrypt",
                    if ct.mime.is_empty() {
                        "missing"
                    } else {
                        &ct.mime
                    }
                ),
            ));
        }
        let blob = mime::decode_body(&hdr, b, &input)?;
        (Some(hdr), blob)
    };
    let kind = cms::cms_kind(&blob);
    if depth == 0 {
        let komle_header = outer
            .as_ref()
            .is_some_and(|h| h.get("X-KOM-LE-Version").is_some());
        st.out.profile = if komle_header || kind == Some(CmsKind::AuthEnvelopedData) {
            Profile::KomLe
        } else {
            Profile::KvConnect
        };
    }
    let Some(key) = st.key else {
        return Err(SmimeError::bad_input(
            &input,
            "the message is encrypted: a private key is needed",
        ));
    };
    let dec = match cms::decrypt(&blob, key, &input) {
        Ok(d) => d,
        Err(e) if e.kind == ErrorKind::Tampered => {
            if depth == 0 && st.out.profile == Profile::KomLe {
                st.out.komle_profile = Some(crate::profile::check_opened(
                    header_block(raw),
                    &blob,
                    Err(&e.message),
                ));
            }
            st.decryption(
                "02",
                format!(
                    "{} (X-KIM-Fehlermeldung 4014: manipulated after encryption)",
                    e.message
                ),
            );
            return Ok(());
        }
        Err(e) if depth == 0 => {
            // A KOM-LE envelope that cannot be decrypted because it breaks the profile (no
            // encryptedContent, KOM-LE-A_2112) is a verdict about the message: X-KIM-
            // DecryptionResult 02 (wrong format) with the profile findings. Anything else
            // unreadable stays an input error.
            if st.out.profile == Profile::KomLe && e.kind == ErrorKind::BadInput {
                let report =
                    crate::profile::check_opened(header_block(raw), &blob, Err(&e.message));
                let failed = report.failed();
                if !failed.is_empty() {
                    st.decryption(
                        "02",
                        format!(
                            "{} (the envelope breaks the KOM-LE S/MIME profile: {})",
                            e.message,
                            failed
                                .iter()
                                .map(|c| c.requirement())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    st.out.komle_profile = Some(report);
                    return Ok(());
                }
            }
            return Err(e);
        }
        Err(e) => {
            st.decryption(
                e.decryption_result_code(),
                format!("inner layer {}: {}", depth + 1, e.message),
            );
            return Ok(());
        }
    };
    st.out.layers += 1;
    if st.out.profile == Profile::KomLe {
        if depth == 0 {
            st.out.komle_profile = Some(crate::profile::check_opened(
                header_block(raw),
                &blob,
                Ok(&dec.content),
            ));
        }
        // A missing or unreadable recipient-emails attribute is a profile finding
        // (KOM-LE-A_2114-01); the message is then decrypted with the RecipientInfo the key opens.
        match (&dec.recipient_emails, &dec.opened_rid) {
            (Some(list), Some(rid)) if !list.iter().any(|e| e.rid == *rid) => {
                st.decryption(
                    "01",
                    format!(
                        "the key's certificate ({}) is not listed in recipient-emails [{}]: a KIM Clientmodul decrypts only with keys of addressed recipients (KOM-LE-A_2045)",
                        describe_rid(rid),
                        list.iter().map(RecipientEmail::describe).collect::<Vec<_>>().join(", ")
                    ),
                );
                return Ok(());
            }
            _ => {}
        }
    }
    let who = dec
        .opened_rid
        .as_ref()
        .map(describe_rid)
        .unwrap_or_else(|| format!("RecipientInfo #{}", dec.recipient_index + 1));
    st.decryption(
        "00",
        format!(
            "decrypted ({}, {}) with the key for {who}",
            crate::oids::name(&dec.content_encryption),
            crate::oids::name(&dec.key_transport)
        ),
    );
    st.out.unprotected_recipient_emails = dec.recipient_emails.clone();
    // The envelope is judged; only the decrypted entity is needed from here on.
    drop(blob);
    let result = handle_signed(
        &dec.content,
        outer.as_ref(),
        Some(dec.recipient_emails.as_deref()),
        st,
        depth,
    );
    if depth == 0 {
        // Moved, not copied: the decrypted entity is as large as the message.
        st.out.decrypted_content = Some(dec.content);
    }
    result
}

/// Extract the CMS blob from a message: bare DER/BER, PEM (`PKCS7`/`CMS`), or an .eml / MIME
/// entity whose body is `application/pkcs7-mime` (base64 or binary).
pub fn cms_from_message(raw: &[u8], input: &str) -> Result<Vec<u8>> {
    if looks_like_cms(raw) {
        return Ok(raw.to_vec());
    }
    if raw.starts_with(b"-----BEGIN ") {
        let blocks = crate::keys::pem_blocks(raw, input)?;
        return blocks
            .into_iter()
            .find(|b| b.label.contains("PKCS7") || b.label == "CMS")
            .map(|b| b.der)
            .ok_or_else(|| SmimeError::bad_input(input, "PEM file without PKCS7/CMS block"));
    }
    let (h, b) = mime::split_header_body(raw);
    let hdr = Headers::parse(h);
    let ct = hdr.content_type();
    if !ct.is_pkcs7_mime() {
        return Err(SmimeError::bad_input(
            input,
            format!(
                "neither a CMS blob nor an application/pkcs7-mime message (Content-Type: {})",
                if ct.mime.is_empty() {
                    "missing"
                } else {
                    &ct.mime
                }
            ),
        ));
    }
    mime::decode_body(&hdr, b, input)
}

/// Verify a signed message without decrypting: a bare SignedData (DER/BER), or an entity /
/// .eml with `application/pkcs7-mime; smime-type=signed-data` or `multipart/signed`.
/// `decryption_result` is left empty. Err only for unreadable input.
pub fn verify_message(
    raw: &[u8],
    trust: &[Certificate],
    at: Option<SystemTime>,
    input: &str,
) -> Result<SmimeOutcome> {
    let outer = if looks_like_cms(raw) {
        None
    } else {
        Some(Headers::parse(mime::split_header_body(raw).0))
    };
    let komle = outer
        .as_ref()
        .is_some_and(|h| h.get("X-KOM-LE-Version").is_some())
        || cms_from_message(raw, input)
            .ok()
            .and_then(|b| {
                cms::verify_signed_data(&b, None, &[], SystemTime::UNIX_EPOCH, input).ok()
            })
            .is_some_and(|r| r.signed_recipient_emails.is_some());
    let mut st = State {
        key: None,
        trust,
        at: at.unwrap_or_else(SystemTime::now),
        input: input.to_string(),
        out: SmimeOutcome::empty(if komle {
            Profile::KomLe
        } else {
            Profile::KvConnect
        }),
    };
    if outer.as_ref().is_some_and(|h| h.fields.is_empty()) {
        return Err(SmimeError::bad_input(
            input,
            "neither a CMS blob nor a MIME entity with headers",
        ));
    }
    if is_smime_encrypted(raw) {
        return Err(SmimeError::bad_input(
            input,
            "the message is encrypted: decrypt it first (or give --key)",
        ));
    }
    handle_signed(raw, outer.as_ref(), None, &mut st, 0)?;
    if st.out.integrity_check_result.len() > 1 {
        st.out.integrity_check_result.retain(|c| c != "01");
        st.out.integrity_explanations.retain(|c| c.code != "01");
    }
    Ok(st.out)
}

/// Detect the "bare CR became CRLF" corruption of a binary body and explain it.
///
/// The outer TLV declares the original length; the excess bytes must be inserted LFs. The LFs
/// to remove are those of CRLF pairs in binary context (text inside eContent keeps its own
/// CRLFs); if that does not add up, every CRLF is a candidate.
fn crlf_damage(body: &[u8], st: &State<'_>) -> Option<String> {
    let (total, excess, pairs) = crlf_excess(body)?;
    let generic = format!(
        "the SignedData declares {total} bytes but the binary body has {} ({excess} extra) and contains {pairs} CRLF pairs: the binary body was apparently CRLF-canonicalised (bare CR turned into CRLF); a binary body must not be line-end converted (use Content-Transfer-Encoding: base64)",
        body.len(),
    );
    let mut fixed = Vec::with_capacity(total);
    let mut amb = Vec::new();
    let mut pos = 0;
    if repair_crlf(body, &mut pos, &mut fixed, &mut amb, 0).is_none() || pos != body.len() {
        return Some(generic);
    }
    crlf_repaired(body, total, excess, fixed, amb, st)
}

/// The short form of [`crlf_damage`] (no repair, no signature): what the profile check of the
/// signed-data entity (KOM-LE-A_2103) says of a body too long for its DER length.
pub(crate) fn line_end_damage(body: &[u8]) -> Option<String> {
    let (total, excess, pairs) = crlf_excess(body)?;
    Some(format!(
        "its DER header declares {total} bytes, {excess} more arrived and the body holds {pairs} CRLF pairs: bare CR/LF bytes of the binary DER were apparently turned into CRLF (line-ending conversion of a binary entity, Content-Transfer-Encoding binary)"
    ))
}

/// (declared total length, excess bytes, CRLF pairs) of a DER body that is longer than its
/// outer TLV declares, with at least as many CRLF pairs as excess bytes.
fn crlf_excess(body: &[u8]) -> Option<(usize, usize, usize)> {
    if body.len() < 4 || body[0] != 0x30 {
        return None;
    }
    let (hdr_len, declared) = match body[1] {
        n if n < 0x80 => (2usize, n as usize),
        0x81 => (3, *body.get(2)? as usize),
        0x82 => (4, ((*body.get(2)? as usize) << 8) | *body.get(3)? as usize),
        0x83 => (
            5,
            ((*body.get(2)? as usize) << 16)
                | ((*body.get(3)? as usize) << 8)
                | *body.get(4)? as usize,
        ),
        _ => return None,
    };
    let total = hdr_len + declared;
    if body.len() <= total {
        return None;
    }
    let excess = body.len() - total;
    let pairs = body.windows(2).filter(|w| w == b"\r\n").count();
    (pairs >= excess).then_some((total, excess, pairs))
}

/// The rest of [`crlf_damage`] once the DER lengths add up again: resolve the ambiguous pairs
/// with the signature as judge and explain.
fn crlf_repaired(
    body: &[u8],
    total: usize,
    excess: usize,
    mut fixed: Vec<u8>,
    amb: Vec<usize>,
    st: &State<'_>,
) -> Option<String> {
    // Each collapsed pair was a CR or an LF. Use the signature as oracle: try turning up to
    // three of the ambiguous bytes into LF (bounded to 1,500 attempts).
    let verifies = |b: &[u8]| {
        cms::verify_signed_data(b, None, st.trust, st.at, "repaired")
            .is_ok_and(|r| r.signature.is_ok())
    };
    if !verifies(&fixed) {
        let n = amb.len();
        let mut tries = 0;
        'search: for k in 1..=3usize.min(n) {
            let mut idx: Vec<usize> = (0..k).collect();
            loop {
                tries += 1;
                if tries > 1_500 {
                    break 'search;
                }
                let mut cand = fixed.clone();
                for &i in &idx {
                    cand[amb[i]] = b'\n';
                }
                if verifies(&cand) {
                    fixed = cand;
                    break 'search;
                }
                // next combination
                let mut i = k;
                while i > 0 && idx[i - 1] == n - k + i - 1 {
                    i -= 1;
                }
                if i == 0 {
                    break;
                }
                idx[i - 1] += 1;
                for j in i..k {
                    idx[j] = idx[j - 1] + 1;
                }
            }
        }
    }
    let verdict = match cms::verify_signed_data(&fixed, None, st.trust, st.at, "repaired") {
        Ok(r) if r.signature.is_ok() => format!(
            "it parses and its signature verifies (each collapsed pair taken as CR or LF, {} ambiguous pairs resolved with the signature as judge)",
            amb.len()
        ),
        Ok(_) => "it parses, but a CRLF pair in binary data may stem from a bare CR or a bare LF, so the original bytes (and the signature check) cannot be recovered for certain".to_string(),
        Err(_) => "the structure is consistent again, but the bytes cannot be recovered for certain".to_string(),
    };
    Some(format!(
        "the binary SignedData body was damaged by line-ending conversion: bare CR (0x0D) and bare LF (0x0A) bytes were turned into CRLF, {excess} bytes were inserted (the SignedData declares {total} bytes, the body has {}); collapsing each inserted CRLF pair in binary data back to one byte restores the declared length and {verdict}. A binary body must not be CRLF-canonicalised: use Content-Transfer-Encoding base64 (or do not convert line ends of binary entities)",
        body.len()
    ))
}

/// Undo CR/LF -> CRLF damage guided by the DER lengths: a CRLF pair in headers and in binary
/// primitive contents collapses to one byte (taken as CR); text contents (>= 90 % printable)
/// keep their CRLFs.
fn repair_crlf(
    src: &[u8],
    pos: &mut usize,
    out: &mut Vec<u8>,
    amb: &mut Vec<usize>,
    depth: usize,
) -> Option<()> {
    if depth > 32 {
        return None;
    }
    let take = |pos: &mut usize, out: &Vec<u8>, amb: &mut Vec<usize>| -> Option<u8> {
        let b = *src.get(*pos)?;
        *pos += 1;
        if b == b'\r' && src.get(*pos) == Some(&b'\n') {
            *pos += 1;
            amb.push(out.len());
        }
        Some(b)
    };
    let tag = take(pos, out, amb)?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    out.push(tag);
    let l0 = take(pos, out, amb)?;
    out.push(l0);
    let len = if l0 < 0x80 {
        l0 as usize
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for _ in 0..n {
            let b = take(pos, out, amb)?;
            out.push(b);
            len = (len << 8) | b as usize;
        }
        len
    };
    if tag & 0x20 != 0 {
        let start = out.len();
        while out.len() - start < len {
            repair_crlf(src, pos, out, amb, depth + 1)?;
        }
        return (out.len() - start == len).then_some(());
    }
    let raw = src.get(*pos..pos.checked_add(len)?)?;
    let printable = raw
        .iter()
        .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    if len >= 16 && printable * 10 >= len * 9 {
        out.extend_from_slice(raw);
        *pos += len;
    } else if tag == 0x06 {
        // OID arcs: 0x0D mostly appears in 1.2.840.113549 (86 F7 0D); elsewhere a CRLF pair in
        // an OID is far more likely a former LF (e.g. 2.5.4.10 organizationName = 55 04 0A).
        for _ in 0..len {
            let b = *src.get(*pos)?;
            *pos += 1;
            if b == b'\r' && src.get(*pos) == Some(&b'\n') {
                *pos += 1;
                out.push(if out.last() == Some(&0xF7) {
                    b'\r'
                } else {
                    b'\n'
                });
            } else {
                out.push(b);
            }
        }
    } else {
        for _ in 0..len {
            let b = take(pos, out, amb)?;
            out.push(b);
        }
    }
    Some(())
}

/// The header block of a message, `None` for a bare CMS blob.
fn header_block(raw: &[u8]) -> Option<&[u8]> {
    (!looks_like_cms(raw)).then(|| mime::split_header_body(raw).0)
}

/// The body of a `message/rfc822` entity (the inner message of KOM-LE), else `content` itself.
pub(crate) fn strip_rfc822_wrapper(content: &[u8]) -> Vec<u8> {
    let (h, b) = mime::split_header_body(content);
    let ct = Headers::parse(h).content_type();
    if ct.mime == "message/rfc822" {
        b.to_vec()
    } else {
        content.to_vec()
    }
}

const HEADER_FIELDS: [&str; 5] = ["From", "Sender", "Reply-To", "To", "Cc"];

fn handle_signed(
    entity: &[u8],
    outer: Option<&Headers>,
    unprotected_emails: Option<Option<&[RecipientEmail]>>,
    st: &mut State<'_>,
    depth: usize,
) -> Result<()> {
    let (blob, detached, entity_body) = if looks_like_cms(entity) {
        (entity.to_vec(), None, entity)
    } else {
        let (h, b) = mime::split_header_body(entity);
        let hdr = Headers::parse(h);
        let ct = hdr.content_type();
        if ct.mime == "multipart/signed" {
            let Some(boundary) = ct.param("boundary") else {
                st.integrity("04", "multipart/signed without boundary parameter");
                return Ok(());
            };
            let parts = mime::split_multipart(b, boundary);
            if parts.len() != 2 {
                st.integrity(
                    "04",
                    format!("multipart/signed has {} parts (2 expected)", parts.len()),
                );
                return Ok(());
            }
            let (sh, sb) = mime::split_header_body(parts[1]);
            let shdr = Headers::parse(sh);
            let sig = match mime::decode_body(&shdr, sb, &st.input) {
                Ok(s) => s,
                Err(e) => {
                    st.integrity("04", format!("signature part: {}", e.message));
                    return Ok(());
                }
            };
            (sig, Some(parts[0]), b)
        } else if ct.is_pkcs7_mime() && ct.smime_type().is_none_or(|s| s.contains("signed")) {
            match mime::decode_body(&hdr, b, &st.input) {
                Ok(d) => (d, None, b),
                Err(e) => {
                    st.integrity("04", e.message);
                    return Ok(());
                }
            }
        } else {
            let mut why = format!(
                "the decrypted content is not signed (Content-Type: {})",
                ct.mime
            );
            if ct.mime.starts_with("multipart/")
                && let Some(bd) = ct.param("boundary")
            {
                let signed_parts = mime::split_multipart(b, bd)
                    .iter()
                    .filter(|p| {
                        let c = Headers::parse(mime::split_header_body(p).0).content_type();
                        c.mime == "multipart/signed" || c.is_pkcs7_mime()
                    })
                    .count();
                if signed_parts > 0 {
                    why = format!(
                        "the decrypted content is {} with {signed_parts} signed part(s) and unsigned part(s) beside them: the message as a whole is not signed, the unsigned parts are not protected",
                        ct.mime
                    );
                }
            }
            st.integrity("03", why);
            st.out.inner_message = Some(strip_rfc822_wrapper(entity));
            return Ok(());
        }
    };
    let report = match cms::verify_signed_data(&blob, detached, st.trust, st.at, &st.input) {
        Ok(r) => r,
        Err(e) => {
            let why = crlf_damage(entity_body, st).unwrap_or(e.message);
            st.integrity(
                "04",
                format!("the signature does not parse as CMS SignedData: {why}"),
            );
            return Ok(());
        }
    };
    if depth == 0 {
        st.out.signer_subject = report
            .signer
            .as_ref()
            .map(|c| c.tbs_certificate().subject().to_string());
        st.out.signer_emails = report.signer_emails();
    }
    let mut ok = true;
    if let Err(e) = &report.signature {
        ok = false;
        if e.contains("no SignerInfo") {
            st.integrity("03", e.clone());
        } else {
            st.integrity("02", format!("signature check failed: {e}"));
        }
    }
    if let Err(p) = &report.chain {
        ok = false;
        let code = if *p == ChainProblem::NoSignerCertificate && report.signature.is_err() {
            "02"
        } else {
            "05"
        };
        st.integrity(code, p.explain());
    }
    let inner = match st.out.profile {
        Profile::KomLe => strip_rfc822_wrapper(&report.content),
        Profile::KvConnect => report.content.clone(),
    };
    if depth == 0 {
        st.out.signed_recipient_emails = report.signed_recipient_emails.clone();
    }
    if st.out.profile == Profile::KomLe
        && let Some(unprotected_emails) = unprotected_emails
    {
        let signed = report.signed_recipient_emails.clone().unwrap_or_default();
        let unprot = unprotected_emails.map(|u| u.to_vec()).unwrap_or_default();
        let norm = |v: &[RecipientEmail]| {
            let mut x: Vec<(String, Vec<u8>)> = v
                .iter()
                .map(|e| (e.email.clone(), e.rid.to_der().unwrap_or_default()))
                .collect();
            x.sort();
            x
        };
        if norm(&signed) != norm(&unprot) {
            ok = false;
            st.integrity(
                "09",
                format!(
                    "recipient-emails differ: signed [{}], unprotected [{}]",
                    signed
                        .iter()
                        .map(RecipientEmail::describe)
                        .collect::<Vec<_>>()
                        .join(", "),
                    unprot
                        .iter()
                        .map(RecipientEmail::describe)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    if st.out.profile == Profile::KomLe {
        if let Some(outer) = outer {
            let (ih, _) = mime::split_header_body(&inner);
            let ih = Headers::parse(ih);
            let mut diffs = Vec::new();
            for f in HEADER_FIELDS {
                let o: Vec<String> = outer
                    .get_all(f)
                    .iter()
                    .flat_map(|v| mime::addresses(v))
                    .collect();
                let i: Vec<String> = ih
                    .get_all(f)
                    .iter()
                    .flat_map(|v| mime::addresses(v))
                    .collect();
                let (mut os, mut is) = (o.clone(), i.clone());
                os.sort();
                is.sort();
                if os != is {
                    diffs.push(format!(
                        "{f}: outer [{}] vs inner [{}]",
                        o.join(", "),
                        i.join(", ")
                    ));
                }
            }
            if !diffs.is_empty() {
                ok = false;
                st.integrity(
                    "08",
                    format!("outer and inner header differ: {}", diffs.join("; ")),
                );
            }
        }
    } else if let Some(outer) = outer {
        // KV-Connect (VIVY rule): the signer certificate's e-mail must be the From address.
        let from: Vec<String> = outer
            .get_all("From")
            .iter()
            .flat_map(|v| mime::addresses(v))
            .collect();
        let emails: Vec<String> = report
            .signer_emails()
            .iter()
            .map(|e| e.to_ascii_lowercase())
            .collect();
        if report.signer.is_some() && !from.is_empty() && !from.iter().any(|f| emails.contains(f)) {
            ok = false;
            st.integrity(
                "X10",
                format!(
                    "the signer certificate belongs to [{}], but the message is From [{}]",
                    emails.join(", "),
                    from.join(", ")
                ),
            );
        }
    }
    if ok {
        let signer = report
            .signer
            .as_ref()
            .map(|c| c.tbs_certificate().subject().to_string())
            .unwrap_or_default();
        st.integrity(
            "01",
            format!("signature ({}) valid, certificate path to a trust anchor valid for \"{signer}\" (no revocation check)", report.signature_algorithm),
        );
    }
    // KV-Connect Mobile forwarding: the signed content is itself an encrypted message.
    if st.out.profile == Profile::KvConnect {
        let (h, b) = mime::split_header_body(&report.content);
        let ct = Headers::parse(h).content_type();
        if ct.is_pkcs7_mime() && ct.smime_type().is_some_and(|s| s.contains("enveloped")) {
            let (ih, _) = mime::split_header_body(b);
            if Headers::parse(ih).content_type().is_pkcs7_mime() {
                return open_layer(b, st, depth + 1);
            }
        }
    }
    st.out.inner_message = Some(inner);
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// builders

/// Deliberate faults for [`build_komle_message`] (all off by default). The ones marked with a
/// requirement ID break exactly that S/MIME profile check ([`crate::profile::Check`]) and no
/// other (`smime/tests/profile.rs` holds each to it).
#[derive(Clone, Debug, Default)]
pub struct KomLeFaults {
    /// Leave out the unauthenticated recipient-emails attribute: no unauthAttrs at all
    /// (KOM-LE-A_2107).
    pub omit_unprotected_recipient_emails: bool,
    /// Use this list in the *signed* recipient-emails attribute instead of the real one (→ 09,
    /// KOM-LE-A_2127).
    pub signed_recipient_emails: Option<Vec<RecipientEmail>>,
    /// Use this list in the *unauthenticated* recipient-emails attribute (signed one unchanged).
    pub unprotected_recipient_emails: Option<Vec<RecipientEmail>>,
    /// Replace (or add) outer header fields after copying (→ 08 for From/To/Cc/...;
    /// KOM-LE-A_2098-03, Message-ID KOM-LE-A_2101-01, Subject KOM-LE-A_2102).
    pub outer_header_overrides: Vec<(String, String)>,
    /// Leave these fields out of the outer header after copying (KOM-LE-A_2098-03 for Date,
    /// From, …, X-KIM-*; KOM-LE-A_2101-01 for Message-ID).
    pub outer_header_omit: Vec<String>,
    /// Do not sign: encrypt the message/rfc822 entity directly (→ 03, KOM-LE-A_2103).
    pub unsigned: bool,
    /// Flip one byte of the signed content inside the SignedData (→ 02).
    pub tamper_signed_content: bool,
    /// Flip one byte of the AES-GCM ciphertext (→ DecryptionResult 02).
    pub tamper_ciphertext: bool,
    /// Do not add a RecipientInfo for the sender (KOM-LE-A_2111-01).
    pub omit_sender_recipient: bool,
    /// Turn every bare CR in the binary SignedData into CRLF (the damage seen in gematik's
    /// sample; KOM-LE-A_2103).
    pub crlf_canonicalise_binary_entity: bool,
    /// EnvelopedData (AES-256-CBC, unprotectedAttrs) instead of AuthEnvelopedData
    /// (KOM-LE-A_2104).
    pub enveloped_data: bool,
    /// An originatorInfo carrying the sender's signature certificate (KOM-LE-A_2106).
    pub originator_info: bool,
    /// A KEKRecipientInfo beside the KeyTransRecipientInfos (KOM-LE-A_2108).
    pub kek_recipient_info: bool,
    /// The first recipient's KeyTransRecipientInfo names its certificate by
    /// subjectKeyIdentifier (KOM-LE-A_2109).
    pub recipient_info_subject_key_identifier: bool,
    /// No encryptedContent (KOM-LE-A_2112; nobody can decrypt the message then).
    pub omit_encrypted_content: bool,
    /// unauthAttrs carry a signingTime attribute instead of recipient-emails
    /// (KOM-LE-A_2114-01).
    pub unprotected_attribute_instead_of_recipient_emails: bool,
    /// One more RecipientEmail, in both attributes, for a certificate no RecipientInfo is
    /// encrypted for (KOM-LE-A_2115-02).
    pub extra_recipient_email: Option<RecipientEmail>,
    /// The sender's RecipientEmail names its certificate by subjectKeyIdentifier, in both
    /// attributes (KOM-LE-A_2117).
    pub recipient_email_subject_key_identifier: bool,
    /// A CRL (issued and signed by the signer itself) in SignedData.crls (KOM-LE-A_2118).
    pub signed_data_crl: bool,
    /// Further certificates after the signer certificate (KOM-LE-A_2119).
    pub extra_certificates: Vec<Certificate>,
    /// A detached signature: no eContent (KOM-LE-A_2121).
    pub detached_signature: bool,
    /// A second signerInfo: a second valid signature of the same signer (KOM-LE-A_2123).
    pub second_signer_info: bool,
    /// The signerInfo names the signer by subjectKeyIdentifier (KOM-LE-A_2124).
    pub signer_subject_key_identifier: bool,
    /// An unsigned attribute (signingTime) on the signerInfo (KOM-LE-A_2126).
    pub unsigned_attribute: bool,
    /// No signed recipient-emails attribute (→ 09, KOM-LE-A_2127).
    pub omit_signed_recipient_emails: bool,
}

impl KomLeFaults {
    /// The fault that breaks exactly `check` of the S/MIME profile (one per check; the
    /// rstest table of `smime/tests/profile.rs` names them one by one). `stranger` is someone
    /// the message is not addressed to: the extra RecipientEmail of KOM-LE-A_2115-02 and the
    /// extra certificate of KOM-LE-A_2119 are theirs.
    pub fn breaking(check: crate::profile::Check, stranger: &(String, Certificate)) -> KomLeFaults {
        use crate::profile::Check;
        let mut f = KomLeFaults::default();
        match check {
            Check::AuthEnvelopedData => f.enveloped_data = true,
            Check::NoOriginatorInfo => f.originator_info = true,
            Check::UnauthAttrs => f.omit_unprotected_recipient_emails = true,
            Check::KeyTransOnly => f.kek_recipient_info = true,
            Check::KtriIssuerSerial => f.recipient_info_subject_key_identifier = true,
            Check::SenderRecipientInfo => f.omit_sender_recipient = true,
            Check::EncryptedContent => f.omit_encrypted_content = true,
            Check::RecipientEmails => f.unprotected_attribute_instead_of_recipient_emails = true,
            Check::RecipientEmailPerRecipientInfo => {
                f.extra_recipient_email = cms::recipient_emails_for(std::slice::from_ref(stranger))
                    .into_iter()
                    .next();
            }
            Check::RecipientEmailIssuerSerial => f.recipient_email_subject_key_identifier = true,
            Check::SignedDataEntity => f.crlf_canonicalise_binary_entity = true,
            Check::NoCrls => f.signed_data_crl = true,
            Check::SignerCertificateOnly => f.extra_certificates = vec![stranger.1.clone()],
            Check::EContent => f.detached_signature = true,
            Check::OneSignerInfo => f.second_signer_info = true,
            Check::SidIssuerSerial => f.signer_subject_key_identifier = true,
            Check::NoUnsignedAttrs => f.unsigned_attribute = true,
            Check::SignedRecipientEmails => f.omit_signed_recipient_emails = true,
            Check::OuterHeaderCopy => f.outer_header_omit = vec!["X-KIM-Dienstkennung".into()],
            Check::OuterMessageId => f.outer_header_omit = vec!["Message-ID".into()],
            Check::OuterSubject => {
                f.outer_header_overrides = vec![("Subject".into(), "Nachricht".into())];
            }
        }
        f
    }
}

/// Input for [`build_komle_message`].
#[derive(Clone, Debug)]
pub struct KomLeMessage<'a> {
    /// The complete inner (client) message, CRLF line ends.
    pub inner: &'a [u8],
    /// Sender's signature certificate and key (C.HCI.OSIG).
    pub sender_signature: &'a CertifiedKey,
    /// Sender address and encryption certificate (RecipientInfo for the sender).
    pub sender: (String, Certificate),
    /// Recipients: (address, encryption certificate).
    pub recipients: Vec<(String, Certificate)>,
    /// X-KOM-LE-Version (`1.0` or `1.5`).
    pub version: String,
    /// Deliberate faults.
    pub faults: KomLeFaults,
}

/// The fields the outer header copies from the inner one (KOM-LE-A_2098-03, KOM-LE-A_2101-01),
/// besides every X-KIM-* field.
const COPIED: [&str; 8] = [
    "Date",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Message-ID",
];

fn flip_inside(haystack: &mut [u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return false;
    }
    if let Some(pos) = haystack.windows(needle.len()).position(|w| w == needle) {
        haystack[pos + needle.len() / 2] ^= 0x01;
        return true;
    }
    false
}

/// `bytes` with every bare CR turned into CRLF: the damage a text-mode copy does to a binary
/// SignedData (seen in gematik's sample; the KOM-LE-A_2103 fault).
pub fn bare_cr_to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 64);
    for (i, b) in bytes.iter().enumerate() {
        out.push(*b);
        if *b == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            out.push(b'\n');
        }
    }
    out
}

/// Build a complete KOM-LE message (gemSMIME_KOMLE): inner mail wrapped as message/rfc822,
/// signed (RSASSA-PSS, signed recipient-emails), wrapped as signed-data entity (binary),
/// encrypted (AuthEnvelopedData, AES-256-GCM, RSA-OAEP, one RecipientInfo per recipient plus
/// the sender, unauthenticated recipient-emails), outer header per KOM-LE-A_2098/2101/2102
/// (Subject `KOM-LE-Nachricht`, copied originator/recipient fields, X-KIM-* copied,
/// X-KOM-LE-Version), base64 body.
pub fn build_komle_message(m: &KomLeMessage<'_>) -> Result<Vec<u8>> {
    let f = &m.faults;
    let wrapped = komle_signed_input(m.inner);
    let mut all = m.recipients.clone();
    if !f.omit_sender_recipient && !all.iter().any(|(_, c)| *c == m.sender.1) {
        all.push(m.sender.clone());
    }
    let mut emails = cms::recipient_emails_for(&all);
    emails.extend(f.extra_recipient_email.iter().cloned());
    // KOM-LE-A_2117 fault: the same raw attribute in both places, the sender's entry naming its
    // certificate by subjectKeyIdentifier.
    let raw_emails = if f.recipient_email_subject_key_identifier {
        Some(recipient_emails_with_ski(&emails, &m.sender)?)
    } else {
        None
    };
    let entity = if f.unsigned {
        wrapped.clone()
    } else {
        let signed_list = f
            .signed_recipient_emails
            .clone()
            .unwrap_or_else(|| emails.clone());
        let mut signed = cms::sign(
            &wrapped,
            m.sender_signature,
            &SignOptions {
                scheme: SignatureScheme::RsaPss,
                attached: !f.detached_signature,
                recipient_emails: (!f.omit_signed_recipient_emails && raw_emails.is_none())
                    .then_some(signed_list),
                extra_certificates: f.extra_certificates.clone(),
                extra_signed_attributes: raw_emails.iter().cloned().collect(),
                ..SignOptions::default()
            },
        )?;
        if f.signed_data_crl
            || f.second_signer_info
            || f.signer_subject_key_identifier
            || f.unsigned_attribute
        {
            signed = edit_signed_data(
                &signed,
                (
                    Some(&m.sender_signature.certificate),
                    Some(&m.sender_signature.key),
                ),
                &KomLeFaults {
                    // Applied by `cms::sign` already.
                    extra_certificates: Vec::new(),
                    detached_signature: false,
                    ..f.clone()
                },
            )?;
        }
        if f.tamper_signed_content && !flip_inside(&mut signed, m.inner) {
            return Err(SmimeError::build(
                "cannot locate the signed content to tamper with",
            ));
        }
        if f.crlf_canonicalise_binary_entity {
            signed = bare_cr_to_crlf(&signed);
        }
        komle_signed_entity(&signed)
    };
    let certs: Vec<Certificate> = all.iter().map(|(_, c)| c.clone()).collect();
    let mut opts = EnvelopeOptions::komle(&all);
    opts.recipient_emails = Some(
        f.unprotected_recipient_emails
            .clone()
            .unwrap_or_else(|| emails.clone()),
    );
    if f.enveloped_data {
        opts.content_encryption = ContentEncryption::Aes256Cbc;
    }
    if let Some(raw) = &raw_emails {
        opts.recipient_emails = None;
        opts.extra_attributes.push(raw.clone());
    }
    if f.unprotected_attribute_instead_of_recipient_emails {
        opts.recipient_emails = None;
        opts.extra_attributes.push(signing_time_attribute()?);
    }
    if f.omit_unprotected_recipient_emails {
        opts.recipient_emails = None;
        opts.extra_attributes.clear();
    }
    let mut enc = cms::envelope(&entity, &certs, &opts)?;
    if f.tamper_ciphertext
        || f.originator_info
        || f.kek_recipient_info
        || f.recipient_info_subject_key_identifier
        || f.omit_encrypted_content
    {
        if f.enveloped_data {
            return Err(SmimeError::build(
                "envelope faults apply to AuthEnvelopedData only, not with `enveloped_data`",
            ));
        }
        enc = edit_auth_enveloped(
            &enc,
            EnvelopeParties {
                originator: &m.sender_signature.certificate,
                first_recipient: m.recipients.first().map(|(_, c)| c),
                sender: Some(&m.sender),
            },
            &KomLeFaults {
                // Applied through the envelope options already.
                recipient_email_subject_key_identifier: false,
                unprotected_attribute_instead_of_recipient_emails: false,
                omit_unprotected_recipient_emails: false,
                ..f.clone()
            },
        )?;
    }
    Ok(komle_outer_message(
        m.inner,
        &m.version,
        &enc,
        &f.outer_header_overrides,
        &f.outer_header_omit,
    ))
}

/// What a KOM-LE signature covers: the client mail wrapped as a `message/rfc822` entity
/// (KOM-LE-A_2095).
pub fn komle_signed_input(inner: &[u8]) -> Vec<u8> {
    let mut wrapped = b"Content-Type: message/rfc822\r\n\r\n".to_vec();
    wrapped.extend_from_slice(inner);
    wrapped
}

/// The signed-data entity that is encrypted: the SignedData (DER) as a binary
/// `application/pkcs7-mime; smime-type=signed-data` part (KOM-LE-A_2103).
pub fn komle_signed_entity(signed: &[u8]) -> Vec<u8> {
    let mut e = b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\nContent-Transfer-Encoding: binary\r\nContent-Disposition: attachment; filename=smime.p7m\r\n\r\n".to_vec();
    e.extend_from_slice(signed);
    e
}

/// The outer KOM-LE message around an encrypted `envelope` (AuthEnvelopedData DER): the
/// originator, recipient and X-KIM-* fields copied from `inner` (KOM-LE-A_2098-03, Message-ID
/// KOM-LE-A_2101-01), Subject `KOM-LE-Nachricht` (KOM-LE-A_2102), `X-KOM-LE-Version: version`,
/// the S/MIME content fields and the base64 body; `overrides` replace or add fields, `omit`
/// drops them (a Clientmodul adds `Expires` this way, a fault breaks one field).
pub fn komle_outer_message(
    inner: &[u8],
    version: &str,
    envelope: &[u8],
    overrides: &[(String, String)],
    omit: &[String],
) -> Vec<u8> {
    let (ih, _) = mime::split_header_body(inner);
    let inner_headers = Headers::parse(ih);
    let mut fields: Vec<(String, String)> = Vec::new();
    for (n, v) in &inner_headers.fields {
        if COPIED.iter().any(|c| c.eq_ignore_ascii_case(n))
            || n.to_ascii_lowercase().starts_with("x-kim-")
        {
            fields.push((n.clone(), v.clone()));
        }
    }
    fields.push(("Subject".into(), crate::profile::OUTER_SUBJECT.into()));
    fields.push(("X-KOM-LE-Version".into(), version.to_string()));
    fields.push(("MIME-Version".into(), "1.0".into()));
    fields.push((
        "Content-Type".into(),
        "application/pkcs7-mime; smime-type=authenticated-enveloped-data; name=smime.p7m".into(),
    ));
    fields.push((
        "Content-Disposition".into(),
        "attachment; filename=smime.p7m".into(),
    ));
    fields.push(("Content-Transfer-Encoding".into(), "base64".into()));
    for (n, v) in overrides {
        if let Some(slot) = fields.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(n)) {
            slot.1 = v.clone();
        } else {
            fields.insert(0, (n.clone(), v.clone()));
        }
    }
    fields.retain(|(n, _)| !omit.iter().any(|o| o.eq_ignore_ascii_case(n)));
    base64_under(&fields, b"", envelope)
}

fn build_err(e: impl std::fmt::Display) -> SmimeError {
    SmimeError::build(e.to_string())
}

/// A signingTime attribute (now): the harmless stranger the attribute faults put where only
/// recipient-emails belongs, or where no attribute belongs.
fn signing_time_attribute() -> Result<x509_cert::attr::Attribute> {
    let now = der::asn1::UtcTime::from_system_time(SystemTime::now()).map_err(build_err)?;
    Ok(x509_cert::attr::Attribute {
        oid: crate::oids::SIGNING_TIME,
        values: der::asn1::SetOfVec::try_from(vec![
            der::asn1::Any::encode_from(&now).map_err(build_err)?,
        ])
        .map_err(build_err)?,
    })
}

/// The recipient-emails attribute of `list` with the sender's entry naming its encryption
/// certificate by subjectKeyIdentifier (the KOM-LE-A_2117 fault).
pub fn recipient_emails_with_ski(
    list: &[RecipientEmail],
    sender: &(String, Certificate),
) -> Result<x509_cert::attr::Attribute> {
    use ::cms::enveloped_data::RecipientIdentifier;
    let ski = cms::cert_ski(&sender.1)
        .ok_or_else(|| SmimeError::build("the sender's certificate has no subjectKeyIdentifier"))?;
    let sender_rid = cms::issuer_and_serial(&sender.1);
    let mut values = Vec::new();
    for e in list {
        let rid = if e.rid == sender_rid {
            RecipientIdentifier::SubjectKeyIdentifier(x509_cert::ext::pkix::SubjectKeyIdentifier(
                der::asn1::OctetString::new(ski.clone()).map_err(build_err)?,
            ))
        } else {
            RecipientIdentifier::IssuerAndSerialNumber(e.rid.clone())
        };
        let value = crate::asn1::RecipientEmailAnyRid {
            email_address: der::asn1::Ia5String::new(&e.email).map_err(build_err)?,
            rid,
        };
        values.push(der::asn1::Any::encode_from(&value).map_err(build_err)?);
    }
    Ok(x509_cert::attr::Attribute {
        oid: crate::oids::RECIPIENT_EMAILS,
        values: der::asn1::SetOfVec::try_from(values).map_err(build_err)?,
    })
}

/// Applies the SignedData faults of `f` (CRL, second signerInfo, sid by subjectKeyIdentifier,
/// unsigned attribute) to a SignedData ContentInfo (DER), e.g. one a Konnektor returned.
/// `signer` is the signer's certificate (default: the first one the SignedData carries) and,
/// where known, key: without the key a second signerInfo repeats the first and the CRL's
/// signature is zeros (the profile forbids any CRL, signed or not). Also applies
/// `extra_certificates` and `detached_signature`.
pub fn edit_signed_data(
    signed: &[u8],
    signer: (Option<&Certificate>, Option<&rsa::PrivateKey>),
    f: &KomLeFaults,
) -> Result<Vec<u8>> {
    use ::cms::content_info::CmsVersion;
    use ::cms::signed_data::{SignedData, SignerIdentifier, SignerInfos};
    let (_, _, content) = cms::content_info(signed, "built")?;
    let mut sd = SignedData::from_der(&content).map_err(build_err)?;
    let carried = sd.certificates.as_ref().and_then(|set| {
        set.0.iter().find_map(|c| match c {
            ::cms::cert::CertificateChoices::Certificate(c) => Some(c.clone()),
            _ => None,
        })
    });
    let (cert, key) = match (signer.0, &carried) {
        (Some(c), _) | (None, Some(c)) => (c, signer.1),
        (None, None) => return Err(SmimeError::build("the SignedData carries no certificate")),
    };
    if !f.extra_certificates.is_empty() {
        let mut set: Vec<::cms::cert::CertificateChoices> = sd
            .certificates
            .take()
            .map(|s| s.0.into_vec())
            .unwrap_or_default();
        set.extend(
            f.extra_certificates
                .iter()
                .cloned()
                .map(::cms::cert::CertificateChoices::Certificate),
        );
        sd.certificates = Some(::cms::signed_data::CertificateSet(
            der::asn1::SetOfVec::try_from(set).map_err(build_err)?,
        ));
    }
    if f.detached_signature {
        sd.encap_content_info.econtent = None;
    }
    let mut infos = sd.signer_infos.0.into_vec();
    if f.second_signer_info
        && let Some(first) = infos.first().cloned()
    {
        use sha2::Digest;
        let mut second = first.clone();
        if let Some(key) = key {
            let attrs = first
                .signed_attrs
                .as_ref()
                .ok_or_else(|| SmimeError::build("no signed attributes to sign again"))?;
            let to_sign = sha2::Sha256::digest(attrs.to_der().map_err(build_err)?);
            let sig = key
                .sign_with_rng(
                    &mut rand::rng(),
                    rsa::pss::Pss::<sha2::Sha256>::new_with_salt(32),
                    &to_sign,
                )
                .map_err(build_err)?;
            second.signature = der::asn1::OctetString::new(sig).map_err(build_err)?;
        }
        infos.push(second);
    }
    for si in &mut infos {
        if f.signer_subject_key_identifier {
            let ski = cms::cert_ski(cert).ok_or_else(|| {
                SmimeError::build("the signer certificate has no subjectKeyIdentifier")
            })?;
            si.sid =
                SignerIdentifier::SubjectKeyIdentifier(x509_cert::ext::pkix::SubjectKeyIdentifier(
                    der::asn1::OctetString::new(ski).map_err(build_err)?,
                ));
            si.version = CmsVersion::V3;
            sd.version = CmsVersion::V3;
        }
        if f.unsigned_attribute {
            si.unsigned_attrs = Some(
                der::asn1::SetOfVec::try_from(vec![signing_time_attribute()?])
                    .map_err(build_err)?,
            );
        }
    }
    sd.signer_infos = SignerInfos(der::asn1::SetOfVec::try_from(infos).map_err(build_err)?);
    if f.signed_data_crl {
        sd.crls = Some(
            ::cms::revocation::RevocationInfoChoices::try_from(vec![
                ::cms::revocation::RevocationInfoChoice::Crl(own_crl(cert, key)?),
            ])
            .map_err(build_err)?,
        );
    }
    ::cms::content_info::ContentInfo {
        content_type: crate::oids::ID_SIGNED_DATA,
        content: der::asn1::Any::encode_from(&sd).map_err(build_err)?,
    }
    .to_der()
    .map_err(build_err)
}

/// An empty CRL issued and signed (sha256WithRSAEncryption) by the signer itself: a well-formed
/// CRL for the KOM-LE-A_2118 fault (a signature of zeros without the key).
fn own_crl(
    cert: &Certificate,
    key: Option<&rsa::PrivateKey>,
) -> Result<x509_cert::crl::CertificateList> {
    use sha2::Digest;
    let alg = crate::asn1::alg_null(crate::oids::SHA256_WITH_RSA);
    let now = x509_cert::time::Time::UtcTime(
        der::asn1::UtcTime::from_system_time(SystemTime::now()).map_err(build_err)?,
    );
    let tbs = x509_cert::crl::TbsCertList {
        version: x509_cert::Version::V2,
        signature: alg.clone(),
        issuer: cert.tbs_certificate().subject().clone(),
        this_update: now,
        next_update: None,
        revoked_certificates: None,
        crl_extensions: None,
    };
    let digest = sha2::Sha256::digest(tbs.to_der().map_err(build_err)?);
    let sig = match key {
        Some(key) => key
            .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest)
            .map_err(build_err)?,
        None => vec![0u8; 256],
    };
    Ok(x509_cert::crl::CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: alg,
        signature: der::asn1::BitString::from_bytes(&sig).map_err(build_err)?,
    })
}

/// Who the envelope edits of [`edit_auth_enveloped`] name.
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeParties<'a> {
    /// The certificate an originatorInfo carries.
    pub originator: &'a Certificate,
    /// The recipient whose RecipientInfo is named by subjectKeyIdentifier.
    pub first_recipient: Option<&'a Certificate>,
    /// The sender (address, encryption certificate) whose RecipientEmail is named by
    /// subjectKeyIdentifier.
    pub sender: Option<&'a (String, Certificate)>,
}

/// Applies the envelope faults of `f` (tampered ciphertext, no encryptedContent, no
/// unauthAttrs, a signingTime or a recipient-emails with the sender by subjectKeyIdentifier as
/// the unauthAttrs, originatorInfo, a RecipientInfo named by subjectKeyIdentifier, a
/// KEKRecipientInfo) to an AuthEnvelopedData ContentInfo (DER), e.g. one a Konnektor returned.
pub fn edit_auth_enveloped(
    enc: &[u8],
    parties: EnvelopeParties<'_>,
    f: &KomLeFaults,
) -> Result<Vec<u8>> {
    let EnvelopeParties {
        originator,
        first_recipient,
        sender,
    } = parties;
    use ::cms::authenveloped_data::AuthEnvelopedData;
    use ::cms::content_info::CmsVersion;
    use ::cms::enveloped_data::{
        KekIdentifier, KekRecipientInfo, OriginatorInfo, RecipientIdentifier, RecipientInfo,
        RecipientInfos,
    };
    use ::cms::signed_data::CertificateSet;
    let (_, _, content) = cms::content_info(enc, "built")?;
    let mut aed = AuthEnvelopedData::from_der(&content).map_err(build_err)?;
    if f.tamper_ciphertext
        && let Some(ct) = &aed.auth_encrypted_content_info.encrypted_content
    {
        let mut b = ct.as_bytes().to_vec();
        let mid = b.len() / 2;
        if let Some(x) = b.get_mut(mid) {
            *x ^= 0x01;
        }
        aed.auth_encrypted_content_info.encrypted_content =
            Some(der::asn1::OctetString::new(b).map_err(build_err)?);
    }
    if f.omit_encrypted_content {
        aed.auth_encrypted_content_info.encrypted_content = None;
    }
    if f.recipient_email_subject_key_identifier {
        let sender =
            sender.ok_or_else(|| SmimeError::build("no sender to name by subjectKeyIdentifier"))?;
        let list = aed
            .unauth_attrs
            .iter()
            .flat_map(|set| set.iter())
            .find(|a| a.oid == crate::oids::RECIPIENT_EMAILS)
            .map(crate::asn1::parse_recipient_emails)
            .transpose()?
            .ok_or_else(|| SmimeError::build("no recipient-emails among the unauthAttrs"))?;
        aed.unauth_attrs = Some(
            der::asn1::SetOfVec::try_from(vec![recipient_emails_with_ski(&list, sender)?])
                .map_err(build_err)?,
        );
    }
    if f.unprotected_attribute_instead_of_recipient_emails {
        aed.unauth_attrs = Some(
            der::asn1::SetOfVec::try_from(vec![signing_time_attribute()?]).map_err(build_err)?,
        );
    }
    if f.omit_unprotected_recipient_emails {
        aed.unauth_attrs = None;
    }
    if f.originator_info {
        aed.originator_info = Some(OriginatorInfo {
            certs: Some(CertificateSet(
                der::asn1::SetOfVec::try_from(vec![::cms::cert::CertificateChoices::Certificate(
                    originator.clone(),
                )])
                .map_err(build_err)?,
            )),
            crls: None,
        });
    }
    let mut infos = aed.recip_infos.0.into_vec();
    if f.recipient_info_subject_key_identifier {
        let cert = first_recipient
            .ok_or_else(|| SmimeError::build("no recipient to name by subjectKeyIdentifier"))?;
        let ias = cms::issuer_and_serial(cert);
        let ski = cms::cert_ski(cert).ok_or_else(|| {
            SmimeError::build("the recipient certificate has no subjectKeyIdentifier")
        })?;
        for ri in &mut infos {
            if let RecipientInfo::Ktri(k) = ri
                && k.rid == RecipientIdentifier::IssuerAndSerialNumber(ias.clone())
            {
                k.rid = RecipientIdentifier::SubjectKeyIdentifier(
                    x509_cert::ext::pkix::SubjectKeyIdentifier(
                        der::asn1::OctetString::new(ski.clone()).map_err(build_err)?,
                    ),
                );
                k.version = CmsVersion::V2;
            }
        }
    }
    if f.kek_recipient_info {
        infos.push(RecipientInfo::Kekri(KekRecipientInfo {
            version: CmsVersion::V4,
            kek_id: KekIdentifier {
                kek_identifier: der::asn1::OctetString::new(b"kvc-check KEK".to_vec())
                    .map_err(build_err)?,
                date: None,
                other: None,
            },
            // id-aes256-wrap
            key_enc_alg: crate::asn1::alg(der::asn1::ObjectIdentifier::new_unwrap(
                "2.16.840.1.101.3.4.1.45",
            )),
            encrypted_key: der::asn1::OctetString::new(vec![0x5a; 40]).map_err(build_err)?,
        }));
    }
    aed.recip_infos = RecipientInfos(der::asn1::SetOfVec::try_from(infos).map_err(build_err)?);
    ::cms::content_info::ContentInfo {
        content_type: crate::oids::ID_AUTH_ENVELOPED_DATA,
        content: der::asn1::Any::encode_from(&aed).map_err(build_err)?,
    }
    .to_der()
    .map_err(build_err)
}

/// Input for [`build_kvconnect_message`].
#[derive(Clone, Debug)]
pub struct KvConnectMessage<'a> {
    /// The MIME entity to sign (headers + body, CRLF), e.g. a multipart/mixed.
    pub content: &'a [u8],
    /// Outer header fields (From, To, Subject, Date, Message-ID, X-KVC-*...).
    pub headers: Vec<(String, String)>,
    /// Signer (KV-Connect user certificate + key).
    pub sender: &'a CertifiedKey,
    /// Recipient certificates (include the sender's own certificate, as the reference system does).
    pub recipients: Vec<Certificate>,
    /// Key transport (reference system: PKCS#1 v1.5).
    pub key_transport: KeyTransport,
}

/// Build a KV-Connect message: detached multipart/signed (sha256WithRSA) inside an
/// EnvelopedData (AES-256-CBC), base64 body under the given outer headers.
pub fn build_kvconnect_message(m: &KvConnectMessage<'_>) -> Result<Vec<u8>> {
    let sig = cms::sign(
        m.content,
        m.sender,
        &SignOptions {
            scheme: SignatureScheme::RsaPkcs1v15,
            attached: false,
            ..SignOptions::default()
        },
    )?;
    let signed = multipart_signed(m.content, &sig);
    kvconnect_envelope(&signed, &m.headers, &m.recipients, m.key_transport)
}

/// The detached `multipart/signed` entity: `content` as the first part, the CMS signature
/// `sig` (DER) as `smime.p7s`.
pub fn multipart_signed(content: &[u8], sig: &[u8]) -> Vec<u8> {
    let boundary = format!("----kvc-check-{:016x}", {
        use rand::Rng;
        rand::rng().next_u64()
    });
    let mut signed = format!(
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"{boundary}\"\r\n\r\nThis is an S/MIME signed message\r\n\r\n--{boundary}\r\n"
    )
    .into_bytes();
    signed.extend_from_slice(content);
    signed.extend_from_slice(
        format!("\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7s\r\n\r\n").as_bytes(),
    );
    signed.extend_from_slice(&mime::encode_base64_lines(sig));
    signed.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    signed
}

/// The outer KV-Connect message: `signed` in an EnvelopedData (AES-256-CBC) to `recipients`,
/// base64 under the `headers` and the `application/pkcs7-mime` fields.
pub fn kvconnect_envelope(
    signed: &[u8],
    headers: &[(String, String)],
    recipients: &[Certificate],
    key_transport: KeyTransport,
) -> Result<Vec<u8>> {
    let enc = cms::envelope(
        signed,
        recipients,
        &EnvelopeOptions {
            content_encryption: ContentEncryption::Aes256Cbc,
            key_transport,
            recipient_emails: None,
            extra_attributes: Vec::new(),
        },
    )?;
    Ok(base64_under(
        headers,
        b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\n",
        &enc,
    ))
}

/// A message of the header `fields`, then the `fixed` header lines (CRLF-terminated), an empty
/// line and `der` as base64 lines.
fn base64_under(fields: &[(String, String)], fixed: &[u8], der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(fixed);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&mime::encode_base64_lines(der));
    out
}

/// Recipient certificate e-mail helper re-exported for builders.
pub fn emails_of(cert: &Certificate) -> Vec<String> {
    certificate_emails(cert)
}
