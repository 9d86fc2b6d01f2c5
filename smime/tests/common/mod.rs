//! Shared test fixtures: one generated PKI per test binary, the openssl CLI.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kvc_smime::pki::{CertVariant, CertifiedKey, Identity, TestPki};

pub struct Fixture {
    pub pki: TestPki,
    pub alice: Identity,
    pub bob: Identity,
    pub carol: Identity,
    pub mallory_sig: CertifiedKey,
    pub expired_sig: CertifiedKey,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pki = TestPki::generate().unwrap();
        let alice = pki
            .identity("alice@praxis.kim.telematik-test", CertVariant::Valid)
            .unwrap();
        let bob = pki
            .identity("bob@klinik.kim.telematik-test", CertVariant::Valid)
            .unwrap();
        let carol = pki
            .identity("carol@apotheke.kim.telematik-test", CertVariant::Valid)
            .unwrap();
        let mallory_sig = pki
            .issue(
                &kvc_smime::pki::EndEntitySpec::new(
                    "alice@praxis.kim.telematik-test",
                    kvc_smime::pki::KeyPurpose::Signature,
                )
                .variant(CertVariant::UntrustedIssuer),
            )
            .unwrap();
        let expired_sig = pki
            .issue(
                &kvc_smime::pki::EndEntitySpec::new(
                    "alice@praxis.kim.telematik-test",
                    kvc_smime::pki::KeyPurpose::Signature,
                )
                .variant(CertVariant::Expired),
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture {
            pki,
            alice,
            bob,
            carol,
            mallory_sig,
            expired_sig,
            dir,
        };
        f.write("root.pem", f.pki.root.certificate_pem().unwrap().as_bytes());
        for (n, ck) in [
            ("alice.sig", &f.alice.signature),
            ("alice.enc", &f.alice.encryption),
            ("bob.sig", &f.bob.signature),
            ("bob.enc", &f.bob.encryption),
            ("carol.enc", &f.carol.encryption),
            ("mallory.sig", &f.mallory_sig),
            ("expired.sig", &f.expired_sig),
        ] {
            f.write(
                &format!("{n}.pem"),
                ck.certificate_pem().unwrap().as_bytes(),
            );
            f.write(&format!("{n}.key.pem"), ck.key_pem().unwrap().as_bytes());
        }
        f
    })
}

/// The `openssl` binary; fails with a clear message if it is missing.
pub fn openssl() -> Command {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the `openssl` command line tool is required for interop tests (apt-get install openssl)"
    );
    Command::new("openssl")
}

/// Run openssl with args; panic with its stderr on failure; return stdout.
pub fn run_openssl(args: &[&str]) -> Vec<u8> {
    let out = openssl().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub const INNER: &[u8] = b"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nFrom: alice@praxis.kim.telematik-test\r\nTo: bob@klinik.kim.telematik-test\r\nMessage-ID: <kvc-check-1@praxis.kim.telematik-test>\r\nSubject: Befund\r\nX-KIM-Dienstkennung: KIM-Mail;Default;V1.0\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Bob,\r\nthe report is attached.\r\n";
