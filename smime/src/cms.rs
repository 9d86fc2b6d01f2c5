//! CMS layer: decrypt EnvelopedData / AuthEnvelopedData, verify SignedData, build all three.
//!
//! Parsing is BER-capable: `der` 0.8 decodes in BER mode (`from_ber`: indefinite lengths,
//! constructed OCTET STRINGs in typed fields); the `eContent` of a SignedData (an `Any`) is
//! flattened by [`crate::ber`]. Nothing is normalised to DER before decoding, so signed
//! attributes are verified on their DER re-encoding, which equals the original for every
//! conforming signer (RFC 5652 §5.4 requires DER for them).

use std::borrow::Cow;
use std::time::SystemTime;

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit as _};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use cms::authenveloped_data::AuthEnvelopedData;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode};
use rsa::{Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, PrivateKey, PublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use crate::asn1::{
    GcmParameters, RecipientEmail, RsaParams, alg, alg_null, hex, parse_recipient_emails,
    recipient_emails_attribute,
};
use crate::ber;
use crate::error::{ErrorKind, Result, SmimeError};
use crate::keys::PrivateKeyMaterial;
use crate::oids;
use crate::pki::CertifiedKey;

// ------------------------------------------------------------------------------------------------
// helpers

fn bad(input: &str, msg: impl Into<String>) -> SmimeError {
    SmimeError::bad_input(input, msg)
}

/// What kind of CMS object a blob is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmsKind {
    /// id-signedData.
    SignedData,
    /// id-envelopedData.
    EnvelopedData,
    /// id-ct-authEnvelopedData.
    AuthEnvelopedData,
    /// Anything else.
    Other,
}

/// Parse the outer ContentInfo (BER) and return its type and the DER of its content.
///
/// A DER ContentInfo (every length definite and minimal, nothing trailing) is read in place:
/// the content is then a slice of `blob`, not a decoded copy re-encoded into another (two
/// copies of a 15 MB message). Anything else takes the general BER path.
pub fn content_info<'b>(
    blob: &'b [u8],
    input: &str,
) -> Result<(CmsKind, ObjectIdentifier, Cow<'b, [u8]>)> {
    if let Some((oid, content)) = der_content_info(blob) {
        return Ok((kind_of(&oid), oid, Cow::Borrowed(content)));
    }
    let ci = ContentInfo::from_ber(blob).map_err(|e| {
        bad(
            input,
            format!("not a CMS ContentInfo (truncated or not DER/BER): {e}"),
        )
    })?;
    let kind = kind_of(&ci.content_type);
    let der = ci
        .content
        .to_der()
        .map_err(|e| bad(input, format!("CMS content: {e}")))?;
    Ok((kind, ci.content_type, Cow::Owned(der)))
}

/// `SEQUENCE { OID, [0] EXPLICIT SEQUENCE }` in DER, read without copying: the content type and
/// the content's TLV (what `ContentInfo::from_ber` + `to_der` give for such input). `None` for
/// anything else (BER, other tags, trailing bytes).
pub(crate) fn der_content_info(blob: &[u8]) -> Option<(ObjectIdentifier, &[u8])> {
    let (0x30, fields, []) = der_tlv(blob)? else {
        return None;
    };
    let (0x06, oid, rest) = der_tlv(fields)? else {
        return None;
    };
    let oid = ObjectIdentifier::from_bytes(oid).ok()?;
    let (0xa0, explicit, []) = der_tlv(rest)? else {
        return None;
    };
    let (0x30, _, []) = der_tlv(explicit)? else {
        return None;
    };
    Some((oid, explicit))
}

/// One DER TLV with a one-byte tag and a definite, minimal length of up to 4 bytes: (tag,
/// value, rest).
fn der_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        let bytes = rest
            .get(..n)
            .filter(|b| (1..=4).contains(&n) && b[0] != 0)?;
        let len = bytes.iter().fold(0usize, |a, &b| a << 8 | usize::from(b));
        if len < 0x80 {
            return None;
        }
        (len, &rest[n..])
    };
    let value = rest.get(..len)?;
    Some((tag, value, &rest[len..]))
}

/// Context-specific fields `[n]` that are constructed by definition (attribute sets, certificate
/// sets, originatorInfo) must carry the constructed bit; `der` in BER mode does not insist.
fn require_constructed(seq_tlv: &[u8], numbers: &[u8], what: &str, input: &str) -> Result<()> {
    require_constructed_from(seq_tlv, 0, numbers, what, input)
}

/// [`require_constructed`] on the fields from index `from` on (a SignerInfo's `sid` may be a
/// primitive `[0] IMPLICIT SubjectKeyIdentifier`; its `[0]` signedAttrs come later).
fn require_constructed_from(
    seq_tlv: &[u8],
    from: usize,
    numbers: &[u8],
    what: &str,
    input: &str,
) -> Result<()> {
    let t = ber::read_tlv(seq_tlv).map_err(|e| e.with_input(input))?;
    for c in ber::children(t.content)
        .map_err(|e| e.with_input(input))?
        .into_iter()
        .skip(from)
    {
        if c.first & 0xc0 == 0x80 && numbers.contains(&(c.first & 0x1f)) && !c.constructed {
            return Err(bad(
                input,
                format!(
                    "{what}: field [{}] must be constructed (tag 0x{:02X})",
                    c.first & 0x1f,
                    c.first
                ),
            ));
        }
    }
    Ok(())
}

/// Identify the CMS type of a blob without decoding the whole content.
pub fn cms_kind(blob: &[u8]) -> Option<CmsKind> {
    // The content type only: the content is not re-encoded (a copy of the whole message).
    if let Some((oid, _)) = der_content_info(blob) {
        return Some(kind_of(&oid));
    }
    ContentInfo::from_ber(blob)
        .ok()
        .map(|ci| kind_of(&ci.content_type))
}

fn kind_of(content_type: &ObjectIdentifier) -> CmsKind {
    match *content_type {
        o if o == oids::ID_SIGNED_DATA => CmsKind::SignedData,
        o if o == oids::ID_ENVELOPED_DATA => CmsKind::EnvelopedData,
        o if o == oids::ID_AUTH_ENVELOPED_DATA => CmsKind::AuthEnvelopedData,
        _ => CmsKind::Other,
    }
}

/// The issuerAndSerialNumber that names `cert` in a RecipientInfo or SignerInfo.
pub fn issuer_and_serial(cert: &Certificate) -> IssuerAndSerialNumber {
    issuer_serial(cert)
}

fn issuer_serial(cert: &Certificate) -> IssuerAndSerialNumber {
    IssuerAndSerialNumber {
        issuer: cert.tbs_certificate().issuer().clone(),
        serial_number: cert.tbs_certificate().serial_number().clone(),
    }
}

/// Describe an IssuerAndSerialNumber for humans.
pub fn describe_rid(r: &IssuerAndSerialNumber) -> String {
    format!(
        "issuer \"{}\", serial {}",
        r.issuer,
        crate::asn1::serial_hex(&r.serial_number)
    )
}

/// One RecipientInfo of an envelope, as a report shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecipientInfoSummary {
    /// Position in RecipientInfos (1-based).
    pub index: usize,
    /// `ktri` (KeyTransRecipientInfo), `kari`, `kekri`, `pwri` or `ori`.
    pub kind: &'static str,
    /// Issuer of the recipient's certificate (rid issuerAndSerialNumber).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Serial number of that certificate, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// rid subjectKeyIdentifier, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_key_identifier: Option<String>,
    /// Addresses the recipient-emails attribute (unprotected / unauthenticated attributes)
    /// pairs with this rid.
    pub recipient_emails: Vec<String>,
}

impl RecipientInfoSummary {
    /// `#1 ktri issuer "…", serial …, recipient-emails a@b`.
    pub fn describe(&self) -> String {
        let mut s = format!("#{} {}", self.index, self.kind);
        if let (Some(issuer), Some(serial)) = (&self.issuer, &self.serial) {
            s.push_str(&format!(" issuer \"{issuer}\", serial {serial}"));
        }
        if let Some(ski) = &self.subject_key_identifier {
            s.push_str(&format!(" subjectKeyIdentifier {ski}"));
        }
        if self.recipient_emails.is_empty() {
            s.push_str(", no recipient-emails entry");
        } else {
            s.push_str(&format!(
                ", recipient-emails {}",
                self.recipient_emails.join(", ")
            ));
        }
        s
    }
}

