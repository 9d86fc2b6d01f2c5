//! The mock KV-Connect Client: an SMTP server with implicit TLS (like port 465) and a POP3
//! server with implicit TLS (like port 995), as "Anbindung an KV-Connect" V4.1 §3.1.1 describes
//! the local interface of the KV-Connect Client toward the practice system.
//!
//! The SMTP side captures every message byte for byte with its envelope and the transcript;
//! the POP3 side serves the configured mailbox and records what was fetched and deleted.
//! Both are hardened against a hostile peer: idle timeout, line length limit, message size
//! limit (552, rest discarded without buffering), error limit, bounded concurrent sessions.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::error::MockError;
use crate::observe::Recorder;
use crate::tls::{ServerCertKind, TlsPki};

/// A mailbox account of the mock (SMTP AUTH and POP3 USER/PASS).
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

/// Configuration of [`KvcClientMock`]. Build it with `..KvcClientConfig::default()` so that
/// fields added later do not break callers.
#[derive(Debug, Clone)]
pub struct KvcClientConfig {
    /// Address to bind both servers to (127.0.0.1).
    pub bind: IpAddr,
    /// 0 = ephemeral.
    pub smtp_port: u16,
    /// 0 = ephemeral.
    pub pop3_port: u16,
    /// Which certificate both servers present.
    pub cert: ServerCertKind,
    pub accounts: Vec<Account>,
    /// Messages served over POP3, in order (message 1 = index 0).
    pub mailbox: Vec<Vec<u8>>,
    /// Larger DATA/BDAT: 552, rest discarded, memory bounded; the session is then closed
    /// ([`SessionEnd::TooLarge`]).
    pub max_message_bytes: usize,
    /// A peer that sends nothing (or does not read) for this long is dropped.
    pub idle_timeout: Duration,
    /// Longest command line accepted (bytes, CRLF included); longer ones are answered 500.
    pub max_line_bytes: usize,
    /// After this many error replies (500/501/503/... or -ERR for bad commands) the session is
    /// closed with [`SessionEnd::ProtocolError`].
    pub max_errors: usize,
    /// Concurrent sessions per server; connections beyond it are closed at once (counted in
    /// [`Observations::rejected_connections`]).
    pub max_sessions: usize,
    /// Host name in the SMTP greeting and EHLO reply.
    pub hostname: String,
}

impl Default for KvcClientConfig {
    fn default() -> Self {
        KvcClientConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            smtp_port: 0,
            pop3_port: 0,
            cert: ServerCertKind::Valid,
            accounts: vec![Account::new("praxis@kv-connect.test", "geheim")],
            mailbox: Vec::new(),
            max_message_bytes: 64 * 1024 * 1024,
            idle_timeout: Duration::from_secs(30),
            max_line_bytes: 4096,
            max_errors: 10,
            max_sessions: 32,
            hostname: "localhost".into(),
        }
    }
}

/// How the TLS handshake of a session went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOutcome {
    Established {
        sni: Option<String>,
    },
    /// The handshake did not complete (the client aborted it, e.g. with an alert because it
    /// refused the certificate, or did not speak TLS); the reason as rustls reports it.
    HandshakeFailed(String),
    NotAttempted,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    Quit,
    PeerClosed,
    IdleTimeout,
    TooLarge,
    ProtocolError(String),
    /// Still running (or aborted by [`KvcClientMock::shutdown`]).
    Open,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRecord {
    /// "PLAIN", "LOGIN" (SMTP) or "USER" (POP3 USER/PASS).
    pub mechanism: String,
    pub user: String,
    pub success: bool,
}

