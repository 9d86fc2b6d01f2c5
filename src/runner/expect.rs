//! Evaluates a case's expectations on what the mocks observed. Each expectation becomes one or
//! more [`Check`]s with expected vs. observed text; nothing here talks to the SUT.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalogue::Catalogue;
use crate::message::Message;
use crate::rules::{KvcRegistry, RequirementVerdict, Severity};
use crate::runner::answers::{AnswerValue, Answers};
use crate::runner::model::{
    AttestRecord, Check, MessageRecord, StepOutcome, StepRecord, StoredAnswer, Verdict,
};
use crate::runner::observe::{
    Observations, RestObservations, RestRequest, Session, SessionEnd, TlsOutcome,
};
use crate::suite::{Case, Expectation, OverScope, Service, StoredExpectation};

/// How a refusal whose positive control did not succeed is reported.
pub const CONTROL_FAILED: &str = "refusal not meaningful: the control never succeeded";

/// What an expectation may look at.
pub struct Scope<'a> {
    pub case: &'a Case,
    /// Messages captured in this case.
    pub own: &'a [MessageRecord],
    /// Every message of the run (only for `over: run`; includes `own`).
    pub run: &'a [&'a MessageRecord],
    pub obs: &'a Observations,
    /// Size of the mailbox the mock served.
    pub mailbox_len: usize,
    pub registry: &'a KvcRegistry,
    pub answers: &'a Answers,
    pub catalogue: &'a Catalogue,
    /// The transport this case exercises.
    pub transport: &'a str,
    /// The SUT adapter's report of its local store, if the case asked for it.
    pub stored: Option<&'a StoredAnswer>,
    /// The case's steps as run (what the SUT's triggers reported).
    pub steps: &'a [StepRecord],
}

impl<'a> Scope<'a> {
    fn messages(&self, over: OverScope) -> Vec<&'a MessageRecord> {
        match over {
            OverScope::Case => self.own.iter().collect(),
            OverScope::Run => self.run.to_vec(),
        }
    }
}

fn check(
    expectation: impl Into<String>,
    requirement: Option<&str>,
    verdict: Verdict,
    expected: impl Into<String>,
    observed: impl Into<String>,
) -> Check {
    Check {
        expectation: expectation.into(),
        requirement: requirement.map(str::to_string),
        verdict,
        expected: expected.into(),
        observed: observed.into(),
        control: None,
        needs_control: None,
        fails_on_evidence_alone: false,
    }
}

/// Evaluates every expectation of the case; attest items also yield [`AttestRecord`]s.
pub fn evaluate(scope: &Scope) -> (Vec<Check>, Vec<AttestRecord>) {
    let mut checks = Vec::new();
    let mut attest = Vec::new();
    for e in &scope.case.expect {
        let first = checks.len();
        match e {
            Expectation::Lint(l) => {
                for r in &l.requirements {
                    checks.push(lint(scope, r, l.over));
                }
            }
            Expectation::Messages(m) => {
                let n = scope.own.len();
                checks.push(check(
                    format!("messages min {}", m.min),
                    None,
                    if n >= m.min {
                        Verdict::Pass
                    } else {
                        Verdict::Fail
                    },
                    format!("at least {} message(s) received by the mock", m.min),
                    format!("{n} message(s)"),
                ));
            }
            Expectation::DienstkennungApp(app) => checks.push(dienstkennung_app(scope, app)),
            Expectation::SendersystemConsistent(o) => {
                checks.push(sendersystem_consistent(scope, o.over))
            }
            Expectation::Transport(t) => checks.push(transport(scope, &t.transport)),
            Expectation::Pop3RetrievedAll(_) => checks.push(pop3_retrieved_all(scope)),
            Expectation::TlsRefused(t) => checks.push(tls_refused(scope, t.service)),
            Expectation::Attest(a) => {
                let (c, record) = attest_check(
                    scope,
                    &format!("attest {}", a.requirement),
                    &a.requirement,
                    a.question.clone(),
                );
                checks.push(c);
                attest.push(record);
            }
            Expectation::SendAborted(r) => checks.push(send_aborted(scope, &r.recipient)),
            Expectation::NotEncryptedTo(r) => checks.push(not_encrypted_to(scope, &r.recipient)),
            Expectation::KeptOnServer(e) => checks.push(kept_on_server(scope, &e.entries)),
            Expectation::DeletedAfterFetch(e) => {
                checks.push(deleted_after_fetch(scope, &e.entries))
            }
            Expectation::FetchedAll(_) => checks.push(fetched_all(scope)),
            Expectation::SendFailureReported(_) => checks.push(send_failure_reported(scope)),
            Expectation::DeleteFailureReported(_) => checks.push(delete_failure_reported(scope)),
            Expectation::Stored(st) => {
                let (c, record) = stored(scope, st);
                checks.push(c);
                attest.extend(record);
            }
            Expectation::Skip(reason) => checks.push(check(
                "skip",
                None,
                Verdict::Skip,
                "not decided in this run",
                reason.clone(),
            )),
        }
        for c in &mut checks[first..] {
            c.fails_on_evidence_alone = e.fails_on_evidence_alone();
            if e.is_refusal() {
                c.needs_control = e.control().cloned();
            }
        }
    }
    (checks, attest)
}

