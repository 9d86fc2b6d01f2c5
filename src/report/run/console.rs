//! Console view of a run: a progress bar while cases run (indicatif, on stderr; hidden when
//! stderr is not a terminal) and a summary at the end: the requirement table, every failing or
//! erroring case with its findings and how to reproduce it, what `attest` means and how to
//! answer, the counts and where the reports are. File paths are relative to the folder the run
//! was started in (the report folder's own paths prefixed with it).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::doc::{CaseDoc, MessageDoc, RunDoc};
use crate::runner::model::Verdict;

/// Lines of findings shown per failing check; the rest are counted ("+M more").
pub const MAX_FINDING_LINES: usize = 10;

/// A progress bar over the planned cases.
pub fn progress(total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed}] {bar:30} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// The end-of-run summary (plain text; no timing apart from the total). Control characters
/// (SUT text in reasons) are shown as `\u{..}`, so nothing the SUT sent acts on the terminal.
/// `strict`: open attest questions fail the run (said in the attest note).
pub fn summary(run: &RunDoc, strict: bool) -> String {
    crate::report::sanitize::terminal_text(&summary_raw(run, strict))
}

/// The report folder as the run's paths are shown (`.` when unknown).
pub fn out_dir(run: &RunDoc) -> &str {
    if run.run.out.is_empty() {
        "."
    } else {
        &run.run.out
    }
}

/// `text` with every path of a captured message of the run (`cases/<case>/message-N.eml`,
/// relative to the report folder) prefixed with the report folder `out`.
pub fn relocate(text: &str, run: &RunDoc, out: &str) -> String {
    if out == "." {
        return text.to_string();
    }
    let mut files: Vec<&str> = run
        .cases
        .iter()
        .flat_map(|c| c.messages.iter().map(|m| m.file.as_str()))
        .collect();
    // Longest first: `message-10.eml` before `message-1.eml`.
    files.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let path_char = |c: char| c.is_alphanumeric() || "/._-".contains(c);
    let mut out_text = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        let at_start = out_text.chars().next_back().is_none_or(|c| !path_char(c));
        if at_start {
            for f in &files {
                if let Some(after) = rest.strip_prefix(f)
                    && after.chars().next().is_none_or(|c| !path_char(c))
                {
                    out_text.push_str(out);
                    out_text.push('/');
                    out_text.push_str(f);
                    rest = after;
                    continue 'scan;
                }
            }
        }
        let Some(c) = rest.chars().next() else { break };
        out_text.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out_text
}

/// The shell commands that reproduce a case, from the folder the run was started in: the run
/// of this one case, and `kvc-check lint` for each captured message with findings that the
/// case captured or that its failing checks name (a run-wide lint names other cases'
/// messages); at most [`MAX_FINDING_LINES`] lint commands, then a count.
pub fn reproduce(run: &RunDoc, case: &CaseDoc) -> Vec<String> {
    let out = out_dir(run);
    let q = shell_quote;
    let mut lines = Vec::new();
    if !run.run.rerun.is_empty() {
        lines.push(format!("{} --case {}", run.run.rerun, q(&case.id)));
    }
    let failing: Vec<&str> = case
        .checks
        .iter()
        .filter(|k| matches!(k.verdict, Verdict::Fail | Verdict::Error))
        .map(|k| k.observed.as_str())
        .collect();
    let named = |file: &str| {
        failing.iter().any(|o| {
            o.match_indices(file).any(|(at, _)| {
                let after = o[at + file.len()..].chars().next();
                after.is_none_or(|c| !(c.is_alphanumeric() || "/._-".contains(c)))
            })
        })
    };
    let mut messages: Vec<(&CaseDoc, &MessageDoc)> = Vec::new();
    for c in &run.cases {
        for m in &c.messages {
            if (c.id == case.id || named(&m.file)) && !m.findings().is_empty() {
                messages.push((c, m));
            }
        }
    }
    let total = messages.len();
    for (c, m) in messages.into_iter().take(MAX_FINDING_LINES) {
        let mut cmd = format!("kvc-check lint --profile {}", q(&c.profile));
        if let Some(addressee) = &m.opened_with {
            let pki = m.pki.as_deref().unwrap_or("user-pki");
            cmd.push_str(&format!(
                " --key {} --trust {}",
                q(&format!("{out}/{pki}/{addressee}.key.pem")),
                q(&format!("{out}/{pki}/user-ca.pem"))
            ));
        }
        cmd.push(' ');
        cmd.push_str(&q(&format!("{out}/{}", m.file)));
        lines.push(cmd);
    }
    if total > MAX_FINDING_LINES {
        lines.push(format!(
            "# +{} more message(s) with findings (listed in report.html)",
            total - MAX_FINDING_LINES
        ));
    }
    lines
}

