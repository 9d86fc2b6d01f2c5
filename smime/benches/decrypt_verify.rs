//! Decrypt + verify of a ~15 MB KOM-LE message: kvc-smime vs. the `openssl cms` CLI on the same file.
//!
//! The message carries no unauthenticated recipient-emails attribute, because OpenSSL 3.0
//! cannot parse unauthAttrs in AuthEnvelopedData; everything else is the KOM-LE profile
//! (AES-256-GCM, RSA-OAEP-SHA256, RSASSA-PSS, message/rfc822 inner wrap).
//! Run: `cargo bench -p kvc-smime --bench decrypt_verify`.

use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kvc_smime::message::{KomLeFaults, KomLeMessage, build_komle_message, open_message_named};
use kvc_smime::pki::{CertVariant, TestPki};

fn inner_message(target: usize) -> Vec<u8> {
    let mut m = b"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nFrom: alice@praxis.kim.telematik-test\r\nTo: bob@klinik.kim.telematik-test\r\nMessage-ID: <bench@praxis.kim.telematik-test>\r\nSubject: Befund\r\nX-KIM-Dienstkennung: KIM-Mail;Default;V1.0\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf; name=befund.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut raw = Vec::with_capacity(target * 3 / 4);
    while raw.len() < target * 3 / 4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        raw.extend_from_slice(&x.to_le_bytes());
    }
    m.extend_from_slice(&kvc_smime::mime::encode_base64_lines(&raw));
    m
}

fn openssl_ok() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn bench(c: &mut Criterion) {
    let pki = TestPki::generate().expect("pki");
    let alice = pki
        .identity("alice@praxis.kim.telematik-test", CertVariant::Valid)
        .expect("alice");
    let bob = pki
        .identity("bob@klinik.kim.telematik-test", CertVariant::Valid)
        .expect("bob");
    let inner = inner_message(10_600_000);
    let msg = build_komle_message(&KomLeMessage {
        inner: &inner,
        sender_signature: &alice.signature,
        sender: (alice.email.clone(), alice.encryption.certificate.clone()),
        recipients: vec![(bob.email.clone(), bob.encryption.certificate.clone())],
        version: "1.5".into(),
        faults: KomLeFaults {
            omit_unprotected_recipient_emails: true,
            ..Default::default()
        },
    })
    .expect("message");
    let dir = tempfile::tempdir().expect("tempdir");
    let eml = dir.path().join("msg.eml");
    std::fs::write(&eml, &msg).expect("write");
    let key_pem = dir.path().join("bob.key.pem");
    std::fs::write(&key_pem, bob.encryption.key_pem().expect("pem")).expect("write");
    let cert_pem = dir.path().join("bob.pem");
    std::fs::write(&cert_pem, bob.encryption.certificate_pem().expect("pem")).expect("write");
    let root = dir.path().join("root.pem");
    std::fs::write(&root, pki.root.certificate_pem().expect("pem")).expect("write");
    let key = kvc_smime::keys::load_private_key(&key_pem, None).expect("key");
    let trust = vec![pki.root.certificate.clone()];
    eprintln!(
        "message size: {} bytes ({:.1} MB)",
        msg.len(),
        msg.len() as f64 / 1e6
    );

    let mut g = c.benchmark_group("decrypt_verify_15mb");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("kvc_smime", |b| {
        b.iter(|| {
            let raw = std::fs::read(&eml).expect("read");
            let o = open_message_named(&raw, &key, &trust, None, "msg.eml").expect("open");
            assert!(o.integrity_check_result == ["09"] || o.is_valid());
            o
        })
    });
    if openssl_ok() {
        let dec = dir.path().join("dec");
        let body = dir.path().join("signed.der");
        let out = dir.path().join("content");
        g.bench_function("openssl_cms", |b| {
            b.iter(|| {
                let st = Command::new("openssl")
                    .args(["cms", "-decrypt", "-in"])
                    .arg(&eml)
                    .arg("-inkey")
                    .arg(&key_pem)
                    .arg("-recip")
                    .arg(&cert_pem)
                    .arg("-out")
                    .arg(&dec)
                    .status()
                    .expect("openssl");
                assert!(st.success());
                let d = std::fs::read(&dec).expect("dec");
                let pos = d.windows(4).position(|w| w == b"\r\n\r\n").expect("entity") + 4;
                std::fs::write(&body, &d[pos..]).expect("write");
                let st = Command::new("openssl")
                    .args(["cms", "-verify", "-inform", "DER", "-purpose", "any", "-in"])
                    .arg(&body)
                    .arg("-CAfile")
                    .arg(&root)
                    .arg("-out")
                    .arg(&out)
                    .stderr(std::process::Stdio::null())
                    .status()
                    .expect("openssl");
                assert!(st.success());
            })
        });
    } else {
        eprintln!("openssl not found: skipping the OpenSSL comparison");
    }
    g.finish();
    if openssl_ok() {
        openssl_made(c, dir.path(), &alice, &key_pem, &cert_pem, &root);
    }
}

