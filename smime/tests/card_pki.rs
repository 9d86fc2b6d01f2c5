//! The card test PKI against gematik's TEST-ONLY cards: each generated certificate has the
//! subject attribute layout, key usage, extended key usage and certificate policy OIDs of the
//! gematik certificate of the same card type, key and algorithm, and the holder's TelematikID
//! in its admission extension; its chain leads to the card type's CA; the variants differ from
//! the valid card exactly where they say.

use std::path::Path;
use std::sync::OnceLock;

use der::{Decode, DecodePem};
use kvc_smime::card_pki::{
    Card, CardKeyRole, CardKind, CardPki, CardVariant, Holder, telematik_id,
};
use kvc_smime::cms::validate_chain;
use rstest::rstest;
use x509_cert::Certificate;
use x509_cert::ext::pkix::certpolicy::CertificatePolicies;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};

const KU: &str = "2.5.29.15";
const EKU: &str = "2.5.29.37";
const POLICIES: &str = "2.5.29.32";

fn gematik(name: &str) -> Certificate {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors/third-party/gematik-test-cards")
        .join(format!("{name}.pem"));
    Certificate::from_pem(std::fs::read(&path).unwrap()).unwrap()
}

fn pki() -> &'static CardPki {
    static P: OnceLock<CardPki> = OnceLock::new();
    P.get_or_init(|| CardPki::generate().unwrap())
}

fn card(kind: CardKind, variant: CardVariant) -> Card {
    let holder = match kind {
        CardKind::SmcB => Holder::practice(
            "80276001011699901999",
            "1-2-KVCCHECK-PraxisTest01",
            "Erika",
            "Musterfrau",
        ),
        CardKind::Hba => Holder::physician(
            "80276001011699901998",
            "1-1-KVCCHECK-ArztTest01",
            "Max",
            "Mustermann",
        ),
    };
    pki().card(kind, &holder, variant).unwrap()
}

fn extension<'a>(cert: &'a Certificate, oid: &str) -> Option<&'a [u8]> {
    cert.tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id.to_string() == oid)
        .map(|e| e.extn_value.as_bytes())
}

fn key_usage(cert: &Certificate) -> String {
    format!(
        "{:?}",
        KeyUsage::from_der(extension(cert, KU).unwrap()).unwrap().0
    )
}

fn eku(cert: &Certificate) -> Vec<String> {
    extension(cert, EKU)
        .map(|d| {
            ExtendedKeyUsage::from_der(d)
                .unwrap()
                .0
                .iter()
                .map(|o| o.to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The policy OIDs of the gematik PKI (1.2.276.0.76.*); vendor and CPS entries left out.
fn ti_policies(cert: &Certificate) -> Vec<String> {
    let mut p: Vec<String> = CertificatePolicies::from_der(extension(cert, POLICIES).unwrap())
        .unwrap()
        .0
        .iter()
        .map(|i| i.policy_identifier.to_string())
        .filter(|o| o.starts_with("1.2.276.0.76."))
        .collect();
    p.sort();
    p
}

/// The subject's attribute types, RDN by RDN (multi-valued RDNs as one entry).
fn subject_layout(cert: &Certificate) -> Vec<Vec<String>> {
    cert.tbs_certificate()
        .subject()
        .iter_rdn()
        .map(|rdn| rdn.iter().map(|atv| atv.oid.to_string()).collect())
        .collect()
}

#[rstest]
#[case::smcb_aut_rsa(
    CardKind::SmcB,
    CardKeyRole::Aut,
    false,
    "80276001011699901102-C_SMCB_AUT_R2048_X509"
)]
#[case::smcb_aut_ecc(
    CardKind::SmcB,
    CardKeyRole::Aut,
    true,
    "80276001011699901102-C_SMCB_AUT_E256_X509"
)]
#[case::smcb_enc_rsa(
    CardKind::SmcB,
    CardKeyRole::Enc,
    false,
    "80276001011699901102-C_SMCB_ENC_R2048_X509"
)]
#[case::smcb_enc_ecc(
    CardKind::SmcB,
    CardKeyRole::Enc,
    true,
    "80276001011699901102-C_SMCB_ENC_E256_X509"
)]
#[case::smcb_osig_rsa(
    CardKind::SmcB,
    CardKeyRole::Sig,
    false,
    "80276001011699901102-C_SMCB_OSIG_R2048_X509"
)]
#[case::smcb_osig_ecc(
    CardKind::SmcB,
    CardKeyRole::Sig,
    true,
    "80276001011699901102-C_SMCB_OSIG_E256_X509"
)]
#[case::hba_aut_rsa(
    CardKind::Hba,
    CardKeyRole::Aut,
    false,
    "80276001011699901501-C_HP_AUT_R2048"
)]
#[case::hba_aut_ecc(
    CardKind::Hba,
    CardKeyRole::Aut,
    true,
    "80276001011699901501-C_HP_AUT_E256"
)]
#[case::hba_enc_rsa(
    CardKind::Hba,
    CardKeyRole::Enc,
    false,
    "80276001011699901501-C_HP_ENC_R2048"
)]
#[case::hba_enc_ecc(
    CardKind::Hba,
    CardKeyRole::Enc,
    true,
    "80276001011699901501-C_HP_ENC_E256"
)]
#[case::hba_qes_rsa(
    CardKind::Hba,
    CardKeyRole::Sig,
    false,
    "80276001011699901501-C_HP_QES_R2048"
)]
#[case::hba_qes_ecc(
    CardKind::Hba,
    CardKeyRole::Sig,
    true,
    "80276001011699901501-C_HP_QES_E256"
)]
fn generated_certificates_are_shaped_like_gematiks(
    #[case] kind: CardKind,
    #[case] role: CardKeyRole,
    #[case] ecc: bool,
    #[case] reference: &str,
) {
    let card = card(kind, CardVariant::Valid);
    let pair = card.key(role).unwrap();
    let ours = if ecc {
        &pair.ecc.certificate
    } else {
        &pair.rsa.certificate
    };
    let theirs = gematik(reference);
    assert_eq!(
        subject_layout(ours),
        subject_layout(&theirs),
        "subject layout"
    );
    assert_eq!(key_usage(ours), key_usage(&theirs), "key usage");
    assert_eq!(eku(ours), eku(&theirs), "extended key usage");
    assert_eq!(ti_policies(ours), ti_policies(&theirs), "TI policies");
    assert_eq!(
        telematik_id(ours).unwrap().as_deref(),
        Some(card.holder.telematik_id.as_str())
    );
    let ca = match kind {
        CardKind::SmcB => &pki().smcb_ca.certificate,
        CardKind::Hba => &pki().hba_ca.certificate,
    };
    let chain = validate_chain(ours, &[], std::slice::from_ref(ca), pki().now);
    assert!(chain.is_ok(), "{chain:?}");
}

