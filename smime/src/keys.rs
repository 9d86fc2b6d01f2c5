//! Loading private keys and certificates (PEM, DER, PKCS#12) with errors that name the file.

use std::path::Path;

use der::{Decode, Encode};
use rsa::PrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use x509_cert::Certificate;

use crate::error::{ErrorKind, Result, SmimeError};
use crate::pkcs12;

/// A private key plus (when known) its certificate and further chain certificates.
#[derive(Clone, Debug)]
pub struct PrivateKeyMaterial {
    /// The RSA private key.
    pub key: PrivateKey,
    /// The certificate belonging to the key, if the key file carried one.
    pub certificate: Option<Certificate>,
    /// Further certificates found in the key file (e.g. CA certificates in a PKCS#12).
    pub extra_certificates: Vec<Certificate>,
    /// Where the key came from (file name), for error messages.
    pub source: String,
}

impl PrivateKeyMaterial {
    /// Key without certificate.
    pub fn new(key: PrivateKey, source: impl Into<String>) -> Self {
        Self {
            key,
            certificate: None,
            extra_certificates: Vec::new(),
            source: source.into(),
        }
    }
    /// Key with its certificate.
    pub fn with_certificate(key: PrivateKey, cert: Certificate, source: impl Into<String>) -> Self {
        Self {
            key,
            certificate: Some(cert),
            extra_certificates: Vec::new(),
            source: source.into(),
        }
    }
}

/// One PEM block.
#[derive(Debug, Clone)]
pub struct PemBlock {
    /// Label after `BEGIN`.
    pub label: String,
    /// Decoded DER.
    pub der: Vec<u8>,
}

/// Extract all PEM blocks from text (tolerates text between blocks, e.g. OpenSSL "Bag Attributes").
pub fn pem_blocks(text: &[u8], input: &str) -> Result<Vec<PemBlock>> {
    let s = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut rest: &str = &s;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| SmimeError::bad_input(input, "unterminated PEM BEGIN line"))?;
        let label = after[..label_end].to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let end = body_start.find(&end_marker).ok_or_else(|| {
            SmimeError::bad_input(
                input,
                format!("PEM block {label} has no END line (truncated?)"),
            )
        })?;
        let b64: String = body_start[..end]
            .lines()
            .filter(|l| !l.contains(':'))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64ct::Base64::decode_vec(&b64).map_err(|e| {
            SmimeError::bad_input(input, format!("PEM block {label}: bad base64: {e}"))
        })?;
        out.push(PemBlock { label, der });
        rest = &body_start[end + end_marker.len()..];
    }
    Ok(out)
}

use base64ct::Encoding as _;

/// Reads a key, certificate or password file, at most [`crate::files::CONFIG_LIMIT`] bytes.
fn read(path: &Path) -> Result<Vec<u8>> {
    use crate::files::{CONFIG_LIMIT, ReadCappedError, describe_limit, read_capped};
    read_capped(path, CONFIG_LIMIT).map_err(|e| match e {
        ReadCappedError::Io(e) => SmimeError::io(path, &e),
        ReadCappedError::TooLarge { limit } => SmimeError::bad_input(
            path.display().to_string(),
            format!(
                "larger than the {} limit for key, certificate and password files",
                describe_limit(limit)
            ),
        ),
    })
}

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Load certificates from a PEM (one or more blocks) or DER file.
pub fn load_certificates(path: &Path) -> Result<Vec<Certificate>> {
    let bytes = read(path)?;
    parse_certificates(&bytes, &path.display().to_string())
}

/// Parse certificates from PEM or DER bytes; `input` names the source in errors.
pub fn parse_certificates(bytes: &[u8], input: &str) -> Result<Vec<Certificate>> {
    if is_pem(bytes) {
        let mut out = Vec::new();
        for b in pem_blocks(bytes, input)? {
            if b.label == "CERTIFICATE"
                || b.label == "X509 CERTIFICATE"
                || b.label == "TRUSTED CERTIFICATE"
            {
                out.push(Certificate::from_der(&b.der).map_err(|e| {
                    SmimeError::bad_input(
                        input,
                        format!("PEM CERTIFICATE block is not an X.509 certificate: {e}"),
                    )
                })?);
            }
        }
        if out.is_empty() {
            return Err(SmimeError::bad_input(
                input,
                "not a certificate file: no PEM CERTIFICATE block found",
            ));
        }
        return Ok(out);
    }
    match Certificate::from_der(bytes) {
        Ok(c) => Ok(vec![c]),
        Err(e) => Err(SmimeError::bad_input(
            input,
            format!("not a certificate file: neither PEM nor a DER X.509 certificate ({e})"),
        )),
    }
}

