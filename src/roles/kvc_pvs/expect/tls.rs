//! `tls_refused: {service: smtp|pop3|https, control: ...}`: the SUT connected to the service
//! but aborted the TLS handshake; it never sent credentials nor a message (nor, over HTTPS,
//! any request). A refusal: judged next to its control.

use serde::Deserialize;

use super::evidence::{no_rest, rest_of, rest_summary, session_summary};
use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Judge, Refusal, Scope};
use crate::runner::model::Check;
use crate::runner::observe::{MailSessionRecord, TlsOutcome};
use crate::suite::{Control, Service};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsRefused {
    pub service: Service,
    #[serde(default)]
    pub control: Option<Control>,
    #[serde(default)]
    pub requirement: Decides,
}

impl Expect for TlsRefused {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.requirement.resolve(case, "tls_refused")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let req = self.requirement.id();
        out.checks.push(match self.service {
            Service::Smtp => refused_on_sessions(scope, Service::Smtp, &scope.obs.smtp, req),
            Service::Pop3 => refused_on_sessions(scope, Service::Pop3, &scope.obs.pop3, req),
            Service::Https => refused_over_https(scope, req),
        });
    }

    fn refusal(&self) -> Option<Refusal<'_>> {
        Some(Refusal {
            control: self.control.as_ref(),
        })
    }

    /// Credentials sent to the bad server stay sent.
    fn fails_on_evidence_alone(&self) -> bool {
        true
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

fn refused_on_sessions<S: MailSessionRecord>(
    scope: &Scope,
    service: Service,
    sessions: &[S],
    req: &str,
) -> Check {
    let cert = scope.case.setup.server_cert.as_str();
    let name = format!("tls_refused {}", service.as_str());
    let expected = format!(
        "the SUT connects to {} (server certificate: {cert}), aborts the TLS handshake and sends no credentials",
        service.as_str()
    );
    let judge = Judge::new(name, req, expected);
    if sessions.is_empty() {
        return judge.error(format!(
            "the SUT never connected to {}: a refusal cannot be told from inactivity",
            service.as_str()
        ));
    }
    let mut summaries: Vec<String> = sessions.iter().map(|s| session_summary(s)).collect();
    summaries.extend(scope.obs.rejected_note());
    // A client that completes the handshake and then closes without a single command (e.g.
    // OpenSSL checking the host name after the handshake) refused too; any command after the
    // handshake means it accepted the server.
    let accepted = sessions.iter().any(|s| {
        !s.auth().is_empty()
            || s.message_count() > 0
            || (matches!(s.tls(), TlsOutcome::Established { .. })
                && s.transcript().iter().any(|l| l.from_client))
    });
    if accepted {
        return judge.fail(summaries.join("\n"));
    }
    let unclear = sessions.iter().any(|s| match s.tls() {
        TlsOutcome::HandshakeFailed(why) => !client_refused(why),
        TlsOutcome::Established { .. } => false,
        TlsOutcome::NotAttempted => true,
    });
    if unclear {
        return judge.error(format!(
            "the handshake did not end in a recognisable refusal by the client (not TLS?):\n{}",
            summaries.join("\n")
        ));
    }
    judge.pass(summaries.join("\n"))
}

fn refused_over_https(scope: &Scope, req: &str) -> Check {
    let cert = scope.case.setup.server_cert.as_str();
    let name = "tls_refused HTTPS";
    let expected = format!(
        "the SUT connects to the REST server (server certificate: {cert}), aborts the TLS handshake and sends no request, so no credentials"
    );
    let judge = Judge::new(name, req, expected);
    let Some(rest) = rest_of(scope) else {
        return no_rest(judge);
    };
    if rest.connections.is_empty() {
        return judge.error(
            "the SUT never connected to the REST server: a refusal cannot be told from inactivity",
        );
    }
    let summary = rest_summary(scope.obs);
    // Any request after the handshake means the SUT accepted the server, with or without
    // credentials (even `server/version`, which needs none).
    if !rest.requests.is_empty() || !rest.posted.is_empty() {
        let offered = rest.requests.iter().any(|r| r.auth.offered_credentials());
        return judge.fail(format!(
            "the SUT accepted the server{}\n{summary}",
            if offered {
                " and sent its credentials"
            } else {
                ""
            }
        ));
    }
    let unclear = rest.connections.iter().any(|c| match &c.tls {
        TlsOutcome::HandshakeFailed(why) => !client_refused(why),
        TlsOutcome::Established { .. } => false,
        TlsOutcome::NotAttempted => true,
    });
    if unclear {
        return judge.error(format!(
                "the handshake did not end in a recognisable refusal by the client (not TLS?):\n{summary}"
            ));
    }
    judge.pass(summary)
}
