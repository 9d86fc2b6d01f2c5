//! kvc-check in CI: attest items (`--answers-template`, `--answers`, `--strict` exit codes),
//! sharding (`run --shard i/n`, `lint --shard i/n`) and `report merge`, against the embedded
//! reference PVS.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn kvc_check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("kvc-check runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn report(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).expect("report.json"))
        .expect("JSON")
}

/// Case ID → verdict.
fn verdicts(report: &Value) -> BTreeMap<String, String> {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id").to_string(),
                c["verdict"].as_str().expect("verdict").to_string(),
            )
        })
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

const ATTEST_CASES: [&str; 6] = [
    "--case",
    "kvc-pvs/anb030-attest",
    "--case",
    "kvc-pvs/anb040-attest",
    "--case",
    "kvc-pvs/anb010-transport",
];

#[test]
fn an_answers_template_filled_in_closes_the_attest_items_and_strict_gates_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let template = tmp.path().join("answers.yaml");
    let out1 = tmp.path().join("r1");
    let mut args = vec!["run"];
    args.extend(ATTEST_CASES);
    args.extend(["--answers-template", s(&template), "--out", s(&out1)]);
    let o = kvc_check(&args);
    let console = text(&o.stdout);
    // Open attest items do not fail a run without --strict ...
    assert_eq!(o.status.code(), Some(0), "{console}{}", text(&o.stderr));
    // ... and the console says what they are and how to answer them.
    assert!(console.contains("attest: 2 question(s)"), "{console}");
    assert!(console.contains("--answers"), "{console}");
    assert!(console.contains("--strict"), "{console}");
    let r1 = report(&out1);
    let open: BTreeSet<String> = verdicts(&r1)
        .into_iter()
        .filter(|(_, v)| v == "attest")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(open.len(), 2, "{open:?}");

    // The template names exactly the open cases, in the --answers format.
    let yaml = std::fs::read_to_string(&template).expect("template written");
    for id in &open {
        assert!(yaml.contains(&format!("case: \"{id}\"")), "{yaml}");
    }
    assert!(!yaml.contains("anb010-transport"), "{yaml}");

    // --strict: the same run fails on the open items.
    let out2 = tmp.path().join("r2");
    let mut args = vec!["run"];
    args.extend(ATTEST_CASES);
    args.extend(["--strict", "--out", s(&out2)]);
    let o = kvc_check(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("--strict: they fail this run"));
    // In junit.xml an open question is a failure under --strict (CI shows it red), a skip
    // without.
    let strict_junit = std::fs::read_to_string(out2.join("junit.xml")).expect("junit");
    assert_eq!(
        strict_junit.matches("type=\"attest\"").count(),
        2,
        "{strict_junit}"
    );
    let junit = std::fs::read_to_string(out1.join("junit.xml")).expect("junit");
    assert!(!junit.contains("<failure"), "{junit}");
    assert_eq!(junit.matches("<skipped").count(), 2, "{junit}");
    let html = std::fs::read_to_string(out2.join("report.html")).expect("html");
    assert!(html.contains("data-verdict=\"fail\""), "strict banner");

    // The template as written (not filled in) is refused with its line, not read as answers.
    let out3 = tmp.path().join("r3");
    let mut args = vec!["run"];
    args.extend(ATTEST_CASES);
    args.extend(["--answers", s(&template), "--out", s(&out3)]);
    let o = kvc_check(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains(&format!("{}:", template.display())),
        "{}",
        text(&o.stderr)
    );

    // Filled in: every item closes, and --strict passes.
    let filled = yaml
        .replace("answer:         # yes | no", "answer: yes")
        .replace(
            "evidence: \"\"",
            "evidence: \"QA-Handbuch §4.2, release process v3\"",
        );
    assert_ne!(filled, yaml);
    std::fs::write(&template, &filled).expect("write");
    let out4 = tmp.path().join("r4");
    let mut args = vec!["run"];
    args.extend(ATTEST_CASES);
    args.extend(["--answers", s(&template), "--strict", "--out", s(&out4)]);
    let o = kvc_check(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let r4 = report(&out4);
    for id in &open {
        assert_eq!(verdicts(&r4)[id], "pass", "{id}");
    }
    assert_eq!(r4["requirement_counts"]["attest"], 0);
    assert!(
        !text(&o.stdout).contains("\nattest:"),
        "{}",
        text(&o.stdout)
    );

    // An answer `no` fails the requirement with or without --strict.
    std::fs::write(&template, filled.replacen("answer: yes", "answer: no", 1)).expect("write");
    let out5 = tmp.path().join("r5");
    let mut args = vec!["run"];
    args.extend(ATTEST_CASES);
    args.extend(["--answers", s(&template), "--out", s(&out5)]);
    assert_eq!(kvc_check(&args).status.code(), Some(1));
}