/// Load a private key from PEM (PKCS#8, encrypted PKCS#8, PKCS#1; a CERTIFICATE block in the
/// same file is attached), DER (PKCS#8/PKCS#1) or PKCS#12 (needs `password`).
pub fn load_private_key(path: &Path, password: Option<&str>) -> Result<PrivateKeyMaterial> {
    let bytes = read(path)?;
    parse_private_key(&bytes, password, &path.display().to_string())
}

/// Read a password file: the first line, without the line ending.
pub fn read_password_file(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    let s = String::from_utf8(bytes).map_err(|_| {
        SmimeError::bad_input(path.display().to_string(), "password file is not UTF-8")
    })?;
    Ok(s.lines().next().unwrap_or("").to_string())
}

fn key_from_pkcs8(der: &[u8], input: &str) -> Result<PrivateKey> {
    PrivateKey::from_pkcs8_der(der)
        .map_err(|e| SmimeError::bad_input(input, format!("not an RSA private key (PKCS#8): {e}")))
}

/// Parse key material from bytes; `input` names the source in errors.
pub fn parse_private_key(
    bytes: &[u8],
    password: Option<&str>,
    input: &str,
) -> Result<PrivateKeyMaterial> {
    if is_pem(bytes) {
        let blocks = pem_blocks(bytes, input)?;
        let mut key = None;
        let mut certs = Vec::new();
        for b in &blocks {
            match b.label.as_str() {
                "PRIVATE KEY" => key = Some(key_from_pkcs8(&b.der, input)?),
                "RSA PRIVATE KEY" => {
                    key = Some(PrivateKey::from_pkcs1_der(&b.der).map_err(|e| {
                        SmimeError::bad_input(
                            input,
                            format!("not an RSA private key (PKCS#1): {e}"),
                        )
                    })?)
                }
                "ENCRYPTED PRIVATE KEY" => {
                    let pw = password.ok_or_else(|| {
                        SmimeError::bad_input(input, "the key is encrypted: a password is required")
                    })?;
                    key = Some(
                        PrivateKey::from_pkcs8_encrypted_der(&b.der, pw).map_err(|_| {
                            SmimeError::new(
                                ErrorKind::WrongPassword,
                                input,
                                "cannot decrypt the encrypted private key",
                            )
                        })?,
                    );
                }
                "CERTIFICATE" => certs.push(Certificate::from_der(&b.der).map_err(|e| {
                    SmimeError::bad_input(input, format!("CERTIFICATE block: {e}"))
                })?),
                _ => {}
            }
        }
        let key = key.ok_or_else(|| {
            SmimeError::bad_input(
                input,
                "not a private key file: no PEM PRIVATE KEY block found",
            )
        })?;
        return Ok(attach(key, certs, input));
    }
    // DER: PKCS#8, PKCS#1, then PKCS#12.
    if let Ok(k) = PrivateKey::from_pkcs8_der(bytes) {
        return Ok(PrivateKeyMaterial::new(k, input));
    }
    if let Ok(k) = PrivateKey::from_pkcs1_der(bytes) {
        return Ok(PrivateKeyMaterial::new(k, input));
    }
    let looks_p12 = bytes.first() == Some(&0x30) && bytes.len() > 16;
    if !looks_p12 {
        return Err(SmimeError::bad_input(
            input,
            "not a private key file: neither PEM, DER PKCS#8/PKCS#1 nor PKCS#12",
        ));
    }
    let pw = password.ok_or_else(|| {
        SmimeError::bad_input(
            input,
            "looks like PKCS#12: a password is required (--password-file)",
        )
    })?;
    let p12 = pkcs12::parse(bytes, pw, input)?;
    let der = p12
        .keys
        .first()
        .ok_or_else(|| SmimeError::bad_input(input, "PKCS#12 file contains no private key"))?;
    let key = key_from_pkcs8(der, input)?;
    Ok(attach(key, p12.certificates, input))
}

/// Attach the certificate whose public key matches `key`; others become extra certificates.
fn attach(key: PrivateKey, certs: Vec<Certificate>, input: &str) -> PrivateKeyMaterial {
    let mut m = PrivateKeyMaterial::new(key, input);
    let pub_der = crate::pki::rsa_spki_der(&m.key.to_public_key()).ok();
    for c in certs {
        let spki = c.tbs_certificate().subject_public_key_info().to_der().ok();
        if m.certificate.is_none() && spki.is_some() && spki == pub_der {
            m.certificate = Some(c);
        } else {
            m.extra_certificates.push(c);
        }
    }
    m
}
