//! Evidence the mocks gather reaches the report, also when it is about connections the mock
//! refused.

use std::process::Command;

use serde_json::Value;

/// A SUT that opens far more SMTP connections at once than the mock serves (its limit is 32),
/// then sends nothing: the case fails, and the evidence says connections were refused.
#[test]
fn connections_refused_over_the_session_limit_are_in_the_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storm = dir.path().join("storm.py");
    std::fs::write(
        &storm,
        "import socket, sys, time\nsocks = []\nfor _ in range(48):\n    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n    socks.append(s)\ntime.sleep(0.5)\nfor s in socks:\n    s.close()\n",
    )
    .expect("script");
    let sut = dir.path().join("storm.yaml");
    std::fs::write(
        &sut,
        format!(
            "name: storm\ntransport: smtp-pop3\ntrigger:\n  command:\n    send: \"python3 {} {{smtp_host}} {{smtp_port}}\"\n    fetch: \"true\"\n",
            storm.display()
        ),
    )
    .expect("config");
    let out = dir.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--case",
            "kvc-pvs/anb010-transport",
            "--timeout",
            "4",
        ])
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
    let case = &report["cases"][0];
    assert_eq!(case["verdict"], "fail", "{case:#}");
    let refused = case["sessions"]["rejected_connections"]
        .as_u64()
        .unwrap_or(0);
    assert!(refused >= 1, "refused connections recorded: {case:#}");
    let observed = case["checks"][0]["observed"].as_str().unwrap_or_default();
    assert!(
        observed.contains(&format!("{refused} connection(s) closed at once")),
        "{observed}"
    );
}
