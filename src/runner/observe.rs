//! What the runner sees of a SUT: the mocks' observations, in the runner's own types, and the
//! small traits through which the runner starts mocks. The `kvc-mocks` crate is adapted to these
//! traits in [`super::mocks`]; tests can substitute their own implementations.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::suite::ServerCert;

pub use crate::sut::endpoints::{BoxFuture, Endpoints, RestEndpoints};
/// What every session records is the mocks' own evidence type, not a copy.
pub use kvc_mocks::{AuthRecord, SessionEnd, TlsOutcome, TranscriptLine};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Observations {
    pub smtp: Vec<Session>,
    pub pop3: Vec<Session>,
    /// What the mock KV-Connect REST server saw (REST cases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rest: Option<RestObservations>,
    /// SMTP/POP3 connections the mock closed at once because too many were open.
    #[serde(skip_serializing_if = "is_zero")]
    pub rejected_connections: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Observations {
    /// The evidence line for connections the mail mock refused, if any.
    pub fn rejected_note(&self) -> Option<String> {
        (self.rejected_connections > 0).then(|| {
            format!(
                "{} connection(s) closed at once by the mock (too many open at the same time)",
                self.rejected_connections
            )
        })
    }
}

/// The mock KV-Connect REST server's record of one case.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestObservations {
    pub connections: Vec<RestConnection>,
    pub requests: Vec<RestRequest>,
    /// `POST mails` bodies, in order (any status).
    pub posted: Vec<PostedMail>,
    /// Message ids of the mailbox entries the case served, in order (1-based entry = index + 1).
    pub mailbox_ids: Vec<String>,
    /// Message ids still on the server when the case ended.
    pub remaining_ids: Vec<String>,
    /// Connections closed at once because too many were open.
    pub rejected_connections: usize,
    /// What the LDAPS directory beside the REST server saw: binds and searches (a SUT looks
    /// recipients up there, KVC-FACTS §10).
    pub directory: kvc_mocks::kvc::directory::DirectoryObservations,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestConnection {
    pub peer: String,
    pub tls: TlsOutcome,
}

/// One HTTP request as the REST mock handled it.
#[derive(Debug, Clone, Serialize)]
pub struct RestRequest {
    pub method: String,
    pub target: String,
    /// Routed resource, e.g. `mail`, `headers`, `send`, `certificates`, `login`.
    pub resource: String,
    /// Message id (`mail`) or looked-up address/uid (`certificates`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `none`, `missing`, `ok <user>`, `failed <user>`.
    pub auth: String,
    pub status: u16,
    pub bytes_in: usize,
    /// Milliseconds since the mock started.
    pub at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl RestRequest {
    pub fn offered_credentials(&self) -> bool {
        self.auth.starts_with("ok ") || self.auth.starts_with("failed ")
    }

    pub fn summary(&self) -> String {
        format!(
            "{} {} -> {}{}{}",
            self.method,
            self.target,
            self.status,
            if self.auth == "none" {
                String::new()
            } else {
                format!(" (auth: {})", self.auth)
            },
            self.note
                .as_ref()
                .map(|n| format!(" [{n}]"))
                .unwrap_or_default()
        )
    }
}

/// A `POST mails` body.
#[derive(Debug, Clone, Serialize)]
pub struct PostedMail {
    pub user: String,
    pub status: u16,
    /// The message as posted; accepted ones (2xx) are also in [`Observations::messages`].
    pub message: CapturedMessage,
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
    /// Every message the SUT handed over: SMTP DATA, and REST `POST mails` the server accepted.
    pub fn messages(&self) -> impl Iterator<Item = &CapturedMessage> {
        let posted = self
            .rest
            .iter()
            .flat_map(|r| r.posted.iter())
            .filter(|p| (200..300).contains(&p.status))
            .map(|p| &p.message);
        self.smtp
            .iter()
            .flat_map(|s| s.messages.iter())
            .chain(posted)
    }

    pub fn message_count(&self) -> usize {
        self.messages().count()
    }
}

/// One message the REST mock serves to the SUT's mailbox.
#[derive(Debug, Clone)]
pub enum ServedMessage {
    /// Raw bytes, served unchanged.
    Raw(Vec<u8>),
    /// Built by the mock for the SUT's user certificate (see [`crate::suite::ServedVariant`]).
    Built(crate::suite::ServedVariant),
}

/// How to start a mock KV-Connect REST server (with its directory) for one case.
#[derive(Debug, Clone)]
pub struct KvcRestSetup {
    pub cert: ServerCert,
    pub mailbox: Vec<ServedMessage>,
    pub max_body_bytes: usize,
    pub idle_timeout: Duration,
    pub send_status: Option<u16>,
    pub delete_status: Option<u16>,
    pub response_delay: Option<Duration>,
    /// Fixed port (a vendor SUT configured once); 0 = ephemeral.
    pub port: u16,
    pub ldap_port: u16,
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
    /// Starts a mock KV-Connect REST server and directory.
    fn start_kvc_rest<'a>(
        &'a self,
        _setup: KvcRestSetup,
    ) -> BoxFuture<'a, Result<Box<dyn RunningMock>, String>> {
        Box::pin(async { Err("this mock host has no KV-Connect REST mock".to_string()) })
    }
    /// Opens a message the SUT posted over REST with the key of a recipient account the mock
    /// holds (`None`: no key for any of its recipients).
    fn open_posted(&self, _raw: &[u8]) -> Option<PostedOpening> {
        None
    }
    /// Credentials and CA the SUT is configured with.
    fn ca_file(&self) -> PathBuf;
    fn ca_pem(&self) -> String;
    fn host(&self) -> String;
    fn user(&self) -> String;
    fn password(&self) -> String;
    fn from(&self) -> String;
}

/// A posted message opened with a recipient's key: what `kvc-check lint --key` needs.
pub struct PostedOpening {
    /// Account whose key opened it.
    pub recipient: String,
    pub keys: crate::lint::SmimeKeys,
    /// Addresses (of the mock's accounts) whose keys open the message.
    pub decryptable_by: Vec<String>,
}

/// A running mock (KV-Connect Client or REST server).
pub trait RunningMock: Send + Sync {
    fn smtp_addr(&self) -> SocketAddr;
    fn pop3_addr(&self) -> SocketAddr;
    /// REST mocks: where the SUT connects.
    fn rest(&self) -> Option<RestEndpoints> {
        None
    }
    fn observations(&self) -> Observations;
    /// Resolves when `n` messages were received or `timeout` passed; returns what was seen.
    fn wait_for_messages(&self, n: usize, timeout: Duration) -> BoxFuture<'_, Observations>;
    /// Resolves when a POP3 session ended with QUIT or `timeout` passed.
    fn wait_for_pop3_quit(&self, timeout: Duration) -> BoxFuture<'_, Observations>;
    /// Resolves when no session is open any more or `timeout` passed.
    fn wait_for_idle(&self, timeout: Duration) -> BoxFuture<'_, Observations>;
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;
}
