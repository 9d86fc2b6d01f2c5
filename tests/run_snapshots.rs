//! Snapshots of the run reports (report.json, junit.xml, console summary) for a small fixed
//! run against the reference PVS with one fault injected. Timestamps, durations, ports and
//! message sizes are normalised.

use std::path::Path;
use std::process::Command;

use regex::Regex;

fn normalise(text: &str, out: &Path) -> String {
    let mut s = text.replace(&out.display().to_string(), "OUT");
    for (pattern, replacement) in [
        (r#""duration_ms": \d+"#, r#""duration_ms": 0"#),
        (r#""started": "[^"]*""#, r#""started": "T""#),
        (r#""size": \d+"#, r#""size": 0"#),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
        (r#"time="[0-9.]+""#, r#"time="0""#),
        (r"\d+-byte message", "N-byte message"),
        (r"\(\d+ bytes\)", "(N bytes)"),
        (r"verification time \d+", "verification time T"),
        (r"not valid after \d+", "not valid after T"),
        (r"\(\d+ seconds ago\)", "(N seconds ago)"),
        (r#""at_ms": \d+"#, r#""at_ms": 0"#),
        // Response sizes hold fresh certificates (serial numbers vary in length).
        (r#""bytes_out": \d+"#, r#""bytes_out": 0"#),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME"),
        // Fresh test keys and messages per run (the REST control case posts real S/MIME).
        (r"serial [0-9A-F]+", "serial SERIAL"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "UUID",
        ),
    ] {
        s = Regex::new(pattern)
            .expect("regex")
            .replace_all(&s, replacement)
            .into_owned();
    }
    s
}

#[test]
fn small_fixed_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--fault",
            "KVC-Anb170",
            "--jobs",
            "1",
            "--case",
            "kvc-pvs/anb170-no-bcc",
            "--case",
            "kvc-pvs/anb021-expired",
            "--case",
            "kvc-pvs/anb030-attest",
            "--case",
            "kvc-pvs/anb080-rest",
            "--out",
        ])
        .arg(&out)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1));
    let console = normalise(&String::from_utf8_lossy(&o.stdout), &out);
    insta::assert_snapshot!("run_console", console);
    let json = std::fs::read_to_string(out.join("report.json")).expect("json");
    insta::assert_snapshot!("run_report_json", normalise(&json, &out));
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit");
    insta::assert_snapshot!("run_junit_xml", normalise(&junit, &out));
}
