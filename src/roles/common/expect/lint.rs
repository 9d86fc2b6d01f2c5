//! `lint: {requirements: [...], over: case|run}`: the rules of the listed requirements (the
//! same as `kvc-check lint`) pass on every message in scope, and at least one was evaluated.

use serde::Deserialize;

use crate::roles::expect::{CaseHeader, Evaluated, Expect, Scope, check};
use crate::rules::{RequirementVerdict, Severity};
use crate::runner::model::{Check, Verdict};
use crate::suite::OverScope;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lint {
    pub requirements: Vec<String>,
    #[serde(default)]
    pub over: OverScope,
}

impl Expect for Lint {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        if self.requirements.is_empty() {
            return Err("lint: no requirement listed".into());
        }
        for r in &mut self.requirements {
            *r = case.requirement(r)?;
        }
        Ok(())
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        for r in &self.requirements {
            out.checks.push(lint(scope, r, self.over));
        }
    }

    /// A rule broken by a captured message stays broken whatever happens later.
    fn fails_on_evidence_alone(&self) -> bool {
        true
    }
}

fn lint(scope: &Scope, requirement: &str, over: OverScope) -> Check {
    let messages = scope.messages(over);
    let name = format!(
        "lint {requirement}{}",
        if over == OverScope::Run {
            " (all messages of the run)"
        } else {
            ""
        }
    );
    let expected = format!(
        "every rule of {requirement} passes on every message {} (same rules as `kvc-check lint`)",
        if over == OverScope::Run {
            "of the run"
        } else {
            "of this case"
        }
    );
    if messages.is_empty() {
        return check(
            name,
            Some(requirement),
            Verdict::Error,
            expected,
            "no message captured: nothing to lint",
        );
    }
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let mut skipped = Vec::new();
    let mut evaluated = 0usize;
    for m in &messages {
        let Some(result) = m
            .lint
            .requirements
            .iter()
            .find(|r| r.requirement == requirement)
        else {
            skipped.push(format!("{}: rule not applicable", m.file));
            continue;
        };
        for f in m
            .lint
            .findings
            .iter()
            .filter(|f| f.requirement == requirement)
        {
            let line = format!("{} ({}): {} [{}]", m.file, f.location, f.message, f.rule);
            match f.severity {
                Severity::Error => failures.push(line),
                Severity::Warning => warnings.push(line),
            }
        }
        match result.verdict {
            RequirementVerdict::Skip => skipped.push(format!(
                "{}: not evaluated: {}",
                m.file,
                result.reason.clone().unwrap_or_default()
            )),
            _ => evaluated += 1,
        }
    }
    let mut observed = String::new();
    let verdict = if !failures.is_empty() {
        observed.push_str(&failures.join("\n"));
        Verdict::Fail
    } else if evaluated == 0 {
        observed.push_str("the rule could not evaluate any message:\n");
        observed.push_str(&skipped.join("\n"));
        Verdict::Error
    } else {
        observed.push_str(&format!(
            "{evaluated} message(s) evaluated, no error finding"
        ));
        Verdict::Pass
    };
    if !warnings.is_empty() {
        observed.push_str("\nwarnings:\n");
        observed.push_str(&warnings.join("\n"));
    }
    if verdict != Verdict::Error && !skipped.is_empty() {
        observed.push_str("\nnot evaluated:\n");
        observed.push_str(&skipped.join("\n"));
    }
    check(name, Some(requirement), verdict, expected, observed)
}
