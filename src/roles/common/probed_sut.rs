//! A system under test the suite drives itself through its probes (a Fachdienst it plays the
//! Clientmodul of, a Clientmodul it plays the client system of): there is nothing to trigger.

use crate::sut::endpoints::Endpoints;
use crate::sut::{Reply, SutAdapter, Transport};

pub struct ProbedSut {
    pub name: String,
    /// Why `send` and `fetch` do not apply (e.g. `a Fachdienst is probed by the suite`).
    pub driven: &'static str,
}

impl SutAdapter for ProbedSut {
    fn describe(&self) -> String {
        self.name.clone()
    }

    /// None: the suite reaches the SUT's services itself (no practice-system transport).
    fn transports(&self) -> Vec<Transport> {
        Vec::new()
    }

    fn send<'a>(&'a self, _ep: &'a Endpoints, _req: &'a crate::sut::SendRequest) -> Reply<'a> {
        Box::pin(async { Err(self.driven.into()) })
    }

    fn fetch<'a>(&'a self, _ep: &'a Endpoints) -> Reply<'a> {
        Box::pin(async { Err(self.driven.into()) })
    }
}
