//! Test PKI: variants are rejected for the right reason; PEM/PKCS#12 files round-trip.

mod common;

use std::time::{Duration, SystemTime};

use common::{fixture, run_openssl, s};
use kvc_smime::cms::{ChainProblem, validate_chain};
use kvc_smime::pki::{CertVariant, EndEntitySpec, KeyPurpose, certificate_emails};
use rstest::rstest;

#[rstest]
#[case::valid(CertVariant::Valid, None)]
#[case::expired(CertVariant::Expired, Some("expired"))]
#[case::not_yet_valid(CertVariant::NotYetValid, Some("not yet valid"))]
#[case::untrusted(CertVariant::UntrustedIssuer, Some("trust anchor"))]
fn variants_fail_path_validation_for_their_reason(
    #[case] v: CertVariant,
    #[case] expect: Option<&str>,
) {
    let f = fixture();
    let spec = EndEntitySpec {
        key: Some(f.alice.signature.key.clone()),
        ..EndEntitySpec::new("v@praxis.kim.telematik-test", KeyPurpose::Signature).variant(v)
    };
    let ck = f.pki.issue(&spec).unwrap();
    let r = validate_chain(
        &ck.certificate,
        &[],
        std::slice::from_ref(&f.pki.root.certificate),
        SystemTime::now(),
    );
    match expect {
        None => assert_eq!(r, Ok(())),
        Some(word) => {
            let e = r.unwrap_err();
            assert!(e.explain().contains(word), "{}", e.explain());
        }
    }
    assert_eq!(
        certificate_emails(&ck.certificate),
        vec!["v@praxis.kim.telematik-test".to_string()]
    );
}

#[test]
fn wrong_key_usage_signer_is_rejected_as_path_problem() {
    let f = fixture();
    let spec = EndEntitySpec {
        key: Some(f.alice.signature.key.clone()),
        ..EndEntitySpec::new(&f.alice.email, KeyPurpose::Signature)
            .variant(CertVariant::WrongKeyUsage)
    };
    let signer = f.pki.issue(&spec).unwrap();
    let blob =
        kvc_smime::cms::sign(b"hello", &signer, &kvc_smime::cms::SignOptions::default()).unwrap();
    let r = kvc_smime::cms::verify_signed_data(
        &blob,
        None,
        std::slice::from_ref(&f.pki.root.certificate),
        SystemTime::now(),
        "m",
    )
    .unwrap();
    assert_eq!(r.signature, Ok(()));
    assert!(
        matches!(r.chain, Err(ChainProblem::WrongKeyUsage(_))),
        "{:?}",
        r.chain
    );
}

#[test]
fn at_time_moves_the_validity_window() {
    let f = fixture();
    let c = &f.alice.signature.certificate;
    let trust = std::slice::from_ref(&f.pki.root.certificate);
    let later = SystemTime::now() + Duration::from_secs(3 * 365 * 86_400);
    assert!(matches!(
        validate_chain(c, &[], trust, later),
        Err(ChainProblem::Expired(_))
    ));
    assert_eq!(validate_chain(c, &[], trust, SystemTime::now()), Ok(()));
}

#[test]
fn write_dir_produces_pem_and_p12_that_openssl_reads() {
    let f = fixture();
    let dir = f.path("pki-out");
    let files = f
        .pki
        .write_dir(
            &dir,
            &["x@praxis.kim.telematik-test"],
            &[CertVariant::Valid],
            "pw 123",
        )
        .unwrap();
    assert_eq!(files.len(), 4 + 6 + 6);
    let p12 = dir.join("x.valid.enc.p12");
    let out = run_openssl(&[
        "pkcs12",
        "-in",
        s(&p12),
        "-passin",
        "pass:pw 123",
        "-nokeys",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out)
            .matches("BEGIN CERTIFICATE")
            .count(),
        2
    );
    let out = run_openssl(&[
        "verify",
        "-CAfile",
        s(&dir.join("root-ca.pem")),
        s(&dir.join("x.valid.sig.pem")),
    ]);
    assert!(String::from_utf8_lossy(&out).contains(": OK"));
    let k = kvc_smime::keys::load_private_key(&p12, Some("pw 123")).unwrap();
    assert!(k.certificate.is_some());
    assert_eq!(k.extra_certificates.len(), 1);
    let pw = std::fs::read_to_string(dir.join("p12-password.txt")).unwrap();
    assert_eq!(pw.trim_end(), "pw 123");
}

/// Keys generated at once (on several threads) are as many as asked for and all different.
#[rstest]
#[case::none(0)]
#[case::one(1)]
#[case::odd_split(3)]
fn generate_rsa_keys_gives_n_distinct_keys(#[case] n: usize) {
    let keys = kvc_smime::pki::generate_rsa_keys(n).unwrap();
    assert_eq!(keys.len(), n);
    let moduli: std::collections::BTreeSet<Vec<u8>> = keys
        .iter()
        .map(|k| kvc_smime::pki::rsa_spki_der(&k.to_public_key()).unwrap())
        .collect();
    assert_eq!(moduli.len(), n, "a key was generated twice");
}