/// The RecipientInfos an EnvelopedData / AuthEnvelopedData carries.
#[derive(Clone, Debug)]
pub struct EnvelopeRecipients {
    /// One summary per RecipientInfo, in order.
    pub infos: Vec<RecipientInfoSummary>,
    rids: Vec<RecipientIdentifier>,
}

impl EnvelopeRecipients {
    /// Whether a KeyTransRecipientInfo names this certificate.
    pub fn includes(&self, cert: &Certificate) -> bool {
        self.rids.iter().any(|rid| rid_matches_cert(rid, cert))
    }
}

/// Reads the RecipientInfos (and the recipient-emails attribute, if readable) of an encrypted
/// CMS blob without decrypting it. Errors: not an EnvelopedData / AuthEnvelopedData, or it does
/// not parse ([`ErrorKind::BadInput`], names `input`).
pub fn envelope_recipients(blob: &[u8], input: &str) -> Result<EnvelopeRecipients> {
    let (kind, oid, content) = content_info(blob, input)?;
    let (ris, attrs) = match kind {
        CmsKind::AuthEnvelopedData => {
            let aed = AuthEnvelopedData::from_ber(&content)
                .map_err(|e| bad(input, format!("AuthEnvelopedData does not parse: {e}")))?;
            (aed.recip_infos, aed.unauth_attrs)
        }
        CmsKind::EnvelopedData => {
            let ed = EnvelopedData::from_ber(&content)
                .map_err(|e| bad(input, format!("EnvelopedData does not parse: {e}")))?;
            (ed.recip_infos, ed.unprotected_attrs)
        }
        _ => return Err(not_encrypted(input, &oid)),
    };
    // A malformed recipient-emails attribute is reported elsewhere; here it only adds names.
    let emails = find_recipient_emails(attrs.as_ref(), input)
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut infos = Vec::new();
    let mut rids = Vec::new();
    for (i, ri) in ris.0.iter().enumerate() {
        let mut info = RecipientInfoSummary {
            index: i + 1,
            kind: match ri {
                RecipientInfo::Ktri(_) => "ktri",
                RecipientInfo::Kari(_) => "kari",
                RecipientInfo::Kekri(_) => "kekri",
                RecipientInfo::Pwri(_) => "pwri",
                RecipientInfo::Ori(_) => "ori",
            },
            issuer: None,
            serial: None,
            subject_key_identifier: None,
            recipient_emails: Vec::new(),
        };
        if let RecipientInfo::Ktri(k) = ri {
            match &k.rid {
                RecipientIdentifier::IssuerAndSerialNumber(ias) => {
                    info.issuer = Some(ias.issuer.to_string());
                    info.serial = Some(crate::asn1::serial_hex(&ias.serial_number));
                    info.recipient_emails = emails
                        .iter()
                        .filter(|e| e.rid == *ias)
                        .map(|e| e.email.clone())
                        .collect();
                }
                RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                    info.subject_key_identifier = Some(crate::asn1::hex(ski.0.as_bytes()));
                }
            }
            rids.push(k.rid.clone());
        }
        infos.push(info);
    }
    Ok(EnvelopeRecipients { infos, rids })
}

pub(crate) fn rid_matches_cert(rid: &RecipientIdentifier, cert: &Certificate) -> bool {
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(ias) => *ias == issuer_serial(cert),
        RecipientIdentifier::SubjectKeyIdentifier(ski) => {
            cert_ski(cert).as_deref() == Some(ski.0.as_bytes())
        }
    }
}

/// The subjectKeyIdentifier extension of a certificate, if it has one.
pub fn cert_ski(cert: &Certificate) -> Option<Vec<u8>> {
    let exts = cert.tbs_certificate().extensions()?;
    for e in exts.iter() {
        if e.extn_id == oids::EXT_SKI {
            return x509_cert::ext::pkix::SubjectKeyIdentifier::from_der(e.extn_value.as_bytes())
                .ok()
                .map(|s| s.0.as_bytes().to_vec());
        }
    }
    None
}

/// RSA public key of a certificate.
pub fn cert_public_key(cert: &Certificate) -> Result<PublicKey> {
    let der = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| bad("certificate", e.to_string()))?;
    use rsa::pkcs8::DecodePublicKey;
    PublicKey::from_public_key_der(&der)
        .map_err(|e| SmimeError::unsupported("certificate", format!("not an RSA public key: {e}")))
}

fn digest(alg: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    Some(match *alg {
        a if a == oids::SHA256 => Sha256::digest(data).to_vec(),
        a if a == oids::SHA384 => Sha384::digest(data).to_vec(),
        a if a == oids::SHA512 => Sha512::digest(data).to_vec(),
        a if a == oids::SHA1 => Sha1::digest(data).to_vec(),
        _ => return None,
    })
}

/// A hash AlgorithmIdentifier must have absent or NULL parameters (RFC 5754).
/// RFC 5652 ties a structure's version to the kind of its identifier (`rid`, `sid`).
fn version_for_id(
    input: &str,
    what: &str,
    id: &str,
    actual: CmsVersion,
    expected: CmsVersion,
) -> Result<()> {
    if actual == expected {
        return Ok(());
    }
    Err(bad(
        input,
        format!(
            "{what} version is {}, RFC 5652 requires {} for its {id} type",
            actual as u8, expected as u8
        ),
    ))
}

fn not_encrypted(input: &str, content_type: &ObjectIdentifier) -> SmimeError {
    bad(
        input,
        format!(
            "not an encrypted CMS message (content type {})",
            oids::name(content_type)
        ),
    )
}

fn check_hash_params(a: &AlgorithmIdentifierOwned) -> std::result::Result<(), String> {
    match &a.parameters {
        None => Ok(()),
        Some(p) if der::Tagged::tag(p) == der::Tag::Null && p.value().is_empty() => Ok(()),
        Some(_) => Err(format!(
            "parameters of hash algorithm {} must be absent or NULL",
            oids::name(&a.oid)
        )),
    }
}

/// MGF1 with hash parameter: returns the hash OID, checking the MGF OID and hash parameters.
fn mgf1_hash(mgf: &AlgorithmIdentifierOwned) -> std::result::Result<ObjectIdentifier, String> {
    if mgf.oid != oids::MGF1 {
        return Err(format!("mask generation function {} is not MGF1", mgf.oid));
    }
    let inner = mgf
        .parameters
        .as_ref()
        .ok_or("MGF1 without hash parameter")?
        .to_der()
        .map_err(|e| e.to_string())?;
    let h = AlgorithmIdentifierOwned::from_der(&inner).map_err(|e| format!("MGF1 hash: {e}"))?;
    check_hash_params(&h)?;
    Ok(h.oid)
}

fn parse_rsa_params(a: &AlgorithmIdentifierOwned) -> std::result::Result<RsaParams, String> {
    match &a.parameters {
        None => Ok(RsaParams::default()),
        Some(p) => {
            let der = p.to_der().map_err(|e| e.to_string())?;
            RsaParams::from_ber(&der).map_err(|e| format!("RSA algorithm parameters: {e}"))
        }
    }
}

/// Verify a signature over `data` with the key of `cert`: RSA (PKCS#1 v1.5, RSASSA-PSS) or
/// ECDSA on brainpoolP256r1.
pub fn verify_with_certificate(
    cert: &Certificate,
    sig_alg: &AlgorithmIdentifierOwned,
    digest_alg: &ObjectIdentifier,
    data: &[u8],
    sig: &[u8],
) -> std::result::Result<(), String> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid == oids::EC_PUBLIC_KEY {
        use ecdsa::signature::hazmat::PrehashVerifier;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.to_der().ok())
            .and_then(|d| ObjectIdentifier::from_der(&d).ok());
        if curve != Some(oids::BRAINPOOL_P256R1) {
            return Err(format!(
                "unsupported elliptic curve {} (only brainpoolP256r1)",
                curve.map(|c| c.to_string()).unwrap_or_default()
            ));
        }
        let h = match sig_alg.oid {
            o if o == oids::ECDSA_WITH_SHA256 => oids::SHA256,
            o if o == oids::ECDSA_WITH_SHA384 => oids::SHA384,
            o if o == oids::ECDSA_WITH_SHA512 => oids::SHA512,
            o => {
                return Err(format!(
                    "signature algorithm {} does not fit an EC key",
                    oids::name(&o)
                ));
            }
        };
        if sig_alg.parameters.is_some() {
            return Err("ECDSA signature algorithm must not have parameters".into());
        }
        let vk = ecdsa::VerifyingKey::<bp256::BrainpoolP256r1>::from_sec1_bytes(
            spki.subject_public_key.raw_bytes(),
        )
        .map_err(|_| "invalid brainpoolP256r1 public key".to_string())?;
        let signature = bp256::r1::ecdsa::Signature::from_der(sig)
            .map_err(|_| "ECDSA signature is not a valid DER Ecdsa-Sig-Value".to_string())?;
        let hashed = digest(&h, data).ok_or("unsupported hash")?;
        return vk
            .verify_prehash(&hashed, &signature)
            .map_err(|_| "ECDSA (brainpoolP256r1) signature does not verify".to_string());
    }
    let key = cert_public_key(cert).map_err(|e| e.message)?;
    verify_rsa_signature(&key, sig_alg, digest_alg, data, sig)
}

