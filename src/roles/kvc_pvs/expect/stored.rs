//! `stored: {rejected: [...], valid: [...]}`: the SUT's own record of what it stored, asked
//! through its adapter after the steps: the `rejected` entries not stored as valid and the
//! user warned, the `valid` ones stored as valid (they are the positive control). Without an
//! adapter answer the case asks for attestation.
//!
//! Kept with kvc-pvs rather than in `common`: entries are mapped to message ids through the
//! REST mock's served mailbox.

use serde::Deserialize;

use super::evidence::{no_rest, rest_of};
use super::mailbox::entry_id;
use crate::roles::common::expect::attest::attest_check;
use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Judge, Scope};
use crate::runner::model::{Check, StoredAnswer, Verdict};
use crate::runner::verdict::CONTROL_FAILED;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    /// 1-based mailbox entries that must not be stored as valid, with a warning to the user.
    #[serde(default)]
    pub rejected: Vec<usize>,
    /// 1-based mailbox entries that must be stored as valid (shows the SUT processed the mailbox).
    #[serde(default)]
    pub valid: Vec<usize>,
    /// The requirement decided (and attested when the adapter cannot answer); may be left out
    /// when the case lists only one.
    #[serde(default)]
    pub requirement: Decides,
}

impl Expect for Stored {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.requirement.resolve(case, "stored")?;
        if self.rejected.is_empty() && self.valid.is_empty() {
            return Err("stored: no entry listed".into());
        }
        case.entries_in_mailbox(self.rejected.iter().chain(self.valid.iter()))?;
        if self.valid.is_empty() {
            return Err(
                "stored: list at least one `valid` entry: it is the positive control of \
                 the rejected ones (a SUT that stores nothing must not pass)"
                    .into(),
            );
        }
        Ok(())
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let (c, record) = self.judge(scope);
        out.checks.push(c);
        out.attest.extend(record);
    }

    fn needs_store_report(&self) -> bool {
        true
    }
}

impl Stored {
    fn judge(&self, scope: &Scope) -> (Check, Option<crate::runner::model::AttestRecord>) {
        let name = "stored";
        let req = self.requirement.id();
        let expected = format!(
            "the SUT's local store: entries {:?} not stored as valid and the user warned; entries {:?} stored as valid",
            self.rejected, self.valid
        );
        let judge = Judge::new(name, req, expected);
        let messages = match scope.stored {
            Some(StoredAnswer::Reported { messages }) => messages,
            Some(StoredAnswer::Failed { error }) => {
                return (
                    judge.error(format!(
                        "the SUT adapter could not report the local store: {error}"
                    )),
                    None,
                );
            }
            None | Some(StoredAnswer::Unsupported) => {
                let (c, record) = attest_check(scope, "stored (attest)", req, None);
                return (c, Some(record));
            }
        };
        let Some(rest) = rest_of(scope) else {
            return (no_rest(judge), None);
        };
        let find = |id: &str| {
            messages.iter().find(|m| {
                m.message_id.trim().trim_matches(['<', '>']) == id.trim().trim_matches(['<', '>'])
            })
        };
        // Rejections are judged only next to the positive control (the `valid` entries): a
        // SUT that stores nothing would otherwise "reject" every bad message.
        let mut rejected_verdict = Verdict::Pass;
        let mut decisive = false;
        let mut notes = Vec::new();
        for &n in &self.rejected {
            let Ok(id) = entry_id(rest, n) else {
                rejected_verdict = Verdict::Error;
                notes.push(format!("mailbox entry {n} was not served"));
                continue;
            };
            match find(id) {
                None => {
                    rejected_verdict = Verdict::Fail;
                    notes.push(format!(
                        "entry {n} (<{id}>): not in the SUT's report, so no warning was shown"
                    ));
                }
                Some(m) if m.valid => {
                    decisive = true;
                    notes.push(format!(
                        "entry {n} (<{id}>): stored as valid although its signature is bad"
                    ));
                }
                Some(m) => match &m.warning {
                    None => {
                        rejected_verdict = Verdict::Fail;
                        notes.push(format!(
                            "entry {n} (<{id}>): not valid, but the user was not warned"
                        ));
                    }
                    Some(w) => notes.push(format!("entry {n} (<{id}>): rejected, warning: {w}")),
                },
            }
        }
        let mut control_failed = Vec::new();
        for &n in &self.valid {
            let Ok(id) = entry_id(rest, n) else {
                control_failed.push(format!("mailbox entry {n} was not served"));
                continue;
            };
            match find(id) {
                Some(m) if m.valid => notes.push(format!("entry {n} (<{id}>): stored as valid")),
                Some(_) => control_failed.push(format!(
                    "entry {n} (<{id}>): correctly signed but not stored as valid"
                )),
                None => control_failed.push(format!(
                    "entry {n} (<{id}>): correctly signed but not stored"
                )),
            }
        }
        notes.extend(control_failed.iter().cloned());
        let verdict = if decisive {
            Verdict::Fail
        } else if !control_failed.is_empty() {
            notes.insert(
                0,
                format!(
                    "{CONTROL_FAILED}: the correctly signed entries {:?} were not stored as valid",
                    self.valid
                ),
            );
            Verdict::Error
        } else {
            rejected_verdict
        };
        (
            // The SUT's word, not an observation: say so in the evidence.
            judge.verdict(
                verdict,
                format!(
                    "as reported by the SUT adapter's store query:\n{}",
                    notes.join("\n")
                ),
            ),
            None,
        )
    }
}
