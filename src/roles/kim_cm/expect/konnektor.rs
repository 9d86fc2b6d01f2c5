//! `konnektor_calls: {operation, context?, recipient_emails?}`: the Clientmodul called the
//! Konnektor's `operation` at least once, and every such call carried the card context of the
//! client system's user name (`context: true`, KOM-LE-A_2010) and the recipient-emails
//! attribute naming exactly `recipient_emails` (KOM-LE-A_2190, KOM-LE-A_2191).

use serde::Deserialize;

use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Judge, Scope};
use crate::roles::kim_cm::world::case_context;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KonnektorCalls {
    #[serde(default)]
    pub requirement: Decides,
    /// `SignDocument`, `EncryptDocument`, `DecryptDocument`, `VerifyDocument`, ...
    pub operation: String,
    #[serde(default)]
    pub context: bool,
    #[serde(default)]
    pub recipient_emails: Option<Vec<String>>,
}

impl Expect for KonnektorCalls {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        if !self.context && self.recipient_emails.is_none() {
            return Err("konnektor_calls: name what the calls must carry (`context: true` or `recipient_emails`)".into());
        }
        self.requirement.resolve(case, "konnektor_calls")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let want = case_context();
        let mut expected = format!("the Clientmodul called {} at least once", self.operation);
        if self.context {
            expected.push_str(&format!(
                "; every call carries the user name's context {}/{}/{}",
                want.mandant_id, want.client_system_id, want.workplace_id
            ));
        }
        if let Some(r) = &self.recipient_emails {
            expected.push_str(&format!(
                "; every call carries the recipient-emails attribute with {}",
                r.join(", ")
            ));
        }
        let judge = Judge::new(
            format!("konnektor_calls {}", self.operation),
            self.requirement.id(),
            expected,
        );
        let calls: Vec<_> = scope
            .obs
            .http
            .iter()
            .flat_map(|h| h.requests.iter())
            .filter_map(|r| r.resource.konnektor())
            .filter(|c| c.operation == self.operation)
            .collect();
        if calls.is_empty() {
            let all: Vec<String> = scope
                .obs
                .http
                .iter()
                .flat_map(|h| h.requests.iter())
                .filter_map(|r| r.resource.konnektor())
                .map(|c| format!("{} → {}", c.operation, c.outcome))
                .collect();
            out.checks.push(judge.error(format!(
                "no {} call reached the Konnektor; its calls: {}",
                self.operation,
                if all.is_empty() {
                    "none".to_string()
                } else {
                    all.join(", ")
                }
            )));
            return;
        }
        let mut wrong = Vec::new();
        let mut seen = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            let n = i + 1;
            if self.context {
                match &c.context {
                    Some(ctx)
                        if ctx.mandant_id == want.mandant_id
                            && ctx.client_system_id == want.client_system_id
                            && ctx.workplace_id == want.workplace_id => {}
                    Some(ctx) => wrong.push(format!(
                        "call {n}: context {}/{}/{}",
                        ctx.mandant_id, ctx.client_system_id, ctx.workplace_id
                    )),
                    None => wrong.push(format!("call {n}: no readable context")),
                }
            }
            if let Some(want) = &self.recipient_emails {
                match &c.recipient_emails {
                    None => wrong.push(format!("call {n}: no recipient-emails attribute")),
                    Some(got) => {
                        let mut g: Vec<String> = got.iter().map(|a| a.to_lowercase()).collect();
                        let mut w: Vec<String> = want.iter().map(|a| a.to_lowercase()).collect();
                        g.sort();
                        w.sort();
                        if g != w {
                            wrong.push(format!("call {n}: recipient-emails {}", got.join(", ")));
                        }
                    }
                }
            }
            seen.push(format!(
                "call {n}: {} (context {}; recipient-emails {})",
                c.outcome,
                c.context
                    .as_ref()
                    .map(|x| format!("{}/{}/{}", x.mandant_id, x.client_system_id, x.workplace_id))
                    .unwrap_or_else(|| "none".into()),
                c.recipient_emails
                    .as_ref()
                    .map(|r| r.join(", "))
                    .unwrap_or_else(|| "none".into())
            ));
        }
        out.checks.push(if wrong.is_empty() {
            judge.pass(seen.join("\n"))
        } else {
            judge.fail(wrong.join("\n"))
        });
    }

    fn fails_on_evidence_alone(&self) -> bool {
        true
    }
}