/// Verify an RSA signature over `data` with `sig_alg` (PKCS#1 v1.5 with any SHA, or RSASSA-PSS
/// honouring its parameters). `digest_alg` is used for PKCS#1 v1.5 `rsaEncryption`.
pub fn verify_rsa_signature(
    key: &PublicKey,
    sig_alg: &AlgorithmIdentifierOwned,
    digest_alg: &ObjectIdentifier,
    data: &[u8],
    sig: &[u8],
) -> std::result::Result<(), String> {
    let oid = sig_alg.oid;
    let v15 = |h: ObjectIdentifier| -> std::result::Result<(), String> {
        let hashed = digest(&h, data).ok_or_else(|| format!("unsupported digest {h}"))?;
        let scheme = match h {
            x if x == oids::SHA256 => Pkcs1v15Sign::new::<Sha256>(),
            x if x == oids::SHA384 => Pkcs1v15Sign::new::<Sha384>(),
            x if x == oids::SHA512 => Pkcs1v15Sign::new::<Sha512>(),
            _ => Pkcs1v15Sign::new::<Sha1>(),
        };
        key.verify(scheme, &hashed, sig)
            .map_err(|_| "RSA PKCS#1 v1.5 signature does not verify".to_string())
    };
    match oid {
        o if o == oids::RSA_ENCRYPTION => v15(*digest_alg),
        o if o == oids::SHA256_WITH_RSA => v15(oids::SHA256),
        o if o == oids::SHA384_WITH_RSA => v15(oids::SHA384),
        o if o == oids::SHA512_WITH_RSA => v15(oids::SHA512),
        o if o == oids::SHA1_WITH_RSA => v15(oids::SHA1),
        o if o == oids::RSASSA_PSS => {
            let p = parse_rsa_params(sig_alg)?;
            if let Some(h) = &p.hash {
                check_hash_params(h)?;
            }
            if p.trailer.is_some_and(|t| t != 1) {
                return Err("RSASSA-PSS trailerField must be 1".into());
            }
            let h = p.hash.as_ref().map(|a| a.oid).unwrap_or(oids::SHA1);
            let salt = match &p.third {
                None => 20usize,
                Some(any) => {
                    let der = any.to_der().map_err(|e| e.to_string())?;
                    u32::from_der(&der).map_err(|e| format!("PSS saltLength: {e}"))? as usize
                }
            };
            if let Some(mgf) = &p.mgf {
                let mgf_hash = mgf1_hash(mgf)?;
                if mgf_hash != h {
                    return Err("RSASSA-PSS with an MGF other than MGF1 over the same hash is not supported".into());
                }
            }
            let hashed = digest(&h, data).ok_or_else(|| format!("unsupported PSS hash {h}"))?;
            let res = match h {
                x if x == oids::SHA256 => {
                    key.verify(rsa::pss::Pss::<Sha256>::new_with_salt(salt), &hashed, sig)
                }
                x if x == oids::SHA384 => {
                    key.verify(rsa::pss::Pss::<Sha384>::new_with_salt(salt), &hashed, sig)
                }
                x if x == oids::SHA512 => {
                    key.verify(rsa::pss::Pss::<Sha512>::new_with_salt(salt), &hashed, sig)
                }
                _ => key.verify(rsa::pss::Pss::<Sha1>::new_with_salt(salt), &hashed, sig),
            };
            res.map_err(|_| {
                format!(
                    "RSASSA-PSS signature (hash {}, salt {salt}) does not verify",
                    oids::name(&h)
                )
            })
        }
        other => Err(format!(
            "unsupported signature algorithm {}",
            oids::name(&other)
        )),
    }
}

// ------------------------------------------------------------------------------------------------
// decryption

/// Which envelope was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeKind {
    /// EnvelopedData (KV-Connect, AES-CBC).
    Enveloped,
    /// AuthEnvelopedData (KOM-LE, AES-GCM).
    AuthEnveloped,
}

/// Result of a successful decryption.
#[derive(Clone, Debug)]
pub struct Decrypted {
    /// The decrypted content, byte for byte.
    pub content: Vec<u8>,
    /// Envelope type.
    pub kind: EnvelopeKind,
    /// Content-encryption algorithm OID.
    pub content_encryption: ObjectIdentifier,
    /// Key-transport algorithm OID of the RecipientInfo that opened.
    pub key_transport: ObjectIdentifier,
    /// Index of the RecipientInfo that opened (0-based).
    pub recipient_index: usize,
    /// The rid that opened (when issuerAndSerialNumber).
    pub opened_rid: Option<IssuerAndSerialNumber>,
    /// All recipients (issuerAndSerialNumber ones).
    pub recipients: Vec<IssuerAndSerialNumber>,
    /// Number of RecipientInfos of any kind.
    pub recipient_info_count: usize,
    /// recipient-emails from the unauthenticated / unprotected attributes, if present and
    /// readable (a malformed attribute reads as absent here; the KOM-LE profile checks in
    /// [`crate::profile`] name what is wrong with it).
    pub recipient_emails: Option<Vec<RecipientEmail>>,
}

fn find_recipient_emails(
    attrs: Option<&SetOfVec<Attribute>>,
    input: &str,
) -> Result<Option<Vec<RecipientEmail>>> {
    let Some(attrs) = attrs else { return Ok(None) };
    for a in attrs.iter() {
        if a.oid == oids::RECIPIENT_EMAILS {
            return parse_recipient_emails(a)
                .map(Some)
                .map_err(|e| e.with_input(input));
        }
    }
    Ok(None)
}

fn unwrap_cek(
    key: &PrivateKey,
    ktri: &KeyTransRecipientInfo,
) -> std::result::Result<Vec<u8>, String> {
    let ct = ktri.enc_key.as_bytes();
    let a = &ktri.key_enc_alg;
    if a.oid == oids::RSA_ENCRYPTION {
        return key
            .decrypt(Pkcs1v15Encrypt, ct)
            .map_err(|_| "RSA PKCS#1 v1.5 key transport does not decrypt".into());
    }
    if a.oid == oids::RSAES_OAEP {
        let p = parse_rsa_params(a)?;
        if let Some(h) = &p.hash {
            check_hash_params(h)?;
        }
        if p.third.is_some() || p.trailer.is_some() {
            return Err(
                "RSAES-OAEP with a pSourceFunc label (or unknown parameters) is not supported"
                    .into(),
            );
        }
        let h = p.hash.as_ref().map(|x| x.oid).unwrap_or(oids::SHA1);
        let mgf_h = match &p.mgf {
            Some(m) => mgf1_hash(m)?,
            None => oids::SHA1,
        };
        let r = match (h, mgf_h) {
            (x, y) if x == oids::SHA256 && y == oids::SHA256 => {
                key.decrypt(Oaep::<Sha256>::new(), ct)
            }
            (x, y) if x == oids::SHA256 && y == oids::SHA1 => {
                key.decrypt(Oaep::<Sha256, Sha1>::new_with_mgf_hash(), ct)
            }
            (x, y) if x == oids::SHA1 && y == oids::SHA1 => key.decrypt(Oaep::<Sha1>::new(), ct),
            (x, y) if x == oids::SHA384 && y == oids::SHA384 => {
                key.decrypt(Oaep::<Sha384>::new(), ct)
            }
            (x, y) if x == oids::SHA512 && y == oids::SHA512 => {
                key.decrypt(Oaep::<Sha512>::new(), ct)
            }
            _ => {
                return Err(format!(
                    "unsupported RSA-OAEP hash combination {h} / MGF1 {mgf_h}"
                ));
            }
        };
        return r.map_err(|_| "RSA-OAEP key transport does not decrypt with this key".into());
    }
    Err(format!(
        "unsupported key transport algorithm {}",
        oids::name(&a.oid)
    ))
}

