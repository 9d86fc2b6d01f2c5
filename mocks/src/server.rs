//! The one face every mock server shows the runner: which services it offers where, what it
//! saw (as shared [`Evidence`]), a signal that this changed, and a stop. A [`MockSet`] is the
//! mocks of one case seen as one: their endpoints by service name, their merged evidence.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_util::future::select_all;
use serde::Serialize;
use tokio::sync::watch;

use crate::evidence::Evidence;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The protocol a service speaks (over TLS, except DNS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Smtp,
    Pop3,
    Https,
    Ldaps,
    /// DNS over UDP and TCP (service discovery).
    Dns,
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
    /// What it saw so far.
    fn evidence(&self) -> Evidence;
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

/// The mocks one case talks to.
#[derive(Default)]
pub struct MockSet {
    servers: Vec<Box<dyn MockServer>>,
}

impl MockSet {
    pub fn new() -> Self {
        MockSet::default()
    }

    /// Adds a started server; its service names must not repeat one already in the set.
    pub fn push(&mut self, server: Box<dyn MockServer>) -> Result<(), String> {
        let names = self.endpoints();
        if let Some(dup) = server
            .services()
            .iter()
            .find(|s| names.contains_key(s.name))
        {
            return Err(format!("two mocks offer the service `{}`", dup.name));
        }
        self.servers.push(server);
        Ok(())
    }

    /// Service name → address, over every server of the set.
    pub fn endpoints(&self) -> BTreeMap<&'static str, SocketAddr> {
        self.servers
            .iter()
            .flat_map(|s| s.services())
            .map(|s| (s.name, s.addr))
            .collect()
    }

    /// What all servers saw, merged in the order they were added.
    pub fn evidence(&self) -> Evidence {
        let mut all = Evidence::default();
        for s in &self.servers {
            all.merge(s.evidence());
        }
        all
    }

    /// Waits until `done` holds for the merged evidence, or `timeout` passed; returns the
    /// evidence either way (the caller decides what it means).
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&Evidence) -> bool,
    ) -> Evidence {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut receivers: Vec<_> = self.servers.iter().map(|s| s.changed()).collect();
        loop {
            for rx in &mut receivers {
                rx.borrow_and_update();
            }
            let evidence = self.evidence();
            if done(&evidence) || receivers.is_empty() {
                return evidence;
            }
            let any_change = select_all(receivers.iter_mut().map(|rx| Box::pin(rx.changed())));
            match tokio::time::timeout_at(deadline, any_change).await {
                Ok((Ok(()), _, _)) => {}
                // A server's recorder is gone (it stopped): nothing more will change.
                Ok((Err(_), _, _)) | Err(_) => return self.evidence(),
            }
        }
    }

    /// Stops every server (their records stay as they were).
    pub async fn shutdown(self) {
        for s in self.servers {
            s.shutdown().await;
        }
    }
}

/// The suite's own exchanges as a client join a case's mocks like one more server.
impl MockServer for crate::probe::ProbeLog {
    fn services(&self) -> Vec<ServiceEndpoint> {
        Vec::new()
    }

    fn evidence(&self) -> Evidence {
        Evidence {
            probes: self.exchanges(),
            ..Evidence::default()
        }
    }

    fn changed(&self) -> watch::Receiver<u64> {
        crate::probe::ProbeLog::changed(self)
    }

    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