#[test]
fn shard_arguments_are_checked() {
    for bad in ["0/3", "4/3", "x/y", "3"] {
        for cmd in [
            vec!["run", "--shard", bad],
            vec!["lint", "--shard", bad, "vectors/kvc"],
        ] {
            let o = kvc_check(&cmd);
            assert_eq!(o.status.code(), Some(2), "{cmd:?}");
            let err = text(&o.stderr);
            assert!(err.contains("expected i/n"), "{cmd:?}: {err}");
        }
    }
}

/// (name, outcome) of every testcase in a junit.xml.
fn junit_cases(dir: &Path) -> BTreeSet<(String, String)> {
    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("junit parses");
    report
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter())
        .map(|c| {
            let outcome = match &c.status {
                quick_junit::TestCaseStatus::Success { .. } => "success".to_string(),
                quick_junit::TestCaseStatus::NonSuccess { kind, .. } => format!("{kind:?}"),
                quick_junit::TestCaseStatus::Skipped { .. } => "skipped".to_string(),
            };
            (c.name.as_str().to_string(), outcome)
        })
        .collect()
}

#[test]
fn the_merge_of_the_shards_equals_the_unsharded_run() {
    // Faults that show in every message, in TLS, and ones that show only in some kinds of
    // message (Arztbrief Subject, unspecified Subject, every second message, one REST case).
    shards_equal_the_whole(&["KVC-Anb170", "KVC-Anb021"], &[2, 3]);
    shards_equal_the_whole(
        &[
            "KVC-Anb140",
            "KVC-Anb150",
            "KVC-Anb100-consistency",
            "KVC-Anb010-deletes-undecryptable",
        ],
        &[3],
    );
}

fn shards_equal_the_whole(faults: &[&str], splits: &[usize]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let whole = tmp.path().join("whole");
    let fault_args: Vec<&str> = faults.iter().flat_map(|f| ["--fault", *f]).collect();
    let mut args = vec!["run"];
    args.extend(&fault_args);
    args.extend(["--out", s(&whole)]);
    let o = kvc_check(&args);
    let whole_code = o.status.code();
    assert_eq!(whole_code, Some(1), "the faults fail requirements");
    let w = report(&whole);
    let all = verdicts(&w);
    assert!(all.values().any(|v| v == "fail") && all.values().any(|v| v == "pass"));

    for &n in splits {
        let mut dirs = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for i in 1..=n {
            let dir = tmp.path().join(format!("n{n}-{i}"));
            let shard = format!("{i}/{n}");
            let mut args = vec!["run"];
            args.extend(&fault_args);
            args.extend(["--shard", &shard, "--out", s(&dir)]);
            let o = kvc_check(&args);
            assert!(matches!(o.status.code(), Some(0 | 1)), "{shard}");
            let part = verdicts(&report(&dir));
            assert!(!part.is_empty(), "shard {shard} holds cases");
            for id in part.keys() {
                assert!(seen.insert(id.clone()), "{id} in two shards of {n}");
            }
            dirs.push(dir);
        }
        assert_eq!(
            seen,
            all.keys().cloned().collect(),
            "the shards of {n} hold every case"
        );

        let merged = tmp.path().join(format!("merged-{n}"));
        let mut args = vec!["report", "merge"];
        args.extend(dirs.iter().map(|d| s(d)));
        args.extend(["--out", s(&merged)]);
        let o = kvc_check(&args);
        assert_eq!(o.status.code(), whole_code, "{}", text(&o.stderr));
        let m = report(&merged);
        assert_eq!(verdicts(&m), all, "same verdict per case ({n} shards)");
        assert_eq!(
            m["requirements"], w["requirements"],
            "same requirement rollup"
        );
        assert_eq!(m["case_counts"], w["case_counts"]);
        assert_eq!(m["requirement_counts"], w["requirement_counts"]);
        assert_eq!(m["planned_cases"], w["planned_cases"]);
        assert_eq!(m["complete"], true);
        assert_eq!(junit_cases(&merged), junit_cases(&whole));
        let html = std::fs::read_to_string(merged.join("report.html")).expect("html");
        assert!(html.contains("id=\"verdict-banner\""));
        // Every captured message came along.
        for c in m["cases"].as_array().expect("cases") {
            for msg in c["messages"].as_array().expect("messages") {
                let file = msg["file"].as_str().expect("file");
                assert!(merged.join(file).is_file(), "{file}");
            }
        }
        // The merged report reads back (report.json holds all it needs).
        let again = tmp.path().join(format!("again-{n}"));
        let o = kvc_check(&["report", "merge", s(&merged), "--out", s(&again)]);
        assert_eq!(o.status.code(), whole_code, "{}", text(&o.stderr));
        assert_eq!(report(&again)["requirements"], w["requirements"]);
    }
}

