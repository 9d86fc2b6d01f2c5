//! Throw-away test PKI: a root CA and KIM / KV-Connect-like end-entity certificates
//! (RSA 2048, e-mail SAN, signature and encryption certificates) plus deliberately bad variants.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use der::asn1::{BitString, Ia5String, OctetString};
use der::{Decode, Encode, EncodePem};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{Pkcs1v15Sign, PrivateKey, PublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::asn1::{CertOwned, TbsCert, ValidityOwned, alg_null};
use crate::error::{Result, SmimeError};
use crate::oids;

pub(crate) const DAY: Duration = Duration::from_secs(86_400);

/// A certificate with its private key (`K`: RSA, or brainpoolP256r1 for the card PKI).
#[derive(Clone, Debug)]
pub struct Certified<K> {
    /// The certificate.
    pub certificate: Certificate,
    /// Its private key.
    pub key: K,
}

/// A certificate with its RSA private key.
pub type CertifiedKey = Certified<PrivateKey>;

/// A certificate with a brainpoolP256r1 private key.
pub type EcCertifiedKey = Certified<bp256::r1::SecretKey>;

impl<K: EncodePrivateKey> Certified<K> {
    /// Certificate as PEM.
    pub fn certificate_pem(&self) -> Result<String> {
        self.certificate
            .to_pem(LineEnding::LF)
            .map_err(|e| SmimeError::build(format!("certificate PEM: {e}")))
    }
    /// Private key as unencrypted PKCS#8 PEM.
    pub fn key_pem(&self) -> Result<String> {
        Ok(self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SmimeError::build(format!("key PEM: {e}")))?
            .to_string())
    }
    /// Password-protected PKCS#12 with the key, this certificate and `chain` (CA certificates).
    pub fn to_pkcs12(
        &self,
        chain: &[Certificate],
        password: &str,
        friendly_name: &str,
    ) -> Result<Vec<u8>> {
        let der = self
            .key
            .to_pkcs8_der()
            .map_err(|e| SmimeError::build(format!("PKCS#8: {e}")))?;
        let mut all = vec![self.certificate.clone()];
        all.extend_from_slice(chain);
        crate::pkcs12::build(der.as_bytes(), &all, password, friendly_name)
    }

    /// The files of one identity as `pki init` writes them: `<base>.pem` (certificate),
    /// `<base>.key.pem` (key) and `<base>.p12` (both, with the issuing `ca`).
    fn files(
        &self,
        base: &str,
        ca: &Certificate,
        password: &str,
        friendly_name: &str,
    ) -> Result<[(String, Vec<u8>); 3]> {
        Ok([
            (format!("{base}.pem"), self.certificate_pem()?.into_bytes()),
            (format!("{base}.key.pem"), self.key_pem()?.into_bytes()),
            (
                format!("{base}.p12"),
                self.to_pkcs12(std::slice::from_ref(ca), password, friendly_name)?,
            ),
        ])
    }
}

impl CertifiedKey {
    /// As key material for decryption.
    pub fn to_key_material(&self, source: &str) -> crate::keys::PrivateKeyMaterial {
        crate::keys::PrivateKeyMaterial::with_certificate(
            self.key.clone(),
            self.certificate.clone(),
            source,
        )
    }
}

/// What an end-entity certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Signature certificate (digitalSignature, nonRepudiation), like C.HCI.OSIG.
    Signature,
    /// Encryption certificate (keyEncipherment, dataEncipherment), like C.HCI.ENC.
    Encryption,
    /// Both, like the KV-Connect user certificates.
    Both,
}

/// Good or deliberately bad certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertVariant {
    /// Valid now, issued by the trusted root.
    Valid,
    /// Validity ended yesterday.
    Expired,
    /// Validity starts in 30 days.
    NotYetValid,
    /// Issued by a CA that is not the test root (not trusted).
    UntrustedIssuer,
    /// Key usage that does not fit the purpose (signature cert without digitalSignature, ...).
    WrongKeyUsage,
}

impl CertVariant {
    /// All variants.
    pub const ALL: [CertVariant; 5] = [
        CertVariant::Valid,
        CertVariant::Expired,
        CertVariant::NotYetValid,
        CertVariant::UntrustedIssuer,
        CertVariant::WrongKeyUsage,
    ];
    /// File-name friendly name.
    pub fn name(self) -> &'static str {
        match self {
            CertVariant::Valid => "valid",
            CertVariant::Expired => "expired",
            CertVariant::NotYetValid => "not-yet-valid",
            CertVariant::UntrustedIssuer => "untrusted-issuer",
            CertVariant::WrongKeyUsage => "wrong-key-usage",
        }
    }
}

