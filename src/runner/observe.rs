//! What the runner sees of a SUT: the mocks' observations, in the runner's own types, and the
//! small traits through which the runner starts mocks. The `kvc-mocks` crate is adapted to these
//! traits in [`super::mocks`]; tests can substitute their own implementations.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use crate::suite::ServerCert;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Observations {
    pub smtp: Vec<Session>,
    pub pop3: Vec<Session>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum TlsOutcome {
    Established { sni: Option<String> },
    HandshakeFailed(String),
    NotAttempted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum SessionEnd {
    Quit,
    PeerClosed,
    IdleTimeout,
    TooLarge,
    ProtocolError(String),
    Open,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthRecord {
    pub mechanism: String,
    pub user: String,
    pub success: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TranscriptLine {
    pub from_client: bool,
    pub line: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CapturedMessage {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// One SMTP or POP3 session as the mock saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub peer: String,
    pub tls: TlsOutcome,
    pub auth: Vec<AuthRecord>,
    pub transcript: Vec<TranscriptLine>,
    /// SMTP: messages received in this session.
    #[serde(skip)]
    pub messages: Vec<CapturedMessage>,
    /// POP3: 1-based message numbers, in RETR order.
    pub retrieved: Vec<usize>,
    pub deleted: Vec<usize>,
    pub end: SessionEnd,
}

impl Observations {
    pub fn messages(&self) -> impl Iterator<Item = &CapturedMessage> {
        self.smtp.iter().flat_map(|s| s.messages.iter())
    }

    pub fn message_count(&self) -> usize {
        self.smtp.iter().map(|s| s.messages.len()).sum()
    }
}

/// Where a SUT connects to, as told to it (template placeholders of the command adapter).
#[derive(Debug, Clone, Serialize)]
pub struct Endpoints {
    /// Host name the SUT connects to and checks the certificate against.
    pub host: String,
    pub smtp: SocketAddr,
    pub pop3: SocketAddr,
    pub ca_file: PathBuf,
    pub ca_pem: String,
    pub user: String,
    pub password: String,
    /// Sender address of the SUT's account.
    pub from: String,
}

/// How to start a mock KV-Connect Client for one case.
#[derive(Debug, Clone)]
pub struct KvcClientSetup {
    pub cert: ServerCert,
    pub mailbox: Vec<Vec<u8>>,
    pub max_message_bytes: usize,
    pub idle_timeout: Duration,
    /// Fixed ports (a vendor SUT configured once); 0 = ephemeral.
    pub smtp_port: u16,
    pub pop3_port: u16,
}

/// Starts mocks for cases.
pub trait MockHost: Send + Sync {
    fn start_kvc_client<'a>(
        &'a self,
        setup: KvcClientSetup,
    ) -> BoxFuture<'a, Result<Box<dyn RunningMock>, String>>;
    /// Credentials and CA the SUT is configured with.
    fn ca_file(&self) -> PathBuf;
    fn ca_pem(&self) -> String;
    fn host(&self) -> String;
    fn user(&self) -> String;
    fn password(&self) -> String;
    fn from(&self) -> String;
}

/// A running mock KV-Connect Client.
pub trait RunningMock: Send + Sync {
    fn smtp_addr(&self) -> SocketAddr;
    fn pop3_addr(&self) -> SocketAddr;
    fn observations(&self) -> Observations;
    /// Resolves when `n` messages were received or `timeout` passed; returns what was seen.
    fn wait_for_messages(&self, n: usize, timeout: Duration) -> BoxFuture<'_, Observations>;
    /// Resolves when a POP3 session ended with QUIT or `timeout` passed.
    fn wait_for_pop3_quit(&self, timeout: Duration) -> BoxFuture<'_, Observations>;
    /// Resolves when no session is open any more or `timeout` passed.
    fn wait_for_idle(&self, timeout: Duration) -> BoxFuture<'_, Observations>;
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;
}
