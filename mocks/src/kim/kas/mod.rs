//! The mock KAS (KIM Attachment Service, `I_Attachment_Service`, KIM-FACTS §1.1) on the HTTP
//! engine: `addMailData` (multipart upload streamed to disk, BASIC auth of the KIM account),
//! `readMailData` and HEAD (by the `recipient` header, no auth), `deleteMailData` (the
//! uploader). Base path and operations per API version ([`KasApi`]: 2.2 / 2.3 / 2.4).
//!
//! Positions on the contradictions KIM-ANCHORS lists (each configurable, each recorded):
//! a recipient not among the upload's is refused with 401 (seed text of A_22410; the API file
//! says 403: [`KasConfig::forbidden_status`]); `recipients` may come exploded (one part per
//! address, the yaml) or comma-joined in one part (api-kim's curl example): both accepted unless
//! [`KasConfig::strict_recipients`], the form recorded per upload. The uploader counts as a
//! recipient (as gematik's reference KAS does).
//!
//! Every request is recorded ([`KasCall`]) and every upload ([`KasUpload`]: owner,
//! recipients, expires, messageID, size, SHA-256 of the stored ciphertext); the ciphertext
//! itself stays readable through [`KasMock::stored`] until it expires or is deleted.

pub mod records;
mod routes;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio_rustls::TlsAcceptor;

pub use records::{KasCall, KasUpload, RecipientsForm};

use crate::error::MockError;
use crate::evidence::{Evidence, Resource};
use crate::http::{BasicAuth, HttpLimits, HttpRecords, HttpRequest, HttpTask};
use crate::net::recorder::Recorder;
use crate::net::tls::{ServerCertKind, TlsPki};

/// The API version the mock serves (paths and operations differ, KIM-FACTS §1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum KasApi {
    /// 2.2.0 (KIM 1.5.2): no DELETE, no HEAD.
    #[serde(rename = "2.2")]
    V2_2,
    /// 2.3.2 (KIM 1.5.3): DELETE, no HEAD.
    #[serde(rename = "2.3")]
    V2_3,
    /// 2.4.0: DELETE and HEAD.
    #[default]
    #[serde(rename = "2.4")]
    V2_4,
}

impl KasApi {
    /// `/attachments/v2.x` (no trailing slash).
    pub fn base_path(self) -> &'static str {
        match self {
            KasApi::V2_2 => "/attachments/v2.2",
            KasApi::V2_3 => "/attachments/v2.3",
            KasApi::V2_4 => "/attachments/v2.4",
        }
    }

    pub fn has_delete(self) -> bool {
        self != KasApi::V2_2
    }

    pub fn has_head(self) -> bool {
        self == KasApi::V2_4
    }
}

/// A KIM account the KAS authenticates uploads with.
#[derive(Clone, PartialEq, Eq)]
pub struct KasAccount {
    pub user: String,
    pub password: String,
    /// Bytes this account may keep stored (507 beyond).
    pub quota_bytes: u64,
}

impl std::fmt::Debug for KasAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KasAccount")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl KasAccount {
    pub fn new(user: &str, password: &str) -> KasAccount {
        KasAccount {
            user: user.to_string(),
            password: password.to_string(),
            quota_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// Scripted faults of one case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KasFaults {
    /// `addMailData` answers this status (500, 507, ...) and stores nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_status: Option<u16>,
    /// `readMailData` answers this status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_status: Option<u16>,
    /// Every answer is delayed by this long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_delay: Option<Duration>,
}

/// Ways the KAS breaks its requirements on purpose (the reference Fachdienst's faults, one
/// requirement each); all off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KasDeviations {
    /// Uploads of any size are stored (A_19378).
    pub no_size_check: bool,
    /// Resource IDs count up (`00000000-0000-4000-8000-000000000001`, ...) (A_19380).
    pub sequential_ids: bool,
    /// `GET` on the collection lists every stored resource ID (A_19379).
    pub lists_collection: bool,
    /// Any recipient may download, not only those of the upload (A_22410).
    pub serves_any_recipient: bool,
    /// Downloads go out chunked, without Content-Length (A_22428).
    pub no_content_length: bool,
    /// Expired data is kept and served (A_19385).
    pub keeps_expired: bool,
    /// Repeated reads beyond `max_downloads` are refused with 403 instead of 429 (A_22411).
    pub limits_with_403: bool,
}

/// Configuration of [`KasMock`]; build it with `..KasConfig::default()`.
#[derive(Debug, Clone)]
pub struct KasConfig {
    pub bind: IpAddr,
    /// 0 = ephemeral.
    pub port: u16,
    /// Host name in the share links (the valid TLS certificate is issued for it).
    pub host: String,
    pub cert: ServerCertKind,
    pub api: KasApi,
    pub accounts: Vec<KasAccount>,
    /// Largest attachment (bytes); larger: 413 (gematik's reference KAS: 524288000).
    pub max_attachment_bytes: u64,
    /// Downloads of one resource by one recipient; more: 429.
    pub max_downloads: u32,
    /// Status for a recipient not among the upload's: 401 (A_22410) or 403 (API file).
    pub forbidden_status: u16,
    /// Refuse comma-joined `recipients` parts with 400 (the yaml's exploded form only).
    pub strict_recipients: bool,
    /// Where uploads are stored (default: a temporary directory removed with the mock).
    pub storage_dir: Option<PathBuf>,
    pub faults: KasFaults,
    pub deviations: KasDeviations,
    pub limits: HttpLimits,
}