/// What to issue.
#[derive(Clone, Debug)]
pub struct EndEntitySpec {
    /// E-mail address (SAN rfc822Name and subject emailAddress).
    pub email: String,
    /// Common name.
    pub common_name: String,
    /// Purpose.
    pub purpose: KeyPurpose,
    /// Variant.
    pub variant: CertVariant,
    /// Reuse this key instead of generating one (RSA key generation costs ~0.1-1 s).
    pub key: Option<PrivateKey>,
}

impl EndEntitySpec {
    /// Spec with defaults (valid, purpose `Both`).
    pub fn new(email: &str, purpose: KeyPurpose) -> Self {
        Self {
            email: email.to_string(),
            common_name: email.split('@').next().unwrap_or(email).to_string(),
            purpose,
            variant: CertVariant::Valid,
            key: None,
        }
    }
    /// Set the variant.
    pub fn variant(mut self, v: CertVariant) -> Self {
        self.variant = v;
        self
    }
}

/// A KIM-like identity: separate signature and encryption certificates.
#[derive(Clone, Debug)]
pub struct Identity {
    /// E-mail address.
    pub email: String,
    /// Signature certificate + key.
    pub signature: CertifiedKey,
    /// Encryption certificate + key.
    pub encryption: CertifiedKey,
}

/// A root CA (trusted) and a rogue CA (not trusted) that issue test certificates.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The trusted root.
    pub root: CertifiedKey,
    /// A CA that is deliberately not trusted.
    pub untrusted_root: CertifiedKey,
    /// Reference time ("now") for validity periods.
    pub now: SystemTime,
}

pub(crate) fn rsa_spki(key: &PublicKey) -> Result<SubjectPublicKeyInfoOwned> {
    SubjectPublicKeyInfoOwned::from_der(&rsa_spki_der(key)?)
        .map_err(|e| SmimeError::build(e.to_string()))
}

/// DER of the SubjectPublicKeyInfo of an RSA public key.
pub fn rsa_spki_der(key: &PublicKey) -> Result<Vec<u8>> {
    Ok(key
        .to_public_key_der()
        .map_err(|e| SmimeError::build(format!("SPKI: {e}")))?
        .as_bytes()
        .to_vec())
}

/// Generate a fresh RSA-2048 key.
pub fn generate_rsa_key() -> Result<PrivateKey> {
    PrivateKey::new(&mut rand::rng(), 2048)
        .map_err(|e| SmimeError::build(format!("RSA key generation: {e}")))
}

/// `n` fresh RSA-2048 keys, generated on as many threads as there are cores: key generation is
/// the slow part of a test PKI, and each key is independent. The threads take the next key
/// from a shared counter instead of a fixed share each: one key's time varies a lot (it is a
/// random prime search), and with fixed shares the unlucky thread alone set the wall time.
pub fn generate_rsa_keys(n: usize) -> Result<Vec<PrivateKey>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, n.max(1));
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let mut keys = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < n {
                        keys.push(generate_rsa_key()?);
                    }
                    Ok::<_, SmimeError>(keys)
                })
            })
            .collect();
        let mut keys = Vec::with_capacity(n);
        for worker in workers {
            let batch = worker
                .join()
                .map_err(|_| SmimeError::build("RSA key generation: a worker thread panicked"))?;
            keys.extend(batch?);
        }
        Ok(keys)
    })
}

fn time(t: SystemTime) -> Result<Time> {
    Time::try_from(t).map_err(|e| SmimeError::build(format!("time: {e}")))
}

/// The critical basic constraints of an end-entity certificate.
pub(crate) fn not_a_ca() -> Result<Extension> {
    ext(
        oids::EXT_BASIC_CONSTRAINTS,
        true,
        &BasicConstraints {
            ca: false,
            path_len_constraint: None,
        },
    )
}

pub(crate) fn ext<T: Encode>(
    oid: der::asn1::ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(
            value
                .to_der()
                .map_err(|e| SmimeError::build(e.to_string()))?,
        )
        .map_err(|e| SmimeError::build(e.to_string()))?,
    })
}

