//! Real KV-Connect reference-system messages (vectors/third-party/kvc-samples-vivy, see SOURCE.txt).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kvc_smime::ErrorKind;
use kvc_smime::keys::{load_certificates, load_private_key};
use kvc_smime::message::{Profile, SmimeOutcome, open_message_named};
use rstest::rstest;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/third-party/kvc-samples-vivy")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn trust(names: &[&str]) -> Vec<x509_cert::Certificate> {
    names
        .iter()
        .flat_map(|n| load_certificates(&dir().join(n)).unwrap())
        .collect()
}

/// 2018-10-01 and 2019-03-01: inside the validity of the 2018/2019 sample certificates.
fn at(secs: u64) -> Option<SystemTime> {
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}
const OCT_2018: u64 = 1_538_352_000;
const MAR_2019: u64 = 1_551_398_400;

fn open(msg: &str, key: &str, anchors: &[&str], when: u64) -> kvc_smime::Result<SmimeOutcome> {
    let key = load_private_key(&dir().join(key), None).unwrap();
    open_message_named(&read(msg), &key, &trust(anchors), at(when), msg)
}

#[test]
fn reference_message_decrypts_and_verifies_both_layers() {
    let o = open(
        "kvconnect-mail",
        "kvprivatekey-open-pem",
        &["kvroot-ca-pem", "kvvivy-ca-pem"],
        OCT_2018,
    )
    .unwrap();
    assert_eq!(o.profile, Profile::KvConnect);
    assert_eq!(o.decryption_result, "00", "{o:#?}");
    assert_eq!(
        o.integrity_check_result,
        vec!["01"],
        "{:#?}",
        o.integrity_explanations
    );
    assert_eq!(o.layers, 2);
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
    let expected = read("kvconnect-mail-dec-verified-both-layers");
    let inner = o.inner_message.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&inner).trim(),
        String::from_utf8_lossy(&expected).trim()
    );
    // first layer decrypted content equals the reference "-dec" file
    assert_eq!(
        String::from_utf8_lossy(&o.decrypted_content.unwrap()).trim(),
        String::from_utf8_lossy(&read("kvconnect-mail-dec")).trim()
    );
}

#[test]
fn wrong_private_key_is_an_input_error_naming_the_key() {
    let e = open(
        "kvconnect-mail",
        "wrong-privatekey-open-pem",
        &["kvroot-ca-pem", "kvvivy-ca-pem"],
        OCT_2018,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::WrongKey);
    assert!(e.input.ends_with("wrong-privatekey-open-pem"), "{e}");
}

#[test]
fn corrupted_message_does_not_decrypt() {
    match open(
        "kvconnect-mail-corrupted",
        "kvprivatekey-open-pem",
        &["kvroot-ca-pem", "kvvivy-ca-pem"],
        OCT_2018,
    ) {
        Ok(o) => {
            assert_ne!(o.decryption_result, "00", "{o:#?}");
            assert!(!o.is_valid());
        }
        Err(e) => assert!(
            matches!(
                e.kind,
                ErrorKind::WrongKey | ErrorKind::BadInput | ErrorKind::Tampered
            ),
            "{e}"
        ),
    }
}

#[rstest]
#[case::incomplete_chain(&["kvvivy-ca-pem"])]
#[case::wrong_ca(&["wrong-ca-pem"])]
fn reference_message_with_insufficient_trust_fails_path_check(#[case] anchors: &[&str]) {
    let o = open("kvconnect-mail", "kvprivatekey-open-pem", anchors, OCT_2018).unwrap();
    assert_eq!(o.decryption_result, "00");
    assert!(
        o.integrity_check_result.contains(&"05".to_string()),
        "{:#?}",
        o.integrity_explanations
    );
    assert!(!o.is_valid());
}

#[rstest]
#[case::valid("kvconnect-mail-verification-valid", &["01"])]
#[case::invalid_digest("kvconnect-mail-verification-invalid-signature-digest", &["02"])]
#[case::issuer_not_trusted("kvconnect-mail-verification-certificate-issuer-not-trusted", &["05"])]
#[case::not_sender("kvconnect-mail-verification-signature-doesnt-belong-to-sender", &["X10"])]
fn verification_vectors(#[case] msg: &str, #[case] codes: &[&str]) {
    let o = open(
        msg,
        "openssl-private-key-pkcs1-pem",
        &["kvconnect-root-ca-pem", "kvconnect-user-ca-pem"],
        MAR_2019,
    )
    .unwrap();
    assert_eq!(o.decryption_result, "00", "{o:#?}");
    let got: Vec<&str> = o
        .integrity_check_result
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(got, codes, "{:#?}", o.integrity_explanations);
}

#[test]
fn unencrypted_part_beside_smime_is_rejected() {
    let o = open(
        "kvconnect-mail-verification-smime-contains-unencrypted-part",
        "openssl-private-key-pkcs1-pem",
        &["kvconnect-root-ca-pem", "kvconnect-user-ca-pem"],
        MAR_2019,
    );
    match o {
        Ok(o) => {
            assert_eq!(o.decryption_result, "00");
            assert_eq!(o.integrity_check_result, vec!["03"]);
            assert!(
                o.integrity_explanations[0]
                    .explanation
                    .contains("unsigned part"),
                "{:#?}",
                o.integrity_explanations
            );
        }
        Err(e) => panic!("{e}"),
    }
}
