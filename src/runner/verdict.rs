//! From checks to a case verdict: combining them, judging refusals next to their positive
//! controls, and what stands when a case was cut short. Role-neutral: it reads only what every
//! [`Check`] carries.

use crate::runner::model::{CaseResult, Check, Verdict};

/// How a refusal whose positive control did not succeed is reported.
pub const CONTROL_FAILED: &str = "refusal not meaningful: the control never succeeded";

/// The case verdict and, unless it passed, the first decisive check as the reason.
pub fn decide(checks: &[Check]) -> (Verdict, Option<String>) {
    let verdict = Verdict::combine(checks.iter().map(|c| c.verdict)).unwrap_or(Verdict::Error);
    let reason = if verdict == Verdict::Pass {
        None
    } else {
        checks.iter().find(|c| c.verdict == verdict).map(|c| {
            let first = c.observed.lines().next().unwrap_or_default();
            format!("{}: {first}", c.expectation)
        })
    };
    (verdict, reason)
}

/// Judges refusals next to their positive controls (`cases`: the results so far, the control
/// cases among them). A refusal passes only when its control passed in the same run; a
/// refusal that failed stays failed: accepting the bad counterpart is decisive on its own.
/// Returns whether a verdict changed.
pub fn apply_controls(checks: &mut [Check], cases: &[CaseResult]) -> bool {
    let mut changed = false;
    for c in checks.iter_mut() {
        let Some(control) = c.needs_control.clone() else {
            continue;
        };
        let found = cases.iter().find(|r| r.id == control.case);
        let (ok, summary) = match found {
            None => (false, format!("control case {} did not run", control.case)),
            Some(r) => {
                let named: Vec<&Check> = r
                    .checks
                    .iter()
                    .filter(|k| control.names(&k.expectation))
                    .collect();
                if named.is_empty() {
                    (
                        false,
                        format!(
                            "{}: no `{}` check ({}: {})",
                            r.id,
                            control.check,
                            r.verdict.as_str(),
                            r.reason.as_deref().unwrap_or("no checks")
                        ),
                    )
                } else if let Some(bad) = named.iter().find(|k| k.verdict != Verdict::Pass) {
                    (
                        false,
                        format!(
                            "{}: `{}` was {}: {}",
                            r.id,
                            bad.expectation,
                            bad.verdict.as_str(),
                            bad.observed.lines().next().unwrap_or_default()
                        ),
                    )
                } else {
                    (
                        true,
                        format!(
                            "{}: `{}` passed: {}",
                            r.id,
                            named[0].expectation,
                            named[0].observed.lines().next().unwrap_or_default()
                        ),
                    )
                }
            }
        };
        c.control = Some(summary.clone());
        if !ok && c.verdict == Verdict::Pass {
            c.verdict = Verdict::Error;
            c.observed = format!("{CONTROL_FAILED} ({summary})\n{}", c.observed);
            changed = true;
        }
    }
    changed
}

/// A case whose steps ended early (`why`: a step failed or timed out): a `fail` that stands on
/// what was observed so far is kept with its evidence; every other check is undecided.
/// Returns the case verdict and reason.
pub fn cut_short(checks: &mut [Check], why: &str) -> (Verdict, String) {
    for c in checks.iter_mut() {
        let keeps = matches!(c.verdict, Verdict::Attest | Verdict::Skip)
            || (c.verdict == Verdict::Fail && c.fails_on_evidence_alone);
        if !keeps {
            c.observed = format!(
                "not decided: the case ended early ({why}); observed so far ({}):\n{}",
                c.verdict.as_str(),
                c.observed
            );
            c.verdict = Verdict::Error;
        }
    }
    match checks.iter().find(|c| c.verdict == Verdict::Fail) {
        Some(c) => (
            Verdict::Fail,
            format!(
                "{}: {}; then {why}",
                c.expectation,
                c.observed.lines().next().unwrap_or_default()
            ),
        ),
        None => (Verdict::Error, why.to_string()),
    }
}
