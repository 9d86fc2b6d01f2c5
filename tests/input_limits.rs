//! Every input file has a size limit: an endless input (`/dev/zero`) ends quickly with exit 2
//! and an error naming the file and the limit, instead of growing until the OOM killer ends it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ZERO: &str = "/dev/zero";
const CONFIG: &str = "larger than the 4 MiB limit for configuration files";
const KEYS: &str = "larger than the 4 MiB limit for key, certificate and password files";
const SMIME: &str = "larger than the 512 MiB limit for S/MIME input";
const MESSAGES: &str = "larger than the 512 MiB limit for messages";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A throw-away PKI (`pki init`) for the options that need a valid key first.
fn pki() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kvc-input-limits-{}", std::process::id()));
        let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
            .args(["pki", "init", "--variant", "valid", "--email", "a@b.test"])
            .arg(&dir)
            .output()
            .expect("pki init runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        dir
    })
}

fn key() -> String {
    pki().join("a.valid.enc.key.pem").display().to_string()
}

fn trust() -> String {
    pki().join("root-ca.pem").display().to_string()
}

fn message() -> String {
    repo()
        .join("vectors/kvc/pass-arztbrief.eml")
        .display()
        .to_string()
}

fn kvc_check(args: &[String]) -> (Output, Duration) {
    let out = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvc-check"));
    cmd.current_dir(repo()).args(args);
    if args.first().is_some_and(|a| a == "run") {
        cmd.arg("--out").arg(out.path().join("r"));
    }
    let o = cmd.output().expect("kvc-check runs");
    (o, start.elapsed())
}

#[rstest::rstest]
#[case::run_sut(&["run", "--sut", ZERO], "--sut /dev/zero: ", CONFIG)]
#[case::run_answers(&["run", "--answers", ZERO], "--answers /dev/zero: ", CONFIG)]
#[case::run_registry(&["run", "--registry", ZERO], "--registry /dev/zero: ", CONFIG)]
#[case::lint_registry(&["lint", "--registry", ZERO, "{msg}"], "--registry /dev/zero: ", CONFIG)]
#[case::lint_key(&["lint", "--key", ZERO, "{msg}"], "--key /dev/zero: ", KEYS)]
#[case::lint_password_file(
    &["lint", "--key", "{key}", "--password-file", ZERO, "{msg}"],
    "--password-file /dev/zero: ",
    KEYS
)]
#[case::lint_trust(&["lint", "--key", "{key}", "--trust", ZERO, "{msg}"], "--trust /dev/zero: ", KEYS)]
#[case::smime_decrypt_key(&["smime", "decrypt", "--key", ZERO, "{msg}"], "/dev/zero: ", KEYS)]
#[case::smime_decrypt_input(&["smime", "decrypt", "--key", "{key}", ZERO], "/dev/zero: ", SMIME)]
#[case::smime_verify_trust(&["smime", "verify", "--trust", ZERO, "{msg}"], "--trust /dev/zero: ", KEYS)]
#[case::smime_verify_input(&["smime", "verify", "--trust", "{trust}", ZERO], "/dev/zero: ", SMIME)]
#[case::pki_password_file(
    &["pki", "init", "--password-file", ZERO, "{tmp}"],
    "--password-file /dev/zero: ",
    KEYS
)]
#[case::mocks_mailbox(
    &["mocks", "serve", "kvc-client", "--smtp-port", "0", "--pop3-port", "0", "--mailbox", ZERO],
    "--mailbox /dev/zero: ",
    MESSAGES
)]
fn an_endless_input_is_refused_naming_file_and_limit(
    #[case] args: &[&str],
    #[case] names: &str,
    #[case] limit: &str,
) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = args
        .iter()
        .map(|a| match *a {
            "{msg}" => message(),
            "{key}" => key(),
            "{trust}" => trust(),
            "{tmp}" => tmp.path().join("pki").display().to_string(),
            other => other.to_string(),
        })
        .collect();
    let (o, took) = kvc_check(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(names) && stderr.contains(limit),
        "{args:?}: expected `{names}` and `{limit}` in: {stderr}"
    );
    assert!(took < Duration::from_secs(30), "{args:?} took {took:?}");
}

#[test]
fn a_case_file_larger_than_the_limit_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let case = dir.path().join("big.yaml");
    std::os::unix::fs::symlink(ZERO, &case).expect("symlink");
    let catalogue = kvc_check::catalogue::Catalogue::embedded().expect("catalogue");
    let e = kvc_check::suite::load_dir(dir.path(), catalogue).expect_err("refused");
    assert_eq!(e, format!("{}: {CONFIG}", case.display()));
}

#[test]
fn a_regular_config_file_over_the_limit_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sut = dir.path().join("sut.yaml");
    let f = std::fs::File::create(&sut).expect("create");
    f.set_len(5 * 1024 * 1024).expect("sparse file");
    let (o, _) = kvc_check(&["run".into(), "--sut".into(), sut.display().to_string()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--sut {}: {CONFIG}", sut.display())),
        "{stderr}"
    );
}
