//! Console view of a run: a progress bar while cases run (indicatif, on stderr; hidden when
//! stderr is not a terminal) and a summary at the end.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::model::{RunResult, Verdict};

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
pub fn summary(run: &RunResult, out_dir: &str) -> String {
    crate::report::sanitize::terminal_text(&summary_raw(run, out_dir))
}

fn summary_raw(run: &RunResult, out_dir: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "kvc-check run: role {}, SUT {}, transport {}\n",
        run.run.role, run.run.sut, run.run.transport,
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
    let problems: Vec<_> = run
        .cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error))
        .collect();
    if !problems.is_empty() {
        out.push('\n');
        for c in problems {
            out.push_str(&format!(
                "{} {} ({}): {}\n",
                c.verdict.as_str().to_uppercase(),
                c.id,
                c.requirements.join(", "),
                c.reason.as_deref().unwrap_or("")
            ));
            for m in &c.messages {
                out.push_str(&format!("    captured: {out_dir}/{}\n", m.file));
            }
        }
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
