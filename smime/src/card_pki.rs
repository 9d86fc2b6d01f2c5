//! A TI-like card test PKI, generated per run: a CA for SMC-B (institution) cards and one for
//! HBA (health professional) cards, each card with its three key pairs (SMC-B: C.AUT, C.ENC,
//! C.OSIG; HBA: C.HP.AUT, C.HP.ENC, C.HP.QES) in RSA 2048 and brainpoolP256r1, shaped like
//! gematik's TEST-ONLY cards (`vectors/third-party/gematik-test-cards/`): subject layout, key
//! usage and extended key usage per key, certificate policies, and the admission extension with
//! the TelematikID. Variants for the cases a Clientmodul must handle.
//!
//! Inferred or simplified, against the real cards: one RSA CA per card type signs both the RSA
//! and the brainpool certificates (gematik has a separate ECDSA CA, e.g. GEM.SMCB-CA51, for the
//! E256 ones); no CRL distribution point or OCSP address (nothing here answers them);
//! "revoked" is a mark on the [`Card`] that the mock Konnektor's VerifyCertificate reads, not a
//! CRL entry. KIM addresses are not in the certificates (the real ones carry none); the VZD
//! entry binds them to the TelematikID.

use std::time::SystemTime;

use der::Decode;
use der::asn1::ObjectIdentifier;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::{CertificatePolicies, ExtendedKeyUsage, KeyUsage, KeyUsages};

use crate::admission::Admission;
use crate::error::{Result, SmimeError};
use crate::oids;
use crate::pki::{
    CertifiedKey, DAY, EcCertifiedKey, Issue, ext, generate_rsa_keys, make_ca, name, not_a_ca,
    rsa_spki, sign_certificate,
};

/// SMC-B certificates name this policy beside their own.
const OID_POLICY_TI: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.276.0.76.4.163");
/// HBA certificates name this policy beside their own.
const OID_POLICY_HBA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.276.0.76.4.145");
const OID_POLICY_SMCB_AUT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.276.0.76.4.77");
const OID_POLICY_SMCB_ENC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.276.0.76.4.76");
const OID_POLICY_SMCB_OSIG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.276.0.76.4.78");
const OID_POLICY_HP_AUT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.276.0.76.4.75");
const OID_POLICY_HP_ENC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.276.0.76.4.74");
const OID_POLICY_HP_QES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.276.0.76.4.72");

/// The card types of the KIM world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardKind {
    /// Institution card (practice, pharmacy, hospital): the KIM sender and recipient.
    SmcB,
    /// Health professional card.
    Hba,
}

/// The three key pairs of a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CardKeyRole {
    /// C.AUT / C.HP.AUT: TLS client authentication, ExternalAuthenticate.
    Aut,
    /// C.ENC / C.HP.ENC: what a KIM message is encrypted to.
    Enc,
    /// C.OSIG / C.HP.QES: what a KIM message is signed with.
    Sig,
}

impl CardKeyRole {
    pub const ALL: [CardKeyRole; 3] = [CardKeyRole::Aut, CardKeyRole::Enc, CardKeyRole::Sig];

    /// The Konnektor's certificate reference (`C.AUT`, `C.ENC`, `C.SIG` on an SMC-B is `C.OSIG`;
    /// on an HBA `C.QES`), as ReadCardCertificate names it.
    pub fn certificate_ref(self, kind: CardKind) -> &'static str {
        match (self, kind) {
            (CardKeyRole::Aut, _) => "C.AUT",
            (CardKeyRole::Enc, _) => "C.ENC",
            (CardKeyRole::Sig, CardKind::SmcB) => "C.SIG",
            (CardKeyRole::Sig, CardKind::Hba) => "C.QES",
        }
    }
}

/// Who holds a card.
#[derive(Clone, Debug)]
pub struct Holder {
    /// ICCSN, e.g. `80276001011699901102`.
    pub iccsn: String,
    /// TelematikID, e.g. `1-2-ARZTPRAXIS-BerndRosenstrauch01`.
    pub telematik_id: String,
    /// Common name without the ` TEST-ONLY` suffix, e.g. `Arztpraxis Bernd Rosenstrauch`.
    pub common_name: String,
    pub given_name: String,
    pub surname: String,
    /// The profession text and OID of the admission, e.g. `Betriebsstätte Arzt`,
    /// 1.2.276.0.76.4.50.
    pub profession: (String, ObjectIdentifier),
}

