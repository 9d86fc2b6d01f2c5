//! Messages the KV-Connect mocks serve: decrypt + verify with kvc-smime and with the OpenSSL CLI,
//! the broken variants fail the way they should, and the REST mock serves them byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;

use kvc_mocks::kvc::served_messages::{
    KvcMessagePki, KvcMessageSpec, KvcMessageVariant, UNKNOWN_DIENSTKENNUNG, build_served_message,
};
use kvc_smime::message::open_message;
use kvc_smime::mime;

const SUT: &str = "praxis.1@kv-safenet.de";
const SENDER: &str = "arzt.2@kv-safenet.de";

fn pki() -> &'static KvcMessagePki {
    static P: OnceLock<KvcMessagePki> = OnceLock::new();
    P.get_or_init(|| KvcMessagePki::generate(SUT, SENDER).unwrap())
}

fn build(v: KvcMessageVariant) -> Vec<u8> {
    build_served_message(pki(), &KvcMessageSpec::arztbrief(SENDER, SUT), v).unwrap()
}

fn headers(raw: &[u8]) -> mime::Headers {
    mime::Headers::parse(mime::split_header_body(raw).0)
}

#[test]
fn valid_message_is_built_like_the_reference_sample_and_opens_with_kvc_smime() {
    let raw = build(KvcMessageVariant::Valid);
    // CRLF only.
    assert!(!raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    let h = headers(&raw);
    assert_eq!(h.get("From"), Some(SENDER));
    assert_eq!(h.get("To"), Some(SUT));
    assert_eq!(h.get("Return-Path"), Some(format!("<{SENDER}>").as_str()));
    assert_eq!(
        h.get("X-KVC-Dienstkennung"),
        Some("Arztbrief;VHitG-Versand;V1.0")
    );
    assert!(h.get("X-KVC-Sendersystem").unwrap().contains(';'));
    assert!(h.get("Message-ID").unwrap().starts_with('<'));
    assert!(h.get("Disposition-Notification-To").is_none());
    let ct = h.content_type();
    assert!(ct.is_pkcs7_mime());
    assert_eq!(ct.smime_type().as_deref(), Some("enveloped-data"));

    let root = pki().pki.root.certificate.clone();
    let out = open_message(
        &raw,
        &pki().sut.to_key_material("sut"),
        std::slice::from_ref(&root),
        None,
    )
    .unwrap();
    assert!(out.is_valid(), "{:?}", out.integrity_explanations);
    assert_eq!(out.decryption_result, "00");
    assert!(
        out.decryption_explanation.contains("aes-256-cbc")
            || out.decryption_explanation.to_lowercase().contains("aes"),
        "{}",
        out.decryption_explanation
    );
    assert_eq!(out.signer_emails, vec![SENDER.to_string()]);
    let dec = String::from_utf8_lossy(out.decrypted_content.as_ref().unwrap()).to_string();
    assert!(
        dec.contains("multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256")
    );
    assert!(dec.contains("Content-Description: eAB-XML"));
    // The sender can read its own copy too (encrypted to addressee AND sender).
    let own = open_message(&raw, &pki().sender.to_key_material("sender"), &[root], None).unwrap();
    assert!(own.is_valid());
}

#[test]
fn broken_variants_fail_as_intended() {
    let root = pki().pki.root.certificate.clone();
    let key = pki().sut.to_key_material("sut");
    let open = |v| open_message(&build(v), &key, std::slice::from_ref(&root), None);

    let o = open(KvcMessageVariant::BadSignature).unwrap();
    assert!(!o.is_valid());
    assert!(
        o.integrity_check_result.contains(&"02".to_string()),
        "{:?}",
        o.integrity_explanations
    );

    let o = open(KvcMessageVariant::SignerNotFrom).unwrap();
    assert!(!o.is_valid());
    assert!(
        o.integrity_check_result.contains(&"X10".to_string()),
        "{:?}",
        o.integrity_explanations
    );

    let o = open(KvcMessageVariant::ForeignCaSigner).unwrap();
    assert!(!o.is_valid());
    assert!(
        o.integrity_check_result.contains(&"05".to_string()),
        "{:?}",
        o.integrity_explanations
    );

    let e = open(KvcMessageVariant::EncryptedToSomeoneElse).unwrap_err();
    assert_eq!(e.kind, kvc_smime::ErrorKind::WrongKey, "{e}");

    let raw = build(KvcMessageVariant::UnknownDienstkennung);
    assert_eq!(
        headers(&raw).get("X-KVC-Dienstkennung"),
        Some(UNKNOWN_DIENSTKENNUNG)
    );
    assert!(
        open(KvcMessageVariant::UnknownDienstkennung)
            .unwrap()
            .is_valid()
    );

    let raw = build(KvcMessageVariant::MdnRequested);
    let h = headers(&raw);
    assert_eq!(h.get("Disposition-Notification-To"), Some(SENDER));
    assert_eq!(h.get("Return-Path"), Some(format!("<{SENDER}>").as_str()));
    assert!(open(KvcMessageVariant::MdnRequested).unwrap().is_valid());
}

fn openssl(args: &[&str]) -> std::process::Output {
    std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "this test needs the OpenSSL CLI (`openssl`, Debian package openssl) on PATH: {e}"
            )
        })
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn openssl_cms_decrypts_and_verifies_the_built_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = pki();
    let cert = write(d, "sut.pem", p.sut.certificate_pem().unwrap().as_bytes());
    let key = write(d, "sut.key", p.sut.key_pem().unwrap().as_bytes());
    let root = write(d, "root.pem", p.root_pem().unwrap().as_bytes());
    let check = |variant: KvcMessageVariant| -> (bool, bool) {
        let msg = write(d, "msg.eml", &build(variant));
        let dec = d.join("dec.eml");
        let out = openssl(&[
            "cms",
            "-decrypt",
            "-in",
            &msg,
            "-recip",
            &cert,
            "-inkey",
            &key,
            "-out",
            dec.to_str().unwrap(),
        ]);
        if !out.status.success() {
            return (false, false);
        }
        let content = d.join("content.txt");
        let out = openssl(&[
            "cms",
            "-verify",
            "-in",
            dec.to_str().unwrap(),
            "-CAfile",
            &root,
            "-purpose",
            "any",
            "-out",
            content.to_str().unwrap(),
        ]);
        if out.status.success() {
            let c = std::fs::read(&content).unwrap();
            assert!(String::from_utf8_lossy(&c).contains("anbei der Arztbrief"));
        }
        (true, out.status.success())
    };
    assert_eq!(check(KvcMessageVariant::Valid), (true, true));
    assert_eq!(check(KvcMessageVariant::BadSignature), (true, false));
    assert_eq!(check(KvcMessageVariant::ForeignCaSigner), (true, false));
    assert_eq!(
        check(KvcMessageVariant::EncryptedToSomeoneElse),
        (false, false)
    );
    // OpenSSL does not compare the signer with From: SignerNotFrom verifies there (kvc-smime
    // reports X10).
    assert_eq!(check(KvcMessageVariant::SignerNotFrom), (true, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_mock_serves_a_built_message_that_the_sut_can_open() {
    use kvc_mocks::kvc::rest::{KvcRestAccount, KvcRestConfig, KvcRestMock};
    let raw = build(KvcMessageVariant::Valid);
    let pki_tls = kvc_mocks::TlsPki::generate("localhost").unwrap();
    let acct = KvcRestAccount::new("praxis.1", "Geheim12");
    let uid = acct.uid.clone();
    let mock = KvcRestMock::start(
        KvcRestConfig {
            accounts: vec![acct],
            ..KvcRestConfig::default()
        },
        &pki_tls,
    )
    .await
    .unwrap();
    let id = mock.deliver("praxis.1", raw.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    pki_tls.write_ca(&ca).unwrap();
    let out_file = dir.path().join("m.eml");
    let url = format!("{}/accounts/{uid}/mails/{id}", mock.base_url());
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        tokio::process::Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "--cacert",
                ca.to_str().unwrap(),
                "-u",
                "praxis.1:Geheim12",
                "-o",
                out_file.to_str().unwrap(),
                &url,
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fetched = std::fs::read(&out_file).unwrap();
    assert_eq!(fetched, raw);
    let o = open_message(
        &fetched,
        &pki().sut.to_key_material("sut"),
        &[pki().pki.root.certificate.clone()],
        None,
    )
    .unwrap();
    assert!(o.is_valid());
}

/// The certificate flow of a real client (KVC-FACTS §5): `openssl req` with
/// `/x500UniqueIdentifier=<username>` → `POST csr` → poll `csr/{id}` to 999 → `certificates?uid=`
/// returns a certificate for the CSR's key. A CSR with another subject ends in 903.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csr_from_openssl_req_is_issued_after_999() {
    use kvc_mocks::kvc::rest::{KvcRestAccount, KvcRestConfig, KvcRestMock};
    let tls = kvc_mocks::TlsPki::generate("localhost").unwrap();
    let acct = KvcRestAccount::new("praxis.1", "Geheim12");
    let uid = acct.uid.clone();
    let mock = KvcRestMock::start(
        KvcRestConfig {
            accounts: vec![acct],
            ..KvcRestConfig::default()
        },
        &tls,
    )
    .await
    .unwrap();
    mock.set_csr_issuer(Some(pki().csr_issuer()));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = d.join("ca.pem");
    tls.write_ca(&ca).unwrap();
    let key = d.join("k.pem");
    let curl = |args: Vec<String>| async move {
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(15),
            tokio::process::Command::new("curl")
                .args(&args)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .unwrap()
        .expect("curl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let base = mock.base_url();
    let common = |url: String| -> Vec<String> {
        vec![
            "-sS".into(),
            "--fail".into(),
            "--cacert".into(),
            ca.to_str().unwrap().into(),
            "-u".into(),
            "praxis.1:Geheim12".into(),
            url,
        ]
    };
    let mut last = String::new();
    for (subject, expect) in [
        ("/x500UniqueIdentifier=praxis.1", 999u16),
        ("/CN=praxis.1", 903),
    ] {
        let csr = d.join("csr.pem");
        let out = openssl(&[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-subj",
            subject,
            "-out",
            csr.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut args = common(format!("{base}/csr"));
        args.extend([
            "-H".into(),
            "Content-Type: text/plain".into(),
            "--data-binary".into(),
            format!("@{}", csr.display()),
        ]);
        let created = curl(args).await;
        let id = created.rsplit('/').next().unwrap().to_string();
        for _ in 0..5 {
            last = curl(common(format!("{base}/csr/{id}"))).await;
        }
        assert!(
            last.contains(&format!("<status-entry status=\"{expect}\"/>")),
            "{subject}: {last}"
        );
        let first: u16 = last.split("status=\"").nth(1).unwrap()[..3]
            .parse()
            .unwrap();
        assert_eq!(first, expect, "{last}");
        if expect == 999 {
            let xml = curl(common(format!("{base}/certificates?uid={uid}"))).await;
            let pem_start = xml.find("-----BEGIN CERTIFICATE-----").unwrap();
            let pem_end = xml.find("-----END CERTIFICATE-----").unwrap() + 25;
            let cert = d.join("cert.pem");
            std::fs::write(&cert, &xml[pem_start..pem_end]).unwrap();
            let a = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"]);
            let b = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
            assert_eq!(a.stdout, b.stdout, "certificate is for the CSR's key");
            let root = write(d, "root.pem", pki().root_pem().unwrap().as_bytes());
            let v = openssl(&["verify", "-CAfile", &root, cert.to_str().unwrap()]);
            assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
            let certs =
                kvc_smime::keys::parse_certificates(&xml.as_bytes()[pem_start..pem_end], "c")
                    .unwrap();
            assert_eq!(
                kvc_smime::message::emails_of(&certs[0]),
                vec!["praxis.1@kv-safenet.de".to_string()]
            );
        }
    }
    let obs = mock.observations();
    assert_eq!(obs.csrs.len(), 2);
}