impl Default for KasConfig {
    fn default() -> Self {
        KasConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            host: "localhost".into(),
            cert: ServerCertKind::Valid,
            api: KasApi::V2_4,
            accounts: Vec::new(),
            max_attachment_bytes: 524_288_000,
            max_downloads: 1000,
            forbidden_status: 401,
            strict_recipients: false,
            storage_dir: None,
            faults: KasFaults::default(),
            deviations: KasDeviations::default(),
            limits: HttpLimits {
                header_timeout: Duration::from_secs(10),
                request_timeout: Duration::from_secs(120),
                max_connections: 256,
                max_in_flight: 128,
            },
        }
    }
}

struct Stored {
    upload: KasUpload,
    path: PathBuf,
    expires_at: SystemTime,
    downloads: BTreeMap<String, u32>,
}

struct State {
    faults: KasFaults,
    stored: BTreeMap<String, Stored>,
    uploads: Vec<KasUpload>,
    http: HttpRecords<KasCall>,
}

struct Shared {
    state: Recorder<State>,
    config: KasConfig,
    dir: PathBuf,
    /// `https://host:port`.
    origin: String,
}

impl Shared {
    /// Deletes what expired (A_19385); called before every request is routed.
    fn expire(&self, now: SystemTime) {
        if self.config.deviations.keeps_expired {
            return;
        }
        let gone: Vec<PathBuf> = self.state.record(|s| {
            let ids: Vec<String> = s
                .stored
                .iter()
                .filter(|(_, st)| st.expires_at <= now)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter()
                .filter_map(|id| s.stored.remove(id).map(|st| st.path))
                .collect()
        });
        for p in gone {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The running mock KAS (service `kas`).
pub struct KasMock {
    shared: Arc<Shared>,
    server: HttpTask,
    _tempdir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for KasMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KasMock")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl KasMock {
    pub async fn start(config: KasConfig, pki: &TlsPki) -> Result<KasMock, MockError> {
        if config.forbidden_status != 401 && config.forbidden_status != 403 {
            return Err(MockError::Config(
                "forbidden_status is 401 (A_22410) or 403 (API file)".into(),
            ));
        }
        let (dir, tempdir) = match &config.storage_dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|source| MockError::Write {
                    path: d.display().to_string(),
                    source,
                })?;
                (d.clone(), None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("kvc-check-kas-")
                    .tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        // The share links name the port, so it is bound before the routes exist.
        let listener =
            HttpTask::listen("KAS (HTTPS)", SocketAddr::new(config.bind, config.port)).await?;
        let addr = listener.local_addr()?;
        let tls = TlsAcceptor::from(pki.server_config(config.cert));
        let limits = config.limits.clone();
        let origin = format!("https://{}:{}", config.host, addr.port());
        let shared = Arc::new(Shared {
            state: Recorder::new(State {
                faults: config.faults.clone(),
                stored: BTreeMap::new(),
                uploads: Vec::new(),
                http: HttpRecords::default(),
            }),
            config,
            dir,
            origin,
        });
        let server = HttpTask::serve(listener, tls, shared.clone(), limits)?;
        Ok(KasMock {
            shared,
            server,
            _tempdir: tempdir,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The API base, e.g. `https://localhost:PORT/attachments/v2.4`.
    pub fn base_url(&self) -> String {
        format!(
            "{}{}",
            self.shared.origin,
            self.shared.config.api.base_path()
        )
    }

    pub fn set_faults(&self, faults: KasFaults) {
        self.shared.state.record(|s| s.faults = faults);
    }

    /// Every upload accepted so far (also those deleted or expired since).
    pub fn uploads(&self) -> Vec<KasUpload> {
        self.shared.state.snapshot(|s| &s.uploads)
    }

    /// The stored ciphertext of `id`, while it is stored.
    pub fn stored(&self, id: &str) -> Option<Vec<u8>> {
        let path = self
            .shared
            .state
            .lock()
            .stored
            .get(id)
            .map(|s| s.path.clone())?;
        std::fs::read(path).ok()
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<HttpRequest<KasCall>> {
        self.shared.state.lock().http.requests.clone()
    }

    /// Waits until at least `n` requests were recorded, or `timeout` passed.
    pub async fn wait_for_calls(&self, n: usize, timeout: Duration) -> Vec<HttpRequest<KasCall>> {
        self.shared
            .state
            .wait_until(timeout, |s| &s.http.requests, |r| r.len() >= n)
            .await
    }

    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}

impl crate::server::MockServer for KasMock {
    fn services(&self) -> Vec<crate::server::ServiceEndpoint> {
        vec![crate::server::ServiceEndpoint {
            name: "kas",
            kind: crate::server::ServiceKind::Https,
            addr: self.server.addr(),
        }]
    }

    fn evidence(&self) -> Evidence {
        let s = self.shared.state.lock();
        s.http.evidence(|c| Resource::Kas(Box::new(c)))
    }

    fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.state.subscribe()
    }

    fn shutdown(self: Box<Self>) -> crate::server::BoxFuture<'static, ()> {
        Box::pin(KasMock::shutdown(*self))
    }
}

/// Who authenticated an upload or delete.
fn authenticate(shared: &Shared, headers: &axum::http::HeaderMap) -> BasicAuth {
    match crate::http::server::basic_credentials(headers) {
        None => BasicAuth::Missing,
        Some((u, p)) => {
            let ok = shared
                .config
                .accounts
                .iter()
                .any(|a| a.user == u && a.password == p);
            if ok {
                BasicAuth::Ok { user: u }
            } else {
                BasicAuth::Failed { user: u }
            }
        }
    }
}
