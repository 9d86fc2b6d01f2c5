//! The CI examples in `docs/ci/` (docs/CI.md) stay true to the binary: each parses, every
//! `kvc-check` command in it runs (against the embedded reference system instead of the
//! vendor's adapter), and every report path the engine is told to read exists and holds what
//! that engine expects (well-formed JUnit, SARIF 2.1.0, a merged run). The engines' own steps
//! (artifact upload and download) are stood in for by copying folders.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn read_yaml(name: &str) -> serde_json::Value {
    let path = common::repo_root().join("docs/ci").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"))
}

/// One shell-free command line split into words (the examples quote nothing).
fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

/// Runs one `kvc-check ...` line of an example in `dir`: the vendor's `--sut FILE` becomes
/// `--role kvc-pvs` (the embedded reference system stands in), `> FILE` captures stdout, globs in arguments are
/// expanded, `|| true` is dropped. Returns the exit code.
fn run_line(dir: &Path, line: &str) -> i32 {
    let line = line.trim().trim_end_matches("|| true").trim();
    let (command, redirect) = match line.split_once(" > ") {
        Some((c, f)) => (c, Some(f.trim())),
        None => (line, None),
    };
    let mut args = words(command);
    assert_eq!(
        args.first().map(String::as_str),
        Some("kvc-check"),
        "{line}"
    );
    args.remove(0);
    if let Some(i) = args.iter().position(|a| a == "--sut") {
        // The vendor's adapter is of the practice-system role: its reference runs instead.
        args.splice(i..=i + 1, ["--role".to_string(), "kvc-pvs".to_string()]);
    }
    let mut expanded = Vec::new();
    for a in args {
        match a.strip_suffix('*') {
            Some(prefix) => {
                let mut found: Vec<String> = std::fs::read_dir(dir.join(prefix).parent().unwrap())
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| {
                        p.to_string_lossy()
                            .starts_with(&*dir.join(prefix).to_string_lossy())
                    })
                    .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
                    .collect();
                found.sort();
                assert!(!found.is_empty(), "`{a}` matches nothing in {line}");
                expanded.extend(found);
            }
            None => expanded.push(a),
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(dir)
        .args(&expanded)
        .output()
        .expect("run kvc-check");
    if let Some(file) = redirect {
        std::fs::write(dir.join(file), &out.stdout).unwrap();
    }
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "`{line}` exited {code} (2 = error or bad usage):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    code
}

/// A workspace with messages in `out/`, as the examples' lint jobs expect.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for v in ["pass-arztbrief.eml", "fail-090-missing-sendersystem.eml"] {
        std::fs::copy(common::repo_root().join("vectors/kvc").join(v), out.join(v)).unwrap();
    }
    dir
}

fn assert_junit(path: &Path) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: the engine reads it, but: {e}", path.display()));
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{}: not XML: {e}", path.display()));
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert!(
        doc.root_element().has_tag_name("testsuites") && cases > 0,
        "{}: no JUnit test case",
        path.display()
    );
}

/// The merged run holds every case once: as many cases as an unsharded run of the same suite.
fn assert_merged(dir: &Path, merged: &Path) {
    let cases = |p: &Path| -> usize {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("report.json")).unwrap()).unwrap();
        v["cases"].as_array().map(Vec::len).unwrap_or(0)
    };
    let whole = dir.join("unsharded");
    run_line(
        dir,
        &format!("kvc-check run --role kvc-pvs --out {}", whole.display()),
    );
    assert!(cases(&whole) > 0);
    assert_eq!(cases(merged), cases(&whole), "merged = unsharded");
    assert!(merged.join("report.html").is_file());
}

#[test]
fn the_gitlab_job_runs_and_names_the_reports_it_produces() {
    let ci = read_yaml("gitlab-ci.yml");
    let dir = workspace();
    let jobs = ci.as_object().unwrap();
    let order = [
        "kvc-check:lint",
        "kvc-check:run",
        "kvc-check:shard",
        "kvc-check:merge",
    ];
    for name in order {
        let job = &jobs[name];
        assert_eq!(job["extends"], ".kvc-check", "{name}");
        let parallel = job["parallel"].as_u64().unwrap_or(1);
        for index in 1..=parallel {
            for line in job["script"].as_array().unwrap() {
                let line = line
                    .as_str()
                    .unwrap()
                    .replace("${CI_NODE_INDEX}", &index.to_string())
                    .replace("${CI_NODE_TOTAL}", &parallel.to_string());
                run_line(dir.path(), &line);
            }
        }
        if let Some(junit) = job["artifacts"]["reports"]["junit"].as_str() {
            assert_junit(&dir.path().join(junit));
        }
        assert_eq!(
            job["artifacts"]["when"], "always",
            "{name}: reports of a failing job too"
        );
    }
    assert_merged(dir.path(), &dir.path().join("reports/merged"));
}