/// Content decryption failure that is not the key's fault.
fn tampered(input: &str, msg: impl Into<String>) -> SmimeError {
    SmimeError::new(ErrorKind::Tampered, input, msg)
}

fn decrypt_content(
    eci: &EncryptedContentInfo,
    cek: &[u8],
    mac: Option<&[u8]>,
    aad: &[u8],
    input: &str,
) -> Result<Vec<u8>> {
    let ct = eci
        .encrypted_content
        .as_ref()
        .map(|o| o.as_bytes())
        .ok_or_else(|| {
            bad(
                input,
                "encryptedContent is absent (detached encrypted content is not supported)",
            )
        })?;
    let a = &eci.content_enc_alg;
    let params_der = a
        .parameters
        .as_ref()
        .map(|p| p.to_der())
        .transpose()
        .map_err(|e| bad(input, e.to_string()))?
        .ok_or_else(|| bad(input, "content-encryption algorithm without parameters"))?;
    if a.oid == oids::AES256_GCM || a.oid == oids::AES128_GCM {
        let gp = GcmParameters::from_ber(&params_der)
            .map_err(|e| bad(input, format!("GCMParameters: {e}")))?;
        let tag = mac.ok_or_else(|| bad(input, "AES-GCM without MAC"))?;
        if gp.nonce.as_bytes().len() != 12 {
            return Err(SmimeError::unsupported(
                input,
                format!(
                    "GCM nonce of {} bytes (only 12 supported)",
                    gp.nonce.as_bytes().len()
                ),
            ));
        }
        if tag.len() != 16 || gp.icv_len != 16 {
            return Err(SmimeError::unsupported(
                input,
                format!(
                    "GCM tag of {} bytes / ICVlen {} (only 16 supported)",
                    tag.len(),
                    gp.icv_len
                ),
            ));
        }
        let nonce =
            aes_gcm::Nonce::try_from(gp.nonce.as_bytes()).map_err(|_| bad(input, "GCM nonce"))?;
        let tag = aes_gcm::Tag::try_from(tag).map_err(|_| bad(input, "GCM tag"))?;
        let mut buf = ct.to_vec();
        let ok = if a.oid == oids::AES256_GCM {
            let c = Aes256Gcm::new_from_slice(cek).map_err(|_| {
                SmimeError::new(
                    ErrorKind::WrongKey,
                    input,
                    format!(
                        "content-encryption key has {} bytes, AES-256 needs 32",
                        cek.len()
                    ),
                )
            })?;
            c.decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
                .is_ok()
        } else {
            let c = Aes128Gcm::new_from_slice(cek).map_err(|_| {
                SmimeError::new(
                    ErrorKind::WrongKey,
                    input,
                    format!(
                        "content-encryption key has {} bytes, AES-128 needs 16",
                        cek.len()
                    ),
                )
            })?;
            c.decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
                .is_ok()
        };
        if !ok {
            return Err(tampered(
                input,
                "AES-GCM authentication tag does not match: the ciphertext, the authenticated attributes or the tag were altered after encryption",
            ));
        }
        return Ok(buf);
    }
    if a.oid == oids::AES256_CBC || a.oid == oids::AES128_CBC {
        let iv =
            OctetString::from_ber(&params_der).map_err(|e| bad(input, format!("CBC IV: {e}")))?;
        let iv = iv.as_bytes();
        let length_mismatch = |_| {
            SmimeError::new(
                ErrorKind::WrongKey,
                input,
                format!(
                    "key/IV length mismatch (key {} bytes, IV {} bytes)",
                    cek.len(),
                    iv.len()
                ),
            )
        };
        let r = if a.oid == oids::AES256_CBC {
            cbc::Decryptor::<aes::Aes256>::new_from_slices(cek, iv)
                .map_err(length_mismatch)?
                .decrypt_padded_vec::<Pkcs7>(ct)
        } else {
            cbc::Decryptor::<aes::Aes128>::new_from_slices(cek, iv)
                .map_err(length_mismatch)?
                .decrypt_padded_vec::<Pkcs7>(ct)
        };
        return r.map_err(|_| tampered(input, "AES-CBC padding is invalid after decryption: wrong content-encryption key or altered ciphertext"));
    }
    Err(SmimeError::unsupported(
        input,
        format!("content-encryption algorithm {}", oids::name(&a.oid)),
    ))
}

/// A copy of an AuthEnvelopedData without its `unauthAttrs` (any other CMS blob unchanged), for
/// interop with OpenSSL releases before the RFC 5083 tag fix (openssl/openssl#26101, e.g.
/// 3.0.19), which read `unauthAttrs` as `[3]` and refuse a correct `[2]`. The attributes lie
/// outside the MAC, so the copy decrypts and authenticates exactly as the original.
pub fn without_unauth_attrs(blob: &[u8], input: &str) -> Result<Vec<u8>> {
    let bad = |e: der::Error| SmimeError::bad_input(input, format!("CMS: {e}"));
    let ci = ContentInfo::from_der(blob).map_err(bad)?;
    if ci.content_type != oids::ID_AUTH_ENVELOPED_DATA {
        return Ok(blob.to_vec());
    }
    let mut aed = AuthEnvelopedData::from_der(&ci.content.to_der().map_err(bad)?).map_err(bad)?;
    aed.unauth_attrs = None;
    ContentInfo {
        content_type: ci.content_type,
        content: Any::encode_from(&aed).map_err(bad)?,
    }
    .to_der()
    .map_err(bad)
}

