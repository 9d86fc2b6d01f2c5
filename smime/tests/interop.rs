//! Interop with the `openssl cms` command line, both directions.

mod common;

use common::{INNER, fixture, run_openssl, s};
use kvc_smime::cms::KeyTransport;
use kvc_smime::message::{
    KomLeFaults, KomLeMessage, KvConnectMessage, build_komle_message, build_kvconnect_message,
    open_message_named,
};
use rstest::rstest;

fn komle(faults: KomLeFaults) -> Vec<u8> {
    let f = fixture();
    build_komle_message(&KomLeMessage {
        inner: INNER,
        sender_signature: &f.alice.signature,
        sender: (
            f.alice.email.clone(),
            f.alice.encryption.certificate.clone(),
        ),
        recipients: vec![(f.bob.email.clone(), f.bob.encryption.certificate.clone())],
        version: "1.5".into(),
        faults,
    })
    .unwrap()
}

#[test]
fn openssl_decrypts_and_verifies_our_komle_message() {
    let f = fixture();
    // OpenSSL 3.0 cannot parse unauthAttrs in AuthEnvelopedData ("wrong tag ... unauthAttrs",
    // also true for gematik's own sample), so this direction is checked without recipient-emails.
    let msg = komle(KomLeFaults {
        omit_unprotected_recipient_emails: true,
        ..Default::default()
    });
    let eml = f.write("komle.eml", &msg);
    let out = f.path("komle.dec");
    for who in ["bob", "alice"] {
        run_openssl(&[
            "cms",
            "-decrypt",
            "-in",
            s(&eml),
            "-inkey",
            s(&f.path(&format!("{who}.enc.key.pem"))),
            "-recip",
            s(&f.path(&format!("{who}.enc.pem"))),
            "-out",
            s(&out),
        ]);
        let dec = std::fs::read(&out).unwrap();
        assert!(dec.starts_with(b"Content-Type: application/pkcs7-mime; smime-type=signed-data"));
        let body = &dec[dec.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        let sd = f.write("komle.p7m", body);
        let content = f.path("komle.content");
        run_openssl(&[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            s(&sd),
            "-CAfile",
            s(&f.path("root.pem")),
            "-purpose",
            "any",
            "-out",
            s(&content),
        ]);
        let mut expected = b"Content-Type: message/rfc822\r\n\r\n".to_vec();
        expected.extend_from_slice(INNER);
        assert_eq!(std::fs::read(&content).unwrap(), expected);
    }
}

#[test]
fn openssl_decrypts_and_verifies_our_kvconnect_message() {
    let f = fixture();
    let content = b"Content-Type: text/plain; charset=utf-8\r\n\r\nArztbrief\r\n";
    let msg = build_kvconnect_message(&KvConnectMessage {
        content,
        headers: vec![
            ("From".into(), f.alice.email.clone()),
            ("To".into(), f.bob.email.clone()),
            ("Subject".into(), "Arztbrief".into()),
        ],
        sender: &f.alice.signature,
        recipients: vec![
            f.bob.encryption.certificate.clone(),
            f.alice.encryption.certificate.clone(),
        ],
        key_transport: KeyTransport::Pkcs1v15,
    })
    .unwrap();
    let eml = f.write("kvc.eml", &msg);
    let dec = f.path("kvc.dec");
    run_openssl(&[
        "cms",
        "-decrypt",
        "-in",
        s(&eml),
        "-inkey",
        s(&f.path("bob.enc.key.pem")),
        "-out",
        s(&dec),
    ]);
    let verified = f.path("kvc.verified");
    run_openssl(&[
        "cms",
        "-verify",
        "-in",
        s(&dec),
        "-CAfile",
        s(&f.path("root.pem")),
        "-purpose",
        "any",
        "-out",
        s(&verified),
    ]);
    assert_eq!(std::fs::read(&verified).unwrap(), content);
}

#[test]
fn our_pkcs12_is_readable_by_openssl_without_legacy() {
    let f = fixture();
    let p12 = f
        .alice
        .encryption
        .to_pkcs12(
            std::slice::from_ref(&f.pki.root.certificate),
            "geheim",
            "alice",
        )
        .unwrap();
    let path = f.write("alice.p12", &p12);
    let out = run_openssl(&[
        "pkcs12",
        "-in",
        s(&path),
        "-passin",
        "pass:geheim",
        "-nodes",
    ]);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("BEGIN PRIVATE KEY"), "{text}");
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2);
    // and back into our loader
    let k = kvc_smime::keys::load_private_key(&path, Some("geheim")).unwrap();
    assert_eq!(
        k.certificate.as_ref(),
        Some(&f.alice.encryption.certificate)
    );
}

#[test]
fn openssl_verifies_test_pki_certificates() {
    let f = fixture();
    let out = run_openssl(&[
        "verify",
        "-CAfile",
        s(&f.path("root.pem")),
        s(&f.path("alice.sig.pem")),
        s(&f.path("bob.enc.pem")),
    ]);
    assert!(String::from_utf8_lossy(&out).matches(": OK").count() == 2);
}