fn key_id(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

/// Find the subject key identifier of a certificate (or compute one from its key).
fn ski_of(cert: &Certificate) -> Vec<u8> {
    if let Some(exts) = cert.tbs_certificate().extensions() {
        for e in exts.iter() {
            if e.extn_id == oids::EXT_SKI
                && let Ok(s) = SubjectKeyIdentifier::from_der(e.extn_value.as_bytes())
            {
                return s.0.as_bytes().to_vec();
            }
        }
    }
    let spki = cert.tbs_certificate().subject_public_key_info();
    Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

fn random_serial() -> Result<SerialNumber> {
    use rand::Rng;
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    b[0] &= 0x7f;
    b[0] |= 0x10;
    SerialNumber::new(&b).map_err(|e| SmimeError::build(e.to_string()))
}

/// Everything needed to sign one certificate.
pub(crate) struct Issue<'a> {
    pub subject: Name,
    pub subject_spki: SubjectPublicKeyInfoOwned,
    pub issuer: Option<&'a CertifiedKey>,
    pub issuer_key: &'a PrivateKey,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub extensions: Vec<Extension>,
}

pub(crate) fn sign_certificate(i: Issue<'_>) -> Result<Certificate> {
    let spki = i.subject_spki;
    let mut extensions = i.extensions;
    extensions.push(ext(
        oids::EXT_SKI,
        false,
        &SubjectKeyIdentifier(
            OctetString::new(key_id(&spki)).map_err(|e| SmimeError::build(e.to_string()))?,
        ),
    )?);
    let aki = match i.issuer {
        Some(iss) => ski_of(&iss.certificate),
        None => key_id(&spki),
    };
    extensions.push(ext(
        oids::EXT_AKI,
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(
                OctetString::new(aki).map_err(|e| SmimeError::build(e.to_string()))?,
            ),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )?);
    let issuer_name = match i.issuer {
        Some(iss) => iss.certificate.tbs_certificate().subject().clone(),
        None => i.subject.clone(),
    };
    let tbs = TbsCert {
        version: 2,
        serial: random_serial()?,
        signature: alg_null(oids::SHA256_WITH_RSA),
        issuer: issuer_name,
        validity: ValidityOwned {
            not_before: time(i.not_before)?,
            not_after: time(i.not_after)?,
        },
        subject: i.subject,
        spki,
        extensions,
    };
    let tbs_der = tbs.to_der().map_err(|e| SmimeError::build(e.to_string()))?;
    let sig = i
        .issuer_key
        .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&tbs_der))
        .map_err(|e| SmimeError::build(format!("certificate signature: {e}")))?;
    let cert = CertOwned {
        tbs,
        alg: alg_null(oids::SHA256_WITH_RSA),
        signature: BitString::from_bytes(&sig).map_err(|e| SmimeError::build(e.to_string()))?,
    };
    let der = cert
        .to_der()
        .map_err(|e| SmimeError::build(e.to_string()))?;
    Certificate::from_der(&der)
        .map_err(|e| SmimeError::build(format!("generated certificate does not re-parse: {e}")))
}

pub(crate) fn name(s: &str) -> Result<Name> {
    Name::from_str(s).map_err(|e| SmimeError::build(format!("name {s:?}: {e}")))
}

fn make_root(cn: &str, now: SystemTime, key: PrivateKey) -> Result<CertifiedKey> {
    make_ca(
        &format!("CN={cn},O=kvc-check Test PKI TEST-ONLY,C=DE"),
        now,
        key,
    )
}

/// A self-signed CA (ten years, path length 1) with the given subject (RFC 4514 string).
pub(crate) fn make_ca(subject: &str, now: SystemTime, key: PrivateKey) -> Result<CertifiedKey> {
    let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    let certificate = sign_certificate(Issue {
        subject: name(subject)?,
        subject_spki: rsa_spki(&key.to_public_key())?,
        issuer: None,
        issuer_key: &key,
        not_before: now - DAY,
        not_after: now + 3650 * DAY,
        extensions: vec![
            ext(
                oids::EXT_BASIC_CONSTRAINTS,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(1),
                },
            )?,
            ext(oids::EXT_KEY_USAGE, true, &ku)?,
        ],
    })?;
    Ok(CertifiedKey { certificate, key })
}

impl TestPki {
    /// Generate a root CA and an untrusted CA, with "now" = the current time.
    pub fn generate() -> Result<Self> {
        Self::generate_at(SystemTime::now())
    }

