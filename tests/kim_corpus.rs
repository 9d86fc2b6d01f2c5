//! Every file of the vendored corpus linted with --profile kim-1.5 gets the verdict pass or fail,
//! never error; the gematik KIM examples in it fail, each with the defect it is known for.

use std::path::{Path, PathBuf};

use kvc_check::lint::{FileVerdict, LintOptions, ProfileChoice, lint_bytes};
use kvc_check::rules::{KvcRegistry, Severity};

/// The vendored robustness corpus (`vectors/third-party/corpus`).
fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/third-party/corpus");
    assert!(
        dir.is_dir(),
        "the corpus folder {} is missing",
        dir.display()
    );
    dir
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn options() -> LintOptions {
    LintOptions {
        profile: ProfileChoice::Kim15,
        registry: KvcRegistry::builtin().expect("built-in registry"),
        max_size: kvc_check::lint::DEFAULT_MAX_SIZE,
        smime: None,
    }
}

#[test]
fn every_corpus_file_lints_to_pass_or_fail_under_kim_15() {
    let opts = options();
    let files = files(&corpus_dir());
    assert!(!files.is_empty(), "the corpus folder is empty");
    let mut bad = Vec::new();
    for path in &files {
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if raw.is_empty() {
            continue;
        }
        let result = lint_bytes(&path.display().to_string(), &raw, &opts);
        if result.verdict == FileVerdict::Error {
            bad.push(format!("{}: {:?}", path.display(), result.error));
        }
    }
    assert!(bad.is_empty(), "verdict error:\n{}", bad.join("\n"));
}

#[test]
fn gematik_kim_examples_show_their_known_defects() {
    let opts = options();
    let dir = corpus_dir().join("gematik-kim-examples");
    // (file, rule that must report an error): Message-ID without angle brackets, German month
    // names, LF line ends, missing X-KIM-Sendersystem.
    let expected = [
        ("atf_Eingangsbestaetigung_1.eml", "kim/message-id"),
        ("atf_Eingangsbestaetigung_1.eml", "kim/date"),
        (
            "erp-servicerequest_DeliveryStatusNotification_1.eml",
            "kim/message-id",
        ),
        (
            "erp-servicerequest_DeliveryStatusNotification_1.eml",
            "kim/date",
        ),
        ("erp-servicerequest_kim_example_1.eml", "kim/sendersystem"),
        ("erp-servicerequest_Response_1.eml", "kim/crlf-only"),
    ];
    let mut missing = Vec::new();
    for (file, rule) in expected {
        let raw = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let result = lint_bytes(file, &raw, &opts);
        let found = result
            .findings
            .iter()
            .any(|f| f.rule == rule && f.severity == Severity::Error);
        if !found {
            missing.push(format!("{file}: no error from {rule}"));
        }
    }
    for path in files(&dir) {
        if path.extension().is_some_and(|e| e == "eml") {
            let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let result = lint_bytes(&path.display().to_string(), &raw, &opts);
            if result.verdict != FileVerdict::Fail {
                missing.push(format!(
                    "{}: verdict {:?}, expected fail",
                    path.display(),
                    result.verdict
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
