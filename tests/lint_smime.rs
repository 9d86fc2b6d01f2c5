//! `kvc-check lint --key`: real samples are opened, and the S/MIME verdict is machine-readable.

mod common;

use std::process::{Command, Output};

fn lint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .arg("lint")
        .args(args)
        .output()
        .expect("run kvc-check")
}

/// `rel` as it was in the knowledge folder (`specs/<source>/...`), now under
/// `vectors/third-party/<source>/...`.
fn path(rel: &str) -> String {
    common::third_party_dir()
        .join(rel.strip_prefix("specs/").unwrap_or(rel))
        .display()
        .to_string()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn kv_connect_reference_message_decrypts_and_verifies() {
    let v = "specs/kvc-samples-vivy/";
    let out = lint(&[
        "--format",
        "json",
        "--key",
        &path(&format!("{v}kvprivatekey-open-pem")),
        "--trust",
        &path(&format!("{v}kvroot-ca-pem")),
        "--trust",
        &path(&format!("{v}kvvivy-ca-pem")),
        "--at",
        "2019-06-01",
        &path(&format!("{v}kvconnect-mail")),
    ]);
    let file = &json(&out)[0];
    assert_eq!(file["smime"]["decryption_result"], "00");
    assert_eq!(
        file["smime"]["integrity_check_result"],
        serde_json::json!(["01"])
    );
    let kvc022 = file["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["requirement"] == "KVC-Anb022")
        .unwrap();
    assert_eq!(kvc022["verdict"], "pass");
}

#[test]
fn wrong_key_is_an_input_error_naming_the_key() {
    let v = "specs/kvc-samples-vivy/";
    let key = path(&format!("{v}wrong-privatekey-open-pem"));
    let out = lint(&[
        "--format",
        "json",
        "--key",
        &key,
        "--trust",
        &path(&format!("{v}kvroot-ca-pem")),
        &path(&format!("{v}kvconnect-mail")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let file = &json(&out)[0];
    assert_eq!(file["verdict"], "error");
    let error = file["error"].as_str().unwrap();
    assert!(
        error.contains(&key) && error.contains("wrong key"),
        "{error}"
    );
}

#[test]
fn gematik_komle_sample_reports_codes_and_the_corrupt_signed_wrap() {
    let s = "specs/api-kim/samples/SMIME-Profil/";
    let out = lint(&[
        "--format",
        "json",
        "--key",
        &path(&format!("{s}recipientA/hci-enc-2-kim-bsp.p12")),
        "--password-file",
        &path(&format!("{s}recipientA/password.txt")),
        "--trust",
        &path(&format!("{s}recipientA/GEM.KOMP-CA24-TEST-ONLY.pem")),
        "--at",
        "2021-06-01",
        &path(&format!("{s}inputEmail.txt.05.encryptedwrap")),
    ]);
    let file = &json(&out)[0];
    assert_eq!(file["smime"]["decryption_result"], "00");
    let codes = file["smime"]["integrity_check_result"].as_array().unwrap();
    assert!(codes.iter().any(|c| c == "04"), "{codes:?}");
    let text = file["findings"].to_string();
    assert!(text.contains("line-ending conversion"), "{text}");
    // The KOM-LE profile checks (vectors/kim/README.md explains each): the envelope passes,
    // the damaged signed-data entity fails KOM-LE-A_2103, what lies behind it is skipped.
    let findings = file["findings"].as_array().unwrap();
    let entity = findings
        .iter()
        .find(|f| f["rule"] == "smime/signed-data-entity")
        .unwrap_or_else(|| panic!("no KOM-LE-A_2103 finding: {text}"));
    assert_eq!(entity["requirement"], "KOM-LE-A_2103");
    assert_eq!(entity["location"]["kind"], "structure");
    assert!(
        entity["message"]
            .as_str()
            .unwrap()
            .contains("declares 3138 bytes, 42 more arrived"),
        "{entity}"
    );
    let verdict = |id: &str| {
        file["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["requirement"] == id)
            .map(|r| (r["verdict"].clone(), r["reason"].clone()))
            .unwrap_or_else(|| panic!("{id} not reported"))
    };
    for id in [
        "KOM-LE-A_2104",
        "KOM-LE-A_2107",
        "KOM-LE-A_2108",
        "KOM-LE-A_2111",
        "KOM-LE-A_2114",
        "KOM-LE-A_2115",
    ] {
        assert_eq!(verdict(id).0, "pass", "{id}");
    }
    assert_eq!(verdict("KOM-LE-A_2103").0, "fail");
    let (v, reason) = verdict("KOM-LE-A_2118");
    assert_eq!(v, "skip");
    assert!(
        reason.as_str().unwrap().contains("KOM-LE-A_2103"),
        "{reason}"
    );
    assert_eq!(verdict("KOM-LE-A_2098").0, "skip");
}

#[test]
fn bad_key_inputs_exit_2_naming_the_input() {
    let msg = path("specs/kvc-samples-vivy/kvconnect-mail");
    let out = lint(&["--key", "/nonexistent/key.pem", &msg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key /nonexistent/key.pem"));
    let not_a_cert = path("specs/kvc-samples-vivy/kvconnect-mail");
    let out = lint(&[
        "--key",
        &path("specs/kvc-samples-vivy/kvprivatekey-open-pem"),
        "--trust",
        &not_a_cert,
        &msg,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--trust"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = "specs/api-kim/samples/SMIME-Profil/recipientA/";
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("pw.txt");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let out = lint(&[
        "--key",
        &path(&format!("{s}hci-enc-2-kim-bsp.p12")),
        "--password-file",
        wrong.to_str().unwrap(),
        &msg,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("hci-enc-2-kim-bsp.p12"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// KVC-Anb023 covers the S/MIME content: a bare LF inside the encryption is found once the
/// message is opened, and the same message with CRLF content passes.
#[test]
fn bare_lf_inside_the_encrypted_content_fails_kvc_anb023() {
    use kvc_check::lint::{LintOptions, ProfileChoice, SmimeKeys, lint_bytes};
    use kvc_smime::message::{KvConnectMessage, build_kvconnect_message};
    use kvc_smime::pki::{CertVariant, EndEntitySpec, KeyPurpose, TestPki};

    let pki = TestPki::generate().expect("pki");
    let issue = |email: &str| {
        pki.issue(&EndEntitySpec::new(email, KeyPurpose::Both).variant(CertVariant::Valid))
            .expect("cert")
    };
    let sender = issue("praxis@kv-connect.test");
    let addressee = issue("empfaenger@kv-connect.test");
    let build = |content: &[u8]| {
        build_kvconnect_message(&KvConnectMessage {
            content,
            headers: vec![
                ("From".into(), "praxis@kv-connect.test".into()),
                ("To".into(), "empfaenger@kv-connect.test".into()),
                ("Subject".into(), "Arztbrief".into()),
                ("Date".into(), "Mon, 23 Nov 2026 10:00:00 +0000".into()),
                ("Message-ID".into(), "<1@kv-connect.test>".into()),
                (
                    "X-KVC-Dienstkennung".into(),
                    "Arztbrief;VHitG-Versand;V1.0".into(),
                ),
                ("X-KVC-Sendersystem".into(), "Test;1.0".into()),
            ],
            sender: &sender,
            recipients: vec![addressee.certificate.clone(), sender.certificate.clone()],
            key_transport: kvc_smime::cms::KeyTransport::Pkcs1v15,
        })
        .expect("message")
    };
    let opts = || LintOptions {
        profile: ProfileChoice::Kvc,
        registry: kvc_check::rules::KvcRegistry::builtin().expect("registry"),
        max_size: kvc_check::lint::DEFAULT_MAX_SIZE,
        smime: Some(SmimeKeys {
            key: addressee.to_key_material("addressee"),
            trust: vec![pki.root.certificate.clone()],
            at: None,
        }),
    };
    let crlf = b"Content-Type: text/plain; charset=utf-8\r\n\r\nZeile 1\r\nZeile 2\r\n";
    let lf = b"Content-Type: text/plain; charset=utf-8\r\n\r\nZeile 1\nZeile 2\r\n";
    let verdict = |r: &kvc_check::lint::FileResult| {
        r.requirements
            .iter()
            .find(|q| q.requirement == "KVC-Anb023")
            .map(|q| format!("{:?}", q.verdict))
    };
    let good = lint_bytes("good.eml", &build(crlf), &opts());
    assert_eq!(verdict(&good).as_deref(), Some("Pass"), "{good:?}");
    let bad = lint_bytes("bad.eml", &build(lf), &opts());
    assert_eq!(verdict(&bad).as_deref(), Some("Fail"), "{bad:?}");
    assert!(
        bad.findings
            .iter()
            .any(|f| f.requirement == "KVC-Anb023" && f.message.starts_with("decrypted content:")),
        "{:?}",
        bad.findings
    );
}

/// A correctly built KOM-LE message opened with the key of someone it is not addressed to is a
/// verdict about the message (issue 12): X-KIM-DecryptionResult 01 (key not available), the
/// RecipientInfos it does carry (issuer, serial, recipient-emails address) in the finding and in
/// `smime.recipient_infos`, exit 1. A key file that is not a key stays an input error (exit 2).
#[test]
fn key_of_a_non_recipient_is_decryption_result_01_naming_the_recipient_infos() {
    use kvc_smime::message::{KomLeFaults, KomLeMessage, build_komle_message};
    use kvc_smime::pki::{CertVariant, TestPki};

    let pki = TestPki::generate().expect("pki");
    let identity = |email: &str| pki.identity(email, CertVariant::Valid).expect("identity");
    let alice = identity("alice@praxis.kim.telematik-test");
    let bob = identity("bob@klinik.kim.telematik-test");
    let carol = identity("carol@apotheke.kim.telematik-test");
    let inner = b"From: alice@praxis.kim.telematik-test\r\nTo: bob@klinik.kim.telematik-test\r\n\
Subject: Befund\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <1@praxis.kim.telematik-test>\r\nX-KIM-Dienstkennung: KIM-Mail;Default;V1.0\r\n\
X-KIM-Sendersystem: Test;1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBefund\r\n";
    let msg = build_komle_message(&KomLeMessage {
        inner,
        sender_signature: &alice.signature,
        sender: (alice.email.clone(), alice.encryption.certificate.clone()),
        recipients: vec![(bob.email.clone(), bob.encryption.certificate.clone())],
        version: "1.0".into(),
        faults: KomLeFaults::default(),
    })
    .expect("message");
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write");
        p.display().to_string()
    };
    let msg_path = write("komle.eml", &msg);
    let root = write(
        "root-ca.pem",
        pki.root.certificate_pem().expect("pem").as_bytes(),
    );
    let p12 = carol
        .encryption
        .to_pkcs12(
            std::slice::from_ref(&pki.root.certificate),
            "geheim",
            "carol",
        )
        .expect("p12");
    let key = write("carol.enc.p12", &p12);
    let password = write("pw.txt", b"geheim\n");

    let out = lint(&[
        "--format",
        "json",
        "--key",
        &key,
        "--password-file",
        &password,
        "--trust",
        &root,
        &msg_path,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let file = &json(&out)[0];
    assert_eq!(file["verdict"], "fail", "{file:#}");
    assert_eq!(file["smime"]["decryption_result"], "01", "{file:#}");
    let serial = |c: &kvc_smime::Certificate| {
        kvc_smime::asn1::serial_hex(c.tbs_certificate().serial_number())
    };
    let issuer = bob
        .encryption
        .certificate
        .tbs_certificate()
        .issuer()
        .to_string();
    // Structured: one entry per RecipientInfo, with the recipient-emails address.
    let infos = file["smime"]["recipient_infos"]
        .as_array()
        .unwrap_or_else(|| panic!("no smime.recipient_infos: {file:#}"));
    for (who, cert) in [
        (&bob.email, &bob.encryption.certificate),
        (&alice.email, &alice.encryption.certificate),
    ] {
        assert!(
            infos.iter().any(|i| i["issuer"] == issuer.as_str()
                && i["serial"] == serial(cert).as_str()
                && i["recipient_emails"] == serde_json::json!([who])),
            "{who} missing in {infos:#?}"
        );
    }
    assert_eq!(infos.len(), 2, "{infos:#?}");
    // The finding names the code, the key's certificate and the RecipientInfos.
    let finding = file["findings"]
        .as_array()
        .and_then(|f| {
            f.iter()
                .find(|f| f["requirement"] == "KOM-LE-A_2047" && f["severity"] == "error")
        })
        .unwrap_or_else(|| panic!("no KOM-LE-A_2047 error: {file:#}"));
    let message = finding["message"].as_str().unwrap_or_default();
    for needle in [
        "X-KIM-DecryptionResult 01",
        &serial(&carol.encryption.certificate),
        &serial(&bob.encryption.certificate),
        &serial(&alice.encryption.certificate),
        &issuer,
        &bob.email,
        &alice.email,
    ] {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    let a2047 = file["requirements"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["requirement"] == "KOM-LE-A_2047"))
        .unwrap_or_else(|| panic!("KOM-LE-A_2047 not reported: {file:#}"));
    assert_eq!(a2047["verdict"], "fail");

    // A key file that is not a key stays an input error.
    let out = lint(&["--format", "json", "--key", &msg_path, &msg_path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("--key {msg_path}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
