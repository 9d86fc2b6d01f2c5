//! The embedded reference PVS (`kvc_mocks::ReferencePvs`) as a SUT adapter: the default SUT of
//! `kvc-check run`. `--fault ID` injects its named faults (`kvc_mocks::PvsFault`).
//!
//! It offers both transports: the KV-Connect Client (SMTP/POP3, `ReferencePvs`) and the REST
//! server interface (`RestPvs`: certificate lookup, sign, encrypt, post; list, fetch, decrypt,
//! verify, store, delete). One instance is kept per mock endpoint, i.e. per case, so that its
//! message sequence (which the `KVC-Anb100-consistency` fault varies) runs over all sends of a
//! case, and so that the store it reports is that case's.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvc_mocks::reference::kvc_pvs::rest::{RestPvs, RestPvsConfig};
use kvc_mocks::reference::kvc_pvs::{self, Application, PvsConfig, PvsFault, ReferencePvs};

use super::{Reply, SendRequest, StoredReport, SutAdapter};
use crate::sut::endpoints::Endpoints;

/// Bound for one send or fetch of the reference PVS (the case timeout bounds it too).
const PVS_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ReferenceAdapter {
    faults: BTreeSet<PvsFault>,
    server_name: String,
    ca_pem: String,
    user: String,
    password: String,
    instances: Mutex<HashMap<(SocketAddr, SocketAddr), Arc<ReferencePvs>>>,
    rest_instances: Mutex<HashMap<String, Arc<RestInstance>>>,
}

/// The REST transport of one case, with what its receive runs discarded (the store query
/// reports those too: the user was warned about them).
struct RestInstance {
    pvs: RestPvs,
    rejected: Mutex<Vec<(String, String)>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Parses `--fault` values; an unknown one is an error listing the known faults.
pub fn parse_faults(faults: &[String]) -> Result<BTreeSet<PvsFault>, String> {
    faults
        .iter()
        .map(|f| {
            f.parse::<PvsFault>()
                .map_err(|e| format!("--fault {f}: {e}"))
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
            rest_instances: Mutex::new(HashMap::new()),
        })
    }

    fn rest_instance(&self, ep: &Endpoints) -> Result<Arc<RestInstance>, String> {
        let Some(rest) = &ep.rest else {
            return Err("REST case without REST endpoints".into());
        };
        let mut map = locked(&self.rest_instances);
        if let Some(i) = map.get(&rest.base_url) {
            return Ok(i.clone());
        }
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
        };
        let pvs = RestPvs::new(RestPvsConfig {
            base_url: rest.base_url.clone(),
            connect_to: ep.addr("rest"),
            server_name: self.server_name.clone(),
            ca_pem: self.ca_pem.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            from: ep.from.clone(),
            own_key_pem: read(&rest.user_key_file)?,
            own_cert_pem: Some(read(&rest.user_cert_file)?),
            user_ca_pem: read(&rest.user_ca_file)?,
            verify_at: None,
            faults: self.faults.clone(),
            timeout: PVS_TIMEOUT,
        })
        .map_err(|e| e.to_string())?;
        let instance = Arc::new(RestInstance {
            pvs,
            rejected: Mutex::new(Vec::new()),
        });
        map.insert(rest.base_url.clone(), instance.clone());
        Ok(instance)
    }

    fn instance(&self, ep: &Endpoints) -> Arc<ReferencePvs> {
        let key = (ep.addr("smtp"), ep.addr("pop3"));
        let mut map = locked(&self.instances);
        map.entry(key)
            .or_insert_with(|| {
                Arc::new(ReferencePvs::new(PvsConfig {
                    smtp: key.0,
                    pop3: key.1,
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
            dienstkennung: kvc_pvs::FALLBACK_DIENSTKENNUNG.to_string(),
            subject: subject.unwrap_or(kvc_pvs::NEUTRAL_SUBJECT).to_string(),
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

    fn transports(&self) -> Vec<crate::sut::Transport> {
        crate::sut::Transport::ALL.to_vec()
    }

    fn send<'a>(&'a self, ep: &'a Endpoints, req: &'a SendRequest) -> Reply<'a> {
        Box::pin(async move {
            let request = kvc_pvs::SendRequest {
                to: req.to.clone(),
                application: application(&req.application, req.subject.as_deref()),
                subject: req.subject.clone(),
                body: req.body.clone(),
                attachment: None,
            };
            if ep.transport == crate::sut::Transport::Rest {
                let rest = self.rest_instance(ep)?;
                return rest
                    .pvs
                    .send_message(&request)
                    .await
                    .map(|m| format!("reference PVS posted a {}-byte message", m.len()))
                    .map_err(|e| e.to_string());
            }
            let pvs = self.instance(ep);
            pvs.send_message(&request)
                .await
                .map(|m| format!("reference PVS sent a {}-byte message", m.len()))
                .map_err(|e| e.to_string())
        })
    }

    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a> {
        Box::pin(async move {
            if ep.transport == crate::sut::Transport::Rest {
                let rest = self.rest_instance(ep)?;
                let report = rest.pvs.fetch_all().await.map_err(|e| e.to_string())?;
                locked(&rest.rejected).extend(report.rejected.iter().cloned());
                let mut detail = format!(
                    "reference PVS stored {}, rejected {}, left {} on the server",
                    report.stored.len(),
                    report.rejected.len(),
                    report.kept_on_server.len()
                );
                for w in &report.warnings {
                    detail.push_str(&format!("; warning: {w}"));
                }
                if let Some(why) = report.aborted {
                    // The user is told and the receive run stops (SEED-ANB §3.1.2).
                    return Err(format!("{detail}; receive aborted: {why}"));
                }
                if !report.delete_failed.is_empty() {
                    // A refused DELETE is an error the user is told about (SEED-ANB §3.1.2).
                    return Err(format!("{detail}; deleting on the server failed"));
                }
                return Ok(detail);
            }
            let pvs = self.instance(ep);
            pvs.fetch_all()
                .await
                .map(|m| format!("reference PVS fetched {} message(s)", m.len()))
                .map_err(|e| e.to_string())
        })
    }

    fn stored<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a, Option<Vec<StoredReport>>> {
        Box::pin(async move {
            if ep.transport != crate::sut::Transport::Rest {
                // Over the KV-Connect Client the Client verifies signatures, not the PVS.
                return Ok(None);
            }
            let rest = self.rest_instance(ep)?;
            let mut out: Vec<StoredReport> = rest
                .pvs
                .stored()
                .into_iter()
                .map(|m| StoredReport {
                    message_id: m.message_id,
                    valid: m.valid,
                    warning: m.warning,
                })
                .collect();
            out.extend(locked(&rest.rejected).iter().map(|(id, why)| StoredReport {
                message_id: id.clone(),
                valid: false,
                warning: Some(why.clone()),
            }));
            Ok(Some(out))
        })
    }
}
