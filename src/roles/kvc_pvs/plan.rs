//! The one place that says how a kvc-pvs run stages its world and which reference system the
//! role has: one test PKI and mock host per run (the KV-Connect Client and REST mocks start per
//! case from it), and the reference practice system with its faults.

use std::path::Path;
use std::sync::Arc;

use crate::runner::mocks::KvcMockHost;
use crate::runner::observe::MockHost;
use crate::suite::{Case, MockKind};
use crate::sut::config::SutConfig;
use crate::sut::reference::ReferenceAdapter;
use crate::sut::{SutAdapter, Transport};

/// Generates the run's PKI for the host name the SUT connects to (its config, else
/// `localhost`) and writes the CA where the SUT expects it (its config, else `<out>/ca.pem`).
pub fn stage(sut: Option<&SutConfig>, out: &Path) -> Result<KvcMockHost, String> {
    let ca_file = sut
        .and_then(|c| c.connect.ca_file.clone())
        .unwrap_or_else(|| out.join("ca.pem"));
    let account = sut.and_then(|c| c.account.clone());
    let host_name = sut
        .and_then(|c| c.connect.host.clone())
        .unwrap_or_else(|| "localhost".into());
    KvcMockHost::new(&host_name, &ca_file, account)
}

/// Work the world needs before the first case, so no case spends its timeout on it: the REST
/// user PKI (RSA key generation) when REST cases will run.
pub fn prepare(host: &KvcMockHost, sut: &dyn SutAdapter, cases: &[Case]) -> Result<(), String> {
    if sut.transports().contains(&Transport::Rest)
        && cases.iter().any(|c| c.setup.mock == MockKind::KvcRest)
    {
        host.prepare_rest()?;
    }
    Ok(())
}

/// The role's reference system: the reference PVS on both transports, with `faults`.
pub fn reference(faults: &[String], host: &KvcMockHost) -> Result<Arc<dyn SutAdapter>, String> {
    let reference =
        ReferenceAdapter::new(faults, host.server_name(), host.ca_pem(), host.account())?;
    Ok(Arc::new(reference))
}
