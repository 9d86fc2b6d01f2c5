//! KOM-LE builder faults map to the expected KIM result codes (what mocks and mutants rely on).

mod common;

use common::{INNER, fixture};
use kvc_smime::ErrorKind;
use kvc_smime::asn1::RecipientEmail;
use kvc_smime::message::{
    KomLeFaults, KomLeMessage, Profile, build_komle_message, open_message_named,
};
use rstest::rstest;

fn build(faults: KomLeFaults) -> Vec<u8> {
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

fn wrong_list() -> Vec<RecipientEmail> {
    let f = fixture();
    kvc_smime::cms::recipient_emails_for(&[(
        f.carol.email.clone(),
        f.carol.encryption.certificate.clone(),
    )])
}

#[rstest]
#[case::valid(KomLeFaults::default(), "00", &["01"])]
#[case::no_unprotected_recipient_emails(KomLeFaults { omit_unprotected_recipient_emails: true, ..Default::default() }, "00", &["09"])]
#[case::signed_recipient_emails_differ(KomLeFaults { signed_recipient_emails: Some(wrong_list()), ..Default::default() }, "00", &["09"])]
#[case::outer_from_differs(KomLeFaults { outer_header_overrides: vec![("From".into(), "mallory@evil.example".into())], ..Default::default() }, "00", &["08"])]
#[case::unsigned(KomLeFaults { unsigned: true, ..Default::default() }, "00", &["03"])]
#[case::tampered_signed_content(KomLeFaults { tamper_signed_content: true, ..Default::default() }, "00", &["02"])]
#[case::tampered_ciphertext(KomLeFaults { tamper_ciphertext: true, ..Default::default() }, "02", &[])]
#[case::crlf_damaged_binary_entity(KomLeFaults { crlf_canonicalise_binary_entity: true, ..Default::default() }, "00", &["04"])]
fn faults_map_to_codes(#[case] faults: KomLeFaults, #[case] dec: &str, #[case] integrity: &[&str]) {
    let f = fixture();
    let msg = build(faults);
    let key = f.bob.encryption.to_key_material("bob.p12");
    let o = open_message_named(
        &msg,
        &key,
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "m.eml",
    )
    .unwrap();
    assert_eq!(o.profile, Profile::KomLe);
    assert_eq!(o.decryption_result, dec, "{o:#?}");
    let got: Vec<&str> = o
        .integrity_check_result
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(got, integrity, "{:#?}", o.integrity_explanations);
    assert_eq!(
        o.integrity_explanations.len(),
        o.integrity_check_result.len()
    );
    if dec == "00" && integrity == ["01"] {
        assert!(o.is_valid());
        assert!(o.findings.is_empty(), "{:#?}", o.findings);
        assert_eq!(o.inner_message.as_deref(), Some(INNER));
    } else {
        assert!(!o.is_valid());
        assert!(!o.findings.is_empty());
    }
}

#[test]
fn sender_can_decrypt_its_own_message_and_missing_sender_recipient_is_reported() {
    let f = fixture();
    let msg = build(KomLeFaults::default());
    let key = f.alice.encryption.to_key_material("alice.p12");
    let o = open_message_named(
        &msg,
        &key,
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "m.eml",
    )
    .unwrap();
    assert!(o.is_valid(), "{o:#?}");
    let msg = build(KomLeFaults {
        omit_sender_recipient: true,
        ..Default::default()
    });
    let key = f.bob.encryption.to_key_material("bob.p12");
    let o = open_message_named(
        &msg,
        &key,
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "m.eml",
    )
    .unwrap();
    let profile = o.komle_profile.expect("profile checks ran");
    assert_eq!(
        profile.failed(),
        vec![kvc_smime::profile::Check::SenderRecipientInfo],
        "{profile:#?}"
    );
    assert!(profile.findings[0].observed.contains(&f.alice.email));
}

#[test]
fn key_not_addressed_in_recipient_emails_gives_01() {
    let f = fixture();
    let msg = build(KomLeFaults {
        unprotected_recipient_emails: Some(wrong_list()),
        ..Default::default()
    });
    let key = f.bob.encryption.to_key_material("bob.p12");
    let o = open_message_named(
        &msg,
        &key,
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "m.eml",
    )
    .unwrap();
    assert_eq!(o.decryption_result, "01", "{o:#?}");
    assert!(o.inner_message.is_none());
    assert!(o.findings.iter().any(|x| x.requirement == "KOM-LE-A_2047"));
}

#[test]
fn key_of_a_non_recipient_is_a_wrong_key_error() {
    let f = fixture();
    let msg = build(KomLeFaults::default());
    let key = f.carol.encryption.to_key_material("carol.p12");
    let e = open_message_named(&msg, &key, &[], None, "m.eml").unwrap_err();
    assert_eq!(e.kind, ErrorKind::WrongKey);
    assert_eq!(e.input, "carol.p12");
    assert_eq!(e.decryption_result_code(), "01");
}

#[test]
fn key_not_available_lists_the_recipient_infos_for_a_non_recipient_only() {
    let f = fixture();
    let msg = build(KomLeFaults::default());
    let carol = f.carol.encryption.to_key_material("carol.p12");
    let o = kvc_smime::message::key_not_available(&msg, &carol, "m.eml").expect("outcome");
    assert_eq!(o.profile, Profile::KomLe);
    assert_eq!(o.decryption_result, "01");
    // RecipientInfos are a SET OF (DER order depends on the random serials): compare sorted.
    let mut emails: Vec<Vec<String>> = o
        .recipient_infos
        .iter()
        .map(|i| i.recipient_emails.clone())
        .collect();
    emails.sort();
    assert_eq!(
        emails,
        [vec![f.alice.email.clone()], vec![f.bob.email.clone()]],
        "{o:#?}"
    );
    assert!(
        o.recipient_infos
            .iter()
            .all(|i| i.kind == "ktri" && i.issuer.is_some() && i.serial.is_some())
    );
    assert!(o.findings.iter().any(|x| {
        x.requirement == "KOM-LE-A_2047"
            && x.message
                .starts_with("X-KIM-DecryptionResult 01: key not available")
    }));
    // The addressee's key is among them: no such outcome.
    let bob = f.bob.encryption.to_key_material("bob.p12");
    assert!(kvc_smime::message::key_not_available(&msg, &bob, "m.eml").is_none());
}

#[test]
fn outcome_serialises_to_the_lint_json_shape() {
    let f = fixture();
    let msg = build(KomLeFaults::default());
    let key = f.bob.encryption.to_key_material("bob.p12");
    let o = open_message_named(
        &msg,
        &key,
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "m.eml",
    )
    .unwrap();
    let v = serde_json::to_value(&o).unwrap();
    assert_eq!(v["decryption_result"], "00");
    assert_eq!(v["integrity_check_result"], serde_json::json!(["01"]));
    assert_eq!(v["profile"], "kom-le");
    assert!(
        v["unprotected_recipient_emails"][0]
            .as_str()
            .unwrap()
            .contains('@')
    );
    assert!(v.get("inner_message").is_none());
}

#[test]
fn encryption_is_detected_without_smime_type_parameter() {
    let f = fixture();
    let msg = build(KomLeFaults::default());
    let text = String::from_utf8(msg).unwrap();
    let stripped = text.replace("smime-type=authenticated-enveloped-data; ", "");
    assert_ne!(stripped, text);
    assert!(kvc_smime::message::is_smime_encrypted(stripped.as_bytes()));
    let signed = kvc_smime::cms::sign(
        INNER,
        &f.alice.signature,
        &kvc_smime::cms::SignOptions::default(),
    )
    .unwrap();
    let mut entity =
        b"Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
    entity.extend_from_slice(&kvc_smime::mime::encode_base64_lines(&signed));
    assert!(!kvc_smime::message::is_smime_encrypted(&entity));
    let o = kvc_smime::message::verify_message(
        &entity,
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "e",
    )
    .unwrap();
    assert_eq!(
        o.integrity_check_result,
        vec!["01"],
        "{:#?}",
        o.integrity_explanations
    );
}
