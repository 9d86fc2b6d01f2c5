//! What the SUT does with the mailbox it is served: POP3 retrieves everything
//! (`pop3_retrieved_all`), REST fetches everything (`fetched_all`), deletes after fetching
//! (`deleted_after_fetch`) and keeps what it cannot decrypt (`kept_on_server`, a refusal).

use std::collections::BTreeSet;

use serde::Deserialize;

use super::evidence::{needs_rest_mock, no_rest, rest_of, rest_summary, session_summary};
use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Judge, Refusal, Scope};
use crate::runner::model::{Check, Verdict};
use crate::runner::observe::{HttpEvidence, RestResource};
use crate::suite::Control;

/// `pop3_retrieved_all: {}`: the SUT retrieved (RETR) every message of the POP3 mailbox.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3RetrievedAll {
    #[serde(default)]
    pub requirement: Decides,
}

impl Expect for Pop3RetrievedAll {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.requirement.resolve(case, "pop3_retrieved_all")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        out.checks
            .push(pop3_retrieved_all(scope, self.requirement.id()));
    }
}

fn pop3_retrieved_all(scope: &Scope, req: &str) -> Check {
    let name = "pop3_retrieved_all";
    let n = scope.mailbox_len;
    let expected = format!(
        "the SUT retrieves (RETR) all {n} messages of the mailbox, unknown applications included"
    );
    let judge = Judge::new(name, req, expected);
    if scope.obs.pop3.is_empty() {
        return judge.error("the SUT never connected to the POP3 mock");
    }
    let retrieved: BTreeSet<usize> = scope
        .obs
        .pop3
        .iter()
        .flat_map(|s| s.retrieved.iter().copied())
        .collect();
    let missing: Vec<usize> = (1..=n).filter(|i| !retrieved.contains(i)).collect();
    let mut sessions: Vec<String> = scope
        .obs
        .pop3
        .iter()
        .map(|s| {
            format!(
                "{}; RETR {:?}, DELE {:?}",
                session_summary(s),
                s.retrieved,
                s.deleted
            )
        })
        .collect();
    sessions.extend(scope.obs.rejected_note());
    if missing.is_empty() {
        judge.pass(sessions.join("\n"))
    } else {
        judge.fail(format!(
            "not retrieved: message(s) {missing:?}\n{}",
            sessions.join("\n")
        ))
    }
}

/// `fetched_all: {}`: REST: the SUT fetched (GET) every mailbox entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchedAll {
    #[serde(default)]
    pub requirement: Decides,
}

impl Expect for FetchedAll {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        needs_rest_mock(case)?;
        self.requirement.resolve(case, "fetched_all")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        out.checks.push(fetched_all(scope, self.requirement.id()));
    }
}

fn fetched_all(scope: &Scope, req: &str) -> Check {
    let name = "fetched_all";
    let expected = format!(
        "the SUT fetches all {} messages of its mailbox over REST, unknown applications included",
        scope.mailbox_len
    );
    let judge = Judge::new(name, req, expected);
    let Some(rest) = rest_of(scope) else {
        return no_rest(judge);
    };
    let summary = rest_summary(scope.obs);
    if rest.requests.is_empty() {
        return judge.error(summary);
    }
    let missing: Vec<String> = rest
        .mailbox_ids
        .iter()
        .enumerate()
        .filter(|(_, id)| first_request(rest, "GET", id, true).is_none())
        .map(|(i, id)| format!("entry {} (<{id}>)", i + 1))
        .collect();
    if missing.is_empty() {
        judge.pass(summary)
    } else {
        judge.fail(format!("not fetched: {}\n{summary}", missing.join(", ")))
    }
}

/// The YAML shape of the two per-entry families: 1-based mailbox entries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entries {
    pub entries: Vec<usize>,
    /// `kept_on_server` is a refusal and needs one; `deleted_after_fetch` takes none.
    #[serde(default)]
    pub control: Option<Control>,
    #[serde(default)]
    pub requirement: Decides,
}

impl Entries {
    fn validate(&mut self, case: &CaseHeader, kind: &str) -> Result<(), String> {
        needs_rest_mock(case)?;
        if self.entries.is_empty() {
            return Err("entries: none listed".into());
        }
        case.entries_in_mailbox(&self.entries)?;
        self.requirement.resolve(case, kind)
    }
}

/// `kept_on_server: {entries: [...], control: ...}`: REST: the SUT fetched every listed entry
/// and never deleted it (an undecryptable message stays on the server).
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct KeptOnServer(pub Entries);

