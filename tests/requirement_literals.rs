//! The requirement a check decides comes from the case file, not from the code: no string
//! literal in the runner or in the roles' expectation code names a requirement ID (tests
//! aside). Texts that must name one take it from the case, the catalogue or a lint rule.

use std::path::{Path, PathBuf};

use regex::Regex;

mod common;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
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

/// The code of a file outside `#[cfg(test)]` items and without full-line comments; `None` for a
/// file that only holds tests (named as an out-of-line `#[cfg(test)] mod x;` elsewhere).
fn code_outside_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            // Skip the item that follows: one line (`mod tests;`, `use ...;`) or a braced block.
            let mut depth = 0i64;
            for next in lines.by_ref() {
                depth += next.matches('{').count() as i64 - next.matches('}').count() as i64;
                if depth <= 0 && (next.trim_end().ends_with(';') || next.trim_end().ends_with('}'))
                {
                    break;
                }
            }
            continue;
        }
        if line.trim_start().starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// String literals of a piece of code that name a requirement ID.
fn requirement_literals(code: &str) -> Vec<String> {
    let id = Regex::new(r"KVC-Anb\d|\bA_\d|KOM-LE").expect("regex");
    // Char literals holding a quote would unbalance the string scan.
    let code = code.replace(r#"'"'"#, "' '").replace(r#"'\"'"#, "' '");
    let literal = Regex::new(r#""(?:[^"\\]|\\.)*""#).expect("regex");
    literal
        .find_iter(&code)
        .map(|m| m.as_str())
        .filter(|s| id.is_match(s))
        .map(str::to_string)
        .collect()
}

#[test]
fn no_requirement_id_literal_in_evaluation_code() {
    let root = common::repo_root();
    let mut files = Vec::new();
    rust_files(&root.join("src/runner"), &mut files);
    rust_files(&root.join("src/roles"), &mut files);
    assert!(files.len() > 10, "found only {files:?}");
    let mut found = Vec::new();
    for f in &files {
        // Out-of-line test modules (`#[cfg(test)] mod tests;`).
        if f.file_stem().is_some_and(|s| s == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read");
        for lit in requirement_literals(&code_outside_tests(&text)) {
            found.push(format!("{}: {lit}", f.display()));
        }
    }
    assert!(
        found.is_empty(),
        "requirement IDs written into evaluation code (take them from the case):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_literals_and_ignores_tests_and_comments() {
    let code = r#"
fn a() -> Check {
    // decides KVC-Anb010
    check("x", Some("KVC-Anb010"), Verdict::Pass, "e", "o")
}
fn b() { let c = '"'; format!("{c} A_12345 and KOM-LE"); }
#[cfg(test)]
mod tests {
    fn t() { let _ = "KVC-Anb021"; }
}
"#;
    assert_eq!(
        requirement_literals(&code_outside_tests(code)),
        vec![r#""KVC-Anb010""#, r#""{c} A_12345 and KOM-LE""#]
    );
}
