//! Bad inputs give errors that name the input.

mod common;

use common::{INNER, fixture};
use kvc_smime::ErrorKind;
use kvc_smime::keys::{load_certificates, load_private_key};
use kvc_smime::message::{KomLeFaults, KomLeMessage, build_komle_message, open_message_named};

#[test]
fn wrong_pkcs12_password_names_the_file() {
    let f = fixture();
    let p = f.write(
        "err-alice.p12",
        &f.alice.encryption.to_pkcs12(&[], "right", "a").unwrap(),
    );
    let e = load_private_key(&p, Some("wrong")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::WrongPassword);
    assert_eq!(e.input, p.display().to_string());
    assert!(e.to_string().contains("password"), "{e}");
    let gematik = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../vectors/third-party/api-kim/samples/SMIME-Profil/recipientA/hci-enc-2-kim-bsp.p12",
    );
    let e = load_private_key(&gematik, Some("01")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::WrongPassword);
    let e = load_private_key(&gematik, None).unwrap_err();
    assert!(e.message.contains("password"), "{e}");
}

#[test]
fn certificate_file_that_is_not_a_certificate() {
    let f = fixture();
    let key = f.path("alice.sig.key.pem");
    let e = load_certificates(&key).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert_eq!(e.input, key.display().to_string());
    assert!(e.message.contains("not a certificate"), "{e}");
    let junk = f.write("junk.der", b"\x30\x03\x02\x01\x05garbage");
    let e = load_certificates(&junk).unwrap_err();
    assert!(e.input.ends_with("junk.der"));
    let missing = f.path("does-not-exist.pem");
    let e = load_certificates(&missing).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(e.input.ends_with("does-not-exist.pem"));
}

#[test]
fn key_file_that_is_not_a_key() {
    let f = fixture();
    let cert = f.path("alice.sig.pem");
    let e = load_private_key(&cert, None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert!(e.input.ends_with("alice.sig.pem"));
    assert!(e.message.contains("not a private key"), "{e}");
}

#[test]
fn truncated_message_names_the_message() {
    let f = fixture();
    let msg = build_komle_message(&KomLeMessage {
        inner: INNER,
        sender_signature: &f.alice.signature,
        sender: (
            f.alice.email.clone(),
            f.alice.encryption.certificate.clone(),
        ),
        recipients: vec![(f.bob.email.clone(), f.bob.encryption.certificate.clone())],
        version: "1.5".into(),
        faults: KomLeFaults::default(),
    })
    .unwrap();
    let key = f.bob.encryption.to_key_material("bob.p12");
    // cut in the middle of the base64 body (at a line boundary, so the base64 itself is valid)
    let cut = msg.len() / 2;
    let cut = cut + msg[cut..].windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let e = open_message_named(&msg[..cut], &key, &[], None, "cut.eml").unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput, "{e}");
    assert_eq!(e.input, "cut.eml");
    assert!(e.message.contains("truncated"), "{e}");
    // bare CMS, truncated
    let e = kvc_smime::cms::decrypt(&[0x30, 0x82, 0x10, 0x00, 0x06], &key, "blob.p7m").unwrap_err();
    assert_eq!(e.input, "blob.p7m");
    // not S/MIME at all
    let e = open_message_named(INNER, &key, &[], None, "plain.eml").unwrap_err();
    assert!(e.message.contains("not an S/MIME encrypted message"), "{e}");
}
