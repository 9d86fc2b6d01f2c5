//! What the runner sees of a SUT and how it gets the world a case runs in. The evidence is the
//! mocks' own ([`Evidence`], merged over the mocks of a case; nothing is copied). A role's
//! [`MockHost`] starts the mocks of each case into a [`MockSet`]; the runner only reads their
//! endpoints and evidence, so it knows no product. Tests can substitute their own host.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::suite::Case;
use crate::sut::{SutAdapter, Transport};

pub use crate::sut::endpoints::{BoxFuture, Endpoints, RestEndpoints};
pub use kvc_mocks::evidence::{Captured, Evidence, HttpEvidence, Resource, Via};
pub use kvc_mocks::http::RouteName;
pub use kvc_mocks::kvc::rest::{PostedMail, RestAuth, RestResource};
pub use kvc_mocks::ldap::DirectoryObservations;
pub use kvc_mocks::mail::{MailSessionRecord, Pop3Session, SmtpSession};
pub use kvc_mocks::server::MockSet;
pub use kvc_mocks::{AuthRecord, SessionEnd, TlsOutcome, TranscriptLine};

/// An HTTP request as the evidence holds it.
pub type HttpRequest = kvc_mocks::http::HttpRequest<Resource>;

/// What the runner fixes for the mocks of one case; the role's host reads the rest from the
/// case's setup.
#[derive(Debug, Clone)]
pub struct CaseWorld {
    /// The transport the case exercises.
    pub transport: Transport,
    /// A stalled SUT connection is dropped by the mock after this.
    pub idle_timeout: Duration,
    /// Message size limit unless the case sets its own.
    pub default_max_message_bytes: usize,
    /// Ports by service name that the SUT is configured with (others are ephemeral).
    pub fixed_ports: BTreeMap<String, u16>,
}

impl CaseWorld {
    /// The port for `service`: the configured one, else 0 (ephemeral).
    pub fn port(&self, service: &str) -> u16 {
        self.fixed_ports.get(service).copied().unwrap_or(0)
    }
}

/// The mocks of a case, started, and what the SUT is told beyond their addresses.
pub struct StartedMocks {
    pub mocks: MockSet,
    /// REST transport: base URL and the SUT's key material.
    pub rest: Option<RestEndpoints>,
    /// Where the suite itself is the client: runs the case's `probe` steps against the SUT.
    /// What it sends and gets back is recorded into the evidence of `mocks` (a
    /// `kvc_mocks::probe::ProbeLog` among them).
    pub prober: Option<Arc<dyn CaseProber>>,
}

/// The suite acting as a client of the SUT for one case (see [`StartedMocks::prober`]).
pub trait CaseProber: Send + Sync {
    /// Runs the named probe; `Ok` is a line of evidence, `Err` says why it could not run (a
    /// SUT that answers wrongly is no error: the exchanges are evidence for the checks).
    fn probe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>>;
}

/// A role's world for one run: staged once (its PKI, accounts, the CA written for the SUT), it
/// starts the mocks of each case and knows the role's reference system.
pub trait MockHost: Send + Sync {
    /// Starts work the world needs for the selected cases before the first case (e.g. key
    /// generation, which may go on in the background; a case that needs it before it is done
    /// waits for it inside its timeout, which is why it starts here and not in that case).
    fn prepare(&self, _sut: &dyn SutAdapter, _cases: &[Case]) -> Result<(), String> {
        Ok(())
    }
    /// The role's reference system under test, with the named `faults`.
    fn reference(&self, faults: &[String]) -> Result<Arc<dyn SutAdapter>, String>;
    /// The SUT the world was staged for from its configuration, where the role needs no
    /// trigger (a Fachdienst the suite probes); `None`: the config's trigger drives the SUT.
    fn configured(&self) -> Option<Arc<dyn SutAdapter>> {
        None
    }
    /// Ports by service the configured SUT was pointed at (cases then run one at a time).
    fn fixed_ports(&self) -> BTreeMap<String, u16> {
        BTreeMap::new()
    }
    /// Starts the mocks `case` talks to, configured from its setup.
    fn start_case<'a>(
        &'a self,
        case: &'a Case,
        world: CaseWorld,
    ) -> BoxFuture<'a, Result<StartedMocks, String>>;
    /// Opens a captured message with the key of a recipient account the mocks hold, so that
    /// it is linted as `kvc-check lint --key` would (`None`: no key for any of its
    /// recipients, or nothing to open).
    fn open_captured(&self, _message: &Captured<'_>) -> Option<CapturedOpening> {
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

/// A captured message opened with a recipient's key: what `kvc-check lint --key` needs.
pub struct CapturedOpening {
    /// Account whose key opened it.
    pub recipient: String,
    pub keys: crate::lint::SmimeKeys,
    /// Addresses (of the mocks' accounts) whose keys open the message.
    pub decryptable_by: Vec<String>,
}
