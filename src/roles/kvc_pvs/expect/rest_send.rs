//! REST refusals around sending and the server's errors: no post without a recipient
//! certificate (`send_aborted`), none encrypted to an expired one (`not_encrypted_to`), and a
//! refused `POST mails` or `DELETE` reported as an error (`send_failure_reported`,
//! `delete_failure_reported`). All four are refusals judged next to a control.

use serde::Deserialize;

use super::evidence::{needs_rest_mock, no_rest, rest_of, rest_summary};
use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Judge, Refusal, Scope};
use crate::runner::model::{Check, StepOutcome, StepRecord};
use crate::runner::observe::{HttpEvidence, HttpRequest, RestResource, RouteName};
use crate::suite::{Control, Step};

/// The YAML shape of the two recipient families.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub recipient: String,
    #[serde(default)]
    pub control: Option<Control>,
    #[serde(default)]
    pub requirement: Decides,
}

impl Recipient {
    fn validate(&mut self, case: &CaseHeader, kind: &str) -> Result<(), String> {
        needs_rest_mock(case)?;
        self.requirement.resolve(case, kind)
    }
}

/// `send_aborted: {recipient: ..., control: ...}`: the SUT looked up the recipient's
/// certificate, found none, and posted nothing (SEED-ANB §3.1.2).
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct SendAborted(pub Recipient);

/// `not_encrypted_to: {recipient: ..., control: ...}`: no posted message is encrypted to the
/// recipient's certificate, which the directory serves expired; the SUT must have looked it up.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct NotEncryptedTo(pub Recipient);

/// The two recipient refusals differ only in their YAML key and evaluator: a post that broke
/// the rule stays posted, so their fails stand on evidence alone.
macro_rules! recipient_refusal {
    ($family:ty, $key:literal, $judge:ident) => {
        impl Expect for $family {
            fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
                self.0.validate(case, $key)
            }

            fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
                out.checks
                    .push($judge(scope, &self.0.recipient, self.0.requirement.id()));
            }

            fn refusal(&self) -> Option<Refusal<'_>> {
                Some(Refusal {
                    control: self.0.control.as_ref(),
                })
            }

            fn fails_on_evidence_alone(&self) -> bool {
                true
            }
        }
    };
}

recipient_refusal!(SendAborted, "send_aborted", send_aborted);
recipient_refusal!(NotEncryptedTo, "not_encrypted_to", not_encrypted_to);

fn same_address(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn lookups<'a>(rest: &'a HttpEvidence, recipient: &str) -> Vec<&'a HttpRequest> {
    rest.requests
        .iter()
        .filter(|r| {
            matches!(
                r.resource.kvc_rest(),
                Some(RestResource::Certificates { .. })
            ) && r
                .resource
                .subject()
                .is_some_and(|s| same_address(s, recipient))
        })
        .collect()
}

fn send_aborted(scope: &Scope, recipient: &str, req: &str) -> Check {
    let name = format!("send_aborted {recipient}");
    let expected = format!(
        "the SUT looks up the certificate of {recipient}, finds none (404), reports an error and posts nothing (SEED-ANB §3.1.2)"
    );
    let judge = Judge::new(name, req, expected);
    let Some(rest) = rest_of(scope) else {
        return no_rest(judge);
    };
    let summary = rest_summary(scope.obs);
    if !rest.posted.is_empty() {
        return judge.fail(format!(
            "{} message(s) posted although a recipient has no certificate\n{summary}",
            rest.posted.len()
        ));
    }
    if lookups(rest, recipient).is_empty() {
        return judge.error(format!(
                "the SUT never looked up {recipient}: an abort cannot be told from inactivity\n{summary}"
            ));
    }
    judge.pass(summary)
}

fn not_encrypted_to(scope: &Scope, recipient: &str, req: &str) -> Check {
    let name = format!("not_encrypted_to {recipient}");
    let expected = format!(
        "the directory serves an expired certificate for {recipient}: the SUT posts nothing encrypted to it ({req})"
    );
    let judge = Judge::new(name, req, expected);
    let Some(rest) = rest_of(scope) else {
        return no_rest(judge);
    };
    let summary = rest_summary(scope.obs);
    let encrypted: Vec<String> = scope
        .own
        .iter()
        .filter(|m| m.decryptable_by.iter().any(|d| same_address(d, recipient)))
        .map(|m| {
            format!(
                "{}: the key of {recipient}'s expired certificate opens it (recipients the suite can identify: {})",
                m.file,
                m.decryptable_by.join(", ")
            )
        })
        .collect();
    if !encrypted.is_empty() {
        return judge.fail(format!("{}\n{summary}", encrypted.join("\n")));
    }
    if lookups(rest, recipient).is_empty() && scope.own.is_empty() {
        return judge.error(format!(
                "the SUT neither looked up {recipient} nor posted anything: a refusal cannot be told from inactivity\n{summary}"
            ));
    }
    let posted: Vec<String> = scope
        .own
        .iter()
        .map(|m| {
            format!(
                "{}: opens for {}",
                m.file,
                if m.decryptable_by.is_empty() {
                    "none of the mock's accounts".to_string()
                } else {
                    m.decryptable_by.join(", ")
                }
            )
        })
        .collect();
    judge.pass(if posted.is_empty() {
        summary
    } else {
        format!("{}\n{summary}", posted.join("\n"))
    })
}

