//! Evaluates a case's expectations on what the mocks observed. Each expectation becomes one or
//! more [`Check`]s with expected vs. observed text; nothing here talks to the SUT.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalogue::Catalogue;
use crate::message::Message;
use crate::rules::{KvcRegistry, RequirementVerdict, Severity};
use crate::runner::answers::{AnswerValue, Answers};
use crate::runner::model::{AttestRecord, Check, MessageRecord, Verdict};
use crate::runner::observe::{Observations, Session, SessionEnd, TlsOutcome};
use crate::suite::{Case, Expectation, OverScope, Service};

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
    pub transport: &'a str,
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
    }
}

/// Evaluates every expectation of the case; attest items also yield [`AttestRecord`]s.
pub fn evaluate(scope: &Scope) -> (Vec<Check>, Vec<AttestRecord>) {
    let mut checks = Vec::new();
    let mut attest = Vec::new();
    for e in &scope.case.expect {
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
                let question = a
                    .question
                    .clone()
                    .or_else(|| {
                        scope
                            .catalogue
                            .get(&a.requirement)
                            .and_then(|r| r.attest_question.clone())
                    })
                    .unwrap_or_default();
                let answer = scope.answers.find(&scope.case.id, &a.requirement);
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
                checks.push(check(
                    format!("attest {}", a.requirement),
                    Some(&a.requirement),
                    verdict,
                    format!("a human answers yes, with evidence: {question}"),
                    observed,
                ));
                attest.push(AttestRecord {
                    requirement: a.requirement.clone(),
                    question,
                    answer: answer.map(|a| match a.value {
                        AnswerValue::Yes => "yes".to_string(),
                        AnswerValue::No => "no".to_string(),
                    }),
                    evidence: answer.map(|a| a.evidence.clone()),
                    answered_by: answer.and_then(|a| a.by.clone()),
                });
            }
            Expectation::Skip(reason) => checks.push(check(
                "skip",
                None,
                Verdict::Skip,
                "not decided in this run",
                reason.clone(),
            )),
        }
    }
    (checks, attest)
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
    if transport != "smtp-pop3" {
        return check(
            name,
            Some("KVC-Anb010"),
            Verdict::Skip,
            expected,
            format!("transport {transport} not in this run"),
        );
    }
    if scope.own.is_empty() {
        let sessions: Vec<String> = scope.obs.smtp.iter().map(session_summary).collect();
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
    let sessions: Vec<String> = scope
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
    let summaries: Vec<String> = sessions.iter().map(session_summary).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

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
