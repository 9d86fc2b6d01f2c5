//! The one face every mock server shows the runner: which services it offers where, a signal
//! that its records changed, and a stop. (What it recorded is read through its own typed
//! snapshot for now; one shared evidence type follows with the runner's evidence model.)

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use serde::Serialize;
use tokio::sync::watch;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The protocol a service speaks (always over TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Smtp,
    Pop3,
    Https,
    Ldaps,
}

/// One service of a mock: its name within the product (`smtp`, `rest`, `directory`), protocol
/// and bound address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceEndpoint {
    pub name: &'static str,
    pub kind: ServiceKind,
    pub addr: SocketAddr,
}

/// A running mock server.
pub trait MockServer: Send + Sync {
    /// Every service it offers, in a fixed order.
    fn services(&self) -> Vec<ServiceEndpoint>;
    /// Sees a new value after every change of what the server recorded.
    fn changed(&self) -> watch::Receiver<u64>;
    /// Stops accepting and aborts running sessions (they stay recorded).
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// The address of the service `name`, if the server offers it.
pub fn address_of(server: &dyn MockServer, name: &str) -> Option<SocketAddr> {
    server
        .services()
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.addr)
}
