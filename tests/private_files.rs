//! Private keys, PKCS#12 files and password files written for the SUT are readable by their
//! owner only (mode 0600), even under the usual umask 022 that leaves other files 0644.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs kvc-check with umask 022 (whatever the test runner's umask is).
fn kvc_check_umask_022(args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_kvc-check"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    out.sort();
    out
}

fn is_secret(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.ends_with("key.pem") || name.ends_with(".p12") || name == "p12-password.txt"
}

/// Every secret in `dir` is 0600; certificates stay world-readable (0644 under umask 022),
/// which also shows the umask was in effect.
fn assert_secrets_private(dir: &Path, at_least: usize) {
    let all = files(dir);
    let secrets: Vec<_> = all.iter().filter(|p| is_secret(p)).collect();
    assert!(
        secrets.len() >= at_least,
        "{}: only {secrets:?}",
        dir.display()
    );
    for p in &secrets {
        assert_eq!(mode(p), 0o600, "{} is {:o}", p.display(), mode(p));
    }
    let cert = all
        .iter()
        .find(|p| !is_secret(p) && p.extension().is_some_and(|e| e == "pem"))
        .expect("a certificate file");
    assert_eq!(mode(cert), 0o644, "{}", cert.display());
}

#[test]
fn pki_init_writes_keys_p12_and_password_file_0600() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("pki");
    let o = kvc_check_umask_022(&[
        "pki",
        "init",
        "--variant",
        "valid",
        "--email",
        "a@b.test",
        out.to_str().expect("utf-8"),
    ])
    .output()
    .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // root key + 2 RSA keys + 2 brainpool keys, 4 PKCS#12, the password file
    assert_secrets_private(&out, 10);
}

#[test]
fn pki_init_restricts_an_existing_key_file_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("pki");
    std::fs::create_dir_all(&out).expect("mkdir");
    let old = out.join("root-ca.key.pem");
    std::fs::write(&old, "old").expect("write");
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let o = kvc_check_umask_022(&[
        "pki",
        "init",
        "--variant",
        "valid",
        out.to_str().expect("utf-8"),
    ])
    .output()
    .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(mode(&old), 0o600);
}

#[test]
fn mocks_serve_kvc_rest_writes_the_user_key_0600() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    let mut child = kvc_check_umask_022(&[
        "mocks",
        "serve",
        "kvc-rest",
        "--port",
        "0",
        "--ldaps-port",
        "0",
        "--ca-out",
        ca.to_str().expect("utf-8"),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let key = loop {
        let found = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .find(|p| p.to_string_lossy().ends_with(".key.pem"));
        if let Some(k) = found {
            break Some(k);
        }
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let key = key.expect("the mock wrote the user's key within 60 s");
    assert_eq!(mode(&key), 0o600, "{}", key.display());
    assert_eq!(mode(&ca), 0o644, "the CA certificate stays readable");
}

#[test]
fn a_rest_run_writes_the_user_pki_keys_0600() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let o = kvc_check_umask_022(&[
        "run",
        "--jobs",
        "1",
        "--case",
        "kvc-pvs/anb080-rest",
        "--out",
        out.to_str().expect("utf-8"),
    ])
    .env("NO_COLOR", "1")
    .output()
    .expect("runs");
    let pki = out.join("user-pki");
    assert!(
        pki.is_dir(),
        "no user-pki folder; exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    // sut-key.pem and the correspondents' keys
    assert_secrets_private(&pki, 2);
}
