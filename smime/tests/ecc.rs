//! brainpoolP256r1: test-PKI certificates and ECDSA signatures, checked against OpenSSL.

mod common;

use std::time::SystemTime;

use common::{INNER, fixture, run_openssl, s};
use kvc_smime::cms::{SignOptions, sign_brainpool, verify_signed_data};
use kvc_smime::message::verify_message;
use kvc_smime::pki::{EndEntitySpec, KeyPurpose};

#[test]
fn brainpool_signature_roundtrip_with_openssl() {
    let f = fixture();
    let ec = f
        .pki
        .issue_brainpool(&EndEntitySpec::new(&f.alice.email, KeyPurpose::Signature))
        .unwrap();
    let cert = f.write("alice.bp.pem", ec.certificate_pem().unwrap().as_bytes());
    let key = f.write("alice.bp.key.pem", ec.key_pem().unwrap().as_bytes());
    let root = f.path("root.pem");
    // OpenSSL accepts the certificate ...
    let out = run_openssl(&["verify", "-CAfile", s(&root), s(&cert)]);
    assert!(String::from_utf8_lossy(&out).contains(": OK"));
    let text = String::from_utf8_lossy(&run_openssl(&["x509", "-in", s(&cert), "-noout", "-text"]))
        .into_owned();
    assert!(text.contains("brainpoolP256r1"), "{text}");
    // ... verifies our ECDSA SignedData ...
    let blob = sign_brainpool(INNER, &ec, &SignOptions::default()).unwrap();
    let r = verify_signed_data(
        &blob,
        None,
        std::slice::from_ref(&f.pki.root.certificate),
        SystemTime::now(),
        "ec",
    )
    .unwrap();
    assert_eq!(r.signature, Ok(()));
    assert_eq!(r.chain, Ok(()));
    let sd = f.write("ec.p7m", &blob);
    let content = f.path("ec.content");
    run_openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        s(&sd),
        "-CAfile",
        s(&root),
        "-purpose",
        "any",
        "-out",
        s(&content),
    ]);
    assert_eq!(std::fs::read(&content).unwrap(), INNER);
    // ... and we verify what OpenSSL signs with that key.
    let input = f.write("ec.inner", INNER);
    let signed = f.path("ec.openssl.eml");
    run_openssl(&[
        "cms",
        "-sign",
        "-nodetach",
        "-binary",
        "-md",
        "sha256",
        "-in",
        s(&input),
        "-signer",
        s(&cert),
        "-inkey",
        s(&key),
        "-out",
        s(&signed),
    ]);
    let o = verify_message(
        &std::fs::read(&signed).unwrap(),
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "ec.openssl.eml",
    )
    .unwrap();
    assert_eq!(
        o.integrity_check_result,
        vec!["01"],
        "{:#?}",
        o.integrity_explanations
    );
    // tampering is detected
    let mut bad = blob.clone();
    let pos = bad.windows(9).position(|w| w == b"Hello Bob").unwrap();
    bad[pos] ^= 0x20;
    let r = verify_signed_data(
        &bad,
        None,
        std::slice::from_ref(&f.pki.root.certificate),
        SystemTime::now(),
        "ec",
    )
    .unwrap();
    assert!(r.signature.is_err());
}

#[test]
fn brainpool_pkcs12_is_readable_by_openssl() {
    let f = fixture();
    let ec = f
        .pki
        .issue_brainpool(&EndEntitySpec::new(&f.bob.email, KeyPurpose::Encryption))
        .unwrap();
    let p12 = f.write("bob.bp.p12", &ec.to_pkcs12(&[], "pw", "bob").unwrap());
    let out = run_openssl(&["pkcs12", "-in", s(&p12), "-passin", "pass:pw", "-nodes"]);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("BEGIN PRIVATE KEY") && text.contains("BEGIN CERTIFICATE"),
        "{text}"
    );
    // KARI (ECDH) decryption is not offered: the loader says the key is not RSA.
    let e = kvc_smime::keys::load_private_key(&p12, Some("pw")).unwrap_err();
    assert!(e.message.contains("not an RSA private key"), "{e}");
}
