//! The state a mail server's sessions share: the accounts, the limits, the maildrop POP3 serves
//! and the records of every session.

use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufRead, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::mail::records::{Observations, Pop3Session, SmtpSession};
use crate::net::lineio::{DISCARD_CAP, LineRead, read_line};
use crate::net::recorder::Recorder;
use crate::net::session::{SessionEnd, TlsOutcome, handshake};

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
    /// Captured message bytes kept in all; beyond, DATA is answered 452 and not kept.
    pub max_stored_bytes: usize,
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

impl ClosingReplies {
    /// What the SMTP server answers before it closes a session for a broken limit.
    pub(crate) const SMTP: ClosingReplies = ClosingReplies {
        idle: "421 4.4.2 Idle timeout, closing connection",
        line_too_long: "500 5.5.2 Line too long, closing connection",
        too_many_errors: "421 4.7.0 Too many errors, closing connection",
    };
    /// What the POP3 server answers before it closes a session for a broken limit.
    pub(crate) const POP3: ClosingReplies = ClosingReplies {
        idle: "-ERR idle timeout, closing connection",
        line_too_long: "-ERR line too long, closing connection",
        too_many_errors: "-ERR too many errors, closing connection",
    };
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

/// The connection of an SMTP or POP3 session, read line by line.
pub(crate) type TlsLines = BufReader<TlsStream<TcpStream>>;

/// What an SMTP or POP3 session holds of its connection: the reader, the shared state, the
/// error count, and the replies that close it when a limit breaks.
pub(crate) struct LineConn {
    pub io: TlsLines,
    pub shared: Arc<Shared>,
    pub errors: usize,
    pub closing: &'static ClosingReplies,
}

impl LineConn {
    pub(crate) fn new(io: TlsLines, shared: Arc<Shared>, closing: &'static ClosingReplies) -> Self {
        LineConn {
            io,
            shared,
            errors: 0,
            closing,
        }
    }

    /// Closes the connection; a peer that does not read gets one second.
    pub(crate) async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            tokio::io::AsyncWriteExt::shutdown(self.io.get_mut()),
        )
        .await;
    }
}

/// How a session that only ends by an error ended.
pub(crate) fn ended(served: Result<std::convert::Infallible, SessionEnd>) -> SessionEnd {
    match served {
        Ok(never) => match never {},
        Err(end) => end,
    }
}

/// What the SMTP and POP3 sessions share around their own replies: limited line reads and
/// the error budget, each closing the session with the protocol's reply when a limit breaks.
pub(crate) trait LineSession {
    fn conn(&mut self) -> &mut LineConn;

    /// Sends one reply (and records it).
    async fn reply(&mut self, text: &str) -> Result<(), SessionEnd>;

    /// An error reply that counts toward `max_errors`.
    async fn error(&mut self, text: &str) -> Result<(), SessionEnd> {
        let conn = self.conn();
        match conn
            .shared
            .limits
            .count_error(&mut conn.errors, text, conn.closing)
        {
            Some(closing) => self.close(closing).await,
            None => self.reply(text).await,
        }
    }

