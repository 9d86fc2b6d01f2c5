//! No credential in any output (issue #10, item 4): `kvc-check run` with a command adapter whose
//! scripts get `{password}` and echo it, and an account password that is a known unique string.
//! Every file under `--out` (reports, transcripts, captured messages, user PKI) and the console
//! must be free of it and of the encodings a client sends it in (AUTH PLAIN, BASIC).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;

const USER: &str = "praxis@kv-connect.test";
const PASSWORD: &str = "Unique-Pw-4711-kvc";

/// The password and what a client puts on the wire with it.
fn forms(user: &str, password: &str) -> Vec<String> {
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        password.to_string(),
        b64(format!("\0{user}\0{password}")),
        b64(format!("{user}:{password}")),
        b64(password.to_string()),
    ]
}

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, found);
        } else {
            found.push(path);
        }
    }
}

/// Where a secret (or one of its forms) occurs: file names, or `stdout`/`stderr`.
fn leaks(out: &Path, o: &Output, secrets: &[String]) -> Vec<String> {
    let mut places = Vec::new();
    let mut files = Vec::new();
    files_under(out, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("report.json")),
        "no report.json in {}: {files:?}",
        out.display()
    );
    let mut seen = vec![
        ("stdout".to_string(), o.stdout.clone()),
        ("stderr".to_string(), o.stderr.clone()),
    ];
    for f in files {
        let data = std::fs::read(&f).expect("read an output file");
        seen.push((f.display().to_string(), data));
    }
    for (place, data) in &seen {
        for s in secrets {
            if memchr::memmem::find(data, s.as_bytes()).is_some() {
                places.push(format!("{place}: `{s}`"));
            }
        }
    }
    places
}

/// The example vendor systems, wrapped in a script that echoes its arguments (the password
/// among them) to stdout and stderr before running the example.
fn vendor_dir(dir: &Path) -> PathBuf {
    let sut = dir.join("sut");
    std::fs::create_dir(&sut).expect("mkdir sut");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/examples");
    for script in ["curl-pvs.sh", "curl-rest-pvs.sh"] {
        std::fs::copy(examples.join(script), sut.join(script)).expect("copy example");
    }
    let echo = sut.join("echo-pvs.sh");
    std::fs::write(
        &echo,
        "#!/bin/sh\n# Echoes everything, then runs the example named first.\n\
         echo \"args: $*\" >&2\n\
         # `stored` prints JSON on stdout: echo there only for the other actions.\n\
         [ \"$2\" = stored ] || echo \"args: $*\"\n\
         script=$1; shift\nexec \"./$script\" \"$@\"\n",
    )
    .expect("write echo-pvs.sh");
    for script in ["echo-pvs.sh", "curl-pvs.sh", "curl-rest-pvs.sh"] {
        chmod_x(&sut.join(script));
    }
    sut
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn kvc_check_run(sut_yaml: &Path, cases: &[&str], out: &Path, tmp: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvc-check"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TMPDIR", tmp)
        .arg("run")
        .arg("--sut")
        .arg(sut_yaml)
        .arg("--out")
        .arg(out);
    for case in cases {
        c.args(["--case", case]);
    }
    c.output().expect("kvc-check runs")
}

