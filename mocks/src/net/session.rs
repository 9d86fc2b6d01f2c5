//! What every recorded session has, whatever its protocol: the TLS outcome, how it ended, the
//! logins it tried and its transcript; plus the TLS handshake that records the outcome.

use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// How the TLS handshake of a session went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum TlsOutcome {
    Established {
        sni: Option<String>,
        /// The subject of the client certificate, when the client presented one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// The handshake did not complete (the client aborted it, e.g. with an alert because it
    /// refused the certificate, or did not speak TLS); the reason as rustls reports it.
    HandshakeFailed(String),
    NotAttempted,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum SessionEnd {
    Quit,
    PeerClosed,
    IdleTimeout,
    TooLarge,
    ProtocolError(String),
    /// Still running (or aborted by the server's shutdown).
    Open,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthRecord {
    /// "PLAIN", "LOGIN" (SMTP) or "USER" (POP3 USER/PASS).
    pub mechanism: String,
    pub user: String,
    pub success: bool,
}

/// One line of a session transcript, without its line break. DATA/BDAT content and POP3
/// RETR/TOP content are not included; credentials (AUTH responses, PASS) are masked as `***`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptLine {
    pub from_client: bool,
    pub line: String,
}

/// Transcript lines kept per session; a peer that keeps talking beyond this (e.g. endless NOOPs)
/// gets one marker line and nothing more is recorded, so memory stays bounded.
pub const MAX_TRANSCRIPT_LINES: usize = 10_000;
pub const TRANSCRIPT_TRUNCATED: &str = "(transcript truncated: more lines than the mock keeps)";

/// Appends to a transcript, bounded by [`MAX_TRANSCRIPT_LINES`].
pub fn push_transcript(t: &mut Vec<TranscriptLine>, from_client: bool, line: String) {
    if t.len() < MAX_TRANSCRIPT_LINES {
        t.push(TranscriptLine { from_client, line });
    } else if t.len() == MAX_TRANSCRIPT_LINES {
        t.push(TranscriptLine {
            from_client: false,
            line: TRANSCRIPT_TRUNCATED.into(),
        });
    }
}

/// TLS handshake with the idle timeout; records the outcome through `record`.
pub async fn handshake(
    tcp: TcpStream,
    tls: &TlsAcceptor,
    idle: Duration,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, TlsOutcome), (TlsOutcome, SessionEnd)> {
    match tokio::time::timeout(idle, tls.accept(tcp)).await {
        Err(_) => Err((
            TlsOutcome::HandshakeFailed(format!("no complete TLS handshake within {idle:?}")),
            SessionEnd::IdleTimeout,
        )),
        Ok(Err(e)) => Err((
            TlsOutcome::HandshakeFailed(e.to_string()),
            SessionEnd::PeerClosed,
        )),
        Ok(Ok(stream)) => {
            let conn = stream.get_ref().1;
            let sni = conn.server_name().map(str::to_string);
            let client = conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| crate::net::tls::certificate_subject(c));
            Ok((stream, TlsOutcome::Established { sni, client }))
        }
    }
}

/// A duration in reports: whole milliseconds (`at_ms`, `duration_ms`).
pub fn serialize_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// For `skip_serializing_if`: a counter that stayed zero.
pub fn is_zero(n: &usize) -> bool {
    *n == 0
}