/// Decrypt an EnvelopedData or AuthEnvelopedData (BER or DER ContentInfo) with `key`.
///
/// Recipient selection: if the key material has a certificate, only the RecipientInfo whose
/// rid matches that certificate is tried; otherwise every key-transport RecipientInfo is tried.
/// Errors: [`ErrorKind::WrongKey`] (no RecipientInfo opens; names the key file),
/// [`ErrorKind::Tampered`] (key fits but the content does not authenticate/decrypt),
/// [`ErrorKind::BadInput`] (malformed message, names `input`).
pub fn decrypt(blob: &[u8], key: &PrivateKeyMaterial, input: &str) -> Result<Decrypted> {
    let (kind, oid, content) = content_info(blob, input)?;
    let (ris, eci, mac, aad, attrs, env_kind) = match kind {
        CmsKind::AuthEnvelopedData => {
            require_constructed(&content, &[0, 1, 2], "AuthEnvelopedData", input)?;
            let aed = AuthEnvelopedData::from_ber(&content)
                .map_err(|e| bad(input, format!("AuthEnvelopedData does not parse: {e}")))?;
            if aed.version != CmsVersion::V0 {
                return Err(bad(
                    input,
                    format!(
                        "AuthEnvelopedData version is {}, RFC 5083 requires 0",
                        aed.version as u8
                    ),
                ));
            }
            let aad = match &aed.auth_attrs {
                Some(a) => a.to_der().map_err(|e| bad(input, e.to_string()))?,
                None => Vec::new(),
            };
            (
                aed.recip_infos,
                aed.auth_encrypted_content_info,
                Some(aed.mac.as_bytes().to_vec()),
                aad,
                aed.unauth_attrs,
                EnvelopeKind::AuthEnveloped,
            )
        }
        CmsKind::EnvelopedData => {
            require_constructed(&content, &[0, 1], "EnvelopedData", input)?;
            let ed = EnvelopedData::from_ber(&content)
                .map_err(|e| bad(input, format!("EnvelopedData does not parse: {e}")))?;
            (
                ed.recip_infos,
                ed.encrypted_content,
                None,
                Vec::new(),
                ed.unprotected_attrs,
                EnvelopeKind::Enveloped,
            )
        }
        _ => return Err(not_encrypted(input, &oid)),
    };
    // The parsed envelope owns its ciphertext: the DER copy goes before decryption adds one more.
    drop(content);
    if eci.content_type != oids::ID_DATA {
        return Err(bad(
            input,
            format!(
                "encrypted content type is {}, S/MIME requires id-data",
                oids::name(&eci.content_type)
            ),
        ));
    }
    // A malformed recipient-emails attribute does not stop decryption: the profile checks
    // (`crate::profile`, KOM-LE-A_2114/2117) report it.
    let recipient_emails = find_recipient_emails(attrs.as_ref(), input).ok().flatten();
    let mut recipients = Vec::new();
    let mut ktris = Vec::new();
    let ri_count = ris.0.len();
    // Other RecipientInfo kinds are not tried (KOM-LE allows only KTRI, KOM-LE-A_2108, which
    // `crate::profile` checks).
    for ri in ris.0.iter() {
        if let RecipientInfo::Ktri(k) = ri {
            let expected = match &k.rid {
                RecipientIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V0,
                RecipientIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V2,
            };
            version_for_id(input, "KeyTransRecipientInfo", "rid", k.version, expected)?;
            if let RecipientIdentifier::IssuerAndSerialNumber(ias) = &k.rid {
                recipients.push(ias.clone());
            }
            ktris.push(k.clone());
        }
    }
    let key_name = key.source.clone();
    let candidates: Vec<(usize, &KeyTransRecipientInfo)> = match &key.certificate {
        Some(cert) => ktris
            .iter()
            .enumerate()
            .filter(|(_, k)| rid_matches_cert(&k.rid, cert))
            .collect(),
        None => ktris.iter().enumerate().collect(),
    };
    if candidates.is_empty() {
        let listed: Vec<String> = recipients.iter().map(describe_rid).collect();
        let cert_desc = key
            .certificate
            .as_ref()
            .map(|c| describe_rid(&issuer_serial(c)))
            .unwrap_or_default();
        return Err(SmimeError::new(
            ErrorKind::WrongKey,
            key_name,
            format!(
                "the key's certificate ({cert_desc}) is not a recipient of {input}; recipients: [{}]",
                listed.join("; ")
            ),
        ));
    }
    let mut last_err = String::new();
    for (idx, k) in &candidates {
        let cek = match unwrap_cek(&key.key, k) {
            Ok(c) => c,
            Err(e) => {
                last_err = e;
                continue;
            }
        };
        match decrypt_content(&eci, &cek, mac.as_deref(), &aad, input) {
            Ok(content) => {
                let opened_rid = match &k.rid {
                    RecipientIdentifier::IssuerAndSerialNumber(i) => Some(i.clone()),
                    _ => None,
                };
                return Ok(Decrypted {
                    content,
                    kind: env_kind,
                    content_encryption: eci.content_enc_alg.oid,
                    key_transport: k.key_enc_alg.oid,
                    recipient_index: *idx,
                    opened_rid,
                    recipients,
                    recipient_info_count: ri_count,
                    recipient_emails,
                });
            }
            Err(e)
                if e.kind == ErrorKind::Tampered
                    && (key.certificate.is_some() || env_kind == EnvelopeKind::AuthEnveloped) =>
            {
                return Err(e);
            }
            Err(e) if e.kind == ErrorKind::Tampered || e.kind == ErrorKind::WrongKey => {
                last_err = e.message;
            }
            Err(e) => return Err(e),
        }
    }
    Err(SmimeError::new(
        ErrorKind::WrongKey,
        key_name,
        if candidates.len() == 1 {
            format!(
                "this private key does not open the RecipientInfo of {input} addressed to it ({last_err})"
            )
        } else {
            format!(
                "this private key opens none of the {} RecipientInfos of {input} (key transport or content decryption fails for each)",
                candidates.len()
            )
        },
    ))
}

// ------------------------------------------------------------------------------------------------
// signature verification

/// Why a certificate path is not valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainProblem {
    /// The signer certificate is not in the message.
    NoSignerCertificate,
    /// No path to a trust anchor.
    Untrusted(String),
    /// A certificate in the path is expired at the check time.
    Expired(String),
    /// A certificate in the path is not yet valid at the check time.
    NotYetValid(String),
    /// A certificate signature in the path does not verify.
    BadCertificateSignature(String),
    /// The signer certificate's key usage does not allow signatures.
    WrongKeyUsage(String),
}

impl ChainProblem {
    /// Human explanation.
    pub fn explain(&self) -> String {
        match self {
            ChainProblem::NoSignerCertificate => {
                "the signer certificate is not contained in the message".into()
            }
            ChainProblem::Untrusted(s) => format!("no path to a trust anchor: {s}"),
            ChainProblem::Expired(s) => format!("certificate expired: {s}"),
            ChainProblem::NotYetValid(s) => format!("certificate not yet valid: {s}"),
            ChainProblem::BadCertificateSignature(s) => {
                format!("certificate signature invalid: {s}")
            }
            ChainProblem::WrongKeyUsage(s) => format!("key usage does not permit signing: {s}"),
        }
    }
}

/// Result of checking a SignedData.
#[derive(Clone, Debug)]
pub struct SignatureReport {
    /// The signed content (eContent, or the detached content given).
    pub content: Vec<u8>,
    /// Whether the content was detached.
    pub detached: bool,
    /// eContentType.
    pub econtent_type: ObjectIdentifier,
    /// The signer certificate, if found.
    pub signer: Option<Certificate>,
    /// Signature algorithm name.
    pub signature_algorithm: String,
    /// Cryptographic result: Ok if messageDigest and signature verify.
    pub signature: std::result::Result<(), String>,
    /// Certificate path result.
    pub chain: std::result::Result<(), ChainProblem>,
    /// recipient-emails from the signed attributes.
    pub signed_recipient_emails: Option<Vec<RecipientEmail>>,
    /// signingTime, if present.
    pub signing_time: Option<SystemTime>,
}

impl SignatureReport {
    /// Signature and path both fine.
    pub fn is_valid(&self) -> bool {
        self.signature.is_ok() && self.chain.is_ok()
    }
    /// E-mail addresses of the signer certificate.
    pub fn signer_emails(&self) -> Vec<String> {
        self.signer
            .as_ref()
            .map(crate::pki::certificate_emails)
            .unwrap_or_default()
    }
}

fn cert_subject(c: &Certificate) -> String {
    c.tbs_certificate().subject().to_string()
}

fn check_validity(c: &Certificate, at: SystemTime) -> std::result::Result<(), ChainProblem> {
    let v = c.tbs_certificate().validity();
    let nb = v.not_before.to_system_time();
    let na = v.not_after.to_system_time();
    if at < nb {
        return Err(ChainProblem::NotYetValid(format!(
            "\"{}\" is valid from {}",
            cert_subject(c),
            v.not_before
        )));
    }
    if at > na {
        return Err(ChainProblem::Expired(format!(
            "\"{}\" expired at {}",
            cert_subject(c),
            v.not_after
        )));
    }
    Ok(())
}

/// Verify that `issuer` signed `cert`.
pub fn verify_cert_signature(
    cert: &Certificate,
    issuer: &Certificate,
) -> std::result::Result<(), String> {
    if cert.signature_algorithm() != cert.tbs_certificate().signature() {
        return Err(
            "signatureAlgorithm differs from the signature field inside the certificate".into(),
        );
    }
    let tbs = cert.tbs_certificate().to_der().map_err(|e| e.to_string())?;

    let sig = cert.signature().raw_bytes();
    verify_with_certificate(issuer, cert.signature_algorithm(), &oids::SHA256, &tbs, sig)
}

fn key_usage_allows_signing(c: &Certificate) -> bool {
    use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
    let Some(exts) = c.tbs_certificate().extensions() else {
        return true;
    };
    for e in exts.iter() {
        if e.extn_id == oids::EXT_KEY_USAGE {
            return match KeyUsage::from_der(e.extn_value.as_bytes()) {
                Ok(ku) => {
                    ku.0.contains(KeyUsages::DigitalSignature)
                        || ku.0.contains(KeyUsages::NonRepudiation)
                }
                Err(_) => false,
            };
        }
    }
    true
}