fn verdicts(out: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let r: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    r["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_password_is_in_no_report_file_and_no_console_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sut = vendor_dir(dir.path());
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir tmp");
    let account = format!("account: {{user: {USER}, password: \"{PASSWORD}\"}}\n");
    // SMTP/POP3: the example passes (its commands and output hold the password).
    let smtp_yaml = sut.join("smtp-sut.yaml");
    std::fs::write(
        &smtp_yaml,
        format!(
            "name: echoing curl-pvs\ntransport: smtp-pop3\n{account}trigger:\n  command:\n    \
             send: \"./echo-pvs.sh curl-pvs.sh send {{to}} {{app}} {{file}} {{smtp_host}} {{smtp_port}} {{ca_file}} {{user}} {{password}} {{from}}\"\n    \
             fetch: \"./echo-pvs.sh curl-pvs.sh fetch {{pop3_host}} {{pop3_port}} {{ca_file}} {{user}} {{password}}\"\n"
        ),
    )
    .expect("write smtp-sut.yaml");
    // REST: the same account is the BASIC credential and the keystore PIN.
    let rest_yaml = sut.join("rest-sut.yaml");
    std::fs::write(
        &rest_yaml,
        format!(
            "name: echoing curl-rest-pvs\ntransport: rest\n{account}trigger:\n  command:\n    \
             send: \"./echo-pvs.sh curl-rest-pvs.sh send {{to}} {{app}} {{file}} {{rest_url}} {{ca_file}} {{user}} {{password}} {{from}} {{user_key_file}} {{user_cert_file}}\"\n    \
             fetch: \"./echo-pvs.sh curl-rest-pvs.sh fetch {{rest_url}} {{ca_file}} {{user}} {{password}} {{user_key_file}} {{user_cert_file}} {{user_ca_file}} {{rest_port}}\"\n    \
             stored: \"./echo-pvs.sh curl-rest-pvs.sh stored {{rest_port}}\"\n"
        ),
    )
    .expect("write rest-sut.yaml");
    // A SUT whose every trigger fails after echoing: its details reach the console.
    let failing_yaml = sut.join("failing-sut.yaml");
    std::fs::write(
        &failing_yaml,
        format!(
            "name: failing\ntransport: smtp-pop3\n{account}trigger:\n  command:\n    \
             send: \"sh -c 'echo \\\"password $1\\\"; echo \\\"password $1\\\" >&2; exit 1' sh {{password}}\"\n    \
             fetch: \"sh -c 'echo \\\"password $1\\\"; exit 1' sh {{password}}\"\n"
        ),
    )
    .expect("write failing-sut.yaml");

    let secrets = forms(USER, PASSWORD);
    let runs: [(&Path, &[&str], bool); 3] = [
        (
            &smtp_yaml,
            &[
                "kvc-pvs/anb010-transport",
                "kvc-pvs/anb020-unknown-application",
                "kvc-pvs/anb021-wrong-name",
            ],
            true,
        ),
        (
            &rest_yaml,
            &["kvc-pvs/anb010-rest", "kvc-pvs/anb022-rest"],
            true,
        ),
        (
            &failing_yaml,
            &[
                "kvc-pvs/anb010-transport",
                "kvc-pvs/anb020-unknown-application",
            ],
            false,
        ),
    ];
    for (i, (yaml, cases, passes)) in runs.iter().enumerate() {
        let out = dir.path().join(format!("out-{i}"));
        let o = kvc_check_run(yaml, cases, &out, &tmp);
        let got = verdicts(&out);
        if *passes {
            assert!(
                got.iter().all(|(_, v)| v == "pass"),
                "{}: {got:?}\n{}",
                yaml.display(),
                String::from_utf8_lossy(&o.stdout)
            );
        } else {
            assert!(got.iter().all(|(_, v)| v != "pass"), "{got:?}");
        }
        let report = std::fs::read_to_string(out.join("report.json")).expect("report.json");
        // The trigger's command line and output are still shown, masked.
        let shown = if *passes { "args: " } else { "password ***" };
        assert!(report.contains(shown), "{}: {shown}", yaml.display());
        let found = leaks(&out, &o, &secrets);
        assert!(
            found.is_empty(),
            "{}: the password leaked:\n{}",
            yaml.display(),
            found.join("\n")
        );
    }
}

/// `mocks serve` prints its generated account for the user to configure (intended), but the
/// files it writes (CA, user PKI) do not hold the password.
#[test]
fn mocks_serve_prints_the_password_but_writes_it_nowhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("pki")).expect("mkdir pki");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(dir.path())
        .args([
            "mocks",
            "serve",
            "kvc-rest",
            "--port",
            "0",
            "--ldaps-port",
            "0",
            "--ca-out",
            "pki/ca.pem",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kvc-check mocks serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut accounts = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.trim().strip_prefix("account: user `") {
            let (user, rest) = rest.split_once('`').expect("user`");
            let password = rest
                .split_once("password `")
                .and_then(|(_, p)| p.split_once('`'))
                .map(|(p, _)| p.to_string())
                .expect("password `...`");
            accounts.push((user.to_string(), password));
        }
        if line.contains("TLS CA certificate to trust") {
            break;
        }
    }
    child.kill().expect("stop mocks serve");
    let _ = child.wait();
    assert!(!accounts.is_empty(), "no account printed");
    let mut files = Vec::new();
    files_under(&dir.path().join("pki"), &mut files);
    assert!(files.len() > 1, "{files:?}");
    for (user, password) in &accounts {
        for f in &files {
            let data = std::fs::read(f).expect("read");
            for s in forms(user, password) {
                assert!(
                    memchr::memmem::find(&data, s.as_bytes()).is_none(),
                    "{}: holds `{s}`",
                    f.display()
                );
            }
        }
    }
}
