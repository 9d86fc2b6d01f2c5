//! SUT adapters: how the runner makes the system under test act. A case step "send" or "fetch"
//! becomes a call on a [`SutAdapter`]; what the SUT then does is observed by the mocks, never
//! taken from the adapter's word.
//!
//! - [`reference`]: the embedded reference PVS (`kvc_mocks::ReferencePvs`), the default.
//! - [`command`]: a command template per action (`mypvs send --to {to} ...`).
//! - [`http`]: an HTTP POST per action with a JSON body.
//! - [`manual`]: prints what a person must do; the runner waits up to the case timeout.
//!
//! `--sut CONFIG.yaml` selects and configures one (see `suites/README.md`).

pub mod command;
pub mod config;
pub mod http;
pub mod manual;
pub mod reference;

use serde::Serialize;

use crate::runner::observe::{BoxFuture, Endpoints};

/// A message the SUT is asked to send.
#[derive(Debug, Clone, Serialize)]
pub struct SendRequest {
    pub to: Vec<String>,
    /// e.g. `Arztbrief`, `eNachricht`, or `unspecified`.
    pub application: String,
    pub subject: Option<String>,
    pub body: String,
}

/// Triggers the SUT. `Ok` carries a line of evidence (e.g. the command's exit status and
/// output), `Err` says why the trigger failed.
pub trait SutAdapter: Send + Sync {
    /// Shown in reports, e.g. `reference PVS (faults: none)` or `command: mypvs`.
    fn describe(&self) -> String;
    /// Transports the SUT offers (`smtp-pop3`, `rest`), the primary first: cases with
    /// `mock: transport` use the primary one.
    fn transports(&self) -> Vec<String> {
        vec!["smtp-pop3".into()]
    }
    fn send<'a>(
        &'a self,
        endpoints: &'a Endpoints,
        request: &'a SendRequest,
    ) -> BoxFuture<'a, Result<String, String>>;
    fn fetch<'a>(&'a self, endpoints: &'a Endpoints) -> BoxFuture<'a, Result<String, String>>;
    /// What the SUT stored locally from its mailbox, by Message-ID, with its own verdict and
    /// any warning shown to the user. `Ok(None)`: this adapter cannot tell (the requirement is
    /// then attested).
    fn stored<'a>(
        &'a self,
        _endpoints: &'a Endpoints,
    ) -> BoxFuture<'a, Result<Option<Vec<StoredReport>>, String>> {
        Box::pin(async { Ok(None) })
    }
}

/// One message in the SUT's local store, as its adapter reports it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StoredReport {
    /// Without angle brackets.
    pub message_id: String,
    /// The SUT treats the message as valid (signature verified).
    pub valid: bool,
    /// The warning the user was shown, if any.
    #[serde(default)]
    pub warning: Option<String>,
}