/// Validate the path from `leaf` to a trust anchor at time `at`, using `pool` for
/// intermediates. Semantics follow OpenSSL's default: the path must end in a self-signed
/// certificate from `trust`; an intermediate CA in `trust` alone is not enough. The one
/// exception is direct trust: `leaf` itself listed in `trust` (pinning, e.g. gematik's sample
/// verified against its own signer certificate).
pub fn validate_chain(
    leaf: &Certificate,
    pool: &[Certificate],
    trust: &[Certificate],
    at: SystemTime,
) -> std::result::Result<(), ChainProblem> {
    check_validity(leaf, at)?;
    if trust.contains(leaf) {
        return Ok(());
    }
    let mut current = leaf.clone();
    for _ in 0..8 {
        let issuer_name = current.tbs_certificate().issuer().clone();
        let self_signed = *current.tbs_certificate().subject() == issuer_name
            && verify_cert_signature(&current, &current).is_ok();
        if self_signed {
            if trust.contains(&current) {
                return Ok(());
            }
            return Err(ChainProblem::Untrusted(format!(
                "the path ends in the self-signed \"{}\", which is not a given trust anchor",
                cert_subject(&current)
            )));
        }
        let mut sig_err = None;
        let mut next = None;
        for c in pool
            .iter()
            .chain(trust.iter())
            .filter(|c| *c.tbs_certificate().subject() == issuer_name && **c != current)
        {
            match verify_cert_signature(&current, c) {
                Ok(()) => {
                    next = Some(c.clone());
                    break;
                }
                Err(e) => sig_err = Some(e),
            }
        }
        match next {
            Some(n) => {
                check_validity(&n, at)?;
                current = n;
            }
            None => {
                if let Some(e) = sig_err {
                    return Err(ChainProblem::BadCertificateSignature(format!(
                        "\"{}\" is not correctly signed by \"{issuer_name}\": {e}",
                        cert_subject(&current)
                    )));
                }
                return Err(ChainProblem::Untrusted(format!(
                    "incomplete path: issuer \"{issuer_name}\" of \"{}\" is neither in the message nor among the trust anchors (a self-signed root is required)",
                    cert_subject(&current)
                )));
            }
        }
    }
    Err(ChainProblem::Untrusted(
        "certificate path longer than 8".into(),
    ))
}

fn econtent_bytes(eci: &EncapsulatedContentInfo, input: &str) -> Result<Option<Vec<u8>>> {
    let Some(any) = &eci.econtent else {
        return Ok(None);
    };
    let der = any
        .to_der()
        .map_err(|e| bad(input, format!("eContent: {e}")))?;
    ber::octet_string_bytes(&der).map(Some).map_err(|e| {
        bad(
            input,
            format!("eContent is not an OCTET STRING: {}", e.message),
        )
    })
}

/// The encapsulated content of a SignedData ContentInfo (`None`: a detached signature).
pub fn signed_content(blob: &[u8], input: &str) -> Result<Option<Vec<u8>>> {
    let sd = parse_signed_data(blob, input)?;
    econtent_bytes(&sd.encap_content_info, input)
}

/// Parse a SignedData ContentInfo (BER or DER).
pub fn parse_signed_data(blob: &[u8], input: &str) -> Result<SignedData> {
    let (kind, oid, content) = content_info(blob, input)?;
    if kind != CmsKind::SignedData {
        return Err(bad(
            input,
            format!("not a CMS SignedData (content type {})", oids::name(&oid)),
        ));
    }
    require_constructed(&content, &[0, 1], "SignedData", input)?;
    let t = ber::read_tlv(&content).map_err(|e| e.with_input(input))?;
    let fields = ber::children_raw(t.content).map_err(|e| e.with_input(input))?;
    if let Some(set) = fields.last()
        && set.first() == Some(&0x31)
    {
        let set = ber::read_tlv(set).map_err(|e| e.with_input(input))?;
        for si in ber::children_raw(set.content).map_err(|e| e.with_input(input))? {
            // version, sid (skipped: a subjectKeyIdentifier sid is a primitive [0]), then
            // digestAlgorithm, signedAttrs [0], …, unsignedAttrs [1].
            require_constructed_from(si, 2, &[0, 1], "SignerInfo", input)?;
        }
    }
    SignedData::from_ber(&content)
        .map_err(|e| bad(input, format!("SignedData does not parse: {e}")))
}

/// The certificates embedded in a SignedData (BER or DER ContentInfo).
pub fn embedded_certificates(blob: &[u8], input: &str) -> Result<Vec<Certificate>> {
    let sd = parse_signed_data(blob, input)?;
    Ok(sd
        .certificates
        .map(|cs| {
            cs.0.into_vec()
                .into_iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Verify a SignedData (attached, or detached with `detached` content) against `trust` at `at`.
/// Returns Err only if the blob is not a parseable SignedData.
pub fn verify_signed_data(
    blob: &[u8],
    detached: Option<&[u8]>,
    trust: &[Certificate],
    at: SystemTime,
    input: &str,
) -> Result<SignatureReport> {
    let sd = parse_signed_data(blob, input)?;
    let embedded = econtent_bytes(&sd.encap_content_info, input)?;
    let (content, is_detached) = match (embedded, detached) {
        (Some(c), _) => (c, false),
        (None, Some(d)) => (d.to_vec(), true),
        (None, None) => {
            return Err(bad(
                input,
                "SignedData has no eContent and no detached content was given",
            ));
        }
    };
    let certs: Vec<Certificate> = sd
        .certificates
        .as_ref()
        .map(|cs| {
            cs.0.iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(c) => Some(c.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let signer_infos: Vec<&SignerInfo> = sd.signer_infos.0.iter().collect();
    // RFC 5652 §5.1/§5.3 version rules (only the cases this profile can produce).
    for si in &signer_infos {
        let expected = match si.sid {
            SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
            SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
        };
        version_for_id(input, "SignerInfo", "sid", si.version, expected)?;
        check_hash_params(&si.digest_alg).map_err(|e| bad(input, e))?;
        if !sd
            .digest_algorithms
            .iter()
            .any(|a| a.oid == si.digest_alg.oid)
        {
            return Err(bad(
                input,
                format!(
                    "digestAlgorithms does not list the signer's digest algorithm {}",
                    oids::name(&si.digest_alg.oid)
                ),
            ));
        }
    }
    let any_v3 = signer_infos.iter().any(|si| si.version == CmsVersion::V3)
        || sd.encap_content_info.econtent_type != oids::ID_DATA;
    let expected_sd = if any_v3 {
        CmsVersion::V3
    } else {
        CmsVersion::V1
    };
    if sd.version != expected_sd
        && !(sd.version == CmsVersion::V3
            && sd.certificates.as_ref().is_some_and(|c| {
                c.0.iter()
                    .any(|x| !matches!(x, CertificateChoices::Certificate(_)))
            }))
    {
        return Err(bad(
            input,
            format!(
                "SignedData version is {}, RFC 5652 requires {}",
                sd.version as u8, expected_sd as u8
            ),
        ));
    }
    let Some(si) = signer_infos.first().copied() else {
        return Ok(SignatureReport {
            content,
            detached: is_detached,
            econtent_type: sd.encap_content_info.econtent_type,
            signer: None,
            signature_algorithm: String::new(),
            signature: Err("SignedData contains no SignerInfo (unsigned)".into()),
            chain: Err(ChainProblem::NoSignerCertificate),
            signed_recipient_emails: None,
            signing_time: None,
        });
    };
    let signer = match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => certs
            .iter()
            .chain(trust.iter())
            .find(|c| issuer_serial(c) == *ias)
            .cloned(),
        SignerIdentifier::SubjectKeyIdentifier(ski) => certs
            .iter()
            .chain(trust.iter())
            .find(|c| cert_ski(c).as_deref() == Some(ski.0.as_bytes()))
            .cloned(),
    };
    let signature_algorithm = oids::name(&si.signature_algorithm.oid);
    let mut signed_recipient_emails = None;
    let mut signing_time = None;
    let digest_alg = si.digest_alg.oid;
    let sig_result = (|| -> std::result::Result<(), String> {
        let signer = signer
            .as_ref()
            .ok_or("signer certificate not found in the message")?;
        let content_digest = digest(&digest_alg, &content)
            .ok_or_else(|| format!("unsupported digest algorithm {}", oids::name(&digest_alg)))?;
        let data: Vec<u8> = match &si.signed_attrs {
            Some(attrs) => {
                let mut md = None;
                let mut ct = None;
                for a in attrs.iter() {
                    let first = a.values.iter().next();
                    if a.oid == oids::MESSAGE_DIGEST {
                        md = first
                            .and_then(|v| v.to_der().ok())
                            .and_then(|d| OctetString::from_der(&d).ok());
                    } else if a.oid == oids::CONTENT_TYPE {
                        ct = first
                            .and_then(|v| v.to_der().ok())
                            .and_then(|d| ObjectIdentifier::from_der(&d).ok());
                    } else if a.oid == oids::SIGNING_TIME {
                        signing_time = first
                            .and_then(|v| v.to_der().ok())
                            .and_then(|d| x509_cert::time::Time::from_der(&d).ok())
                            .map(|t| t.to_system_time());
                    }
                }
                let md = md.ok_or("signed attributes lack messageDigest")?;
                if ct != Some(sd.encap_content_info.econtent_type) {
                    return Err("signed attribute contentType does not match eContentType".into());
                }
                if md.as_bytes() != content_digest.as_slice() {
                    return Err(format!(
                        "messageDigest mismatch: the signed content was altered ({} of content is {}, signed value {})",
                        oids::name(&digest_alg),
                        hex(&content_digest),
                        hex(md.as_bytes())
                    ));
                }
                attrs.to_der().map_err(|e| e.to_string())?
            }
            None => content.clone(),
        };
        verify_with_certificate(
            signer,
            &si.signature_algorithm,
            &digest_alg,
            &data,
            si.signature.as_bytes(),
        )
    })();
    if let Some(attrs) = &si.signed_attrs {
        for a in attrs.iter() {
            if a.oid == oids::RECIPIENT_EMAILS {
                signed_recipient_emails = parse_recipient_emails(a).ok();
            }
        }
    }
    let chain = match &signer {
        None => Err(ChainProblem::NoSignerCertificate),
        Some(s) => {
            let mut pool = certs.clone();
            pool.extend(trust.iter().cloned());
            let r = validate_chain(s, &pool, trust, at);
            if r.is_ok() && !key_usage_allows_signing(s) {
                Err(ChainProblem::WrongKeyUsage(format!(
                    "\"{}\" has neither digitalSignature nor nonRepudiation",
                    cert_subject(s)
                )))
            } else {
                r
            }
        }
    };
    Ok(SignatureReport {
        content,
        detached: is_detached,
        econtent_type: sd.encap_content_info.econtent_type,
        signer,
        signature_algorithm,
        signature: sig_result,
        chain,
        signed_recipient_emails,
        signing_time,
    })
}

// ------------------------------------------------------------------------------------------------
// builders

/// Signature scheme for [`sign`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureScheme {
    /// RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 (KOM-LE).
    RsaPss,
    /// sha256WithRSAEncryption / PKCS#1 v1.5 (KV-Connect).
    RsaPkcs1v15,
}

/// Options for [`sign`].
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// Signature scheme.
    pub scheme: SignatureScheme,
    /// Encapsulate the content (true) or produce a detached signature (false).
    pub attached: bool,
    /// Add the recipient-emails signed attribute with these entries.
    pub recipient_emails: Option<Vec<RecipientEmail>>,
    /// signingTime (default: now).
    pub signing_time: Option<SystemTime>,
    /// Extra certificates to include after the signer certificate (breaks KOM-LE-A_2119).
    pub extra_certificates: Vec<Certificate>,
    /// Further signed attributes, taken as they are (after contentType, signingTime,
    /// messageDigest and recipient-emails).
    pub extra_signed_attributes: Vec<Attribute>,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            scheme: SignatureScheme::RsaPss,
            attached: true,
            recipient_emails: None,
            signing_time: None,
            extra_certificates: Vec::new(),
            extra_signed_attributes: Vec::new(),
        }
    }
}

fn berr(e: impl std::fmt::Display) -> SmimeError {
    SmimeError::build(e.to_string())
}

fn attr(oid: ObjectIdentifier, value: Any) -> Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(berr)?,
    })
}

/// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
fn pss_alg() -> Result<AlgorithmIdentifierOwned> {
    rsa_sha256_alg(oids::RSASSA_PSS, Some(32))
}

/// RSAES-OAEP with SHA-256 and MGF1-SHA-256.
fn oaep_alg() -> Result<AlgorithmIdentifierOwned> {
    rsa_sha256_alg(oids::RSAES_OAEP, None)
}

/// An RSA scheme (`oid`) whose parameters name SHA-256 and MGF1-SHA-256, with a PSS salt
/// length where given.
fn rsa_sha256_alg(oid: ObjectIdentifier, salt: Option<u32>) -> Result<AlgorithmIdentifierOwned> {
    let sha256 = alg_null(oids::SHA256);
    let mgf = AlgorithmIdentifierOwned {
        oid: oids::MGF1,
        parameters: Some(Any::encode_from(&sha256).map_err(berr)?),
    };
    let params = RsaParams {
        hash: Some(sha256),
        mgf: Some(mgf),
        third: salt
            .map(|n| Any::encode_from(&n).map_err(berr))
            .transpose()?,
        trailer: None,
    };
    Ok(AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::encode_from(&params).map_err(berr)?),
    })
}

/// Build a SignedData ContentInfo (DER) over `content` (eContentType id-data).
pub fn sign(content: &[u8], signer: &CertifiedKey, opts: &SignOptions) -> Result<Vec<u8>> {
    sign_with(content, &signer.certificate, opts, |to_sign| {
        match opts.scheme {
            SignatureScheme::RsaPss => Ok((
                pss_alg()?,
                signer
                    .key
                    .sign_with_rng(
                        &mut rand::rng(),
                        rsa::pss::Pss::<Sha256>::new_with_salt(32),
                        to_sign,
                    )
                    .map_err(berr)?,
            )),
            SignatureScheme::RsaPkcs1v15 => Ok((
                alg_null(oids::SHA256_WITH_RSA),
                signer
                    .key
                    .sign(Pkcs1v15Sign::new::<Sha256>(), to_sign)
                    .map_err(berr)?,
            )),
        }
    })
}

/// Build a SignedData with an ECDSA brainpoolP256r1 signer (ecdsa-with-SHA256; `opts.scheme`
/// is ignored).
pub fn sign_brainpool(
    content: &[u8],
    signer: &crate::pki::EcCertifiedKey,
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    use ecdsa::signature::hazmat::PrehashSigner;
    let sk = ecdsa::SigningKey::<bp256::BrainpoolP256r1>::from(&signer.key);
    sign_with(content, &signer.certificate, opts, |to_sign| {
        let sig: bp256::r1::ecdsa::Signature = sk.sign_prehash(to_sign).map_err(berr)?;
        Ok((
            alg(oids::ECDSA_WITH_SHA256),
            sig.to_der().as_bytes().to_vec(),
        ))
    })
}

fn sign_with(
    content: &[u8],
    cert: &Certificate,
    opts: &SignOptions,
    signer: impl FnOnce(&[u8]) -> Result<(AlgorithmIdentifierOwned, Vec<u8>)>,
) -> Result<Vec<u8>> {
    let digest = Sha256::digest(content).to_vec();
    let time = opts.signing_time.unwrap_or_else(SystemTime::now);
    let utc = UtcTime::from_system_time(time).map_err(berr)?;
    let mut attrs = vec![
        attr(
            oids::CONTENT_TYPE,
            Any::encode_from(&oids::ID_DATA).map_err(berr)?,
        )?,
        attr(oids::SIGNING_TIME, Any::encode_from(&utc).map_err(berr)?)?,
        attr(
            oids::MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(digest).map_err(berr)?).map_err(berr)?,
        )?,
    ];
    if let Some(list) = &opts.recipient_emails {
        attrs.push(recipient_emails_attribute(list)?);
    }
    attrs.extend(opts.extra_signed_attributes.iter().cloned());
    let signed_attrs = SetOfVec::try_from(attrs).map_err(berr)?;
    let to_sign = Sha256::digest(signed_attrs.to_der().map_err(berr)?);
    let (sig_alg, sig) = signer(&to_sign)?;
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(issuer_serial(cert)),
        digest_alg: alg_null(oids::SHA256),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: sig_alg,
        signature: OctetString::new(sig).map_err(berr)?,
        unsigned_attrs: None,
    };
    let mut certs = vec![CertificateChoices::Certificate(cert.clone())];
    certs.extend(
        opts.extra_certificates
            .iter()
            .cloned()
            .map(CertificateChoices::Certificate),
    );
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![alg_null(oids::SHA256)]).map_err(berr)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oids::ID_DATA,
            econtent: if opts.attached {
                Some(Any::encode_from(&OctetString::new(content).map_err(berr)?).map_err(berr)?)
            } else {
                None
            },
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certs).map_err(berr)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![si]).map_err(berr)?),
    };
    ContentInfo {
        content_type: oids::ID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(berr)?,
    }
    .to_der()
    .map_err(berr)
}