#[test]
fn the_github_workflow_runs_and_names_the_reports_it_produces() {
    let wf = read_yaml("github-workflow.yml");
    let dir = workspace();
    let jobs = &wf["jobs"];
    let steps = |job: &str| jobs[job]["steps"].as_array().unwrap().clone();
    let runs = |job: &str, shard: Option<u64>| -> Vec<String> {
        steps(job)
            .iter()
            .filter_map(|s| s["run"].as_str())
            .filter(|r| r.starts_with("kvc-check "))
            .map(|r| match shard {
                Some(n) => r.replace("${{ matrix.shard }}", &n.to_string()),
                None => r.to_string(),
            })
            .collect()
    };
    for line in runs("lint", None) {
        run_line(dir.path(), &line);
    }
    let sarif_file = steps("lint")
        .iter()
        .find_map(|s| s["with"]["sarif_file"].as_str().map(str::to_string))
        .expect("upload-sarif step");
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(&sarif_file)).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(!sarif["runs"][0]["results"].as_array().unwrap().is_empty());

    let matrix: Vec<u64> = jobs["shard"]["strategy"]["matrix"]["shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    for &n in &matrix {
        for line in runs("shard", Some(n)) {
            assert!(line.contains(&format!("/{}", matrix.len())), "{line}");
            run_line(dir.path(), &line);
        }
        // upload-artifact `path` -> download-artifact puts it under reports/<artifact name>/.
        let upload = steps("shard")
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/upload-artifact"))
            })
            .cloned()
            .unwrap();
        let name = upload["with"]["name"]
            .as_str()
            .unwrap()
            .replace("${{ matrix.shard }}", &n.to_string());
        let path = upload["with"]["path"]
            .as_str()
            .unwrap()
            .replace("${{ matrix.shard }}", &n.to_string());
        copy_dir(
            &dir.path().join(&path),
            &dir.path().join("reports").join(name),
        );
    }
    for line in runs("merge", None) {
        run_line(dir.path(), &line);
    }
    let merged = steps("merge")
        .iter()
        .find_map(|s| {
            s["uses"]
                .as_str()
                .filter(|u| u.starts_with("actions/upload-artifact"))
                .and(s["with"]["path"].as_str())
                .map(str::to_string)
        })
        .unwrap();
    assert_junit(&dir.path().join(&merged).join("junit.xml"));
    assert_merged(dir.path(), &dir.path().join(merged));
}

/// Braces, parentheses and quotes balance (no Groovy here to parse it).
fn balanced(text: &str) -> bool {
    let mut stack = Vec::new();
    let mut quote: Option<char> = None;
    for line in text.lines() {
        let line = if quote.is_none() {
            line.split("//").next().unwrap_or_default()
        } else {
            line
        };
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '{' | '(' | '[') => stack.push(c),
                (None, '}') if stack.pop() != Some('{') => return false,
                (None, ')') if stack.pop() != Some('(') => return false,
                (None, ']') if stack.pop() != Some('[') => return false,
                _ => {}
            }
        }
    }
    stack.is_empty() && quote.is_none()
}

#[test]
fn the_jenkinsfile_runs_and_names_the_reports_it_produces() {
    let path = common::repo_root().join("docs/ci/Jenkinsfile");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(balanced(&text), "Jenkinsfile: unbalanced braces or quotes");
    assert!(!balanced("pipeline { stage('x') {"), "the check can fail");
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("//"));
    assert_eq!(first, Some("pipeline {"), "a declarative pipeline");
    let dir = workspace();
    let quoted = |prefix: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(prefix))
            .filter_map(|rest| rest.strip_prefix('\'')?.split('\'').next())
            .map(str::to_string)
            .collect()
    };
    let commands = quoted("sh ");
    assert!(commands.len() >= 4, "{commands:?}");
    for line in &commands {
        run_line(dir.path(), line);
    }
    let junit = quoted("junit ");
    assert_eq!(junit.len(), 2, "{junit:?}");
    for j in &junit {
        assert_junit(&dir.path().join(j));
    }
    assert_merged(dir.path(), &dir.path().join("reports/merged"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let p: PathBuf = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}
