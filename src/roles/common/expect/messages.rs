//! `messages: {min: N}`: at least N messages were captured in this case.

use serde::Deserialize;

use crate::roles::expect::{CaseHeader, Evaluated, Expect, Scope, check};
use crate::runner::model::Verdict;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    pub min: usize,
}

impl Expect for Messages {
    fn validate(&mut self, _: &CaseHeader) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let n = scope.own.len();
        out.checks.push(check(
            format!("messages min {}", self.min),
            None,
            if n >= self.min {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            format!("at least {} message(s) received by the mock", self.min),
            format!("{n} message(s)"),
        ));
    }
}
