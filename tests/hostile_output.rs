//! Text the SUT or a linted message controls cannot break the reports: junit.xml stays valid
//! XML 1.0 with U+FFFE, U+FFFF, ESC and BEL in SUT output, and no escape sequence from the SUT
//! reaches the terminal.

use std::path::Path;
use std::process::Command;

use kvc_check::lint::FileResult;
use kvc_check::report::{LintFormat, render_lint};

/// What a hostile SUT prints: two non-characters, a colour escape, BEL, a C1 CSI, NUL-free.
const HOSTILE: &str = "licence \u{fffe} \u{ffff} \u{1b}[31mred\u{1b}[0m bell\u{7} csi\u{9b}2J";

fn xmllint_schema(path: &Path) {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/third-party/junit/junit-10.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(path)
        .output()
        .expect("xmllint is needed (Debian package libxml2-utils)");
    assert!(
        out.status.success(),
        "{} is not valid XML / junit-10.xsd:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_no_terminal_controls(what: &str, text: &str) {
    for c in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(!text.contains(c), "{what} holds {c:?}: {text:?}");
    }
}

#[test]
fn run_junit_and_console_survive_hostile_sut_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = dir.path().join("payload");
    std::fs::write(&payload, HOSTILE).expect("write");
    let script = dir.path().join("send.sh");
    std::fs::write(
        &script,
        format!("cat '{}' >&2\nexit 3\n", payload.display()),
    )
    .expect("write");
    let sut = dir.path().join("sut.yaml");
    std::fs::write(
        &sut,
        format!(
            "name: hostile\ntrigger:\n  command:\n    send: \"sh {}\"\n    fetch: \"true\"\n",
            script.display()
        ),
    )
    .expect("write");
    let out = dir.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--case", "kvc-pvs/anb130-fallback", "--sut"])
        .arg(&sut)
        .arg("--out")
        .arg(&out)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2), "the case ends as error");
    // The evidence keeps the SUT's text (report.json escapes it as JSON does).
    let json = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let reason = report["cases"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(HOSTILE), "{reason:?}");
    // junit.xml: valid XML 1.0 and schema-valid, the characters shown as escapes.
    let junit = out.join("junit.xml");
    xmllint_schema(&junit);
    let xml = std::fs::read_to_string(&junit).expect("junit.xml");
    // (quick-junit itself drops ANSI sequences and C0/C1 controls; the non-characters are ours.)
    assert!(xml.contains("licence \\u{fffe} \\u{ffff} "), "{xml}");
    assert_no_terminal_controls("junit.xml", &xml);
    assert!(quick_junit::Report::deserialize_from_str(&xml).is_ok());
    // The console: no escape sequence from the SUT.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stdout.contains("\\u{1b}[31mred"), "{stdout}");
    assert_no_terminal_controls("stdout", &stdout);
    assert_no_terminal_controls("stderr", &stderr);
}

fn hostile_results() -> Vec<FileResult> {
    vec![FileResult::input_error(
        &format!("in{HOSTILE}.eml"),
        format!("error {HOSTILE}"),
    )]
}

#[test]
fn lint_junit_stays_valid_xml_with_hostile_text() {
    let xml = render_lint(&hostile_results(), LintFormat::Junit).expect("renders");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("junit.xml");
    std::fs::write(&path, &xml).expect("write");
    xmllint_schema(&path);
    assert!(xml.contains("\\u{fffe}"), "{xml}");
}

#[test]
fn lint_text_shows_controls_as_escapes() {
    let text = render_lint(&hostile_results(), LintFormat::Text).expect("renders");
    // Our own styles are ANSI too; strip them, then nothing of the input's may remain.
    let plain = anstream::adapter::strip_str(&text).to_string();
    assert_no_terminal_controls("text", &plain);
    assert!(!text.contains("\u{1b}[31mred"), "{text:?}");
    assert!(
        plain.contains("\\u{1b}[31mred\\u{1b}[0m bell\\u{7}"),
        "{plain}"
    );
}

#[test]
fn lint_stderr_error_lines_show_controls_as_escapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = dir.path().join("bad\u{1b}[31mname\u{7}.eml");
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .arg("lint")
        .arg(&name)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_no_terminal_controls("stderr", &stderr);
    assert!(stderr.contains("bad\\u{1b}[31mname\\u{7}.eml"), "{stderr}");
}