#[test]
fn merging_overlapping_or_foreign_reports_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = |name: &str, extra: &[&str]| {
        let dir = tmp.path().join(name);
        let mut args = vec!["run", "--req", "KVC-Anb170", "--req", "KVC-Anb160"];
        args.extend(extra);
        args.extend(["--out", s(&dir)]);
        let o = kvc_check(&args);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{name}: {}",
            text(&o.stderr)
        );
        dir
    };
    let a1 = run("a1", &["--shard", "1/2"]);
    let a2 = run("a2", &["--shard", "2/2"]);
    let faulty = run("b2", &["--shard", "2/2", "--fault", "KVC-Anb170"]);
    let whole = run("whole", &[]);
    let suites_dir = run("c2", &["--shard", "2/2", "--suites", "suites"]);
    let merge = |dirs: &[&Path], out: &str| {
        let mut args = vec!["report", "merge"];
        args.extend(dirs.iter().map(|d| s(d)));
        let out = tmp.path().join(out);
        args.extend(["--out", s(&out)]);
        let o = kvc_check(&args);
        (o.status.code(), text(&o.stderr), out)
    };
    let (code, err, out) = merge(&[&a1, &a1], "m1");
    assert_eq!(code, Some(2));
    assert!(err.contains("is in both"), "{err}");
    assert!(!out.join("report.json").exists(), "nothing written");
    let (code, err, _) = merge(&[&a1, &whole], "m2");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("is in both") || err.contains("not a shard"),
        "{err}"
    );
    let (code, err, _) = merge(&[&a1], "m3");
    assert_eq!(code, Some(2));
    assert!(err.contains("shard 2/2 is missing"), "{err}");
    let (code, err, _) = merge(&[&a1, &faulty], "m4");
    assert_eq!(code, Some(2));
    assert!(err.contains("different"), "{err}");
    let (code, err, _) = merge(&[&a1, &suites_dir], "m5");
    assert_eq!(code, Some(2));
    assert!(err.contains("different suites"), "{err}");
    let (code, err, _) = merge(&[&a1, &tmp.path().join("nowhere")], "m6");
    assert_eq!(code, Some(2));
    assert!(err.contains("no report.json"), "{err}");
    // The two halves merge.
    let (code, err, out) = merge(&[&a2, &a1], "m7");
    assert!(matches!(code, Some(0 | 1)), "{err}");
    assert_eq!(verdicts(&report(&out)), verdicts(&report(&whole)));
}

/// path → (verdict, findings) of a `lint --format json` output.
fn lint_results(stdout: &[u8]) -> BTreeMap<String, (String, String)> {
    let v: Value = serde_json::from_slice(stdout).expect("lint JSON");
    v.as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["path"].as_str().expect("path").to_string(),
                (r["verdict"].to_string(), r["findings"].to_string()),
            )
        })
        .collect()
}

#[test]
fn lint_shards_split_the_files_with_no_overlap_and_no_loss() {
    let whole = kvc_check(&["lint", "--format", "json", "vectors"]);
    let all = lint_results(&whole.stdout);
    assert!(all.len() > 50, "vectors/ holds the messages");
    for n in [2usize, 3, 7] {
        let mut union = BTreeMap::new();
        let mut worst = 0;
        for i in 1..=n {
            let shard = format!("{i}/{n}");
            let o = kvc_check(&["lint", "--format", "json", "--shard", &shard, "vectors"]);
            let code = o.status.code().expect("exit code");
            assert!(code <= 2, "{shard}");
            worst = worst.max(code);
            let part = lint_results(&o.stdout);
            assert!(!part.is_empty(), "{shard}");
            for (path, result) in part {
                assert!(
                    union.insert(path.clone(), result).is_none(),
                    "{path} in two shards of {n}"
                );
            }
        }
        assert_eq!(union, all, "the shards of {n} lint every file once, alike");
        assert_eq!(Some(worst), whole.status.code());
    }
    // More shards than files: the empty parts succeed.
    let o = kvc_check(&[
        "lint",
        "--shard",
        "3/3",
        "vectors/kvc/pass-arztbrief.eml",
        "vectors/kvc/fail-170-bcc.eml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("no input in this part"));
}
