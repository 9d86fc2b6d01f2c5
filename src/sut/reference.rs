//! The embedded reference PVS (`kvc_mocks::ReferencePvs`) as a SUT adapter: the default SUT of
//! `kvc-check run`. `--fault ID` injects its named faults (`kvc_mocks::PvsFault`).
//!
//! One `ReferencePvs` is kept per mock endpoint pair, i.e. per case, so that its message
//! sequence (which the `KVC-Anb100-consistency` fault varies) runs over all sends of a case.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvc_mocks::reference_pvs::{self, Application, PvsConfig, PvsFault, ReferencePvs};

use super::{SendRequest, SutAdapter};
use crate::runner::observe::{BoxFuture, Endpoints};

/// Bound for one send or fetch of the reference PVS (the case timeout bounds it too).
const PVS_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ReferenceAdapter {
    faults: BTreeSet<PvsFault>,
    server_name: String,
    ca_pem: String,
    user: String,
    password: String,
    instances: Mutex<HashMap<(SocketAddr, SocketAddr), Arc<ReferencePvs>>>,
}

/// Parses `--fault` values; an unknown one is an error listing the known faults, and so is a
/// fault of the REST transport only (the embedded reference PVS talks SMTP/POP3).
pub fn parse_faults(faults: &[String]) -> Result<BTreeSet<PvsFault>, String> {
    faults
        .iter()
        .map(|f| {
            let fault = f
                .parse::<PvsFault>()
                .map_err(|e| format!("--fault {f}: {e}"))?;
            if fault.rest_only() {
                return Err(format!(
                    "--fault {f}: acts on the REST transport of the reference PVS only; the \
                     embedded reference PVS of `kvc-check run` talks SMTP/POP3"
                ));
            }
            Ok(fault)
        })
        .collect()
}

impl ReferenceAdapter {
    pub fn new(
        faults: &[String],
        server_name: String,
        ca_pem: String,
        account: (String, String),
    ) -> Result<Self, String> {
        Ok(ReferenceAdapter {
            faults: parse_faults(faults)?,
            server_name,
            ca_pem,
            user: account.0,
            password: account.1,
            instances: Mutex::new(HashMap::new()),
        })
    }

    fn instance(&self, ep: &Endpoints) -> Arc<ReferencePvs> {
        let key = (ep.smtp, ep.pop3);
        let mut map = match self.instances.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(key)
            .or_insert_with(|| {
                Arc::new(ReferencePvs::new(PvsConfig {
                    smtp: ep.smtp,
                    pop3: ep.pop3,
                    server_name: self.server_name.clone(),
                    ca_pem: self.ca_pem.clone(),
                    user: self.user.clone(),
                    password: self.password.clone(),
                    from: ep.from.clone(),
                    faults: self.faults.clone(),
                    timeout: PVS_TIMEOUT,
                }))
            })
            .clone()
    }
}

/// Maps a case's application name to the reference PVS's.
fn application(name: &str, subject: Option<&str>) -> Application {
    match name {
        "Arztbrief" => Application::Arztbrief,
        "unspecified" => Application::Unspecified,
        "eNachricht" => Application::Other {
            dienstkennung: reference_pvs::FALLBACK_DIENSTKENNUNG.to_string(),
            subject: subject
                .unwrap_or(reference_pvs::NEUTRAL_SUBJECT)
                .to_string(),
        },
        _ => Application::Unspecified,
    }
}

impl SutAdapter for ReferenceAdapter {
    fn describe(&self) -> String {
        let faults: Vec<&str> = self.faults.iter().map(|f| f.id()).collect();
        format!(
            "reference PVS (kvc-mocks {}; faults: {})",
            env!("CARGO_PKG_VERSION"),
            if faults.is_empty() {
                "none".to_string()
            } else {
                faults.join(",")
            }
        )
    }

    fn send<'a>(
        &'a self,
        ep: &'a Endpoints,
        req: &'a SendRequest,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let pvs = self.instance(ep);
            let request = reference_pvs::SendRequest {
                to: req.to.clone(),
                application: application(&req.application, req.subject.as_deref()),
                subject: req.subject.clone(),
                body: req.body.clone(),
                attachment: None,
            };
            pvs.send_message(&request)
                .await
                .map(|m| format!("reference PVS sent a {}-byte message", m.len()))
                .map_err(|e| e.to_string())
        })
    }

    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let pvs = self.instance(ep);
            pvs.fetch_all()
                .await
                .map(|m| format!("reference PVS fetched {} message(s)", m.len()))
                .map_err(|e| e.to_string())
        })
    }
}
