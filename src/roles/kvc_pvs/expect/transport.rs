//! `transport: {transport: smtp-pop3|rest}`: every message arrived through the declared
//! transport: SMTP over TLS with successful AUTH, or `POST mails` over HTTPS with a message
//! that opens for its addressee with a valid signature.

use serde::Deserialize;

use super::evidence::{no_rest, rest_of, rest_summary, session_summary};
use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Judge, Scope};
use crate::runner::model::{Check, MessageRecord};
use crate::runner::observe::TlsOutcome;
use crate::sut::Transport as Via;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// `smtp-pop3` or `rest`.
    pub transport: Via,
    #[serde(default)]
    pub requirement: Decides,
}

impl Expect for Transport {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.requirement.resolve(case, "transport")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        out.checks.push(self.judge(scope));
    }
}

impl Transport {
    fn judge(&self, scope: &Scope) -> Check {
        let transport = self.transport;
        let req = self.requirement.id();
        let name = format!("transport {transport}");
        let expected = format!(
            "the SUT (declared transport `{}`) delivers through the KV-Connect Client: SMTP over TLS with successful AUTH, at least one message",
            scope.transport
        );
        if transport == Via::Rest && scope.transport == Via::Rest {
            return transport_rest(scope, name, req);
        }
        let judge = Judge::new(name, req, expected);
        if transport != Via::SmtpPop3 || scope.transport != Via::SmtpPop3 {
            return judge.skip(format!("transport {transport} not in this run"));
        }
        if scope.own.is_empty() {
            let mut sessions: Vec<String> = scope.obs.smtp.iter().map(session_summary).collect();
            sessions.extend(scope.obs.rejected_note());
            return judge.fail(format!(
                "no message arrived over SMTP; sessions: {}",
                if sessions.is_empty() {
                    "none".into()
                } else {
                    sessions.join("\n")
                }
            ));
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
        pass_unless_bad(judge, &good, &bad)
    }
}

/// Pass with the good evidence when nothing is bad, else fail with the bad evidence.
fn pass_unless_bad(judge: Judge, good: &[String], bad: &[String]) -> Check {
    if bad.is_empty() {
        judge.pass(good.join("\n"))
    } else {
        judge.fail(bad.join("\n"))
    }
}

fn transport_rest(scope: &Scope, name: String, req: &str) -> Check {
    let expected = "the SUT posts its message over HTTPS with BASIC authentication (`POST mails`); the server accepts it, it decrypts with the addressee's key and its signature verifies against the user CA with the signer = From (SEED-ANB §3.1.2)".to_string();
    let judge = Judge::new(name, req, expected);
    if rest_of(scope).is_none() {
        return no_rest(judge);
    }
    if scope.own.is_empty() {
        return judge.fail(format!(
            "no message accepted by `POST mails`\n{}",
            rest_summary(scope.obs)
        ));
    }
    let (good, bad): (Vec<_>, Vec<_>) = scope.own.iter().map(opens_valid).partition(Result::is_ok);
    let good: Vec<String> = good.into_iter().filter_map(Result::ok).collect();
    let bad: Vec<String> = bad.into_iter().filter_map(Result::err).collect();
    pass_unless_bad(judge, &good, &bad)
}

/// A field of the lint's S/MIME outcome.
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