#[test]
fn variants_differ_where_they_say() {
    let now = pki().now;
    let anchors = pki().trust_anchors();
    let valid_for = |c: &Certificate| validate_chain(c, &[], &anchors, now);

    let expired = card(CardKind::SmcB, CardVariant::ExpiredEnc);
    let enc = &expired.key(CardKeyRole::Enc).unwrap().rsa.certificate;
    assert!(
        format!("{:?}", valid_for(enc)).contains("expired"),
        "{:?}",
        valid_for(enc)
    );
    assert!(valid_for(&expired.key(CardKeyRole::Aut).unwrap().rsa.certificate).is_ok());

    let early = card(CardKind::SmcB, CardVariant::NotYetValid);
    let sig = &early.key(CardKeyRole::Sig).unwrap().ecc.certificate;
    assert!(valid_for(sig).is_err());

    let untrusted = card(CardKind::Hba, CardVariant::UntrustedIssuer);
    assert!(valid_for(&untrusted.key(CardKeyRole::Enc).unwrap().rsa.certificate).is_err());

    let wrong = card(CardKind::SmcB, CardVariant::WrongTelematikId);
    let enc_id = telematik_id(&wrong.key(CardKeyRole::Enc).unwrap().ecc.certificate).unwrap();
    let aut_id = telematik_id(&wrong.key(CardKeyRole::Aut).unwrap().ecc.certificate).unwrap();
    assert_eq!(aut_id.as_deref(), Some(wrong.holder.telematik_id.as_str()));
    assert_ne!(enc_id, aut_id);

    let revoked = card(CardKind::SmcB, CardVariant::Revoked);
    assert!(revoked.revoked);
    assert!(valid_for(&revoked.key(CardKeyRole::Enc).unwrap().rsa.certificate).is_ok());
    assert!(!card(CardKind::SmcB, CardVariant::Valid).revoked);
}

#[test]
fn each_key_is_fresh_and_matches_its_certificate() {
    let card = card(CardKind::SmcB, CardVariant::Valid);
    let mut spkis = std::collections::BTreeSet::new();
    for pair in &card.keys {
        let rsa_spki = kvc_smime::pki::rsa_spki_der(&pair.rsa.key.to_public_key()).unwrap();
        let cert_spki = der::Encode::to_der(
            pair.rsa
                .certificate
                .tbs_certificate()
                .subject_public_key_info(),
        )
        .unwrap();
        assert_eq!(rsa_spki, cert_spki, "{:?}", pair.role);
        assert!(spkis.insert(rsa_spki));
        assert!(spkis.insert(cert_der_spki(&pair.ecc.certificate)));
    }
    assert_eq!(spkis.len(), 6);
}

fn cert_der_spki(c: &Certificate) -> Vec<u8> {
    der::Encode::to_der(c.tbs_certificate().subject_public_key_info()).unwrap()
}
