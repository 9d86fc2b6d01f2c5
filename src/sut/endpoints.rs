//! What a system under test is told about the world it runs in: where to connect, which CA to
//! trust, which account to use. The runner fills it from the running mocks; the adapters turn
//! it into command placeholders, HTTP fields or instructions.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

use serde::Serialize;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a SUT connects to, as told to it (template placeholders of the command adapter).
#[derive(Debug, Clone, Serialize)]
pub struct Endpoints {
    /// The transport this case exercises.
    pub transport: super::Transport,
    /// Host name the SUT connects to and checks the certificate against.
    pub host: String,
    /// Service name → address of the mocks of this case (`smtp`, `pop3`; `rest`, `directory`).
    pub services: BTreeMap<String, SocketAddr>,
    /// REST cases: the base URL and the SUT's key material.
    pub rest: Option<RestEndpoints>,
    pub ca_file: PathBuf,
    pub ca_pem: String,
    pub user: String,
    pub password: String,
    /// Sender address of the SUT's account.
    pub from: String,
}

/// What a SUT on the REST transport is configured with, besides host, CA and account.
#[derive(Debug, Clone, Serialize)]
pub struct RestEndpoints {
    /// `https://<host>:<port>/kvconnect/rest` (the address behind it is service `rest`).
    pub base_url: String,
    /// The SUT's KV-Connect user key and certificate (PEM) and the user CA it must trust for
    /// signatures of received messages.
    pub user_key_file: PathBuf,
    pub user_cert_file: PathBuf,
    pub user_ca_file: PathBuf,
}

impl Endpoints {
    /// The address of `service`; `0.0.0.0:0` if no mock of this case offers it (a template
    /// placeholder for it then reads port 0).
    pub fn addr(&self, service: &str) -> SocketAddr {
        self.services
            .get(service)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The port of `service` (0 if absent).
    pub fn port(&self, service: &str) -> u16 {
        self.addr(service).port()
    }
}
