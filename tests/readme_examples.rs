//! The worked examples of `suites/README.md` run exactly as written (relative `--sut` and
//! `--out`, from a folder laid out like the repository), and print the summary the README shows.

use std::path::Path;
use std::process::Command;

/// Each `$ kvc-check run ...` line of a console block with the summary lines that follow it.
fn examples(readme: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut lines = readme.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(cmd) = line.strip_prefix("$ kvc-check run ") else {
            continue;
        };
        let mut summary = Vec::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            if l.starts_with("cases: ") || l.starts_with("requirements: ") {
                summary.push(l.to_string());
            }
        }
        out.push((
            cmd.split_whitespace().map(str::to_string).collect(),
            summary,
        ));
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from)
        .expect("read_dir")
        .filter_map(Result::ok)
    {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

#[test]
fn the_documented_examples_run_as_written() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("suites/README.md")).expect("README");
    let found = examples(&readme);
    assert!(
        found.len() >= 2,
        "the README shows the curl examples: {found:?}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    // A vendor's checkout: the examples folder, nothing else; the suites come from the binary.
    copy_dir(
        &repo.join("suites/examples"),
        &dir.path().join("suites/examples"),
    );
    for (args, summary) in found {
        assert!(args.iter().any(|a| a == "--out"), "{args:?}");
        let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
            .current_dir(dir.path())
            .env("TMPDIR", dir.path())
            .env("NO_COLOR", "1")
            .arg("run")
            .args(&args)
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}\n{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        for line in &summary {
            assert!(
                stdout.lines().any(|l| l == line),
                "{args:?}: the README says `{line}`; the run printed:\n{stdout}"
            );
        }
    }
    // The follow-up the README shows: lint a captured message from the relative report folder.
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(dir.path())
        .args([
            "lint",
            "reports/curl/cases/kvc-pvs/anb023-crlf/message-1.eml",
        ])
        .output()
        .expect("lint runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
