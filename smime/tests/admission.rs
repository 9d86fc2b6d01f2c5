//! The admission extension against gematik's TEST-ONLY card certificates (SMC-B and HBA, RSA
//! and brainpoolP256r1): the TelematikID, profession and authority are read, and the extension
//! built from what was read is byte for byte the card's own.

use std::path::Path;

use der::{DecodePem, Encode};
use kvc_smime::admission::{ADMISSION, Admission};
use rstest::rstest;
use x509_cert::Certificate;

fn card(name: &str) -> Certificate {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors/third-party/gematik-test-cards")
        .join(format!("{name}.pem"));
    Certificate::from_pem(std::fs::read(&path).unwrap()).unwrap()
}

const SMCB: &str = "1-2-ARZTPRAXIS-BerndRosenstrauch01";
const HBA: &str = "1-1-ARZT-AdelheidUlmenwald01";

#[rstest]
#[case::smcb_aut_rsa(
    "80276001011699901102-C_SMCB_AUT_R2048_X509",
    SMCB,
    "Betriebsstätte Arzt",
    "1.2.276.0.76.4.50",
    false
)]
#[case::smcb_aut_ecc(
    "80276001011699901102-C_SMCB_AUT_E256_X509",
    SMCB,
    "Betriebsstätte Arzt",
    "1.2.276.0.76.4.50",
    false
)]
#[case::smcb_enc_rsa(
    "80276001011699901102-C_SMCB_ENC_R2048_X509",
    SMCB,
    "Betriebsstätte Arzt",
    "1.2.276.0.76.4.50",
    false
)]
#[case::smcb_enc_ecc(
    "80276001011699901102-C_SMCB_ENC_E256_X509",
    SMCB,
    "Betriebsstätte Arzt",
    "1.2.276.0.76.4.50",
    false
)]
#[case::smcb_osig_rsa(
    "80276001011699901102-C_SMCB_OSIG_R2048_X509",
    SMCB,
    "Betriebsstätte Arzt",
    "1.2.276.0.76.4.50",
    false
)]
#[case::smcb_osig_ecc(
    "80276001011699901102-C_SMCB_OSIG_E256_X509",
    SMCB,
    "Betriebsstätte Arzt",
    "1.2.276.0.76.4.50",
    false
)]
#[case::hba_aut_rsa(
    "80276001011699901501-C_HP_AUT_R2048",
    HBA,
    "Ärztin/Arzt",
    "1.2.276.0.76.4.30",
    true
)]
#[case::hba_enc_rsa(
    "80276001011699901501-C_HP_ENC_R2048",
    HBA,
    "Ärztin/Arzt",
    "1.2.276.0.76.4.30",
    true
)]
#[case::hba_enc_ecc(
    "80276001011699901501-C_HP_ENC_E256",
    HBA,
    "Ärztin/Arzt",
    "1.2.276.0.76.4.30",
    true
)]
#[case::hba_qes_rsa(
    "80276001011699901501-C_HP_QES_R2048",
    HBA,
    "Ärztin/Arzt",
    "1.2.276.0.76.4.30",
    true
)]
fn gematik_card_admission_reads_and_rebuilds_byte_for_byte(
    #[case] name: &str,
    #[case] telematik_id: &str,
    #[case] profession: &str,
    #[case] oid: &str,
    #[case] has_authority: bool,
) {
    let cert = card(name);
    let admission = Admission::of_certificate(&cert)
        .unwrap()
        .expect("admission");
    assert_eq!(admission.telematik_id.as_deref(), Some(telematik_id));
    assert_eq!(admission.profession_items, [profession]);
    assert_eq!(
        admission
            .profession_oids
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>(),
        [oid]
    );
    assert_eq!(admission.authority.is_some(), has_authority);
    let original = cert
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == ADMISSION)
        .unwrap();
    let rebuilt = admission.to_extension().unwrap();
    assert_eq!(rebuilt.to_der().unwrap(), original.to_der().unwrap());
}

#[test]
fn hba_authority_is_the_chamber() {
    let admission = Admission::of_certificate(&card("80276001011699901501-C_HP_ENC_R2048"))
        .unwrap()
        .unwrap();
    let authority = admission.authority.expect("authority").to_string();
    assert!(authority.contains("Berlin"), "{authority}");
}

#[test]
fn a_certificate_without_admission_has_none_and_garbage_is_an_error() {
    let pki = kvc_smime::pki::TestPki::generate().unwrap();
    assert_eq!(
        Admission::of_certificate(&pki.root.certificate).unwrap(),
        None
    );
    assert!(Admission::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    assert!(Admission::from_der(b"").is_err());
    // A syntax with no admission at all.
    assert!(Admission::from_der(&[0x30, 0x02, 0x30, 0x00]).is_err());
}

mod properties {
    use der::asn1::ObjectIdentifier;
    use kvc_smime::admission::Admission;
    use proptest::prelude::*;

    fn oid() -> impl Strategy<Value = ObjectIdentifier> {
        (
            0u32..3,
            0u32..40,
            proptest::collection::vec(0u32..100_000, 0..6),
        )
            .prop_map(|(a, b, rest)| {
                let text = std::iter::once(a)
                    .chain(std::iter::once(b))
                    .chain(rest)
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(".");
                ObjectIdentifier::new(&text).expect("valid arcs")
            })
    }

    proptest! {
        /// Any bytes: an error or an admission, never a panic.
        #[test]
        fn from_der_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Admission::from_der(&bytes);
        }

        /// What is built reads back the same (TelematikIDs are PrintableStrings).
        #[test]
        fn built_extension_reads_back(
            telematik_id in proptest::option::of("[0-9A-Za-z .:()+,/=?-]{1,64}"),
            items in proptest::collection::vec("\\PC{0,40}", 1..3),
            oids in proptest::collection::vec(oid(), 0..3),
        ) {
            let admission = Admission {
                authority: None,
                profession_items: items,
                profession_oids: oids,
                telematik_id,
            };
            let extension = admission.to_extension().unwrap();
            prop_assert_eq!(Admission::from_der(extension.extn_value.as_bytes()).unwrap(), admission);
        }
    }
}
