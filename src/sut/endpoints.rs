//! What a system under test is told about the world it runs in: where to connect, which CA to
//! trust, which account to use. The runner fills it from the running mocks; the adapters turn
//! it into command placeholders, HTTP fields or instructions.

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
    /// KV-Connect Client mock (`0.0.0.0:0` in REST cases).
    pub smtp: SocketAddr,
    pub pop3: SocketAddr,
    /// REST cases: the base URL (`https://<host>:<port>/kvconnect/rest`) and the LDAPS directory.
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
    pub base_url: String,
    /// Address behind `host` (the SUT must connect here while checking the name `host`).
    pub addr: SocketAddr,
    pub ldap: SocketAddr,
    /// The SUT's KV-Connect user key and certificate (PEM) and the user CA it must trust for
    /// signatures of received messages.
    pub user_key_file: PathBuf,
    pub user_cert_file: PathBuf,
    pub user_ca_file: PathBuf,
}
