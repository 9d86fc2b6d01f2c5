//! Evidence texts the KV-Connect families share: SMTP/POP3 sessions, the REST mock's
//! connections and requests, and the directory beside it.

use crate::roles::expect::{CaseHeader, Judge, Scope};
use crate::runner::model::Check;
use crate::runner::observe::{
    DirectoryObservations, Evidence, HttpEvidence, HttpRequest, MailSessionRecord, SessionEnd,
    TlsOutcome,
};
use crate::suite::MockKind;

/// Requests shown in evidence before the list is cut.
const SHOWN_REQUESTS: usize = 40;

pub fn session_summary(s: &impl MailSessionRecord) -> String {
    let auth = if s.auth().is_empty() {
        "no AUTH".to_string()
    } else {
        s.auth()
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
        "session from {}: {}; {auth}; {} message(s); ended: {}",
        s.peer(),
        tls_text(s.tls()),
        s.message_count(),
        end_text(s.end())
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

pub fn tls_text(t: &TlsOutcome) -> String {
    match t {
        TlsOutcome::Established { sni, client } => {
            let client = client
                .as_ref()
                .map(|c| format!(", client certificate {c}"))
                .unwrap_or_default();
            format!(
                "TLS established (SNI {}{client})",
                sni.as_deref().unwrap_or("none")
            )
        }
        TlsOutcome::HandshakeFailed(why) => format!("TLS handshake failed: {why}"),
        TlsOutcome::NotAttempted => "no TLS".into(),
    }
}

/// One evidence text for what the REST mock saw: connections with their TLS outcome, then the
/// requests in order (credentials are never shown, only the account and whether they matched).
/// The directory's binds and searches follow (a SUT may look recipients up there).
pub fn rest_summary(obs: &Evidence) -> String {
    let none = HttpEvidence::default();
    let rest = obs.http.as_ref().unwrap_or(&none);
    if rest.connections.is_empty() && rest.requests.is_empty() && obs.ldap.is_none() {
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
            .map(HttpRequest::summary),
    );
    if rest.requests.len() > SHOWN_REQUESTS {
        lines.push(format!(
            "... and {} more request(s)",
            rest.requests.len() - SHOWN_REQUESTS
        ));
    }
    lines.extend(obs.ldap.as_ref().map(directory_lines).unwrap_or_default());
    lines.join("\n")
}

/// The LDAPS directory beside the REST server: who bound and what was searched (a SUT may look
/// recipients up there instead of over REST, KVC-FACTS §10).
fn directory_lines(d: &DirectoryObservations) -> Vec<String> {
    let mut lines = Vec::new();
    for s in &d.sessions {
        lines.push(format!(
            "directory connection from {}: {}",
            s.peer,
            tls_text(&s.tls)
        ));
        for b in &s.binds {
            let who = if b.dn.is_empty() {
                "anonymous"
            } else {
                b.dn.as_str()
            };
            let outcome = if b.success { "accepted" } else { "rejected" };
            lines.push(format!("  bind as {who}: {outcome}"));
        }
        for q in s.searches.iter().take(SHOWN_REQUESTS) {
            lines.push(format!(
                "  search base `{}` scope {} filter {} -> {} entr{} (result {})",
                q.base,
                q.scope,
                q.filter,
                q.entries_returned,
                if q.entries_returned == 1 { "y" } else { "ies" },
                q.result_code
            ));
        }
        if s.searches.len() > SHOWN_REQUESTS {
            lines.push(format!(
                "  ... and {} more search(es)",
                s.searches.len() - SHOWN_REQUESTS
            ));
        }
    }
    if d.rejected_connections > 0 {
        lines.push(format!(
            "{} directory connection(s) closed at once (too many open)",
            d.rejected_connections
        ));
    }
    lines
}

pub fn rest_of<'a>(scope: &Scope<'a>) -> Option<&'a HttpEvidence> {
    scope.obs.http.as_ref()
}

/// The check of a REST family in a case that ran without the REST mock.
pub fn no_rest(judge: Judge) -> Check {
    judge.error("the case ran without the REST mock")
}

/// The REST families observe the REST mock: the case must start it.
pub fn needs_rest_mock(case: &CaseHeader) -> Result<(), String> {
    if case.setup.mock == MockKind::KvcRest {
        Ok(())
    } else {
        Err("this expectation observes the REST mock; set `setup.mock: kvc-rest`".into())
    }
}
