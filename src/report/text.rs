//! Human-readable lint output. Styles are ANSI; `anstream` strips them when stdout is not a
//! terminal (or `NO_COLOR` is set).

use anstyle::{AnsiColor, Style};

use crate::lint::{FileResult, FileVerdict};
use crate::report::sanitize::terminal_text as t;
use crate::rules::{RequirementVerdict, Severity};

const PASS: Style = AnsiColor::Green.on_default().bold();
const FAIL: Style = AnsiColor::Red.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();

pub fn render(results: &[FileResult]) -> String {
    let mut out = String::new();
    for r in results {
        render_file(r, &mut out);
    }
    let count = |v| results.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "{} file(s): {} pass, {} fail, {} error\n",
        results.len(),
        count(FileVerdict::Pass),
        count(FileVerdict::Fail),
        count(FileVerdict::Error)
    ));
    out
}

fn render_file(r: &FileResult, out: &mut String) {
    let (style, label) = match r.verdict {
        FileVerdict::Pass => (PASS, "PASS"),
        FileVerdict::Fail => (FAIL, "FAIL"),
        FileVerdict::Error => (FAIL, "ERROR"),
    };
    let profile = r
        .profile
        .map(|p| format!(" (profile {})", p.as_str()))
        .unwrap_or_default();
    out.push_str(&format!(
        "{style}{label}{style:#} {}{profile}\n",
        t(&r.path)
    ));
    if let Some(e) = &r.error {
        out.push_str(&format!("  {}: {}\n", t(&r.path), t(e)));
    }
    for f in &r.findings {
        let (style, sev) = match f.severity {
            Severity::Error => (FAIL, "error  "),
            Severity::Warning => (WARN, "warning"),
        };
        out.push_str(&format!(
            "  {style}{sev}{style:#} {:<11} {}: {} {DIM}[{}]{DIM:#}\n",
            f.requirement,
            t(&f.location.to_string()),
            t(&f.message),
            f.rule
        ));
    }
    for d in &r.diagnostics {
        out.push_str(&format!(
            "  {DIM}note    line {}: {}{DIM:#}\n",
            d.line,
            t(&d.message)
        ));
    }
    if !r.requirements.is_empty() {
        let list = |v: RequirementVerdict| {
            r.requirements
                .iter()
                .filter(|q| q.verdict == v)
                .map(|q| q.requirement)
                .collect::<Vec<_>>()
        };
        let (pass, fail, skip) = (
            list(RequirementVerdict::Pass),
            list(RequirementVerdict::Fail),
            list(RequirementVerdict::Skip),
        );
        out.push_str(&format!(
            "  {DIM}requirements: {} pass, {} fail{}{}{DIM:#}\n",
            pass.len(),
            fail.len(),
            if fail.is_empty() {
                String::new()
            } else {
                format!(" ({})", fail.join(", "))
            },
            if skip.is_empty() {
                String::new()
            } else {
                format!(", skipped: {}", skip.join(", "))
            },
        ));
    }
}