/// One line of a session transcript, without its line break. DATA/BDAT content and POP3
/// RETR/TOP content are not included; credentials (AUTH responses, PASS) are masked as `***`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    pub from_client: bool,
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSession {
    pub peer: SocketAddr,
    pub tls: TlsOutcome,
    pub auth: Vec<AuthRecord>,
    pub transcript: Vec<TranscriptLine>,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedMessage {
    /// The MAIL FROM reverse-path without angle brackets ("" for the null sender).
    pub mail_from: String,
    /// The RCPT TO forward-paths without angle brackets, in order.
    pub rcpt_to: Vec<String>,
    /// The message exactly as the client sent it, dot-unstuffed, up to the end-of-data line
    /// `.CRLF`. The line break of the last line belongs to the message (RFC 5321 §4.1.1.4), so a
    /// client that sends a file ending in CRLF is captured byte-equal to that file. BDAT chunks
    /// are concatenated unchanged.
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Session {
    pub peer: SocketAddr,
    pub tls: TlsOutcome,
    pub auth: Vec<AuthRecord>,
    pub transcript: Vec<TranscriptLine>,
    /// 1-based positions in [`KvcClientConfig::mailbox`], in RETR order. They equal the POP3
    /// message numbers as long as no earlier session deleted anything.
    pub retrieved: Vec<usize>,
    /// Like `retrieved`, for TOP.
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// Transcript lines kept per session; a peer that keeps talking beyond this (e.g. endless NOOPs)
/// gets one marker line and nothing more is recorded, so memory stays bounded.
pub(crate) const MAX_TRANSCRIPT_LINES: usize = 10_000;
pub(crate) const TRANSCRIPT_TRUNCATED: &str =
    "(transcript truncated: more lines than the mock keeps)";

/// Appends to a transcript, bounded by [`MAX_TRANSCRIPT_LINES`].
pub(crate) fn push_transcript(t: &mut Vec<TranscriptLine>, from_client: bool, line: String) {
    if t.len() < MAX_TRANSCRIPT_LINES {
        t.push(TranscriptLine { from_client, line });
    } else if t.len() == MAX_TRANSCRIPT_LINES {
        t.push(TranscriptLine {
            from_client: false,
            line: TRANSCRIPT_TRUNCATED.into(),
        });
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

#[derive(Default)]
pub(crate) struct State {
    pub obs: Observations,
    /// The maildrop: `None` once deleted by a committed QUIT.
    pub mailbox: Vec<Option<Arc<[u8]>>>,
}

/// State shared by the servers' sessions and the mock handle.
pub(crate) struct Shared {
    state: Recorder<State>,
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

/// The running mock KV-Connect Client.
pub struct KvcClientMock {
    shared: Arc<Shared>,
    smtp_addr: SocketAddr,
    pop3_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for KvcClientMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvcClientMock")
            .field("smtp_addr", &self.smtp_addr)
            .field("pop3_addr", &self.pop3_addr)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
enum Proto {
    Smtp,
    Pop3,
}

impl KvcClientMock {
    /// Binds both servers and starts accepting. Ports 0 are ephemeral; see
    /// [`KvcClientMock::smtp_addr`] / [`KvcClientMock::pop3_addr`] for the bound addresses.
    pub async fn start(config: KvcClientConfig, pki: &TlsPki) -> Result<KvcClientMock, MockError> {
        if config.max_sessions == 0 {
            return Err(MockError::Config("max_sessions must be at least 1".into()));
        }
        if config.max_line_bytes < 512 {
            return Err(MockError::Config(
                "max_line_bytes must be at least 512 (RFC 5321 §4.5.3.1.4)".into(),
            ));
        }
        let tls = TlsAcceptor::from(pki.server_config(config.cert));
        let smtp_addr = SocketAddr::new(config.bind, config.smtp_port);
        let pop3_addr = SocketAddr::new(config.bind, config.pop3_port);
        let smtp = TcpListener::bind(smtp_addr)
            .await
            .map_err(|source| MockError::Bind {
                what: "SMTP server",
                addr: smtp_addr,
                source,
            })?;
        let pop3 = TcpListener::bind(pop3_addr)
            .await
            .map_err(|source| MockError::Bind {
                what: "POP3 server",
                addr: pop3_addr,
                source,
            })?;
        let smtp_addr = smtp.local_addr()?;
        let pop3_addr = pop3.local_addr()?;
        let shared = Arc::new(Shared {
            state: Recorder::new(State {
                obs: Observations::default(),
                mailbox: config
                    .mailbox
                    .into_iter()
                    .map(|m| Some(Arc::<[u8]>::from(m)))
                    .collect(),
            }),
            accounts: config.accounts,
            limits: Limits {
                max_message_bytes: config.max_message_bytes,
                idle_timeout: config.idle_timeout,
                max_line_bytes: config.max_line_bytes,
                max_errors: config.max_errors.max(1),
            },
            hostname: config.hostname,
        });
        let tasks = vec![
            tokio::spawn(accept_loop(
                smtp,
                tls.clone(),
                shared.clone(),
                config.max_sessions,
                Proto::Smtp,
            )),
            tokio::spawn(accept_loop(
                pop3,
                tls,
                shared.clone(),
                config.max_sessions,
                Proto::Pop3,
            )),
        ];
        Ok(KvcClientMock {
            shared,
            smtp_addr,
            pop3_addr,
            tasks,
        })
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    pub fn pop3_addr(&self) -> SocketAddr {
        self.pop3_addr
    }

    /// A snapshot of everything observed so far (sessions still running have `end: Open`).
    pub fn observations(&self) -> Observations {
        self.shared.state.snapshot(|s| &s.obs)
    }

    async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&Observations) -> bool,
    ) -> Observations {
        self.shared
            .state
            .wait_until(timeout, |s| &s.obs, done)
            .await
    }

    /// Waits until at least `n` messages were captured in total, or `timeout` passed; returns
    /// the snapshot either way (the caller checks the count).
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Observations {
        self.wait_until(timeout, |o| o.messages().count() >= n)
            .await
    }

    /// Waits until a POP3 session has ended with QUIT (its deletions are then committed), or
    /// `timeout` passed.
    pub async fn wait_for_pop3_quit(&self, timeout: Duration) -> Observations {
        self.wait_until(timeout, |o| {
            o.pop3.iter().any(|s| s.end == SessionEnd::Quit)
        })
        .await
    }

    /// Waits until every session that has started has ended, or `timeout` passed.
    pub async fn wait_for_idle(&self, timeout: Duration) -> Observations {
        self.wait_until(timeout, |o| {
            o.smtp.iter().all(|s| s.end != SessionEnd::Open)
                && o.pop3.iter().all(|s| s.end != SessionEnd::Open)
        })
        .await
    }

    /// Stops accepting and aborts running sessions (they stay recorded with `end: Open`).
    /// Dropping the mock does the same without waiting.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for KvcClientMock {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: TlsAcceptor,
    shared: Arc<Shared>,
    max_sessions: usize,
    proto: Proto,
) {
    let rejected = || shared.update(|s| s.obs.rejected_connections += 1);
    crate::accept::accept_loop(listener, max_sessions, true, rejected, |tcp, peer| {
        let tls = tls.clone();
        let shared = shared.clone();
        async move {
            match proto {
                Proto::Smtp => crate::smtp_server::run(tcp, peer, tls, shared).await,
                Proto::Pop3 => crate::pop3_server::run(tcp, peer, tls, shared).await,
            }
        }
    })
    .await
}

/// TLS handshake with the idle timeout; records the outcome through `record`.
pub(crate) async fn handshake(
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
            let sni = stream.get_ref().1.server_name().map(str::to_string);
            Ok((stream, TlsOutcome::Established { sni }))
        }
    }
}

/// Runs the mock KV-Connect Client standalone until Ctrl-C: binds SMTP (implicit TLS) and POP3
/// (implicit TLS) on 127.0.0.1, writes the CA certificate to `ca_out`, prints the endpoints,
/// account and CA path, and on Ctrl-C prints a summary of what it captured. `mailbox` is served
/// over POP3. Wired to `kvc-check mocks serve kvc-client [--smtp-port] [--pop3-port]`.
pub async fn serve_kvc_client(
    smtp_port: u16,
    pop3_port: u16,
    ca_out: &Path,
    mailbox: Vec<Vec<u8>>,
) -> Result<Observations, MockError> {
    let config = KvcClientConfig {
        smtp_port,
        pop3_port,
        mailbox,
        ..KvcClientConfig::default()
    };
    let pki = TlsPki::generate(&config.hostname)?;
    pki.write_ca(ca_out)?;
    let accounts = config.accounts.clone();
    let n_mail = config.mailbox.len();
    let mock = KvcClientMock::start(config, &pki).await?;
    println!("mock KV-Connect Client running (Ctrl-C to stop)");
    println!(
        "  SMTP (implicit TLS): smtps://localhost:{}",
        mock.smtp_addr().port()
    );
    println!(
        "  POP3 (implicit TLS): pop3s://localhost:{}",
        mock.pop3_addr().port()
    );
    for a in &accounts {
        println!("  account: user `{}` password `{}`", a.user, a.password);
    }
    println!("  CA certificate to trust: {}", ca_out.display());
    println!("  POP3 mailbox: {n_mail} message(s)");
    let report = async {
        let mut seen = 0usize;
        let mut pop3_seen = 0usize;
        loop {
            let obs = mock
                .wait_for_messages(seen + 1, Duration::from_millis(500))
                .await;
            for m in obs.messages().skip(seen) {
                seen += 1;
                println!(
                    "captured message {seen}: MAIL FROM:<{}> RCPT TO:{:?}, {} bytes",
                    m.mail_from,
                    m.rcpt_to,
                    m.data.len()
                );
            }
            for p in obs.pop3.iter().skip(pop3_seen) {
                if p.end == SessionEnd::Open {
                    break;
                }
                pop3_seen += 1;
                println!(
                    "POP3 session {pop3_seen} from {} ended ({:?}): retrieved {:?}, deleted {:?}",
                    p.peer, p.end, p.retrieved, p.deleted
                );
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = report => {}
    }
    let obs = mock.observations();
    mock.shutdown().await;
    println!(
        "stopped: {} SMTP session(s), {} message(s) captured, {} POP3 session(s)",
        obs.smtp.len(),
        obs.messages().count(),
        obs.pop3.len()
    );
    Ok(obs)
}