/// How OpenSSL builds the message under test.
#[derive(Debug, Clone, Copy)]
enum Build {
    SignedGcm,
    SignedCbc,
    TamperedCiphertext,
    TamperedSignedContent,
    UntrustedSigner,
    ExpiredSigner,
    Unsigned,
}

fn openssl_message(b: Build) -> Vec<u8> {
    let f = fixture();
    let tag = format!("{b:?}");
    let inner = f.write(&format!("{tag}.inner"), INNER);
    let (signer, key) = match b {
        Build::UntrustedSigner => ("mallory.sig.pem", "mallory.sig.key.pem"),
        Build::ExpiredSigner => ("expired.sig.pem", "expired.sig.key.pem"),
        _ => ("alice.sig.pem", "alice.sig.key.pem"),
    };
    let to_encrypt = if matches!(b, Build::Unsigned) {
        inner.clone()
    } else {
        let signed = f.path(&format!("{tag}.signed"));
        let (signer_p, key_p) = (f.path(signer), f.path(key));
        let mut args = vec![
            "cms",
            "-sign",
            "-in",
            s(&inner),
            "-signer",
            s(&signer_p),
            "-inkey",
            s(&key_p),
            "-nodetach",
            "-binary",
            "-keyopt",
            "rsa_padding_mode:pss",
            "-md",
            "sha256",
        ];
        let signed_s = s(&signed).to_string();
        if matches!(b, Build::TamperedSignedContent) {
            args.extend(["-outform", "DER", "-out", &signed_s]);
            run_openssl(&args);
            let mut der = std::fs::read(&signed).unwrap();
            let pos = der.windows(9).position(|w| w == b"Hello Bob").unwrap();
            der[pos] ^= 0x20; // "hello Bob"
            let mut entity = b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
            entity.extend_from_slice(&kvc_smime::mime::encode_base64_lines(&der));
            std::fs::write(&signed, entity).unwrap();
        } else {
            args.extend(["-out", &signed_s]);
            run_openssl(&args);
        }
        signed
    };
    let cipher = if matches!(b, Build::SignedCbc) {
        "-aes-256-cbc"
    } else {
        "-aes-256-gcm"
    };
    let out = f.path(&format!("{tag}.eml"));
    let recip = f.path("bob.enc.pem");
    let mut args = vec![
        "cms",
        "-encrypt",
        "-in",
        s(&to_encrypt),
        cipher,
        "-recip",
        s(&recip),
        "-keyopt",
        "rsa_padding_mode:oaep",
        "-keyopt",
        "rsa_oaep_md:sha256",
        "-keyopt",
        "rsa_mgf1_md:sha256",
        "-from",
        "alice@praxis.kim.telematik-test",
        "-to",
        "bob@klinik.kim.telematik-test",
        "-subject",
        "KOM-LE-Nachricht",
        "-binary",
    ];
    let out_s = s(&out).to_string();
    if matches!(b, Build::TamperedCiphertext) {
        args.extend(["-outform", "DER", "-out", &out_s]);
        run_openssl(&args);
        let mut der = std::fs::read(&out).unwrap();
        let n = der.len();
        der[n - 19] ^= 0x01; // last ciphertext byte (the DER ends with the 16-byte MAC)
        return der;
    }
    args.extend(["-out", &out_s]);
    run_openssl(&args);
    std::fs::read(&out).unwrap()
}

#[rstest]
#[case::signed_gcm(Build::SignedGcm, "00", &["01"])]
#[case::signed_cbc(Build::SignedCbc, "00", &["01"])]
#[case::tampered_ciphertext(Build::TamperedCiphertext, "02", &[])]
#[case::tampered_signed_content(Build::TamperedSignedContent, "00", &["02"])]
#[case::untrusted_signer(Build::UntrustedSigner, "00", &["05"])]
#[case::expired_signer(Build::ExpiredSigner, "00", &["05"])]
#[case::unsigned(Build::Unsigned, "00", &["03"])]
fn we_classify_openssl_messages(#[case] b: Build, #[case] dec: &str, #[case] integrity: &[&str]) {
    let f = fixture();
    let msg = openssl_message(b);
    let key = f.bob.encryption.to_key_material("bob.enc.key.pem");
    let o = open_message_named(
        &msg,
        &key,
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "openssl.eml",
    )
    .unwrap();
    assert_eq!(o.decryption_result, dec, "{o:#?}");
    let got: Vec<&str> = o
        .integrity_check_result
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(got, integrity, "{:#?}", o.integrity_explanations);
    assert_eq!(o.is_valid(), dec == "00" && integrity == ["01"]);
    if dec == "00" && !matches!(b, Build::Unsigned) {
        assert!(
            o.inner_message
                .as_deref()
                .is_some_and(|m| m.windows(9).any(|w| w.eq_ignore_ascii_case(b"hello bob")))
        );
    }
}