/// Key transport for [`envelope`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTransport {
    /// RSA-OAEP with SHA-256 and MGF1-SHA-256 (KOM-LE).
    OaepSha256,
    /// RSA PKCS#1 v1.5 (`rsaEncryption`, KV-Connect reference system).
    Pkcs1v15,
}

/// Content encryption for [`envelope`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentEncryption {
    /// AuthEnvelopedData with AES-256-GCM (KOM-LE).
    Aes256Gcm,
    /// EnvelopedData with AES-256-CBC (KV-Connect).
    Aes256Cbc,
}

/// Options for [`envelope`].
#[derive(Clone, Debug)]
pub struct EnvelopeOptions {
    /// Content encryption (decides AuthEnvelopedData vs EnvelopedData).
    pub content_encryption: ContentEncryption,
    /// Key transport.
    pub key_transport: KeyTransport,
    /// recipient-emails to put into unauthAttrs (AuthEnvelopedData) / unprotectedAttrs.
    /// `None` = omit the attribute.
    pub recipient_emails: Option<Vec<RecipientEmail>>,
    /// Further unauthenticated / unprotected attributes, taken as they are. With no
    /// recipient-emails and none of these, the field is absent.
    pub extra_attributes: Vec<Attribute>,
}

impl EnvelopeOptions {
    /// KOM-LE profile: AES-256-GCM, RSA-OAEP-SHA256, recipient-emails derived from `recipients`.
    pub fn komle(recipients: &[(String, Certificate)]) -> Self {
        Self {
            content_encryption: ContentEncryption::Aes256Gcm,
            key_transport: KeyTransport::OaepSha256,
            recipient_emails: Some(recipient_emails_for(recipients)),
            extra_attributes: Vec::new(),
        }
    }
    /// KV-Connect: AES-256-CBC, RSA PKCS#1 v1.5, no recipient-emails.
    pub fn kv_connect() -> Self {
        Self {
            content_encryption: ContentEncryption::Aes256Cbc,
            key_transport: KeyTransport::Pkcs1v15,
            recipient_emails: None,
            extra_attributes: Vec::new(),
        }
    }
}

/// recipient-emails entries for (address, encryption certificate) pairs.
pub fn recipient_emails_for(recipients: &[(String, Certificate)]) -> Vec<RecipientEmail> {
    recipients
        .iter()
        .map(|(e, c)| RecipientEmail {
            email: e.clone(),
            rid: issuer_serial(c),
        })
        .collect()
}

/// Encrypt `content` for every certificate in `recipients` (one KeyTransRecipientInfo each,
/// in order). Returns the DER ContentInfo.
pub fn envelope(
    content: &[u8],
    recipients: &[Certificate],
    opts: &EnvelopeOptions,
) -> Result<Vec<u8>> {
    use rand::Rng;
    if recipients.is_empty() {
        return Err(SmimeError::build("no recipients"));
    }
    let mut rng = rand::rng();
    let mut cek = [0u8; 32];
    rng.fill_bytes(&mut cek);
    let mut ris = Vec::new();
    for cert in recipients {
        let pk = cert_public_key(cert)?;
        let (alg, enc) = match opts.key_transport {
            KeyTransport::OaepSha256 => (
                oaep_alg()?,
                pk.encrypt(&mut rng, Oaep::<Sha256>::new(), &cek)
                    .map_err(berr)?,
            ),
            KeyTransport::Pkcs1v15 => (
                alg_null(oids::RSA_ENCRYPTION),
                pk.encrypt(&mut rng, Pkcs1v15Encrypt, &cek).map_err(berr)?,
            ),
        };
        ris.push(RecipientInfo::Ktri(KeyTransRecipientInfo {
            version: CmsVersion::V0,
            rid: RecipientIdentifier::IssuerAndSerialNumber(issuer_serial(cert)),
            key_enc_alg: alg,
            enc_key: OctetString::new(enc).map_err(berr)?,
        }));
    }
    // SetOfVec sorts its elements; keep the caller's order instead (like other agents do).
    let recip_infos = RecipientInfos(SetOfVec::try_from(ris).map_err(berr)?);
    let mut attr_list = Vec::new();
    if let Some(list) = &opts.recipient_emails {
        attr_list.push(recipient_emails_attribute(list)?);
    }
    attr_list.extend(opts.extra_attributes.iter().cloned());
    let attrs = if attr_list.is_empty() {
        None
    } else {
        Some(SetOfVec::try_from(attr_list).map_err(berr)?)
    };
    let ci = match opts.content_encryption {
        ContentEncryption::Aes256Gcm => {
            let mut nonce = [0u8; 12];
            rng.fill_bytes(&mut nonce);
            let params = GcmParameters {
                nonce: OctetString::new(nonce.to_vec()).map_err(berr)?,
                icv_len: 16,
            };
            let mut buf = content.to_vec();
            let c = Aes256Gcm::new_from_slice(&cek).map_err(berr)?;
            let n = aes_gcm::Nonce::try_from(&nonce[..]).map_err(|_| SmimeError::build("nonce"))?;
            let tag = c
                .encrypt_inout_detached(&n, &[], buf.as_mut_slice().into())
                .map_err(berr)?;
            let aed = AuthEnvelopedData {
                version: CmsVersion::V0,
                originator_info: None,
                recip_infos,
                auth_encrypted_content_info: EncryptedContentInfo {
                    content_type: oids::ID_DATA,
                    content_enc_alg: AlgorithmIdentifierOwned {
                        oid: oids::AES256_GCM,
                        parameters: Some(Any::encode_from(&params).map_err(berr)?),
                    },
                    encrypted_content: Some(OctetString::new(buf).map_err(berr)?),
                },
                auth_attrs: None,
                mac: OctetString::new(tag.to_vec()).map_err(berr)?,
                unauth_attrs: attrs,
            };
            ContentInfo {
                content_type: oids::ID_AUTH_ENVELOPED_DATA,
                content: Any::encode_from(&aed).map_err(berr)?,
            }
        }
        ContentEncryption::Aes256Cbc => {
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut iv);
            let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&cek, &iv)
                .map_err(berr)?
                .encrypt_padded_vec::<Pkcs7>(content);
            let ed = EnvelopedData {
                version: CmsVersion::V0,
                originator_info: None,
                recip_infos,
                encrypted_content: EncryptedContentInfo {
                    content_type: oids::ID_DATA,
                    content_enc_alg: AlgorithmIdentifierOwned {
                        oid: oids::AES256_CBC,
                        parameters: Some(
                            Any::encode_from(&OctetString::new(iv.to_vec()).map_err(berr)?)
                                .map_err(berr)?,
                        ),
                    },
                    encrypted_content: Some(OctetString::new(ct).map_err(berr)?),
                },
                unprotected_attrs: attrs,
            };
            ContentInfo {
                content_type: oids::ID_ENVELOPED_DATA,
                content: Any::encode_from(&ed).map_err(berr)?,
            }
        }
    };
    let _ = alg; // keep import used in all cfgs
    ci.to_der().map_err(berr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general path: what `content_info` returned before the in-place read.
    fn decoded(blob: &[u8]) -> Option<(ObjectIdentifier, Vec<u8>)> {
        let ci = ContentInfo::from_ber(blob).ok()?;
        Some((ci.content_type, ci.content.to_der().ok()?))
    }

    #[test]
    fn der_content_info_in_place_equals_decoded() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 200_000] {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let content = Any::new(der::Tag::Sequence, value).expect("any");
            let blob = ContentInfo {
                content_type: oids::ID_AUTH_ENVELOPED_DATA,
                content,
            }
            .to_der()
            .expect("der");
            let (oid, slice) = der_content_info(&blob).expect("DER read in place");
            assert_eq!(Some((oid, slice.to_vec())), decoded(&blob), "length {len}");
            let (_, _, via) = content_info(&blob, "t").expect("content info");
            assert!(matches!(via, Cow::Borrowed(_)));
            // Trailing bytes, a truncated blob, an indefinite length: the general path decides.
            let mut trailing = blob.clone();
            trailing.push(0);
            assert!(der_content_info(&trailing).is_none());
            assert!(der_content_info(&blob[..blob.len() - 1]).is_none());
        }
        let indefinite = [
            0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0,
            0x80, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert!(der_content_info(&indefinite).is_none());
        let (kind, _, content) = content_info(&indefinite, "t").expect("BER");
        assert_eq!(kind, CmsKind::SignedData);
        assert_eq!(&*content, &[0x30, 0x00]);
    }
}