    /// Generate with a fixed reference time.
    pub fn generate_at(now: SystemTime) -> Result<Self> {
        let mut keys = generate_rsa_keys(2)?.into_iter();
        match (keys.next(), keys.next()) {
            (Some(root), Some(untrusted)) => Self::from_keys(now, root, untrusted),
            _ => Err(SmimeError::build("RSA key generation: too few keys")),
        }
    }

    /// The root CA and the untrusted CA on given keys (e.g. generated with others at once by
    /// [`generate_rsa_keys`]), with reference time `now`.
    pub fn from_keys(now: SystemTime, root: PrivateKey, untrusted: PrivateKey) -> Result<Self> {
        Ok(Self {
            root: make_root("kvc-check Test Root CA", now, root)?,
            untrusted_root: make_root("kvc-check Untrusted CA", now, untrusted)?,
            now,
        })
    }

    /// Issue an end-entity certificate (RSA 2048).
    pub fn issue(&self, spec: &EndEntitySpec) -> Result<CertifiedKey> {
        let key = match &spec.key {
            Some(k) => k.clone(),
            None => generate_rsa_key()?,
        };
        let certificate = self.issue_for_spki(spec, rsa_spki(&key.to_public_key())?, false)?;
        Ok(CertifiedKey { certificate, key })
    }

    /// Issue an end-entity certificate with a fresh brainpoolP256r1 key (ECDSA signature or
    /// ECDH encryption certificate; encryption uses keyAgreement instead of keyEncipherment).
    /// `spec.key` is ignored.
    pub fn issue_brainpool(&self, spec: &EndEntitySpec) -> Result<EcCertifiedKey> {
        use bp256::pkcs8::EncodePublicKey as _;
        let key = <bp256::r1::SecretKey as rsa::Generate>::generate_from_rng(&mut rand::rng());
        let der = key
            .public_key()
            .to_public_key_der()
            .map_err(|e| SmimeError::build(format!("brainpool SPKI: {e}")))?;
        let spki = SubjectPublicKeyInfoOwned::from_der(der.as_bytes())
            .map_err(|e| SmimeError::build(e.to_string()))?;
        let certificate = self.issue_for_spki(spec, spki, true)?;
        Ok(EcCertifiedKey { certificate, key })
    }

    fn issue_for_spki(
        &self,
        spec: &EndEntitySpec,
        subject_spki: SubjectPublicKeyInfoOwned,
        ecc: bool,
    ) -> Result<Certificate> {
        let issuer = if spec.variant == CertVariant::UntrustedIssuer {
            &self.untrusted_root
        } else {
            &self.root
        };
        let (not_before, not_after) = match spec.variant {
            CertVariant::Expired => (self.now - 730 * DAY, self.now - DAY),
            CertVariant::NotYetValid => (self.now + 30 * DAY, self.now + 760 * DAY),
            _ => (self.now - DAY, self.now + 730 * DAY),
        };
        let wrong = spec.variant == CertVariant::WrongKeyUsage;
        let enc: KeyUsages = if ecc {
            KeyUsages::KeyAgreement
        } else {
            KeyUsages::KeyEncipherment
        };
        let ku = match (spec.purpose, wrong) {
            (KeyPurpose::Signature, false) => {
                KeyUsages::DigitalSignature | KeyUsages::NonRepudiation
            }
            (KeyPurpose::Encryption, false) => enc | KeyUsages::DataEncipherment,
            (KeyPurpose::Both, false) => {
                KeyUsages::DigitalSignature | enc | KeyUsages::DataEncipherment
            }
            (KeyPurpose::Signature, true) | (KeyPurpose::Both, true) => {
                enc | KeyUsages::DataEncipherment
            }
            (KeyPurpose::Encryption, true) => KeyUsages::DigitalSignature.into(),
        };
        let email = Ia5String::new(&spec.email)
            .map_err(|e| SmimeError::build(format!("e-mail {:?}: {e}", spec.email)))?;
        let subject = name(&format!(
            "CN={},O=kvc-check Test TEST-ONLY,C=DE",
            spec.common_name.replace([',', '+', '='], " ")
        ))?;
        sign_certificate(Issue {
            subject,
            subject_spki,
            issuer: Some(issuer),
            issuer_key: &issuer.key,
            not_before,
            not_after,
            extensions: vec![
                not_a_ca()?,
                ext(oids::EXT_KEY_USAGE, true, &KeyUsage(ku))?,
                ext(
                    oids::EXT_EKU,
                    false,
                    &ExtendedKeyUsage(vec![oids::EKU_EMAIL_PROTECTION, oids::EKU_CLIENT_AUTH]),
                )?,
                ext(
                    oids::EXT_SAN,
                    false,
                    &SubjectAltName(vec![GeneralName::Rfc822Name(email)]),
                )?,
            ],
        })
    }

