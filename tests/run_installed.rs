//! `kvc-check run` from a folder that holds nothing, as an installed binary would be used: the
//! suites (and their mailbox files) come from the binary, and no report names the folder it
//! was built in.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn a_run_from_an_empty_folder_needs_no_source_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let binary = dir.path().join("bin/kvc-check");
    std::fs::create_dir_all(binary.parent().expect("parent")).expect("mkdir");
    std::fs::copy(env!("CARGO_BIN_EXE_kvc-check"), &binary).expect("copy binary");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    let run = || {
        Command::new(&binary)
            .current_dir(&work)
            .args(["run", "--case", "kvc-pvs/anb020-unknown-application"])
            .args(["--case", "kvc-pvs/anb170-no-bcc"])
            .output()
            .expect("runs")
    };
    let first = run();
    let second = run();
    for o in [&first, &second] {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // Two runs in the same second get two folders.
    let folders: Vec<_> = std::fs::read_dir(work.join("reports"))
        .expect("reports/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(folders.len(), 2, "{folders:?}");
    let source = env!("CARGO_MANIFEST_DIR");
    for folder in &folders {
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(folder.join("report.json")).expect("report.json"),
        )
        .expect("json");
        assert_eq!(report["complete"], true);
        assert!(report["cases"].as_array().expect("cases").len() >= 2);
        for name in ["report.json", "junit.xml", "report.html"] {
            let text = std::fs::read_to_string(folder.join(name)).expect("report");
            assert!(
                !text.contains(source),
                "{name} names the source tree {source}"
            );
        }
        let origin = report["cases"][0]["origin"].as_str().expect("origin");
        assert!(origin.starts_with("kvc-pvs/"), "suite-relative: {origin}");
    }
    assert!(!Path::new(&work).join("suites").exists());
}

#[test]
fn a_role_without_a_suite_is_named_with_the_roles_that_have_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A suites folder with a kvc-pvs case only: kim-cm has no suite there.
    let suites = dir.path().join("suites");
    std::fs::create_dir_all(suites.join("kvc-pvs")).expect("mkdir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/kvc-pvs/anb030-attest.yaml"),
        suites.join("kvc-pvs/anb030-attest.yaml"),
    )
    .expect("copy");
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(dir.path())
        .args(["run", "--role", "kim-cm", "--suites"])
        .arg(&suites)
        .arg("--out")
        .arg(dir.path().join("r"))
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--role kim-cm") && err.contains("roles with suites: kvc-pvs"),
        "{err}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(dir.path())
        .args(["run", "--role", "kvc-client"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("roles with suites: kvc-pvs"), "{err}");
}

#[test]
fn an_out_folder_with_an_earlier_run_is_refused_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kvc-check"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", "--case", "kvc-pvs/anb170-no-bcc", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .expect("runs")
    };
    assert_eq!(run(&[]).status.code(), Some(0));
    let stale = out.join("cases/kvc-pvs/old-case/message-1.eml");
    std::fs::create_dir_all(stale.parent().expect("parent")).expect("mkdir");
    std::fs::write(&stale, "Subject: stale\r\n\r\nold\r\n").expect("stale message");
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("holds an earlier run") && err.contains("--force"),
        "{err}"
    );
    assert!(stale.is_file(), "nothing removed without --force");
    assert_eq!(run(&["--force"]).status.code(), Some(0));
    assert!(!stale.exists(), "--force emptied the folder first");
    assert!(out.join("report.json").is_file());
}