/// The other layout: the same inner mail signed and encrypted by `openssl cms` (SMIME output,
/// so the signed part is base64 inside the encryption and decoded a second time), as users
/// with OpenSSL-made messages have it. Both sides in the same run.
fn openssl_made(
    c: &mut Criterion,
    dir: &std::path::Path,
    alice: &kvc_smime::pki::Identity,
    key_pem: &std::path::Path,
    cert_pem: &std::path::Path,
    root: &std::path::Path,
) {
    let inner = dir.join("inner.eml");
    std::fs::write(&inner, inner_message(7_000_000)).expect("write");
    let signer = dir.join("alice.sig.pem");
    std::fs::write(&signer, alice.signature.certificate_pem().expect("pem")).expect("write");
    let signer_key = dir.join("alice.sig.key.pem");
    std::fs::write(&signer_key, alice.signature.key_pem().expect("pem")).expect("write");
    let signed = dir.join("signed.eml");
    let eml = dir.join("openssl-made.eml");
    let run = |args: &[&std::ffi::OsStr]| {
        let st = Command::new("openssl")
            .args(args)
            .status()
            .expect("openssl");
        assert!(st.success(), "openssl {args:?}");
    };
    run(&[
        "cms".as_ref(),
        "-sign".as_ref(),
        "-nodetach".as_ref(),
        "-binary".as_ref(),
        "-in".as_ref(),
        inner.as_os_str(),
        "-signer".as_ref(),
        signer.as_os_str(),
        "-inkey".as_ref(),
        signer_key.as_os_str(),
        "-outform".as_ref(),
        "SMIME".as_ref(),
        "-out".as_ref(),
        signed.as_os_str(),
    ]);
    run(&[
        "cms".as_ref(),
        "-encrypt".as_ref(),
        "-aes-256-gcm".as_ref(),
        "-binary".as_ref(),
        "-in".as_ref(),
        signed.as_os_str(),
        "-recip".as_ref(),
        cert_pem.as_os_str(),
        "-keyopt".as_ref(),
        "rsa_padding_mode:oaep".as_ref(),
        "-keyopt".as_ref(),
        "rsa_oaep_md:sha256".as_ref(),
        "-outform".as_ref(),
        "SMIME".as_ref(),
        "-out".as_ref(),
        eml.as_os_str(),
    ]);
    let size = std::fs::metadata(&eml).map(|m| m.len()).unwrap_or(0);
    eprintln!("OpenSSL-made message: {size} bytes");
    let key = kvc_smime::keys::load_private_key(key_pem, None).expect("key");
    let trust = kvc_smime::keys::load_certificates(root).expect("root");
    let mut g = c.benchmark_group("decrypt_verify_openssl_made");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("kvc_smime", |b| {
        b.iter(|| {
            let raw = std::fs::read(&eml).expect("read");
            open_message_named(&raw, &key, &trust, None, "openssl-made.eml").expect("open")
        })
    });
    let dec = dir.join("dec2");
    let out = dir.join("content2");
    g.bench_function("openssl_cms", |b| {
        b.iter(|| {
            run(&[
                "cms".as_ref(),
                "-decrypt".as_ref(),
                "-in".as_ref(),
                eml.as_os_str(),
                "-inkey".as_ref(),
                key_pem.as_os_str(),
                "-recip".as_ref(),
                cert_pem.as_os_str(),
                "-out".as_ref(),
                dec.as_os_str(),
            ]);
            run(&[
                "cms".as_ref(),
                "-verify".as_ref(),
                "-purpose".as_ref(),
                "any".as_ref(),
                "-in".as_ref(),
                dec.as_os_str(),
                "-CAfile".as_ref(),
                root.as_os_str(),
                "-out".as_ref(),
                out.as_os_str(),
            ]);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