impl Holder {
    /// A practice (SMC-B, Betriebsstätte Arzt) with the given names.
    pub fn practice(iccsn: &str, telematik_id: &str, given_name: &str, surname: &str) -> Holder {
        let profession = ("Betriebsstätte Arzt", "1.2.276.0.76.4.50");
        Holder::named(
            iccsn,
            telematik_id,
            "Arztpraxis",
            given_name,
            surname,
            profession,
        )
    }

    /// A physician (HBA, Ärztin/Arzt) with the given names.
    pub fn physician(iccsn: &str, telematik_id: &str, given_name: &str, surname: &str) -> Holder {
        let profession = ("Ärztin/Arzt", "1.2.276.0.76.4.30");
        Holder::named(iccsn, telematik_id, "Arzt", given_name, surname, profession)
    }

    fn named(
        iccsn: &str,
        telematik_id: &str,
        title: &str,
        given_name: &str,
        surname: &str,
        (item, oid): (&str, &'static str),
    ) -> Holder {
        Holder {
            iccsn: iccsn.to_string(),
            telematik_id: telematik_id.to_string(),
            common_name: format!("{title} {given_name} {surname}"),
            given_name: given_name.to_string(),
            surname: surname.to_string(),
            profession: (item.to_string(), ObjectIdentifier::new_unwrap(oid)),
        }
    }
}

/// What is wrong with a card, for the cases a Clientmodul must handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardVariant {
    Valid,
    /// The ENC certificates expired (AUT and SIG valid).
    ExpiredEnc,
    /// All certificates are valid only from 30 days on.
    NotYetValid,
    /// Valid certificates, but the card counts as revoked (VerifyCertificate says so).
    Revoked,
    /// The ENC certificates carry another TelematikID than the card (`<id>-FALSCH`).
    WrongTelematikId,
    /// Issued by a CA outside the TI trust space.
    UntrustedIssuer,
}

/// One certificate of a card in both algorithms.
#[derive(Clone, Debug)]
pub struct CardKeyPair {
    pub role: CardKeyRole,
    pub rsa: CertifiedKey,
    pub ecc: EcCertifiedKey,
}

/// A generated card.
#[derive(Clone, Debug)]
pub struct Card {
    pub kind: CardKind,
    pub holder: Holder,
    pub variant: CardVariant,
    /// Revocation as the mock Konnektor reports it (see [`CardVariant::Revoked`]).
    pub revoked: bool,
    /// AUT, ENC, SIG in that order.
    pub keys: Vec<CardKeyPair>,
}

impl Card {
    pub fn key(&self, role: CardKeyRole) -> Option<&CardKeyPair> {
        self.keys.iter().find(|k| k.role == role)
    }
}

/// How ExternalAuthenticate signs (the Konnektor's `SignatureSchemes` and `Crypt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    /// RSASSA-PSS with SHA-256 and a 32-byte salt, over the given hash.
    RsaPss,
    /// RSASSA-PKCS1-v1_5 with a SHA-256 DigestInfo around the given hash.
    RsaPkcs1v15,
    /// ECDSA brainpoolP256r1 over the given hash, DER signature.
    Ecdsa,
}

impl CardKeyPair {
    /// Signs a SHA-256 `hash` (32 bytes) with this card key, as the card does for
    /// ExternalAuthenticate: the caller hashed, the card only signs.
    pub fn sign_hash(&self, scheme: AuthScheme, hash: &[u8]) -> Result<Vec<u8>> {
        if hash.len() != 32 {
            return Err(SmimeError::build(format!(
                "a SHA-256 hash has 32 bytes, got {}",
                hash.len()
            )));
        }
        let failed = |e: &dyn std::fmt::Display| SmimeError::build(format!("card signature: {e}"));
        match scheme {
            AuthScheme::RsaPss => self
                .rsa
                .key
                .sign_with_rng(
                    &mut rand::rng(),
                    rsa::pss::Pss::<sha2::Sha256>::new_with_salt(32),
                    hash,
                )
                .map_err(|e| failed(&e)),
            AuthScheme::RsaPkcs1v15 => self
                .rsa
                .key
                .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), hash)
                .map_err(|e| failed(&e)),
            AuthScheme::Ecdsa => {
                use ecdsa::signature::hazmat::PrehashSigner;
                let sk = ecdsa::SigningKey::<bp256::BrainpoolP256r1>::from(&self.ecc.key);
                let sig: bp256::r1::ecdsa::Signature =
                    sk.sign_prehash(hash).map_err(|e| failed(&e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
        }
    }
}

/// The CAs of the card PKI.
#[derive(Clone, Debug)]
pub struct CardPki {
    /// Issues SMC-B certificates (like GEM.SMCB-CA41).
    pub smcb_ca: CertifiedKey,
    /// Issues HBA certificates (like GEM.HBA-CA41).
    pub hba_ca: CertifiedKey,
    /// A CA outside the trust space (same subject layout, other key).
    pub untrusted_ca: CertifiedKey,
    pub now: SystemTime,
}

fn ca_subject(cn: &str, unit: &str) -> String {
    format!("CN={cn} TEST-ONLY,OU={unit},O=kvc-check Test PKI NOT-VALID,C=DE")
}

const SMCB_UNIT: &str = "Institution des Gesundheitswesens-CA der Telematikinfrastruktur";
const HBA_UNIT: &str = "Heilberufsausweis-CA der Telematikinfrastruktur";

impl CardPki {
    /// Three fresh CA keys (generated at once) and their certificates, valid from `now`.
    pub fn generate_at(now: SystemTime) -> Result<CardPki> {
        let mut keys = generate_rsa_keys(3)?.into_iter();
        let mut next = || {
            keys.next()
                .ok_or_else(|| SmimeError::build("too few CA keys"))
        };
        Ok(CardPki {
            smcb_ca: make_ca(&ca_subject("KVC.SMCB-CA1", SMCB_UNIT), now, next()?)?,
            hba_ca: make_ca(&ca_subject("KVC.HBA-CA1", HBA_UNIT), now, next()?)?,
            untrusted_ca: make_ca(&ca_subject("KVC.SMCB-CA1", SMCB_UNIT), now, next()?)?,
            now,
        })
    }

