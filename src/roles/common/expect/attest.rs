//! `attest: {requirement: ID, question: "..."}`: a question a human answers (`--answers`);
//! the question comes from the catalogue unless the item gives one.

use serde::Deserialize;

use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Scope, check};
use crate::runner::answers::AnswerValue;
use crate::runner::model::{AttestRecord, Check, Verdict};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attest {
    /// The requirement attested; may be left out when the case lists only one.
    #[serde(default)]
    pub requirement: Decides,
    /// Overrides the catalogue's question (e.g. for one part of a requirement).
    #[serde(default)]
    pub question: Option<String>,
}

impl Expect for Attest {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.requirement.resolve(case, "attest")?;
        let id = self.requirement.id();
        let has_question = case
            .catalogue
            .get(id)
            .and_then(|r| r.attest_question.as_ref())
            .is_some();
        if self.question.is_none() && !has_question {
            return Err(format!(
                "attest: {id} has no attest_question in the catalogue; give `question:`"
            ));
        }
        Ok(())
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let id = self.requirement.id();
        let (c, record) = attest_check(scope, &format!("attest {id}"), id, self.question.clone());
        out.checks.push(c);
        out.attest.push(record);
    }

    fn observes(&self) -> bool {
        false
    }
}

/// An attest check: the answer from `--answers`, else verdict `attest` with the question.
pub fn attest_check(
    scope: &Scope,
    name: &str,
    requirement: &str,
    question: Option<String>,
) -> (Check, AttestRecord) {
    let question = question
        .or_else(|| {
            scope
                .catalogue
                .get(requirement)
                .and_then(|r| r.attest_question.clone())
        })
        .unwrap_or_default();
    let answer = scope.answers.find(&scope.case.id, requirement);
    let (verdict, observed) = match answer {
        None => (
            Verdict::Attest,
            "no answer given (use --answers FILE.yaml)".to_string(),
        ),
        Some(ans) => (
            match ans.value {
                AnswerValue::Yes => Verdict::Pass,
                AnswerValue::No => Verdict::Fail,
            },
            format!(
                "answered {} at {}{}; evidence: {}",
                match ans.value {
                    AnswerValue::Yes => "yes",
                    AnswerValue::No => "no",
                },
                ans.origin,
                ans.by
                    .as_ref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default(),
                if ans.evidence.is_empty() {
                    "none"
                } else {
                    &ans.evidence
                }
            ),
        ),
    };
    let c = check(
        name,
        Some(requirement),
        verdict,
        format!("a human answers yes, with evidence: {question}"),
        observed,
    );
    let record = AttestRecord {
        requirement: requirement.to_string(),
        question,
        answer: answer.map(|a| match a.value {
            AnswerValue::Yes => "yes".to_string(),
            AnswerValue::No => "no".to_string(),
        }),
        evidence: answer.map(|a| a.evidence.clone()),
        answered_by: answer.and_then(|a| a.by.clone()),
    };
    (c, record)
}
