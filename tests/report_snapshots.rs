//! Snapshots of the four lint output formats, plus schema checks of SARIF and JUnit.

mod common;

use kvc_check::lint::{FileResult, ProfileChoice, lint_bytes};
use kvc_check::report::{LintFormat, render_lint};

fn results() -> Vec<FileResult> {
    let opts = common::options(ProfileChoice::Auto);
    [
        "pass-arztbrief.eml",
        "fail-170-bcc.eml",
        "fail-023-bare-lf-one-line.eml",
        "fail-090-missing-sendersystem.eml",
        "pass-unknown-application.eml",
    ]
    .iter()
    .map(|name| {
        let raw = std::fs::read(common::repo_root().join("vectors/kvc").join(name)).unwrap();
        lint_bytes(&format!("vectors/kvc/{name}"), &raw, &opts)
    })
    .chain(std::iter::once(FileResult::input_error(
        "missing.eml",
        "no such file or directory".into(),
    )))
    .collect()
}

#[test]
fn text_report() {
    let text = render_lint(&results(), LintFormat::Text).unwrap();
    insta::assert_snapshot!(anstream::adapter::strip_str(&text).to_string());
}

#[test]
fn json_report() {
    let json: serde_json::Value =
        serde_json::from_str(&render_lint(&results(), LintFormat::Json).unwrap()).unwrap();
    insta::assert_json_snapshot!(json);
}

#[test]
fn sarif_report() {
    let sarif = render_lint(&results(), LintFormat::Sarif).unwrap();
    // The typed SARIF 2.1.0 model accepts the document.
    let typed: serde_sarif::sarif::Sarif =
        serde_json::from_str(&sarif).expect("valid SARIF 2.1.0 shape");
    assert_eq!(typed.runs.len(), 1);
    let json: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    insta::assert_json_snapshot!(json);
}

#[test]
fn junit_report() {
    let xml = render_lint(&results(), LintFormat::Junit).unwrap();
    insta::assert_snapshot!(xml);
}

#[test]
fn junit_is_valid_against_the_common_schema_and_names_are_unique() {
    let xml = render_lint(&results(), LintFormat::Junit).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    std::fs::write(&path, &xml).unwrap();
    let xsd = common::third_party_dir().join("junit/junit-10.xsd");
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&path)
        .output()
        .expect("xmllint is needed (Debian package libxml2-utils; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report =
        quick_junit::Report::deserialize_from_str(&xml).expect("quick-junit reads it back");
    let mut names: Vec<_> = report
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter().map(|c| c.name.as_str().to_string()))
        .collect();
    let total = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total, "duplicate testcase names");
    assert!(names.iter().any(|n| n.starts_with("KVC-Anb170 ")));
}