    pub fn generate() -> Result<CardPki> {
        CardPki::generate_at(SystemTime::now())
    }

    /// The trusted CA certificates (what the mock Konnektor and VZD trust).
    pub fn trust_anchors(&self) -> Vec<Certificate> {
        vec![
            self.smcb_ca.certificate.clone(),
            self.hba_ca.certificate.clone(),
        ]
    }

    /// A card of `kind` for `holder`: three fresh RSA keys (generated at once) and three
    /// brainpool keys.
    pub fn card(&self, kind: CardKind, holder: &Holder, variant: CardVariant) -> Result<Card> {
        let rsa_keys = generate_rsa_keys(3)?;
        let mut keys = Vec::with_capacity(3);
        for (role, rsa_key) in CardKeyRole::ALL.into_iter().zip(rsa_keys) {
            let rsa_spki = rsa_spki(&rsa_key.to_public_key())?;
            let ecc_key =
                <bp256::r1::SecretKey as rsa::Generate>::generate_from_rng(&mut rand::rng());
            let ecc_spki = brainpool_spki(&ecc_key)?;
            keys.push(CardKeyPair {
                role,
                rsa: CertifiedKey {
                    certificate: self.issue(kind, holder, variant, role, rsa_spki, false)?,
                    key: rsa_key,
                },
                ecc: EcCertifiedKey {
                    certificate: self.issue(kind, holder, variant, role, ecc_spki, true)?,
                    key: ecc_key,
                },
            });
        }
        Ok(Card {
            kind,
            holder: holder.clone(),
            variant,
            revoked: variant == CardVariant::Revoked,
            keys,
        })
    }