/// The YAML shape of the two `*_failure_reported` families: a refusal without arguments.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusedRequest {
    #[serde(default)]
    pub control: Option<Control>,
    #[serde(default)]
    pub requirement: Decides,
}

/// `send_failure_reported` / `delete_failure_reported: {control: ...}`: the server refused
/// the request (`POST mails`: `setup.rest.send_status`; the `DELETE` of fetched messages:
/// `setup.rest.delete_status`) and the SUT reported an error, not success. `DELETE` tells
/// which of the two.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct FailureReported<const DELETE: bool>(pub RefusedRequest);

pub type SendFailureReported = FailureReported<false>;
pub type DeleteFailureReported = FailureReported<true>;

/// Which refusal of the REST server a `*_failure_reported` expectation scripts.
#[derive(Clone, Copy)]
enum Refused {
    /// `POST mails` (`setup.rest.send_status`), reported through the send trigger.
    Send,
    /// `DELETE` of a mail (`setup.rest.delete_status`), reported through the fetch trigger.
    Delete,
}

impl Refused {
    fn kind(self) -> &'static str {
        match self {
            Refused::Send => "send_failure_reported",
            Refused::Delete => "delete_failure_reported",
        }
    }
}

impl RefusedRequest {
    fn validate(&mut self, case: &CaseHeader, refused: Refused) -> Result<(), String> {
        needs_rest_mock(case)?;
        let (status, key) = match refused {
            Refused::Send => (case.setup.rest.send_status, "send_status"),
            Refused::Delete => (case.setup.rest.delete_status, "delete_status"),
        };
        if status.is_none_or(|s| (200..300).contains(&s)) {
            return Err(format!(
                "{} needs `setup.rest.{key}` with a non-2xx status",
                refused.kind()
            ));
        }
        self.requirement.resolve(case, refused.kind())
    }
}

impl<const DELETE: bool> FailureReported<DELETE> {
    const REFUSED: Refused = if DELETE {
        Refused::Delete
    } else {
        Refused::Send
    };
}

impl<const DELETE: bool> Expect for FailureReported<DELETE> {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.0.validate(case, Self::REFUSED)
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        out.checks.push(failure_reported(
            scope,
            Self::REFUSED,
            self.0.requirement.id(),
        ));
    }

    fn refusal(&self) -> Option<Refusal<'_>> {
        Some(Refusal {
            control: self.0.control.as_ref(),
        })
    }
    // Not decided on evidence alone: it judges the trigger's answer, which a cut-short case
    // never gave.
}

/// The server refused a request with the scripted status: the SUT must report an error (its
/// trigger fails), not success (SEED-ANB §3.1.2).
fn failure_reported(scope: &Scope, kind: Refused, req: &str) -> Check {
    let (status, request, action) = match kind {
        Refused::Send => (scope.case.setup.rest.send_status, "`POST mails`", "send"),
        Refused::Delete => (
            scope.case.setup.rest.delete_status,
            "the `DELETE` of a fetched message",
            "fetch",
        ),
    };
    let name = kind.kind();
    let status = status.unwrap_or_default();
    let expected = format!(
        "the server answers {request} with {status}: the SUT reports an error (its {action} trigger fails) and does not claim success (SEED-ANB §3.1.2)"
    );
    let judge = Judge::new(name, req, expected);
    let Some(rest) = rest_of(scope) else {
        return no_rest(judge);
    };
    let summary = rest_summary(scope.obs);
    let refused = match kind {
        Refused::Send => rest.posted.iter().filter(|p| p.status == status).count(),
        Refused::Delete => rest
            .requests
            .iter()
            .filter(|r| {
                r.method == "DELETE"
                    && matches!(r.resource.kvc_rest(), Some(RestResource::Mail { .. }))
                    && r.status == status
            })
            .count(),
    };
    if refused == 0 {
        return judge.error(format!(
            "no request was refused with {status}, so no error could be reported\n{summary}"
        ));
    }
    let triggers: Vec<&StepRecord> = scope
        .steps
        .iter()
        .filter(|s| {
            matches!(
                (kind, scope.case.steps.get(s.index.wrapping_sub(1))),
                (Refused::Send, Some(Step::Send(_))) | (Refused::Delete, Some(Step::Fetch(_)))
            )
        })
        .collect();
    let claimed: Vec<String> = triggers
        .iter()
        .filter(|s| s.outcome == StepOutcome::Ok)
        .map(|s| format!("step {} ({}): {}", s.index, s.description, s.detail))
        .collect();
    if !claimed.is_empty() {
        return judge.fail(format!(
                "the SUT reported success although the server refused {refused} request(s):\n{}\n{summary}",
                claimed.join("\n")
            ));
    }
    let reported: Vec<String> = triggers
        .iter()
        .map(|s| format!("step {} reported: {}", s.index, s.detail))
        .collect();
    judge.pass(format!("{}\n{summary}", reported.join("\n")))
}
