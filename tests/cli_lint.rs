//! The `kvc-check lint` binary: exit codes and messages for good and bad input.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn lint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .arg("lint")
        .args(args)
        .output()
        .expect("run kvc-check")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn vector(name: &str) -> String {
    common::repo_root()
        .join("vectors/kvc")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn passing_and_failing_vectors_exit_0_and_1() {
    assert_eq!(
        lint(&[&vector("pass-arztbrief.eml")]).status.code(),
        Some(0)
    );
    assert_eq!(lint(&[&vector("fail-170-bcc.eml")]).status.code(), Some(1));
    let both = lint(&[&vector("pass-arztbrief.eml"), &vector("fail-170-bcc.eml")]);
    assert_eq!(both.status.code(), Some(1));
}

#[test]
fn json_output_has_path_verdict_and_findings() {
    let out = lint(&["--format", "json", &vector("fail-170-bcc.eml")]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = &json[0];
    assert_eq!(file["verdict"], "fail");
    assert!(file["path"].as_str().unwrap().ends_with("fail-170-bcc.eml"));
    let findings = file["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["requirement"] == "KVC-Anb170" && f["severity"] == "error")
    );
}

#[test]
fn missing_file_exits_2_naming_it() {
    let out = lint(&["/nonexistent/message.eml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/message.eml: no such file or directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_file_among_good_ones_keeps_the_other_results() {
    let out = lint(&[
        "--format",
        "json",
        &vector("pass-arztbrief.eml"),
        "/nonexistent/x.eml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["verdict"], "pass");
    assert_eq!(json[1]["verdict"], "error");
    assert!(json[1]["error"].as_str().unwrap().contains("no such file"));
}

#[test]
fn directory_without_messages_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.pdf"), b"%PDF").unwrap();
    let out = lint(&[dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("directory contains no message files"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn directory_is_walked() {
    let out = lint(&[
        "--format",
        "json",
        &common::repo_root()
            .join("vectors/kvc")
            .display()
            .to_string(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let count = std::fs::read_dir(common::repo_root().join("vectors/kvc"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count();
    assert_eq!(json.as_array().unwrap().len(), count);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn empty_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.eml");
    std::fs::write(&path, b"").unwrap();
    let out = lint(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("empty file (0 bytes)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn binary_garbage_is_an_input_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.eml");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage).unwrap();
    let out = lint(&[path.to_str().unwrap()]);
    // Not a message at all: an input error naming the file, not CRLF findings (issue #10).
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}: ", path.display())) && err.contains("not an RFC 5322 message"),
        "{err}"
    );
}

#[test]
fn stdin_is_read_with_dash() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .args(["lint", "--format", "json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let raw = std::fs::read(vector("fail-160-missing.eml")).unwrap();
    child.stdin.take().unwrap().write_all(&raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["path"], "-");
}

/// A 100 MB message is linted (exit by verdict), and refused with exit 2 above --max-size.
#[test]
fn hundred_megabyte_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.eml");
    let mut raw = std::fs::read(vector("pass-arztbrief.eml")).unwrap();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    while raw.len() < 100 * 1024 * 1024 {
        raw.extend_from_slice(line);
    }
    std::fs::write(&path, &raw).unwrap();
    let p = path.to_str().unwrap();
    assert_eq!(lint(&[p]).status.code(), Some(0));
    let refused = lint(&["--max-size", "1000000", p]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("larger than the limit of 1000000 bytes"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn unknown_option_and_no_input_are_usage_errors() {
    assert_eq!(
        lint(&["--profile", "nope", &vector("pass-arztbrief.eml")])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(lint(&[]).status.code(), Some(2));
}

#[test]
fn user_registry_extends_the_builtin_one() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("reg.yaml");
    std::fs::write(
        &reg,
        "applications:\n  - app: eHKS\n    title: eHKS\n    closed: true\n    dienstkennungen:\n      - {value: \"eHKS;Einsendung;V1.0\", subject: {exact: \"eHKS\"}, evidenced: false, source: test}\n",
    )
    .unwrap();
    let v = vector("pass-unknown-application.eml");
    // Without the registry: unknown application, warning only.
    assert_eq!(lint(&[&v]).status.code(), Some(0));
    // With it: a known, closed application whose value and subject do not match.
    let out = lint(&["--format", "json", "--registry", reg.to_str().unwrap(), &v]);
    assert_eq!(out.status.code(), Some(1));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "applications: [1]\n").unwrap();
    let out = lint(&["--registry", bad.to_str().unwrap(), &v]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.yaml"), "{}", stderr(&out));
    let _ = Path::new(&v);
}

fn kim_vector(name: &str) -> String {
    common::repo_root()
        .join("vectors/kim")
        .join(name)
        .display()
        .to_string()
}

/// Requirement IDs and finding requirements of a `--format json` lint of one file.
fn scoped(scope: &str, file: &str) -> (Option<i32>, serde_json::Value, String) {
    let out = lint(&["--format", "json", "--scope", scope, file]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code(), json[0].clone(), stderr(&out))
}

fn ids(file: &serde_json::Value, key: &str, field: &str) -> Vec<String> {
    file[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn scope_limits_the_report_verdict_and_exit_code() {
    // The outer Subject is a spec-scope requirement (KOM-LE-A_2102) only.
    let subject = kim_vector("komle-subject-wrong.eml");
    let (code, all, _) = scoped("all", &subject);
    assert_eq!(code, Some(1));
    assert!(ids(&all, "findings", "requirement").contains(&"KOM-LE-A_2102".to_string()));
    let (code, seed, note) = scoped("seed", &subject);
    assert_eq!(code, Some(0), "{seed}");
    assert_eq!(seed["verdict"], "pass");
    assert!(ids(&seed, "findings", "requirement").is_empty());
    assert!(
        !ids(&seed, "requirements", "requirement").contains(&"KOM-LE-A_2102".to_string()),
        "{seed}"
    );
    assert!(note.contains("--scope seed: 1 finding(s)"), "{note}");
    let (code, spec, _) = scoped("spec", &subject);
    assert_eq!(code, Some(1));
    assert_eq!(ids(&spec, "findings", "requirement"), ["KOM-LE-A_2102"]);

    // gematik's delivered sample breaks a seed requirement (KOM-LE-A_2050) and spec ones.
    let sample = kim_vector("gematik/2_4_Client-Mail_finalisiert.txt");
    let (code, seed, _) = scoped("seed", &sample);
    assert_eq!(code, Some(1));
    assert_eq!(ids(&seed, "findings", "requirement"), ["KOM-LE-A_2050"]);
    let (_, spec, _) = scoped("spec", &sample);
    let mut spec_ids = ids(&spec, "findings", "requirement");
    spec_ids.sort();
    spec_ids.dedup();
    assert_eq!(spec_ids, ["KOM-LE-A_2006", "KOM-LE-A_2179"]);

    // KV-Connect requirements are all in the seed scope.
    let (code, kvc, _) = scoped("seed", &vector("fail-170-bcc.eml"));
    assert_eq!(code, Some(1));
    assert_eq!(ids(&kvc, "findings", "requirement"), ["KVC-Anb170"]);
}
