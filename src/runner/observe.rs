//! What the runner sees of a SUT: the mocks' own records (no copies), gathered per case, and the
//! small traits through which the runner starts mocks. The `kvc-mocks` crate is adapted to these
//! traits in [`super::mocks`]; tests can substitute their own implementations.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::suite::ServerCert;

pub use crate::sut::endpoints::{BoxFuture, Endpoints, RestEndpoints};
/// The records are the mocks' own evidence types, not copies.
pub use kvc_mocks::kvc::directory::DirectoryObservations;
pub use kvc_mocks::kvc::rest::{PostedMail, RestAuth, RestConnection, RestRequest, RestResource};
pub use kvc_mocks::mail::{MailSessionRecord, Pop3Session, SmtpSession};
pub use kvc_mocks::{AuthRecord, SessionEnd, TlsOutcome, TranscriptLine};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Observations {
    pub smtp: Vec<SmtpSession>,
    pub pop3: Vec<Pop3Session>,
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
    pub directory: DirectoryObservations,
}

/// How a captured message reached the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// SMTP DATA at the mail mock.
    Smtp,
    /// `POST mails` the REST mock accepted.
    Rest,
}

/// A message the SUT handed over, wherever it was captured.
#[derive(Debug, Clone, Copy)]
pub struct Captured<'a> {
    pub via: Via,
    /// SMTP: the MAIL FROM path; REST: the authenticated account.
    pub mail_from: &'a str,
    /// SMTP: the RCPT TO paths; REST: the accounts it was delivered to.
    pub rcpt_to: &'a [String],
    pub data: &'a [u8],
}

impl Observations {
    /// Every message the SUT handed over: SMTP DATA, and REST `POST mails` the server accepted.
    pub fn messages(&self) -> impl Iterator<Item = Captured<'_>> {
        let smtp = self
            .smtp
            .iter()
            .flat_map(|s| s.messages.iter())
            .map(|m| Captured {
                via: Via::Smtp,
                mail_from: &m.mail_from,
                rcpt_to: &m.rcpt_to,
                data: &m.data,
            });
        let posted = self
            .rest
            .iter()
            .flat_map(|r| r.posted.iter())
            .filter(|p| (200..300).contains(&p.status))
            .map(|p| Captured {
                via: Via::Rest,
                mail_from: &p.user,
                rcpt_to: &p.delivered_to,
                data: &p.data,
            });
        smtp.chain(posted)
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
