//! What the mail servers record: SMTP and POP3 sessions, the messages captured over SMTP, and
//! the snapshot of all of them.

use std::net::SocketAddr;

use serde::Serialize;

use crate::net::session::{AuthRecord, SessionEnd, TlsOutcome, TranscriptLine};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpSession {
    pub peer: SocketAddr,
    pub tls: TlsOutcome,
    pub auth: Vec<AuthRecord>,
    pub transcript: Vec<TranscriptLine>,
    /// In the report as files of their own, not inside the session.
    #[serde(skip)]
    pub messages: Vec<CapturedMessage>,
    pub end: SessionEnd,
}

impl SmtpSession {
    /// Whether the client sent an AUTH command (decodable or not). A client that refuses the
    /// server certificate must not: depending on its TLS stack it aborts the handshake
    /// ([`TlsOutcome::HandshakeFailed`]) or completes it and closes without a command (curl with
    /// OpenSSL checks the host name only after the handshake), so judge KVC-Anb021 by this.
    pub fn credentials_offered(&self) -> bool {
        self.transcript.iter().any(|l| {
            l.from_client
                && l.line
                    .get(..5)
                    .is_some_and(|c| c.eq_ignore_ascii_case("AUTH "))
        }) || !self.auth.is_empty()
    }
}

/// A message accepted with 250 after DATA (or the last BDAT chunk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapturedMessage {
    /// The MAIL FROM reverse-path without angle brackets ("" for the null sender).
    pub mail_from: String,
    /// The RCPT TO forward-paths without angle brackets, in order.
    pub rcpt_to: Vec<String>,
    /// The message exactly as the client sent it, dot-unstuffed, up to the end-of-data line
    /// `.CRLF`. The line break of the last line belongs to the message (RFC 5321 §4.1.1.4), so a
    /// client that sends a file ending in CRLF is captured byte-equal to that file. BDAT chunks
    /// are concatenated unchanged.
    #[serde(skip)]
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pop3Session {
    pub peer: SocketAddr,
    pub tls: TlsOutcome,
    pub auth: Vec<AuthRecord>,
    pub transcript: Vec<TranscriptLine>,
    /// 1-based positions in the server's store, in RETR order: first
    /// [`crate::mail::MailServerConfig::mailbox`], then `account_mailbox`, then messages delivered
    /// over SMTP. With only the shared mailbox they equal the POP3 message numbers as long as no
    /// earlier session deleted anything.
    pub retrieved: Vec<usize>,
    /// Like `retrieved`, for TOP.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topped: Vec<usize>,
    /// Positions deleted by this session; committed (and only recorded) at QUIT, RFC 1939.
    pub deleted: Vec<usize>,
    pub end: SessionEnd,
}

impl Pop3Session {
    /// Whether the client sent USER, PASS, APOP or AUTH (see
    /// [`SmtpSession::credentials_offered`]).
    pub fn credentials_offered(&self) -> bool {
        self.transcript.iter().any(|l| {
            l.from_client && {
                let cmd = l.line.split_ascii_whitespace().next().unwrap_or("");
                ["USER", "PASS", "APOP", "AUTH"]
                    .iter()
                    .any(|c| cmd.eq_ignore_ascii_case(c))
            }
        }) || !self.auth.is_empty()
    }
}

/// What the mock saw, as a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observations {
    pub smtp: Vec<SmtpSession>,
    pub pop3: Vec<Pop3Session>,
    /// Connections closed at once because `max_sessions` were already running.
    pub rejected_connections: usize,
}

impl Observations {
    /// All captured messages of all SMTP sessions, in order.
    pub fn messages(&self) -> impl Iterator<Item = &CapturedMessage> {
        self.smtp.iter().flat_map(|s| s.messages.iter())
    }
}

/// What SMTP and POP3 sessions have in common, for evidence that treats them alike.
pub trait MailSessionRecord {
    fn peer(&self) -> SocketAddr;
    fn tls(&self) -> &TlsOutcome;
    fn auth(&self) -> &[AuthRecord];
    fn transcript(&self) -> &[TranscriptLine];
    fn end(&self) -> &SessionEnd;
    /// Whether the client sent credentials in this session (see
    /// [`SmtpSession::credentials_offered`]).
    fn credentials_offered(&self) -> bool;
    /// Messages the client handed over in this session (POP3: none).
    fn message_count(&self) -> usize;
}

macro_rules! mail_session_record {
    ($t:ty, $messages:expr) => {
        impl MailSessionRecord for $t {
            fn peer(&self) -> SocketAddr {
                self.peer
            }
            fn tls(&self) -> &TlsOutcome {
                &self.tls
            }
            fn auth(&self) -> &[AuthRecord] {
                &self.auth
            }
            fn transcript(&self) -> &[TranscriptLine] {
                &self.transcript
            }
            fn end(&self) -> &SessionEnd {
                &self.end
            }
            fn credentials_offered(&self) -> bool {
                <$t>::credentials_offered(self)
            }
            fn message_count(&self) -> usize {
                let count: fn(&$t) -> usize = $messages;
                count(self)
            }
        }
    };
}

mail_session_record!(SmtpSession, |s| s.messages.len());
mail_session_record!(Pop3Session, |_| 0);