/// `s` quoted for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The finding lines of a check's observation, at most [`MAX_FINDING_LINES`], then `+M more`.
pub fn finding_lines(observed: &str) -> Vec<String> {
    let all: Vec<&str> = observed.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out: Vec<String> = all
        .iter()
        .take(MAX_FINDING_LINES)
        .map(|l| l.to_string())
        .collect();
    if all.len() > MAX_FINDING_LINES {
        out.push(format!(
            "+{} more (all in report.html and junit.xml)",
            all.len() - MAX_FINDING_LINES
        ));
    }
    out
}

fn summary_raw(run: &RunDoc, strict: bool) -> String {
    let out_dir = out_dir(run);
    let mut out = String::new();
    out.push_str(&format!(
        "kvc-check run: role {}, SUT {}{}{}\n",
        run.run.role,
        run.run.sut,
        // A Fachdienst the suite probes has no transport of its own.
        if run.run.transport.is_empty() {
            String::new()
        } else {
            format!(", transport {}", run.run.transport)
        },
        match (&run.run.shard, run.run.merged_from.len()) {
            (Some(s), _) => format!(", shard {s}"),
            (None, 0) => String::new(),
            (None, n) => format!(", merged from {n} reports"),
        }
    ));
    out.push_str("\nrequirement   verdict  cases\n");
    for r in &run.requirements {
        let detail: Vec<String> = r
            .cases
            .iter()
            .filter(|c| c.verdict != Verdict::Pass)
            .map(|c| format!("{} {}", c.id, c.verdict.as_str()))
            .collect();
        out.push_str(&format!(
            "{:<13} {:<8} {} case(s){}\n",
            r.id,
            r.verdict.as_str(),
            r.cases.len(),
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {}", detail.join(", "))
            }
        ));
    }
    // Failing cases first, then erroring ones.
    let mut problems: Vec<&CaseDoc> = run
        .cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error))
        .collect();
    problems.sort_by_key(|c| std::cmp::Reverse(c.verdict));
    for c in problems {
        out.push_str(&format!(
            "\n{} {} ({}): {}\n",
            c.verdict.as_str().to_uppercase(),
            c.id,
            c.requirements.join(", "),
            relocate(c.reason.as_deref().unwrap_or(""), run, out_dir)
        ));
        for k in c
            .checks
            .iter()
            .filter(|k| matches!(k.verdict, Verdict::Fail | Verdict::Error))
        {
            out.push_str(&format!(
                "  [{}] {}\n    expected: {}\n",
                k.verdict.as_str(),
                k.expectation,
                k.expected
            ));
            for line in finding_lines(&relocate(&k.observed, run, out_dir)) {
                out.push_str(&format!("    {line}\n"));
            }
        }
        for m in &c.messages {
            out.push_str(&format!("  captured: {out_dir}/{}\n", m.file));
        }
        for cmd in reproduce(run, c) {
            out.push_str(&format!("  reproduce: {cmd}\n"));
        }
    }
    let open: Vec<(&CaseDoc, &str)> = run
        .cases
        .iter()
        .flat_map(|c| {
            c.attest
                .iter()
                .filter(|a| a.answer.is_none())
                .map(move |a| (c, a.requirement.as_str()))
        })
        .collect();
    if !open.is_empty() {
        out.push_str(&format!(
            "\nattest: {} question(s) the suite cannot decide by observing the system need a human answer; until answered they are `attest`, never counted as passed{}:\n",
            open.len(),
            if strict {
                " (--strict: they fail this run)"
            } else {
                " (add --strict to fail the run on them)"
            }
        ));
        for (c, requirement) in &open {
            out.push_str(&format!("  {requirement} {}\n", c.id));
        }
        out.push_str(
            "  answer them: kvc-check run --answers-template answers.yaml ... writes the open questions; fill in yes/no with evidence and run again with --answers answers.yaml\n",
        );
    }
    let c = &run.case_counts;
    let r = &run.requirement_counts;
    out.push_str(&format!(
        "\ncases: {} pass, {} fail, {} error, {} skip, {} attest ({} of {} run){}\n",
        c.pass,
        c.fail,
        c.error,
        c.skip,
        c.attest,
        run.cases.len(),
        run.planned_cases,
        if run.complete {
            ""
        } else {
            " -- INCOMPLETE (interrupted)"
        }
    ));
    out.push_str(&format!(
        "requirements: {} pass, {} fail, {} error, {} skip, {} attest (open questions; see report.html)\n",
        r.pass, r.fail, r.error, r.skip, r.attest
    ));
    out.push_str(&format!(
        "reports: {out_dir}/junit.xml {out_dir}/report.json {out_dir}/report.html\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(files: &[&str]) -> RunDoc {
        let messages: Vec<serde_json::Value> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                serde_json::json!({"reference": format!("c#{i}"), "file": f, "size": 1,
                    "mail_from": "a@b", "rcpt_to": [], "lint": {}})
            })
            .collect();
        let counts = serde_json::json!({"pass": 0, "fail": 0, "error": 0, "skip": 0, "attest": 0});
        serde_json::from_value(serde_json::json!({
            "run": {"tool": "kvc-check", "version": "t", "started": "t", "role": "kvc-pvs",
                "sut": "s", "transport": "t", "faults": [], "jobs": 1, "timeout_s": 1.0,
                "selection": [], "out": "reports/x"},
            "complete": true, "planned_cases": 1, "duration_ms": 0, "requirements": [],
            "cases": [{"id": "c", "title": "t", "origin": "o", "requirements": [],
                "role": "kvc-pvs", "profile": "kvc", "verdict": "fail", "duration_ms": 0,
                "steps": [], "checks": [], "messages": messages, "sessions": {}}],
            "case_counts": counts, "requirement_counts": counts
        }))
        .expect("document")
    }

    /// Only whole message paths are prefixed: `message-1.eml` is not a part of
    /// `message-10.eml`, and a path inside another word stays.
    #[test]
    fn relocate_prefixes_whole_message_paths() {
        let run = doc(&["cases/c/message-1.eml", "cases/c/message-10.eml"]);
        assert_eq!(
            relocate(
                "cases/c/message-10.eml (line 4): x\ncases/c/message-1.eml: y; xcases/c/message-1.eml; cases/c/message-1.emlz",
                &run,
                "reports/x"
            ),
            "reports/x/cases/c/message-10.eml (line 4): x\nreports/x/cases/c/message-1.eml: y; xcases/c/message-1.eml; cases/c/message-1.emlz"
        );
        assert_eq!(
            relocate("cases/c/message-1.eml", &run, "."),
            "cases/c/message-1.eml"
        );
    }

    #[test]
    fn reproduce_commands_are_shell_quoted() {
        assert_eq!(
            shell_quote("reports/x/cases/a/message-1.eml"),
            "reports/x/cases/a/message-1.eml"
        );
        assert_eq!(shell_quote("my dir/sut.yaml"), "'my dir/sut.yaml'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf x)"), "'$(rm -rf x)'");
    }

    #[test]
    fn finding_lines_are_capped_with_a_count() {
        let text: String = (1..=13).map(|i| format!("finding {i}\n")).collect();
        let lines = finding_lines(&text);
        assert_eq!(lines.len(), MAX_FINDING_LINES + 1);
        assert_eq!(lines[9], "finding 10");
        assert!(lines[10].starts_with("+3 more"), "{lines:?}");
        assert_eq!(finding_lines("a\nb\n").len(), 2);
    }
}