impl Expect for KeptOnServer {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.0.validate(case, "kept_on_server")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let entries = &self.0.entries;
        out.checks.push(per_entry(
            scope,
            self.0.requirement.id(),
            format!("kept_on_server {entries:?}"),
            "the SUT fetches the listed messages, cannot decrypt them, reports an error and leaves them on the server: no DELETE (SEED-ANB §3.1.2)",
            entries,
            |rest, n, id| {
                if first_request(rest, "DELETE", id, false).is_some() {
                    (Verdict::Fail, format!("entry {n} (<{id}>) was deleted"))
                } else if first_request(rest, "GET", id, true).is_none() {
                    (
                        Verdict::Error,
                        format!(
                            "entry {n} (<{id}>) was never fetched: keeping it cannot be told from inactivity"
                        ),
                    )
                } else {
                    let still = rest.remaining_ids.iter().any(|r| r == id);
                    (
                        Verdict::Pass,
                        format!(
                            "entry {n} (<{id}>) fetched, not deleted{}",
                            if still { ", still on the server" } else { "" }
                        ),
                    )
                }
            },
        ));
    }

    fn refusal(&self) -> Option<Refusal<'_>> {
        Some(Refusal {
            control: self.0.control.as_ref(),
        })
    }

    /// A DELETE of the undecryptable message cannot be taken back.
    fn fails_on_evidence_alone(&self) -> bool {
        true
    }
}

/// `deleted_after_fetch: {entries: [...]}`: REST: the SUT deleted every listed entry, each
/// only after fetching it.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct DeletedAfterFetch(pub Entries);

impl Expect for DeletedAfterFetch {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        // Its YAML shape is the one of `kept_on_server`, which has a `control:` key.
        if let Some(c) = &self.0.control {
            return Err(format!(
                "`deleted_after_fetch` is not a refusal check and takes no control (found control {})",
                c.case
            ));
        }
        self.0.validate(case, "deleted_after_fetch")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let entries = &self.0.entries;
        out.checks.push(per_entry(
            scope,
            self.0.requirement.id(),
            format!("deleted_after_fetch {entries:?}"),
            "the SUT deletes each listed message on the server, and only after it fetched it (SEED-ANB §3.1.2)",
            entries,
            |rest, n, id| {
                let fetched = first_request(rest, "GET", id, true);
                let deleted = first_request(rest, "DELETE", id, false);
                match (fetched, deleted) {
                    (_, None) => (
                        Verdict::Fail,
                        format!("entry {n} (<{id}>) was never deleted"),
                    ),
                    (None, Some(_)) => (
                        Verdict::Fail,
                        format!("entry {n} (<{id}>) was deleted without being fetched"),
                    ),
                    (Some(f), Some(d)) if d < f => (
                        Verdict::Fail,
                        format!(
                            "entry {n} (<{id}>) was deleted (request {}) before it was fetched (request {})",
                            d + 1,
                            f + 1
                        ),
                    ),
                    (Some(f), Some(d)) => (
                        Verdict::Pass,
                        format!(
                            "entry {n} (<{id}>) fetched (request {}), then deleted (request {})",
                            f + 1,
                            d + 1
                        ),
                    ),
                }
            },
        ));
    }
}

/// Index of the first request matching, in request order.
fn first_request(rest: &HttpEvidence, method: &str, id: &str, ok_only: bool) -> Option<usize> {
    rest.requests.iter().position(|r| {
        r.method == method
            && matches!(r.resource.kvc_rest(), Some(RestResource::Mail { message_id, .. }) if message_id == id)
            && (!ok_only || (200..300).contains(&r.status))
    })
}

/// Mailbox entry `n` (1-based) with its message id as the REST mock served it.
pub fn entry_id(rest: &HttpEvidence, n: usize) -> Result<&str, String> {
    rest.mailbox_ids
        .get(n.wrapping_sub(1))
        .map(String::as_str)
        .ok_or_else(|| format!("mailbox entry {n} was not served"))
}

/// Judges each listed mailbox entry by its message id; the check's verdict combines theirs.
fn per_entry(
    scope: &Scope,
    req: &str,
    name: String,
    expected: &str,
    entries: &[usize],
    judge_entry: impl Fn(&HttpEvidence, usize, &str) -> (Verdict, String),
) -> Check {
    let judge = Judge::new(name, req, expected);
    let Some(rest) = rest_of(scope) else {
        return no_rest(judge);
    };
    let judged: Vec<(Verdict, String)> = entries
        .iter()
        .map(|&n| match entry_id(rest, n) {
            Ok(id) => judge_entry(rest, n, id),
            Err(e) => (Verdict::Error, e),
        })
        .collect();
    let verdict = Verdict::combine(judged.iter().map(|(v, _)| *v)).unwrap_or(Verdict::Error);
    let notes: Vec<&str> = judged.iter().map(|(_, n)| n.as_str()).collect();
    judge.verdict(
        verdict,
        format!("{}\n{}", notes.join("\n"), rest_summary(scope.obs)),
    )
}
