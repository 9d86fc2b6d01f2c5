//! The real-world corpus (284 messages from other projects' test suites, many malformed):
//! every file is linted under every profile without panic and with a pass/fail verdict.

mod common;

use kvc_check::lint::{FileVerdict, ProfileChoice, lint_bytes};

fn corpus_files() -> Vec<std::path::PathBuf> {
    let root = common::third_party_dir().join("corpus");
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_corpus_file_lints_to_pass_or_fail() {
    let files = corpus_files();
    assert!(files.len() >= 284, "corpus has {} files", files.len());
    for profile in [
        ProfileChoice::Auto,
        ProfileChoice::Kvc,
        ProfileChoice::Kim10,
        ProfileChoice::Kim15,
    ] {
        let opts = common::options(profile);
        for path in &files {
            let raw = std::fs::read(path).unwrap();
            if raw.is_empty() {
                continue;
            }
            let result = lint_bytes(&path.display().to_string(), &raw, &opts);
            assert_ne!(result.verdict, FileVerdict::Error, "{}", path.display());
            // Reports render for every file.
            for format in [
                kvc_check::report::LintFormat::Text,
                kvc_check::report::LintFormat::Json,
                kvc_check::report::LintFormat::Sarif,
                kvc_check::report::LintFormat::Junit,
            ] {
                kvc_check::report::render_lint(std::slice::from_ref(&result), format)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
}

#[test]
fn binary_exits_0_or_1_on_each_corpus_file() {
    for path in corpus_files() {
        if std::fs::metadata(&path).unwrap().len() == 0 {
            continue;
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvc-check"))
            .args(["lint", "--format", "json"])
            .arg(&path)
            .output()
            .unwrap();
        let code = out.status.code();
        // The corpus also holds non-messages (PEM, DER blobs, its manifest): input errors.
        let raw = std::fs::read(&path).unwrap();
        if kvc_check::lint::not_a_message(&raw).is_some() {
            assert_eq!(code, Some(2), "{}", path.display());
            continue;
        }
        assert!(
            matches!(code, Some(0 | 1)),
            "{}: exit {code:?}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
