//! `kvc-check smime decrypt|verify` and `kvc-check pki init`: outputs and exit codes
//! (0 ok, 1 verification failed, 2 input error naming the input).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
}

fn gematik(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors/third-party/api-kim/samples/SMIME-Profil")
        .join(name)
}

fn vivy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors/third-party/kvc-samples-vivy")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run kvc-check")
}

fn p(x: &Path) -> &str {
    x.to_str().expect("utf-8 path")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn decrypt_gematik_sample_byte_for_byte_with_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    for (key, pw) in [
        (
            "recipientA/hci-enc-2-kim-bsp.p12",
            "recipientA/password.txt",
        ),
        (
            "recipientB/hci-enc-3-kim-bsp.p12",
            "recipientB/password.txt",
        ),
    ] {
        let out = dir.path().join("out");
        let o = run(&[
            "smime",
            "decrypt",
            "--key",
            p(&gematik(key)),
            "--password-file",
            p(&gematik(pw)),
            "-o",
            p(&out),
            p(&gematik("inputEmail.txt.04.encryptedcms")),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(gematik("inputEmail.txt.03.signedwrap")).unwrap()
        );
    }
}

#[test]
fn verify_gematik_signedcms_and_kvconnect_reference_message() {
    let o = run(&[
        "smime",
        "verify",
        "--trust-embedded-signer",
        "--at",
        "2020-01-01",
        p(&gematik("inputEmail.txt.02.signedcms")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("X-KIM-IntegrityCheckResult: 01")
            && text.contains("recipient-emails (signed)"),
        "{text}"
    );
    let o = run(&[
        "smime",
        "verify",
        "--key",
        p(&vivy("kvprivatekey-open-pem")),
        "--trust",
        p(&vivy("kvroot-ca-pem")),
        "--trust",
        p(&vivy("kvvivy-ca-pem")),
        "--at",
        "2018-10-01",
        p(&vivy("kvconnect-mail")),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // same message, incomplete trust: verification fails, exit 1
    let o = run(&[
        "smime",
        "verify",
        "--key",
        p(&vivy("kvprivatekey-open-pem")),
        "--trust",
        p(&vivy("kvvivy-ca-pem")),
        "--at",
        "2018-10-01",
        p(&vivy("kvconnect-mail")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("X-KIM-IntegrityCheckResult: 05"));
}

#[test]
fn input_errors_exit_2_and_name_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let bad_pw = dir.path().join("bad-password.txt");
    std::fs::write(&bad_pw, "01\n").unwrap();
    let p12 = gematik("recipientA/hci-enc-2-kim-bsp.p12");
    let enc = gematik("inputEmail.txt.04.encryptedcms");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "smime".into(),
                "decrypt".into(),
                "--key".into(),
                p(&p12).into(),
                "--password-file".into(),
                p(&bad_pw).into(),
                p(&enc).into(),
            ],
            p(&p12).into(),
        ),
        (
            vec![
                "smime".into(),
                "decrypt".into(),
                "--key".into(),
                p(&vivy("wrong-privatekey-open-pem")).into(),
                p(&vivy("kvconnect-mail")).into(),
            ],
            "wrong-privatekey-open-pem".into(),
        ),
        (
            vec![
                "smime".into(),
                "verify".into(),
                "--trust".into(),
                p(&vivy("kvprivatekey-open-pem")).into(),
                p(&gematik("inputEmail.txt.02.signedcms")).into(),
            ],
            "kvprivatekey-open-pem".into(),
        ),
    ];
    let truncated = dir.path().join("truncated.p7m");
    std::fs::write(&truncated, &std::fs::read(&enc).unwrap()[..2000]).unwrap();
    let mut cases = cases;
    cases.push((
        vec![
            "smime".into(),
            "decrypt".into(),
            "--key".into(),
            p(&gematik("recipientA/hci-enc-2-kim-bsp.prv.pem")).into(),
            p(&truncated).into(),
        ],
        "truncated.p7m".into(),
    ));
    for (args, named) in cases {
        let o = bin().args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&named),
            "{args:?}: stderr does not name {named}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn pki_init_writes_pem_and_p12() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let o = run(&[
        "pki",
        "init",
        p(&out),
        "--email",
        "a@praxis.kim.telematik-test",
        "--variant",
        "valid",
        "--variant",
        "expired",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in [
        "root-ca.pem",
        "untrusted-ca.pem",
        "a.valid.sig.p12",
        "a.expired.enc.pem",
        "a.valid.sig-bp256.pem",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let o = run(&[
        "smime",
        "verify",
        "--trust",
        p(&out.join("root-ca.pem")),
        p(&out.join("a.valid.sig.pem")),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a certificate is not a signed message"
    );
}
