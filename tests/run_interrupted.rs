//! A run that ends early must say so where CI looks (junit.xml), and a failure seen before a
//! later step hangs must stay a failure.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn start(args: &[&str], out: &Path, tmp: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TMPDIR", tmp)
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kvc-check starts")
}

/// A SUT whose every trigger takes a while: cases end one by one (`--jobs 1`).
fn slow_sut(dir: &Path, forks: bool) -> std::path::PathBuf {
    if !forks {
        let sut = dir.join("slow-plain.yaml");
        std::fs::write(
            &sut,
            "name: slow\ntransport: smtp-pop3\ntrigger:\n  command:\n    send: \"sleep 1\"\n    fetch: \"sleep 1\"\n",
        )
        .expect("config");
        return sut;
    }
    let sut = dir.join("slow.yaml");
    std::fs::write(
        &sut,
        // Each trigger forks a child that would outlive it: it must not outlive the run.
        "name: slow\ntransport: smtp-pop3\ntrigger:\n  command:\n    send: \"sh -c 'sleep 3177 & sleep 1'\"\n    fetch: \"sh -c 'sleep 3177 & sleep 1'\"\n",
    )
    .expect("config");
    sut
}

fn wait_for_cases(out: &Path, n: usize) {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if let Ok(text) = std::fs::read_to_string(out.join("report.json"))
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && v["cases"].as_array().is_some_and(|c| c.len() >= n)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no {n} finished cases in {}", out.display());
}

/// junit.xml names the run incomplete with an `<error>` testcase listing the missing cases.
fn assert_junit_incomplete(out: &Path) {
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit.xml");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("json"))
            .expect("report.json");
    assert_eq!(report["complete"], false);
    let not_run = report["not_run"].as_array().expect("not_run listed");
    assert!(!not_run.is_empty());
    assert!(
        junit.contains("<testcase name=\"incomplete run\""),
        "{junit}"
    );
    assert!(junit.contains("type=\"incomplete\""), "{junit}");
    assert!(junit.contains("did not run"), "{junit}");
    for id in not_run {
        assert!(junit.contains(id.as_str().expect("id")), "{id} not named");
    }
    let errors: usize = junit
        .split("<testsuites")
        .nth(1)
        .and_then(|t| t.split("errors=\"").nth(1))
        .and_then(|t| t.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("testsuites@errors");
    assert!(errors >= 1, "the incomplete run counts as an error in CI");
}

#[test]
fn sigterm_and_sigint_end_the_run_with_reports_marked_incomplete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sut = slow_sut(dir.path(), true);
    let sut = sut.to_str().expect("utf-8 path");
    for signal in ["TERM", "INT"] {
        let out = dir.path().join(signal);
        let tmp = dir.path().join(format!("tmp-{signal}"));
        std::fs::create_dir_all(&tmp).expect("tmp");
        let mut child = start(&["--sut", sut, "--jobs", "1", "--timeout", "5"], &out, &tmp);
        wait_for_cases(&out, 2);
        let st = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
        let until = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(
                Instant::now() < until,
                "SIG{signal}: kvc-check did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // Incomplete is exit 2, unless a requirement already failed before the signal (a fail
        // outranks it: exit 1); which cases end first depends on timing, so read the report.
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
        )
        .expect("report.json");
        let failed = report["requirements"]
            .as_array()
            .expect("requirements")
            .iter()
            .any(|r| r["verdict"] == "fail");
        let expected = if failed { 1 } else { 2 };
        assert_eq!(status.code(), Some(expected), "SIG{signal}: exit code");
        assert_junit_incomplete(&out);
        assert!(
            out.join("report.html").is_file(),
            "SIG{signal}: report.html"
        );
        // The body files of the interrupted triggers are gone.
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .expect("tmp")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "SIG{signal}: temporary files left: {left:?}"
        );
    }
}

#[test]
fn sigkill_leaves_a_junit_that_reads_incomplete() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No forking trigger here: after SIGKILL nobody is left to stop a child.
    let sut = slow_sut(dir.path(), false);
    let out = dir.path().join("r");
    let mut child = start(
        &[
            "--sut",
            sut.to_str().expect("utf-8"),
            "--jobs",
            "1",
            "--timeout",
            "5",
        ],
        &out,
        dir.path(),
    );
    wait_for_cases(&out, 2);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_junit_incomplete(&out);
}

/// A SUT that accepts any server certificate: it sends AUTH to the expired-certificate server,
/// then hangs when asked to fetch. The leak is decisive; the later timeout must not hide it.
#[test]
fn a_leak_before_a_hanging_step_is_a_failure_with_its_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sut = dir.path().join("insecure.yaml");
    std::fs::write(
        &sut,
        "name: insecure\ntransport: smtp-pop3\ntrigger:\n  command:\n    send: \"curl -sS --insecure --ssl-reqd --url smtps://{smtp_host}:{smtp_port} --user {user}:{password} --mail-from {from} --mail-rcpt {to} --upload-file {file}\"\n    fetch: \"sleep 30\"\n",
    )
    .expect("config");
    let out = dir.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--case", "kvc-pvs/anb021-expired", "--timeout", "3"])
        .arg("--sut")
        .arg(&sut)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("json"))
            .expect("report.json");
    let case = report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["id"] == "kvc-pvs/anb021-expired")
        .expect("case ran");
    assert_eq!(case["verdict"], "fail", "{case:#}");
    let smtp = case["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|k| k["expectation"] == "tls_refused SMTP")
        .expect("SMTP check kept");
    assert_eq!(smtp["verdict"], "fail", "{smtp:#}");
    assert!(
        smtp["observed"]
            .as_str()
            .unwrap_or_default()
            .contains("AUTH"),
        "the evidence shows the credentials going out: {smtp:#}"
    );
    let reason = case["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("tls_refused SMTP"), "{reason}");
    assert!(
        reason.contains("step"),
        "the timeout is still reported: {reason}"
    );
    let req = report["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .find(|r| r["id"] == "KVC-Anb021")
        .expect("KVC-Anb021");
    assert_eq!(req["verdict"], "fail");
}