    /// Reads one command line within the limits.
    async fn read(&mut self) -> Result<LineRead, SessionEnd> {
        let conn = self.conn();
        match conn
            .shared
            .limits
            .read_line(&mut conn.io, conn.closing)
            .await
        {
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

/// One stored message and whose maildrop it is in.
pub(crate) struct Slot {
    /// `None`: the shared maildrop every account reads.
    pub owner: Option<String>,
    pub data: Option<Arc<[u8]>>,
}

impl Slot {
    /// Whether `user` sees this message in its maildrop (addresses compare case-insensitively).
    pub(crate) fn visible_to(&self, user: &str) -> bool {
        self.owner
            .as_deref()
            .is_none_or(|o| o.eq_ignore_ascii_case(user))
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub obs: Observations,
    /// The maildrops of all accounts in one list (a message's 1-based index is its position in
    /// the records); `data` is `None` once deleted by a committed QUIT.
    pub mailbox: Vec<Slot>,
    /// Scripted SMTP faults, changeable while the server runs.
    pub smtp_faults: SmtpFaults,
    /// Bytes of captured messages kept so far.
    pub stored_bytes: usize,
}

/// An SMTP command a scripted fault answers instead of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpStage {
    Ehlo,
    Auth,
    MailFrom,
    RcptTo,
    /// The DATA command (before 354).
    Data,
    /// The end of the message data (instead of 250 queued).
    DataEnd,
}

/// Scripted SMTP faults (a Fachdienst MTA's failures as a Clientmodul must handle them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SmtpFaults {
    /// Answer this stage with this code (421, 451, 550, 552, ...) instead of going on; 421
    /// closes the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<(SmtpStage, u16)>,
    /// Close the connection after this many bytes of message data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_in_data_after: Option<usize>,
    /// Wait this long before the greeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting_delay: Option<std::time::Duration>,
}

impl SmtpFaults {
    /// The reply text a scripted code is sent with.
    pub fn reply_text(code: u16) -> String {
        match code {
            421 => "421 4.3.2 Service not available, closing transmission channel".into(),
            451 => "451 4.3.0 Requested action aborted: local error in processing".into(),
            550 => "550 5.7.1 Requested action not taken: mailbox unavailable".into(),
            552 => "552 5.3.4 Requested mail action aborted: exceeded storage allocation".into(),
            c => format!("{c} Scripted reply"),
        }
    }
}

/// A product's policy on a message at the end of DATA (the engine knows none): given MAIL
/// FROM and the message bytes, `Err(reply)` refuses it with that SMTP reply line (e.g.
/// `550 5.7.1 ...`), and nothing is captured.
#[derive(Clone)]
pub struct MessageCheck(pub std::sync::Arc<MessagePolicy>);

/// The policy function of a [`MessageCheck`]: MAIL FROM and the message bytes.
pub type MessagePolicy = dyn Fn(&str, &[u8]) -> Result<(), String> + Send + Sync;

impl std::fmt::Debug for MessageCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageCheck(..)")
    }
}

/// State shared by the servers' sessions and the mock handle.
pub(crate) struct Shared {
    pub(crate) state: Recorder<State>,
    pub accounts: Vec<Account>,
    pub limits: Limits,
    pub hostname: String,
    /// The product in the greeting (`220 <hostname> ESMTP <banner>`).
    pub banner: String,
    /// MAIL FROM must be the authenticated user (a KIM Fachdienst MTA, A_23421).
    pub sender_must_match_auth: bool,
    /// The product's policy on a whole message at the end of DATA.
    pub message_check: Option<MessageCheck>,
    /// Accepted messages are delivered into the maildrops of the recipients that are accounts.
    pub deliver_to_accounts: bool,
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

    /// The account a forward-path delivers to, if any (case-insensitive, as KIM addresses are).
    pub(crate) fn local_account(&self, address: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.user.eq_ignore_ascii_case(address))
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
    /// The TLS handshake of session `idx` of `proto`, its outcome recorded; `None` if it failed
    /// (the session's record then says how it ended).
    pub(crate) async fn accept_tls(
        &self,
        proto: Proto,
        idx: usize,
        tcp: TcpStream,
        tls: &TlsAcceptor,
    ) -> Option<TlsStream<TcpStream>> {
        let (stream, outcome, end) = match handshake(tcp, tls, self.limits.idle_timeout).await {
            Ok((stream, outcome)) => (Some(stream), outcome, None),
            Err((outcome, end)) => (None, outcome, Some(end)),
        };
        let record = |tls: &mut TlsOutcome, ended: &mut SessionEnd| {
            *tls = outcome;
            if let Some(end) = end {
                *ended = end;
            }
        };
        match proto {
            Proto::Smtp => self.smtp(idx, |s| record(&mut s.tls, &mut s.end)),
            Proto::Pop3 => self.pop3(idx, |s| record(&mut s.tls, &mut s.end)),
        }
        stream
    }
}

/// The two mail protocols of the mock mail server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    Smtp,
    Pop3,
}
