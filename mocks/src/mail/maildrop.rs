//! The state a mail server's sessions share: the accounts, the limits, the maildrop POP3 serves
//! and the records of every session.

use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use tokio::io::AsyncBufRead;

use crate::mail::records::{Observations, Pop3Session, SmtpSession};
use crate::net::lineio::{DISCARD_CAP, LineRead, read_line};
use crate::net::recorder::Recorder;
use crate::net::session::{SessionEnd, TlsOutcome};

/// A mailbox account (SMTP AUTH and POP3 USER/PASS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: String,
    pub password: String,
}

impl Account {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Account {
        Account {
            user: user.into(),
            password: password.into(),
        }
    }
}

/// Limits applied to every session.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub max_message_bytes: usize,
    pub idle_timeout: Duration,
    pub max_line_bytes: usize,
    pub max_errors: usize,
}

/// The replies a line protocol sends before it closes a session for a broken limit.
pub(crate) struct ClosingReplies {
    pub idle: &'static str,
    pub line_too_long: &'static str,
    pub too_many_errors: &'static str,
}

/// A session ended by a limit: the reply to send first (if the peer is still there) and how
/// the session is recorded.
pub(crate) struct Closing {
    pub reply: Option<&'static str>,
    pub end: SessionEnd,
}

impl Limits {
    /// Reads one command line within the idle timeout and the line limit.
    pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
        &self,
        io: &mut R,
        replies: &ClosingReplies,
    ) -> Result<LineRead, Closing> {
        let (reply, end) =
            match tokio::time::timeout(self.idle_timeout, read_line(io, self.max_line_bytes)).await
            {
                Ok(Ok(LineRead::Eof)) | Ok(Err(_)) => (None, SessionEnd::PeerClosed),
                Ok(Ok(LineRead::Flood)) => (
                    Some(replies.line_too_long),
                    SessionEnd::ProtocolError(format!(
                        "a line longer than {} bytes without line break",
                        self.max_line_bytes + DISCARD_CAP
                    )),
                ),
                Ok(Ok(line)) => return Ok(line),
                Err(_) => (Some(replies.idle), SessionEnd::IdleTimeout),
            };
        Err(Closing { reply, end })
    }

    /// Counts one error reply (`text`); at `max_errors` the session is closed.
    pub(crate) fn count_error(
        &self,
        errors: &mut usize,
        text: &str,
        replies: &ClosingReplies,
    ) -> Option<Closing> {
        *errors += 1;
        (*errors >= self.max_errors).then(|| Closing {
            reply: Some(replies.too_many_errors),
            end: SessionEnd::ProtocolError(format!(
                "{errors} error replies (limit {}); last: {text}",
                self.max_errors
            )),
        })
    }
}

/// How a failed reply write ends a session: a peer that stopped reading is idle, anything
/// else a closed connection.
pub(crate) fn write_failed(e: std::io::Error) -> SessionEnd {
    if e.kind() == std::io::ErrorKind::TimedOut {
        SessionEnd::IdleTimeout
    } else {
        SessionEnd::PeerClosed
    }
}

/// What the SMTP and POP3 sessions share around their own replies: limited line reads and
/// the error budget, each closing the session with the protocol's reply when a limit breaks.
pub(crate) trait LineSession {
    /// The replies sent before a limit closes the session.
    const CLOSING: ClosingReplies;
    type Io: AsyncBufRead + Unpin + Send;

    /// The limits, the error count and the connection, borrowed apart.
    fn line_io(&mut self) -> (&Limits, &mut usize, &mut Self::Io);

    /// Sends one reply (and records it).
    async fn reply(&mut self, text: &str) -> Result<(), SessionEnd>;

    /// An error reply that counts toward `max_errors`.
    async fn error(&mut self, text: &str) -> Result<(), SessionEnd> {
        let (limits, errors, _) = self.line_io();
        match limits.count_error(errors, text, &Self::CLOSING) {
            Some(closing) => self.close(closing).await,
            None => self.reply(text).await,
        }
    }

    /// Reads one command line within the limits.
    async fn read(&mut self) -> Result<LineRead, SessionEnd> {
        let (limits, _, io) = self.line_io();
        match limits.read_line(io, &Self::CLOSING).await {
            Ok(line) => Ok(line),
            Err(closing) => self.close(closing).await,
        }
    }

    /// Sends the closing reply, if any, and ends the session.
    async fn close<T>(&mut self, closing: Closing) -> Result<T, SessionEnd> {
        if let Some(text) = closing.reply {
            let _ = self.reply(text).await;
        }
        Err(closing.end)
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub obs: Observations,
    /// The maildrop: `None` once deleted by a committed QUIT.
    pub mailbox: Vec<Option<Arc<[u8]>>>,
}

/// State shared by the servers' sessions and the mock handle.
pub(crate) struct Shared {
    pub(crate) state: Recorder<State>,
    pub accounts: Vec<Account>,
    pub limits: Limits,
    pub hostname: String,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Applies `f` to the state and wakes waiters.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.state.record(f)
    }

    pub(crate) fn check_login(&self, user: &str, password: &str) -> bool {
        self.accounts
            .iter()
            .any(|a| a.user == user && a.password == password)
    }

    pub(crate) fn new_smtp(&self, peer: SocketAddr) -> usize {
        self.update(|s| {
            s.obs.smtp.push(SmtpSession {
                peer,
                tls: TlsOutcome::NotAttempted,
                auth: Vec::new(),
                transcript: Vec::new(),
                messages: Vec::new(),
                end: SessionEnd::Open,
            });
            s.obs.smtp.len() - 1
        })
    }

    pub(crate) fn smtp(&self, idx: usize, f: impl FnOnce(&mut SmtpSession)) {
        self.update(|s| {
            if let Some(sess) = s.obs.smtp.get_mut(idx) {
                f(sess)
            }
        })
    }

    pub(crate) fn new_pop3(&self, peer: SocketAddr) -> usize {
        self.update(|s| {
            s.obs.pop3.push(Pop3Session {
                peer,
                tls: TlsOutcome::NotAttempted,
                auth: Vec::new(),
                transcript: Vec::new(),
                retrieved: Vec::new(),
                topped: Vec::new(),
                deleted: Vec::new(),
                end: SessionEnd::Open,
            });
            s.obs.pop3.len() - 1
        })
    }

    pub(crate) fn pop3(&self, idx: usize, f: impl FnOnce(&mut Pop3Session)) {
        self.update(|s| {
            if let Some(sess) = s.obs.pop3.get_mut(idx) {
                f(sess)
            }
        })
    }
}