/// Judges refusals next to their positive controls (`cases`: the results so far, the control
/// cases among them). A refusal passes only when its control passed in the same run; a
/// refusal that failed stays failed: accepting the bad counterpart is decisive on its own.
/// Returns whether a verdict changed.
pub fn apply_controls(checks: &mut [Check], cases: &[crate::runner::model::CaseResult]) -> bool {
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

/// An attest check: the answer from `--answers`, else verdict `attest` with the question.
fn attest_check(
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

/// The unfolded values of a header field in a message.
pub fn header_values(data: &[u8], name: &str) -> Vec<String> {
    let msg = Message::new(data);
    msg.fields_named(name)
        .map(|f| msg.unfolded_value(f))
        .collect()
}

fn dienstkennung_app(scope: &Scope, app: &str) -> Check {
    let expected_app = if app == "fallback" {
        scope.registry.fallback_app().to_string()
    } else {
        app.to_string()
    };
    let name = format!("dienstkennung_app {app}");
    let expected = format!(
        "the application part of X-KVC-Dienstkennung is `{expected_app}`{} in every message of this case",
        if app == "fallback" {
            " (the registry's fallback_app, KVC-Anb130)"
        } else {
            ""
        }
    );
    if scope.own.is_empty() {
        return check(name, None, Verdict::Error, expected, "no message captured");
    }
    let mut bad = Vec::new();
    let mut seen = Vec::new();
    let mut absent = Vec::new();
    for m in scope.own {
        let values = header_values(&m.data, crate::rules::kvc::DIENSTKENNUNG);
        let Some(value) = values.first() else {
            absent.push(format!(
                "{}: no X-KVC-Dienstkennung field (see KVC-Anb110)",
                m.file
            ));
            continue;
        };
        let part1 = value.split(';').next().unwrap_or_default().trim();
        let ok = part1 == expected_app
            || part1
                .strip_prefix(expected_app.as_str())
                .is_some_and(|rest| rest.starts_with('-'));
        if ok {
            seen.push(format!("{}: `{value}`", m.file));
        } else {
            bad.push(format!(
                "{}: `{value}` (application part `{part1}`)",
                m.file
            ));
        }
    }
    if !bad.is_empty() {
        check(name, None, Verdict::Fail, expected, bad.join("\n"))
    } else if !absent.is_empty() {
        // Like lint's "not evaluated": a missing field is KVC-Anb110's failure, and this
        // check cannot decide the fallback without it.
        check(name, None, Verdict::Error, expected, absent.join("\n"))
    } else {
        check(name, None, Verdict::Pass, expected, seen.join("\n"))
    }
}

fn sendersystem_consistent(scope: &Scope, over: OverScope) -> Check {
    let messages = scope.messages(over);
    let name = format!(
        "sendersystem_consistent{}",
        if over == OverScope::Run {
            " (all messages of the run)"
        } else {
            ""
        }
    );
    let expected =
        "X-KVC-Sendersystem spelled identically (byte for byte) in every message".to_string();
    let mut spellings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &messages {
        for v in header_values(&m.data, crate::rules::kvc::SENDERSYSTEM) {
            spellings.entry(v).or_default().push(m.reference.clone());
        }
    }
    let with_header: usize = spellings.values().map(Vec::len).sum();
    let describe = |s: &BTreeMap<String, Vec<String>>| {
        s.iter()
            .map(|(v, refs)| format!("`{v}` in {} message(s): {}", refs.len(), refs.join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if with_header < 2 {
        return check(
            name,
            Some("KVC-Anb100"),
            Verdict::Error,
            expected,
            format!(
                "{} message(s) in scope, {with_header} with X-KVC-Sendersystem: at least two are needed to compare",
                messages.len()
            ),
        );
    }
    let verdict = if spellings.len() == 1 {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    check(
        name,
        Some("KVC-Anb100"),
        verdict,
        expected,
        describe(&spellings),
    )
}

fn session_summary(s: &Session) -> String {
    let tls = match &s.tls {
        TlsOutcome::Established { sni } => {
            format!("TLS established (SNI {})", sni.as_deref().unwrap_or("none"))
        }
        TlsOutcome::HandshakeFailed(why) => format!("TLS handshake failed: {why}"),
        TlsOutcome::NotAttempted => "no TLS".into(),
    };
    let auth = if s.auth.is_empty() {
        "no AUTH".to_string()
    } else {
        s.auth
            .iter()
            .map(|a| {
                format!(
                    "AUTH {} as {} {}",
                    a.mechanism,
                    a.user,
                    if a.success { "accepted" } else { "rejected" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "session from {}: {tls}; {auth}; {} message(s); ended: {}",
        s.peer,
        s.messages.len(),
        end_text(&s.end)
    )
}

pub fn end_text(e: &SessionEnd) -> String {
    match e {
        SessionEnd::Quit => "QUIT".into(),
        SessionEnd::PeerClosed => "peer closed the connection".into(),
        SessionEnd::IdleTimeout => "idle timeout (peer stalled)".into(),
        SessionEnd::TooLarge => "message too large (552)".into(),
        SessionEnd::ProtocolError(e) => format!("protocol error: {e}"),
        SessionEnd::Open => "still open".into(),
    }
}

fn transport(scope: &Scope, transport: &str) -> Check {
    let name = format!("transport {transport}");
    let expected = format!(
        "the SUT (declared transport `{}`) delivers through the KV-Connect Client: SMTP over TLS with successful AUTH, at least one message",
        scope.transport
    );
    if transport == "rest" && scope.transport == "rest" {
        return transport_rest(scope, name);
    }
    if transport != "smtp-pop3" || scope.transport != "smtp-pop3" {
        return check(
            name,
            Some("KVC-Anb010"),
            Verdict::Skip,
            expected,
            format!("transport {transport} not in this run"),
        );
    }
    if scope.own.is_empty() {
        let mut sessions: Vec<String> = scope.obs.smtp.iter().map(session_summary).collect();
        sessions.extend(scope.obs.rejected_note());
        return check(
            name,
            Some("KVC-Anb010"),
            Verdict::Fail,
            expected,
            format!(
                "no message arrived over SMTP; sessions: {}",
                if sessions.is_empty() {
                    "none".into()
                } else {
                    sessions.join("\n")
                }
            ),
        );
    }
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for s in scope.obs.smtp.iter().filter(|s| !s.messages.is_empty()) {
        let tls_ok = matches!(s.tls, TlsOutcome::Established { .. });
        let auth_ok = s.auth.iter().any(|a| a.success);
        if tls_ok && auth_ok {
            good.push(session_summary(s));
        } else {
            bad.push(session_summary(s));
        }
    }
    all_good(name, expected, &good, &bad)
}

fn pop3_retrieved_all(scope: &Scope) -> Check {
    let name = "pop3_retrieved_all";
    let n = scope.mailbox_len;
    let expected = format!(
        "the SUT retrieves (RETR) all {n} messages of the mailbox, unknown applications included"
    );
    if scope.obs.pop3.is_empty() {
        return check(
            name,
            Some("KVC-Anb020"),
            Verdict::Error,
            expected,
            "the SUT never connected to the POP3 mock",
        );
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
        check(
            name,
            Some("KVC-Anb020"),
            Verdict::Pass,
            expected,
            sessions.join("\n"),
        )
    } else {
        check(
            name,
            Some("KVC-Anb020"),
            Verdict::Fail,
            expected,
            format!(
                "not retrieved: message(s) {missing:?}\n{}",
                sessions.join("\n")
            ),
        )
    }
}

/// Whether a handshake failure reason shows the client refusing (an alert from the client, or
/// the client closing the connection during the handshake) rather than a peer that does not
/// speak TLS at all.
pub fn client_refused(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    let not_tls = [
        "corrupt",
        "invalid message",
        "invalidmessage",
        "not a tls",
        "bad record",
        "unexpected message",
        "invalidcontenttype",
        "invalid content type",
    ];
    if not_tls.iter().any(|p| r.contains(p)) {
        return false;
    }
    [
        "alert",
        "eof",
        "closed",
        "reset",
        "broken pipe",
        "unexpected end",
        "connection aborted",
    ]
    .iter()
    .any(|p| r.contains(p))
}

fn tls_refused(scope: &Scope, service: Service) -> Check {
    let sessions = match service {
        Service::Smtp => &scope.obs.smtp,
        Service::Pop3 => &scope.obs.pop3,
        Service::Https => return tls_refused_rest(scope),
    };
    let cert = scope.case.setup.server_cert.as_str();
    let name = format!("tls_refused {}", service.as_str());
    let expected = format!(
        "the SUT connects to {} (server certificate: {cert}), aborts the TLS handshake and sends no credentials",
        service.as_str()
    );
    if sessions.is_empty() {
        return check(
            name,
            Some("KVC-Anb021"),
            Verdict::Error,
            expected,
            format!(
                "the SUT never connected to {}: a refusal cannot be told from inactivity",
                service.as_str()
            ),
        );
    }
    let mut summaries: Vec<String> = sessions.iter().map(session_summary).collect();
    summaries.extend(scope.obs.rejected_note());
    // A client that completes the handshake and then closes without a single command (e.g.
    // OpenSSL checking the host name after the handshake) refused too; any command after the
    // handshake means it accepted the server.
    let accepted = sessions.iter().any(|s| {
        !s.auth.is_empty()
            || !s.messages.is_empty()
            || (matches!(s.tls, TlsOutcome::Established { .. })
                && s.transcript.iter().any(|l| l.from_client))
    });
    if accepted {
        return check(
            name,
            Some("KVC-Anb021"),
            Verdict::Fail,
            expected,
            summaries.join("\n"),
        );
    }
    let unclear: Vec<&Session> = sessions
        .iter()
        .filter(|s| match &s.tls {
            TlsOutcome::HandshakeFailed(why) => !client_refused(why),
            TlsOutcome::Established { .. } => false,
            TlsOutcome::NotAttempted => true,
        })
        .collect();
    if !unclear.is_empty() {
        return check(
            name,
            Some("KVC-Anb021"),
            Verdict::Error,
            expected,
            format!(
                "the handshake did not end in a recognisable refusal by the client (not TLS?):\n{}",
                summaries.join("\n")
            ),
        );
    }
    check(
        name,
        Some("KVC-Anb021"),
        Verdict::Pass,
        expected,
        summaries.join("\n"),
    )
}

// ---- REST transport ------------------------------------------------------------------------

/// Requests shown in evidence before the list is cut.
const SHOWN_REQUESTS: usize = 40;

/// One evidence text for what the REST mock saw: connections with their TLS outcome, then the
/// requests in order (credentials are never shown, only the account and whether they matched).
pub fn rest_summary(rest: &RestObservations) -> String {
    if rest.connections.is_empty() && rest.requests.is_empty() {
        return "the SUT never connected to the REST server".into();
    }
    let mut lines: Vec<String> = rest
        .connections
        .iter()
        .map(|c| format!("connection from {}: {}", c.peer, tls_text(&c.tls)))
        .collect();
    if rest.rejected_connections > 0 {
        lines.push(format!(
            "{} connection(s) closed at once (too many open)",
            rest.rejected_connections
        ));
    }
    lines.extend(
        rest.requests
            .iter()
            .take(SHOWN_REQUESTS)
            .map(RestRequest::summary),
    );
    if rest.requests.len() > SHOWN_REQUESTS {
        lines.push(format!(
            "... and {} more request(s)",
            rest.requests.len() - SHOWN_REQUESTS
        ));
    }
    lines.join("\n")
}

fn tls_text(t: &TlsOutcome) -> String {
    match t {
        TlsOutcome::Established { sni } => {
            format!("TLS established (SNI {})", sni.as_deref().unwrap_or("none"))
        }
        TlsOutcome::HandshakeFailed(why) => format!("TLS handshake failed: {why}"),
        TlsOutcome::NotAttempted => "no TLS".into(),
    }
}

fn rest_of<'a>(scope: &Scope<'a>) -> Option<&'a RestObservations> {
    scope.obs.rest.as_ref()
}

fn no_rest(name: &str, requirement: &str, expected: String) -> Check {
    check(
        name,
        Some(requirement),
        Verdict::Error,
        expected,
        "the case ran without the REST mock",
    )
}

/// A string field of the lint's S/MIME outcome.
fn smime_field<'a>(m: &'a MessageRecord, field: &str) -> Option<&'a serde_json::Value> {
    m.lint.smime.as_ref().and_then(|v| v.get(field))
}

/// Whether a posted message opens for its addressee with a valid signature, and the evidence.
fn opens_valid(m: &MessageRecord) -> Result<String, String> {
    let Some(who) = &m.opened_with else {
        return Err(format!(
            "{}: no recipient account of the mock can open it (To: {})",
            m.file,
            m.rcpt_to.join(", ")
        ));
    };
    let Some(dec) = smime_field(m, "decryption_result").and_then(|v| v.as_str()) else {
        let why: Vec<&str> = m
            .lint
            .diagnostics
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        return Err(format!(
            "{}: does not open with {who}'s key: {}",
            m.file,
            why.join("; ")
        ));
    };
    let integrity: Vec<String> = smime_field(m, "integrity_check_result")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let signer = smime_field(m, "signer_emails")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let text = format!(
        "{}: opened with {who}'s key: decryption {dec}, integrity {}, signer {}",
        m.file,
        integrity.join(","),
        if signer.is_empty() { "none" } else { &signer }
    );
    if dec == "00" && integrity == ["01"] {
        Ok(text)
    } else {
        let why: Vec<String> = smime_field(m, "integrity_explanations")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get("explanation").and_then(|x| x.as_str()))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Err(format!("{text}; {}", why.join("; ")))
    }
}

/// KVC-Anb010 transport verdict: pass with the good evidence when nothing is bad, else fail
/// with the bad evidence.
fn all_good(name: String, expected: String, good: &[String], bad: &[String]) -> Check {
    if bad.is_empty() {
        check(
            name,
            Some("KVC-Anb010"),
            Verdict::Pass,
            expected,
            good.join("\n"),
        )
    } else {
        check(
            name,
            Some("KVC-Anb010"),
            Verdict::Fail,
            expected,
            bad.join("\n"),
        )
    }
}

fn transport_rest(scope: &Scope, name: String) -> Check {
    let expected = "the SUT posts its message over HTTPS with BASIC authentication (`POST mails`); the server accepts it, it decrypts with the addressee's key and its signature verifies against the user CA with the signer = From (SEED-ANB §3.1.2)".to_string();
    let Some(rest) = rest_of(scope) else {
        return no_rest(&name, "KVC-Anb010", expected);
    };
    if scope.own.is_empty() {
        return check(
            name,
            Some("KVC-Anb010"),
            Verdict::Fail,
            expected,
            format!(
                "no message accepted by `POST mails`\n{}",
                rest_summary(rest)
            ),
        );
    }
    let (good, bad): (Vec<_>, Vec<_>) = scope.own.iter().map(opens_valid).partition(Result::is_ok);
    let good: Vec<String> = good.into_iter().filter_map(Result::ok).collect();
    let bad: Vec<String> = bad.into_iter().filter_map(Result::err).collect();
    all_good(name, expected, &good, &bad)
}

fn tls_refused_rest(scope: &Scope) -> Check {
    let cert = scope.case.setup.server_cert.as_str();
    let name = "tls_refused HTTPS";
    let expected = format!(
        "the SUT connects to the REST server (server certificate: {cert}), aborts the TLS handshake and sends no request, so no credentials"
    );
    let Some(rest) = rest_of(scope) else {
        return no_rest(name, "KVC-Anb021", expected);
    };
    if rest.connections.is_empty() {
        return check(
            name,
            Some("KVC-Anb021"),
            Verdict::Error,
            expected,
            "the SUT never connected to the REST server: a refusal cannot be told from inactivity",
        );
    }
    let summary = rest_summary(rest);
    // Any request after the handshake means the SUT accepted the server, with or without
    // credentials (even `server/version`, which needs none).
    if !rest.requests.is_empty() || !rest.posted.is_empty() {
        let offered = rest.requests.iter().any(RestRequest::offered_credentials);
        return check(
            name,
            Some("KVC-Anb021"),
            Verdict::Fail,
            expected,
            format!(
                "the SUT accepted the server{}\n{summary}",
                if offered {
                    " and sent its credentials"
                } else {
                    ""
                }
            ),
        );
    }
    let unclear = rest.connections.iter().any(|c| match &c.tls {
        TlsOutcome::HandshakeFailed(why) => !client_refused(why),
        TlsOutcome::Established { .. } => false,
        TlsOutcome::NotAttempted => true,
    });
    if unclear {
        return check(
            name,
            Some("KVC-Anb021"),
            Verdict::Error,
            expected,
            format!(
                "the handshake did not end in a recognisable refusal by the client (not TLS?):\n{summary}"
            ),
        );
    }
    check(name, Some("KVC-Anb021"), Verdict::Pass, expected, summary)
}

fn same_address(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn lookups<'a>(rest: &'a RestObservations, recipient: &str) -> Vec<&'a RestRequest> {
    rest.requests
        .iter()
        .filter(|r| {
            r.resource == "certificates"
                && r.subject
                    .as_deref()
                    .is_some_and(|s| same_address(s, recipient))
        })
        .collect()
}

fn send_aborted(scope: &Scope, recipient: &str) -> Check {
    let name = format!("send_aborted {recipient}");
    let expected = format!(
        "the SUT looks up the certificate of {recipient}, finds none (404), reports an error and posts nothing (SEED-ANB §3.1.2)"
    );
    let Some(rest) = rest_of(scope) else {
        return no_rest(&name, "KVC-Anb010", expected);
    };
    let summary = rest_summary(rest);
    if !rest.posted.is_empty() {
        return check(
            name,
            Some("KVC-Anb010"),
            Verdict::Fail,
            expected,
            format!(
                "{} message(s) posted although a recipient has no certificate\n{summary}",
                rest.posted.len()
            ),
        );
    }
    if lookups(rest, recipient).is_empty() {
        return check(
            name,
            Some("KVC-Anb010"),
            Verdict::Error,
            expected,
            format!(
                "the SUT never looked up {recipient}: an abort cannot be told from inactivity\n{summary}"
            ),
        );
    }
    check(name, Some("KVC-Anb010"), Verdict::Pass, expected, summary)
}

fn not_encrypted_to(scope: &Scope, recipient: &str) -> Check {
    let name = format!("not_encrypted_to {recipient}");
    let expected = format!(
        "the directory serves an expired certificate for {recipient}: the SUT posts nothing encrypted to it (KVC-Anb080)"
    );
    let Some(rest) = rest_of(scope) else {
        return no_rest(&name, "KVC-Anb080", expected);
    };
    let summary = rest_summary(rest);
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
        return check(
            name,
            Some("KVC-Anb080"),
            Verdict::Fail,
            expected,
            format!("{}\n{summary}", encrypted.join("\n")),
        );
    }
    if lookups(rest, recipient).is_empty() && scope.own.is_empty() {
        return check(
            name,
            Some("KVC-Anb080"),
            Verdict::Error,
            expected,
            format!(
                "the SUT neither looked up {recipient} nor posted anything: a refusal cannot be told from inactivity\n{summary}"
            ),
        );
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
    check(
        name,
        Some("KVC-Anb080"),
        Verdict::Pass,
        expected,
        if posted.is_empty() {
            summary
        } else {
            format!("{}\n{summary}", posted.join("\n"))
        },
    )
}

/// Index of the first request matching, in request order.
fn first_request(rest: &RestObservations, method: &str, id: &str, ok_only: bool) -> Option<usize> {
    rest.requests.iter().position(|r| {
        r.method == method
            && r.resource == "mail"
            && r.subject.as_deref() == Some(id)
            && (!ok_only || (200..300).contains(&r.status))
    })
}

/// Mailbox entry `n` (1-based) with its message id, or an error check.
fn entry_id(rest: &RestObservations, n: usize) -> Result<&str, String> {
    rest.mailbox_ids
        .get(n.wrapping_sub(1))
        .map(String::as_str)
        .ok_or_else(|| format!("mailbox entry {n} was not served"))
}

/// Judges each listed mailbox entry by its message id; the check's verdict combines theirs.
fn per_entry(
    scope: &Scope,
    name: String,
    expected: &str,
    entries: &[usize],
    judge: impl Fn(&RestObservations, usize, &str) -> (Verdict, String),
) -> Check {
    let Some(rest) = rest_of(scope) else {
        return no_rest(&name, "KVC-Anb010", expected.to_string());
    };
    let judged: Vec<(Verdict, String)> = entries
        .iter()
        .map(|&n| match entry_id(rest, n) {
            Ok(id) => judge(rest, n, id),
            Err(e) => (Verdict::Error, e),
        })
        .collect();
    let verdict = Verdict::combine(judged.iter().map(|(v, _)| *v)).unwrap_or(Verdict::Error);
    let notes: Vec<&str> = judged.iter().map(|(_, n)| n.as_str()).collect();
    check(
        name,
        Some("KVC-Anb010"),
        verdict,
        expected,
        format!("{}\n{}", notes.join("\n"), rest_summary(rest)),
    )
}

fn kept_on_server(scope: &Scope, entries: &[usize]) -> Check {
    per_entry(
        scope,
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
    )
}

fn deleted_after_fetch(scope: &Scope, entries: &[usize]) -> Check {
    per_entry(
        scope,
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
    )
}

fn fetched_all(scope: &Scope) -> Check {
    let name = "fetched_all";
    let expected = format!(
        "the SUT fetches all {} messages of its mailbox over REST, unknown applications included",
        scope.mailbox_len
    );
    let Some(rest) = rest_of(scope) else {
        return no_rest(name, "KVC-Anb020", expected);
    };
    let summary = rest_summary(rest);
    if rest.requests.is_empty() {
        return check(name, Some("KVC-Anb020"), Verdict::Error, expected, summary);
    }
    let missing: Vec<String> = rest
        .mailbox_ids
        .iter()
        .enumerate()
        .filter(|(_, id)| first_request(rest, "GET", id, true).is_none())
        .map(|(i, id)| format!("entry {} (<{id}>)", i + 1))
        .collect();
    if missing.is_empty() {
        check(name, Some("KVC-Anb020"), Verdict::Pass, expected, summary)
    } else {
        check(
            name,
            Some("KVC-Anb020"),
            Verdict::Fail,
            expected,
            format!("not fetched: {}\n{summary}", missing.join(", ")),
        )
    }
}

/// Which refusal of the REST server a `*_failure_reported` expectation scripts.
#[derive(Clone, Copy)]
enum Refused {
    /// `POST mails` (`setup.rest.send_status`), reported through the send trigger.
    Send,
    /// `DELETE` of a mail (`setup.rest.delete_status`), reported through the fetch trigger.
    Delete,
}

fn send_failure_reported(scope: &Scope) -> Check {
    failure_reported(scope, Refused::Send)
}

fn delete_failure_reported(scope: &Scope) -> Check {
    failure_reported(scope, Refused::Delete)
}

/// The server refused a request with the scripted status: the SUT must report an error (its
/// trigger fails), not success (SEED-ANB §3.1.2).
fn failure_reported(scope: &Scope, kind: Refused) -> Check {
    let (name, status, request, action) = match kind {
        Refused::Send => (
            "send_failure_reported",
            scope.case.setup.rest.send_status,
            "`POST mails`",
            "send",
        ),
        Refused::Delete => (
            "delete_failure_reported",
            scope.case.setup.rest.delete_status,
            "the `DELETE` of a fetched message",
            "fetch",
        ),
    };
    let status = status.unwrap_or_default();
    let expected = format!(
        "the server answers {request} with {status}: the SUT reports an error (its {action} trigger fails) and does not claim success (SEED-ANB §3.1.2)"
    );
    let Some(rest) = rest_of(scope) else {
        return no_rest(name, "KVC-Anb010", expected);
    };
    let summary = rest_summary(rest);
    let refused = match kind {
        Refused::Send => rest.posted.iter().filter(|p| p.status == status).count(),
        Refused::Delete => rest
            .requests
            .iter()
            .filter(|r| r.method == "DELETE" && r.resource == "mail" && r.status == status)
            .count(),
    };
    if refused == 0 {
        return check(
            name,
            Some("KVC-Anb010"),
            Verdict::Error,
            expected,
            format!(
                "no request was refused with {status}, so no error could be reported\n{summary}"
            ),
        );
    }
    let triggers: Vec<&StepRecord> = scope
        .steps
        .iter()
        .filter(|s| {
            matches!(
                (kind, scope.case.steps.get(s.index.wrapping_sub(1))),
                (Refused::Send, Some(crate::suite::Step::Send(_)))
                    | (Refused::Delete, Some(crate::suite::Step::Fetch(_)))
            )
        })
        .collect();
    let claimed: Vec<String> = triggers
        .iter()
        .filter(|s| s.outcome == StepOutcome::Ok)
        .map(|s| format!("step {} ({}): {}", s.index, s.description, s.detail))
        .collect();
    if !claimed.is_empty() {
        return check(
            name,
            Some("KVC-Anb010"),
            Verdict::Fail,
            expected,
            format!(
                "the SUT reported success although the server refused {refused} request(s):\n{}\n{summary}",
                claimed.join("\n")
            ),
        );
    }
    let reported: Vec<String> = triggers
        .iter()
        .map(|s| format!("step {} reported: {}", s.index, s.detail))
        .collect();
    check(
        name,
        Some("KVC-Anb010"),
        Verdict::Pass,
        expected,
        format!("{}\n{summary}", reported.join("\n")),
    )
}

fn stored(scope: &Scope, st: &StoredExpectation) -> (Check, Option<AttestRecord>) {
    let name = "stored";
    let req = st.requirement.as_str();
    let expected = format!(
        "the SUT's local store: entries {:?} not stored as valid and the user warned; entries {:?} stored as valid",
        st.rejected, st.valid
    );
    let messages = match scope.stored {
        Some(StoredAnswer::Reported { messages }) => messages,
        Some(StoredAnswer::Failed { error }) => {
            return (
                check(
                    name,
                    Some(req),
                    Verdict::Error,
                    expected,
                    format!("the SUT adapter could not report the local store: {error}"),
                ),
                None,
            );
        }
        None | Some(StoredAnswer::Unsupported) => {
            let (c, record) = attest_check(scope, "stored (attest)", req, None);
            return (c, Some(record));
        }
    };
    let Some(rest) = rest_of(scope) else {
        return (no_rest(name, req, expected), None);
    };
    let find = |id: &str| {
        messages.iter().find(|m| {
            m.message_id.trim().trim_matches(['<', '>']) == id.trim().trim_matches(['<', '>'])
        })
    };
    // Rejections are judged only next to the positive control (the `valid` entries): a SUT
    // that stores nothing would otherwise "reject" every bad message.
    let mut rejected_verdict = Verdict::Pass;
    let mut decisive = false;
    let mut notes = Vec::new();
    for &n in &st.rejected {
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
    for &n in &st.valid {
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
                st.valid
            ),
        );
        Verdict::Error
    } else {
        rejected_verdict
    };
    (
        check(
            name,
            Some(req),
            verdict,
            expected,
            // The SUT's word, not an observation: say so in the evidence.
            format!(
                "as reported by the SUT adapter's store query:\n{}",
                notes.join("\n")
            ),
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::observe::RestConnection;

    fn rest_case(expect: &str) -> Case {
        let text = format!(
            "id: t/rest\ntitle: t\nrequirements: [KVC-Anb010, KVC-Anb021, KVC-Anb022, KVC-Anb080]\nrole: kvc-pvs\nprofile: kvc\nsetup:\n  mock: kvc-rest\n  mailbox:\n    - served: valid\n    - served: bad-signature\nsteps:\n  - fetch: {{}}\nexpect:\n  - {expect}\n"
        );
        crate::suite::load_case(std::path::Path::new("t.yaml"), &text, cat()).expect("case")
    }

    fn cat() -> &'static Catalogue {
        Catalogue::embedded().expect("catalogue")
    }

    fn req(method: &str, resource: &str, subject: &str, status: u16) -> RestRequest {
        RestRequest {
            method: method.into(),
            target: format!("/kvconnect/rest/{resource}/{subject}"),
            resource: resource.into(),
            subject: Some(subject.into()),
            auth: "ok praxis@kv-connect.test".into(),
            status,
            bytes_in: 0,
            at_ms: 0,
            note: None,
        }
    }

    fn rest(requests: Vec<RestRequest>) -> Observations {
        Observations {
            rest: Some(RestObservations {
                directory: Default::default(),
                connections: vec![RestConnection {
                    peer: "127.0.0.1:1".into(),
                    tls: TlsOutcome::Established { sni: None },
                }],
                requests,
                posted: vec![],
                mailbox_ids: vec!["a@x".into(), "b@x".into()],
                remaining_ids: vec![],
                rejected_connections: 0,
            }),
            ..Observations::default()
        }
    }

    fn run(case: &Case, obs: &Observations, stored: Option<&StoredAnswer>) -> Vec<Check> {
        let registry = KvcRegistry::builtin().expect("registry");
        let answers = Answers::default();
        let scope = Scope {
            case,
            own: &[],
            run: &[],
            obs,
            mailbox_len: 2,
            registry: &registry,
            answers: &answers,
            catalogue: cat(),
            transport: "rest",
            stored,
            steps: &[],
        };
        evaluate(&scope).0
    }

    #[test]
    fn delete_before_fetch_fails_and_fetch_then_delete_passes() {
        let case = rest_case("deleted_after_fetch: {entries: [1, 2]}");
        let good = rest(vec![
            req("GET", "mail", "a@x", 200),
            req("DELETE", "mail", "a@x", 204),
            req("GET", "mail", "b@x", 200),
            req("DELETE", "mail", "b@x", 204),
        ]);
        assert_eq!(run(&case, &good, None)[0].verdict, Verdict::Pass);
        let early = rest(vec![
            req("GET", "mail", "a@x", 200),
            req("DELETE", "mail", "a@x", 204),
            req("DELETE", "mail", "b@x", 204),
            req("GET", "mail", "b@x", 404),
        ]);
        let c = &run(&case, &early, None)[0];
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.observed.contains("entry 2"), "{}", c.observed);
        let never = rest(vec![req("GET", "mail", "a@x", 200)]);
        assert_eq!(run(&case, &never, None)[0].verdict, Verdict::Fail);
    }

    #[test]
    fn keeping_needs_a_fetch_and_no_delete() {
        let case = rest_case(
            "kept_on_server: {entries: [2], control: {case: t/control, check: deleted_after_fetch}}",
        );
        let idle = rest(vec![]);
        assert_eq!(run(&case, &idle, None)[0].verdict, Verdict::Error);
        let kept = rest(vec![req("GET", "mail", "b@x", 200)]);
        assert_eq!(run(&case, &kept, None)[0].verdict, Verdict::Pass);
        let deleted = rest(vec![
            req("GET", "mail", "b@x", 200),
            req("DELETE", "mail", "b@x", 204),
        ]);
        assert_eq!(run(&case, &deleted, None)[0].verdict, Verdict::Fail);
    }

    #[test]
    fn a_refusal_over_https_means_no_request_at_all() {
        let case = rest_case(
            "tls_refused: {service: https, control: {case: t/control, check: transport rest}}",
        );
        let mut refused = rest(vec![]);
        if let Some(r) = refused.rest.as_mut() {
            r.connections[0].tls =
                TlsOutcome::HandshakeFailed("received fatal alert: UnknownCA".into());
        }
        assert_eq!(run(&case, &refused, None)[0].verdict, Verdict::Pass);
        let mut version_only = rest(vec![req("GET", "version", "", 200)]);
        if let Some(r) = version_only.rest.as_mut() {
            r.requests[0].auth = "none".into();
        }
        assert_eq!(run(&case, &version_only, None)[0].verdict, Verdict::Fail);
        let never = Observations {
            rest: Some(RestObservations::default()),
            ..Observations::default()
        };
        assert_eq!(run(&case, &never, None)[0].verdict, Verdict::Error);
    }

    #[test]
    fn expired_certificate_check_needs_a_lookup() {
        let case = rest_case(
            "not_encrypted_to: {recipient: abgelaufen@kv-connect.test, control: {case: t/control, check: transport rest}}",
        );
        assert_eq!(run(&case, &rest(vec![]), None)[0].verdict, Verdict::Error);
        let looked_up = rest(vec![req(
            "GET",
            "certificates",
            "abgelaufen@kv-connect.test",
            200,
        )]);
        assert_eq!(run(&case, &looked_up, None)[0].verdict, Verdict::Pass);
    }

    #[test]
    fn store_reports_decide_kvc_anb022_and_silence_is_attested() {
        let case = rest_case("stored: {requirement: KVC-Anb022, rejected: [2], valid: [1]}");
        let obs = rest(vec![]);
        let report = |valid_b: bool, warning: Option<&str>| StoredAnswer::Reported {
            messages: vec![
                crate::sut::StoredReport {
                    message_id: "<a@x>".into(),
                    valid: true,
                    warning: None,
                },
                crate::sut::StoredReport {
                    message_id: "b@x".into(),
                    valid: valid_b,
                    warning: warning.map(str::to_string),
                },
            ],
        };
        let good = report(false, Some("Signatur ungültig"));
        assert_eq!(run(&case, &obs, Some(&good))[0].verdict, Verdict::Pass);
        let kept = report(true, None);
        assert_eq!(run(&case, &obs, Some(&kept))[0].verdict, Verdict::Fail);
        let silent = report(false, None);
        assert_eq!(run(&case, &obs, Some(&silent))[0].verdict, Verdict::Fail);
        let unsupported = StoredAnswer::Unsupported;
        assert_eq!(
            run(&case, &obs, Some(&unsupported))[0].verdict,
            Verdict::Attest
        );
        // A SUT that stores nothing "rejects" the bad message too: without the valid entry
        // stored (the control) that proves nothing.
        let nothing = StoredAnswer::Reported { messages: vec![] };
        let c = &run(&case, &obs, Some(&nothing))[0];
        assert_eq!(c.verdict, Verdict::Error, "{}", c.observed);
        assert!(c.observed.contains(CONTROL_FAILED), "{}", c.observed);
        let refuses_all = StoredAnswer::Reported {
            messages: vec![
                crate::sut::StoredReport {
                    message_id: "a@x".into(),
                    valid: false,
                    warning: Some("Signatur ungültig".into()),
                },
                crate::sut::StoredReport {
                    message_id: "b@x".into(),
                    valid: false,
                    warning: Some("Signatur ungültig".into()),
                },
            ],
        };
        assert_eq!(
            run(&case, &obs, Some(&refuses_all))[0].verdict,
            Verdict::Error
        );
    }

    #[test]
    fn refusal_classification() {
        assert!(client_refused("received fatal alert: UnknownCA"));
        assert!(client_refused(
            "peer closed connection without sending TLS close_notify: unexpected eof"
        ));
        assert!(!client_refused(
            "received corrupt message of type InvalidContentType"
        ));
        assert!(!client_refused("timeout"));
    }
}