    /// A KIM-like identity (signature + encryption certificate) of the given variant.
    pub fn identity(&self, email: &str, variant: CertVariant) -> Result<Identity> {
        Ok(Identity {
            email: email.to_string(),
            signature: self
                .issue(&EndEntitySpec::new(email, KeyPurpose::Signature).variant(variant))?,
            encryption: self
                .issue(&EndEntitySpec::new(email, KeyPurpose::Encryption).variant(variant))?,
        })
    }

    /// Write the PKI to `dir`: `root-ca.pem`, `root-ca.key.pem`, `untrusted-ca.pem`, and per
    /// identity and variant `<local>.<variant>.{sig,enc}.{pem,key.pem,p12}` (RSA 2048), plus for
    /// the valid variant `<local>.valid.{sig,enc}-bp256.{pem,key.pem,p12}` (brainpoolP256r1). The PKCS#12 files
    /// are protected with `password` (also written to `p12-password.txt`). Keys, PKCS#12 files and
    /// the password file get mode 0600 whatever the umask. Returns the files written.
    pub fn write_dir(
        &self,
        dir: &Path,
        emails: &[&str],
        variants: &[CertVariant],
        password: &str,
    ) -> Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| SmimeError::io(dir, &e))?;
        let mut written = Vec::new();
        let mut write = |name: &str, data: &[u8]| -> Result<()> {
            let p = dir.join(name);
            // Keys, PKCS#12 files and the password are for the owner only (0600).
            let secret =
                name.ends_with(".key.pem") || name.ends_with(".p12") || name.ends_with(".txt");
            if secret {
                crate::files::write_private(&p, data)
            } else {
                std::fs::write(&p, data)
            }
            .map_err(|e| SmimeError::io(&p, &e))?;
            written.push(p);
            Ok(())
        };
        write("root-ca.pem", self.root.certificate_pem()?.as_bytes())?;
        write("root-ca.key.pem", self.root.key_pem()?.as_bytes())?;
        write(
            "untrusted-ca.pem",
            self.untrusted_root.certificate_pem()?.as_bytes(),
        )?;
        write("p12-password.txt", format!("{password}\n").as_bytes())?;
        for email in emails {
            let local: String = email
                .split('@')
                .next()
                .unwrap_or(email)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            for v in variants {
                let id = self.identity(email, *v)?;
                let ca = if *v == CertVariant::UntrustedIssuer {
                    &self.untrusted_root
                } else {
                    &self.root
                };
                if *v == CertVariant::Valid {
                    for (kind, purpose) in [
                        ("sig", KeyPurpose::Signature),
                        ("enc", KeyPurpose::Encryption),
                    ] {
                        let ec = self.issue_brainpool(&EndEntitySpec::new(email, purpose))?;
                        let base = format!("{local}.valid.{kind}-bp256");
                        for (name, data) in ec.files(&base, &ca.certificate, password, email)? {
                            write(&name, &data)?;
                        }
                    }
                }
                for (kind, ck) in [("sig", &id.signature), ("enc", &id.encryption)] {
                    let base = format!("{local}.{}.{kind}", v.name());
                    for (name, data) in ck.files(&base, &ca.certificate, password, email)? {
                        write(&name, &data)?;
                    }
                }
            }
        }
        Ok(written)
    }
}

/// The e-mail addresses of a certificate: SAN rfc822Name entries, then subject emailAddress.
pub fn certificate_emails(cert: &Certificate) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(exts) = cert.tbs_certificate().extensions() {
        for e in exts.iter() {
            if e.extn_id == oids::EXT_SAN
                && let Ok(san) = SubjectAltName::from_der(e.extn_value.as_bytes())
            {
                for g in san.0 {
                    if let GeneralName::Rfc822Name(s) = g {
                        out.push(s.to_string());
                    }
                }
            }
        }
    }
    for atv in cert.tbs_certificate().subject().iter() {
        if atv.oid == oids::EMAIL_ADDRESS
            && let Ok(s) = Ia5String::from_der(&atv.value.to_der().unwrap_or_default())
        {
            out.push(s.to_string());
        }
    }
    out
}