    fn issue(
        &self,
        kind: CardKind,
        holder: &Holder,
        variant: CardVariant,
        role: CardKeyRole,
        spki: SubjectPublicKeyInfoOwned,
        ecc: bool,
    ) -> Result<Certificate> {
        let issuer = match (variant, kind) {
            (CardVariant::UntrustedIssuer, _) => &self.untrusted_ca,
            (_, CardKind::SmcB) => &self.smcb_ca,
            (_, CardKind::Hba) => &self.hba_ca,
        };
        let (not_before, not_after) = match (variant, role) {
            (CardVariant::NotYetValid, _) => (self.now + 30 * DAY, self.now + 1855 * DAY),
            (CardVariant::ExpiredEnc, CardKeyRole::Enc) => (self.now - 1825 * DAY, self.now - DAY),
            _ => (self.now - DAY, self.now + 1825 * DAY),
        };
        let telematik_id = match (variant, role) {
            (CardVariant::WrongTelematikId, CardKeyRole::Enc) => {
                format!("{}-FALSCH", holder.telematik_id)
            }
            _ => holder.telematik_id.clone(),
        };
        let admission = Admission {
            authority: None,
            profession_items: vec![holder.profession.0.clone()],
            profession_oids: vec![holder.profession.1],
            telematik_id: Some(telematik_id),
        };
        let mut extensions = vec![
            admission.to_extension()?,
            ext(oids::EXT_KEY_USAGE, true, &key_usage(kind, role, ecc))?,
            not_a_ca()?,
            policies(kind, role)?,
        ];
        if role == CardKeyRole::Aut {
            let mut purposes = vec![oids::EKU_CLIENT_AUTH];
            if kind == CardKind::Hba {
                purposes.push(oids::EKU_EMAIL_PROTECTION);
            }
            extensions.push(ext(oids::EXT_EKU, false, &ExtendedKeyUsage(purposes))?);
        }
        sign_certificate(Issue {
            subject: name(&subject(kind, holder))?,
            subject_spki: spki,
            issuer: Some(issuer),
            issuer_key: &issuer.key,
            not_before,
            not_after,
            extensions,
        })
    }
}

/// Like gematik's cards: SMC-B `C=DE, O=<…> NOT-VALID, SN, GN, CN=… TEST-ONLY`; HBA
/// `C=DE, GN+SN+serialNumber=16.<ICCSN>+CN=… TEST-ONLY` (one multi-valued RDN; RFC 4514 strings
/// list the most specific RDN first).
fn subject(kind: CardKind, h: &Holder) -> String {
    let clean = |s: &str| s.replace([',', '+', '=', '"', '\\', ';', '<', '>'], " ");
    let (cn, gn, sn, iccsn) = (
        clean(&h.common_name),
        clean(&h.given_name),
        clean(&h.surname),
        clean(&h.iccsn),
    );
    match kind {
        CardKind::SmcB => format!("CN={cn} TEST-ONLY,GN={gn},SN={sn},O={iccsn} NOT-VALID,C=DE"),
        CardKind::Hba => format!("GN={gn}+SN={sn}+serialNumber=16.{iccsn}+CN={cn} TEST-ONLY,C=DE"),
    }
}

/// As on gematik's cards: AUT signs (RSA also enciphers, for TLS with RSA key exchange; the
/// HBA's brainpool AUT also agrees keys), ENC enciphers (brainpool: key agreement), SIG/QES is
/// non-repudiation only.
fn key_usage(kind: CardKind, role: CardKeyRole, ecc: bool) -> KeyUsage {
    KeyUsage(match (role, ecc) {
        (CardKeyRole::Aut, false) => KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
        (CardKeyRole::Aut, true) if kind == CardKind::Hba => {
            KeyUsages::DigitalSignature | KeyUsages::KeyAgreement
        }
        (CardKeyRole::Aut, true) => KeyUsages::DigitalSignature.into(),
        (CardKeyRole::Enc, false) => KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment,
        (CardKeyRole::Enc, true) => KeyUsages::KeyAgreement.into(),
        (CardKeyRole::Sig, _) => KeyUsages::NonRepudiation.into(),
    })
}

fn policies(kind: CardKind, role: CardKeyRole) -> Result<Extension> {
    let own = match (kind, role) {
        (CardKind::SmcB, CardKeyRole::Aut) => OID_POLICY_SMCB_AUT,
        (CardKind::SmcB, CardKeyRole::Enc) => OID_POLICY_SMCB_ENC,
        (CardKind::SmcB, CardKeyRole::Sig) => OID_POLICY_SMCB_OSIG,
        (CardKind::Hba, CardKeyRole::Aut) => OID_POLICY_HP_AUT,
        (CardKind::Hba, CardKeyRole::Enc) => OID_POLICY_HP_ENC,
        (CardKind::Hba, CardKeyRole::Sig) => OID_POLICY_HP_QES,
    };
    let policy = |oid| PolicyInformation {
        policy_identifier: oid,
        policy_qualifiers: None,
    };
    let all = match kind {
        CardKind::SmcB => vec![policy(OID_POLICY_TI), policy(own)],
        CardKind::Hba => vec![policy(own), policy(OID_POLICY_HBA)],
    };
    ext(
        oids::EXT_CERTIFICATE_POLICIES,
        false,
        &CertificatePolicies(all),
    )
}

fn brainpool_spki(key: &bp256::r1::SecretKey) -> Result<SubjectPublicKeyInfoOwned> {
    use bp256::pkcs8::EncodePublicKey as _;
    let der = key
        .public_key()
        .to_public_key_der()
        .map_err(|e| SmimeError::build(format!("brainpool SPKI: {e}")))?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes())
        .map_err(|e| SmimeError::build(e.to_string()))
}

/// The TelematikID in a certificate's admission extension, if any.
pub fn telematik_id(cert: &Certificate) -> Result<Option<String>> {
    Ok(Admission::of_certificate(cert)?.and_then(|a| a.telematik_id))
}
