//! `skip: "reason"`: the requirement is not decided in this run; the case is skipped with
//! this reason and runs nothing.

use serde::Deserialize;

use crate::roles::expect::{CaseHeader, Evaluated, Expect, Scope, check};
use crate::runner::model::Verdict;

#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Skip {
    pub reason: String,
}

impl Expect for Skip {
    fn validate(&mut self, _: &CaseHeader) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(&self, _: &Scope, out: &mut Evaluated) {
        out.checks.push(check(
            "skip",
            None,
            Verdict::Skip,
            "not decided in this run",
            self.reason.clone(),
        ));
    }

    fn observes(&self) -> bool {
        false
    }

    fn skip_reason(&self) -> Option<&str> {
        Some(&self.reason)
    }
}
