//! The mock KV-Connect REST server ("REST-Serverschnittstelle" of KV-Connect Server 2.7), as a
//! certified practice system (PVS) calls it: HTTPS, BASIC authentication, base path
//! `/kvconnect/rest`, the resources of `KVC-FACTS.md` §3 with the XML element names of §4.
//!
//! The interface specification is not public. Everything a real client was seen to use (paths,
//! verbs, request content types, XML element names, status codes 400/404/422) is served exactly;
//! everything that is a guess (response media types, date format, redirect and success status
//! codes, header window semantics, VZD schema) is configurable in [`KvcRestProfile`]. The table
//! in `docs/MOCKS-API.md` ("KV-Connect REST mock") marks every element evidenced / inferred /
//! guess with its KVC-FACTS reference.
//!
//! Every request is recorded ([`RestRequest`]: method, target, resource, authenticated user or
//! failure, status, bytes in/out, timing), every TCP connection with its TLS outcome
//! ([`RestConnection`]). Hostile clients end as recorded rejections: no TLS = handshake failure,
//! wrong credentials = 401, too many requests in flight = 429, oversized body = 413, stalled
//! request = 408 (header read timeout: connection closed), too many connections = closed at once.

mod address_book;
pub mod profile;
pub mod records;
mod routes;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::http::Request;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::error::MockError;
use crate::http::server::BoxFuture;
use crate::http::{Exchange, HttpConnection, HttpExchange, HttpLimits, Reply, Routes};
pub use crate::kvc::accounts::{CsrIssuer, KV_SAFENET_DOMAIN, KvcRestAccount, password_policy_ok};
use crate::net::recorder::Recorder;
use crate::net::tls::{ServerCertKind, TlsPki};
pub use address_book::stored_zip;
pub use profile::{DateFormat, HEADER_FIELDS, KvcRestProfile};
pub use records::{
    CsrRecord, KvcRestObservations, PostedMail, RestAuth, RestConnection, RestRequest, RestResource,
};

/// Default base path (KVC-FACTS §1, evidenced: `https://kvc-2.kvtg.kbv.de:8443/kvconnect/rest/`).
pub const DEFAULT_BASE_PATH: &str = "/kvconnect/rest";
/// Default port of the standalone mock (KVC-FACTS §1, evidenced for reference system 2).
pub const DEFAULT_PORT: u16 = 8443;

/// Records kept per list; beyond it one counter grows ([`KvcRestObservations::dropped_records`]).
const MAX_RECORDS: usize = 100_000;

/// What `certificates?uid=|email=` serves for one account instead of its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientCertFault {
    /// 404, as if the account had no certificate (INS error 2109).
    Missing,
    /// Serve this certificate (PEM) instead, e.g. an expired one (KVC-Anb080).
    Replace(String),
}

/// Scripted faults of one case. Change them at run time with [`KvcRestMock::set_faults`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvcRestFaults {
    /// `POST mails` answers this status (e.g. 500/503) and delivers nothing.
    pub send_status: Option<u16>,
    /// `DELETE accounts/{uid}/mails/{id}` answers this status and the message stays.
    pub delete_status: Option<u16>,
    /// Every response is delayed by this long (after the request was handled).
    pub response_delay: Option<Duration>,
    /// Per account (username or e-mail, case-insensitive): a missing or replaced certificate.
    pub recipient_certificates: BTreeMap<String, RecipientCertFault>,
    /// The CSR progression ends with this code instead of 999 (900..903).
    pub csr_final_status: Option<u16>,
}

/// Limits against hostile clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvcRestLimits {
    /// Larger request bodies: 413 (Content-Length checked first, streamed bodies cut off).
    pub max_body_bytes: usize,
    /// Requests handled at the same time; more: 429 with `Retry-After`.
    pub max_in_flight: usize,
    /// Open TCP connections; more are closed at once.
    pub max_connections: usize,
    /// Time to complete the TLS handshake and each request's header.
    pub header_timeout: Duration,
    /// Time to read a request body and handle it; longer: 408.
    pub request_timeout: Duration,
    /// Bytes of posted mails the mock keeps (observations + mailboxes); beyond it `POST mails`
    /// answers 507 and the body is dropped, so a posting storm cannot exhaust memory.
    pub max_stored_bytes: usize,
}

impl Default for KvcRestLimits {
    fn default() -> Self {
        KvcRestLimits {
            max_body_bytes: 32 * 1024 * 1024,
            max_in_flight: 16,
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_stored_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Configuration of [`KvcRestMock`]; build it with `..KvcRestConfig::default()`.
#[derive(Debug, Clone)]
pub struct KvcRestConfig {
    pub bind: IpAddr,
    /// 0 = ephemeral.
    pub port: u16,
    /// Host name in [`KvcRestMock::base_url`] (the valid TLS certificate is issued for it).
    pub host: String,
    /// Base path, default `/kvconnect/rest`.
    pub base_path: String,
    /// Which server certificate is presented (untrusted / expired / wrong name).
    pub cert: ServerCertKind,
    pub accounts: Vec<KvcRestAccount>,
    pub profile: KvcRestProfile,
    pub faults: KvcRestFaults,
    pub limits: KvcRestLimits,
}

impl Default for KvcRestConfig {
    fn default() -> Self {
        KvcRestConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            host: "localhost".into(),
            base_path: DEFAULT_BASE_PATH.into(),
            cert: ServerCertKind::Valid,
            accounts: vec![KvcRestAccount::new("praxis.1", "Geheim12")],
            profile: KvcRestProfile::default(),
            faults: KvcRestFaults::default(),
            limits: KvcRestLimits::default(),
        }
    }
}

// ------------------------------------------------------------------------------------------
// State

#[derive(Debug, Clone)]
struct StoredMail {
    id: String,
    raw: Arc<[u8]>,
}

#[derive(Debug)]
struct AccountState {
    account: KvcRestAccount,
    password_last_change: SystemTime,
    mails: Vec<StoredMail>,
}

struct CsrState {
    record_index: usize,
    username: String,
    polls: usize,
    /// Set once the issuer ran at 999: `Ok` issued, `Err` refused (903).
    issued: Option<Result<(), String>>,
}

struct State {
    obs: KvcRestObservations,
    accounts: Vec<AccountState>,
    csrs: BTreeMap<String, CsrState>,
    faults: KvcRestFaults,
    /// Last change of any account/certificate (address book `Last-Modified`).
    last_change: SystemTime,
    next_id: u64,
    /// Bytes of posted mails kept (see [`KvcRestLimits::max_stored_bytes`]).
    stored_bytes: usize,
}

struct Shared {
    state: Recorder<State>,
    base_path: String,
    profile: KvcRestProfile,
    limits: KvcRestLimits,
    started: Instant,
    csr_issuer: Mutex<Option<CsrIssuer>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.state.record(f)
    }

    fn record(&self, r: RestRequest) {
        self.update(|s| {
            if s.obs.requests.len() < MAX_RECORDS {
                s.obs.requests.push(r);
            } else {
                s.obs.dropped_records += 1;
            }
        });
    }
}

/// Message-ID of a raw message without angle brackets (None if the header is absent).
pub fn message_id_of(raw: &[u8]) -> Option<String> {
    let (h, _) = kvc_smime::mime::split_header_body(raw);
    let headers = kvc_smime::mime::Headers::parse(h);
    headers.get("Message-ID").map(normalise_message_id)
}

/// Percent-decodes and strips surrounding whitespace and angle brackets.
pub fn normalise_message_id(s: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .to_string();
    decoded
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

fn stored(raw: Vec<u8>, n: u64) -> StoredMail {
    let id = message_id_of(&raw)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("kvc-mock-{n}@{KV_SAFENET_DOMAIN}"));
    StoredMail {
        id,
        raw: Arc::from(raw),
    }
}

// ------------------------------------------------------------------------------------------
// The mock

/// The running mock KV-Connect REST server.
pub struct KvcRestMock {
    shared: Arc<Shared>,
    addr: SocketAddr,
    host: String,
    /// Accounts whose mailbox held messages at start, with those messages' ids.
    served: Vec<(String, Vec<String>)>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for KvcRestMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvcRestMock")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl KvcRestMock {
    /// Binds and starts serving HTTPS with the certificate `config.cert` of `pki`.
    pub async fn start(config: KvcRestConfig, pki: &TlsPki) -> Result<KvcRestMock, MockError> {
        let limits = config.limits.clone();
        if limits.max_in_flight == 0 || limits.max_connections == 0 {
            return Err(MockError::Config(
                "max_in_flight and max_connections must be at least 1".into(),
            ));
        }
        if config.profile.csr_progression.is_empty() {
            return Err(MockError::Config(
                "csr_progression must not be empty".into(),
            ));
        }
        let mut base = config.base_path.trim_end_matches('/').to_string();
        if !base.is_empty() && !base.starts_with('/') {
            base.insert(0, '/');
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &config.accounts {
            if !names.insert(a.username.to_ascii_lowercase()) {
                return Err(MockError::Config(format!(
                    "account `{}` is configured twice",
                    a.username
                )));
            }
        }
        let addr = SocketAddr::new(config.bind, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MockError::Bind {
                what: "KV-Connect REST server",
                addr,
                source,
            })?;
        let addr = listener.local_addr()?;
        let now = SystemTime::now();
        let mut n = 0u64;
        let accounts: Vec<AccountState> = config
            .accounts
            .into_iter()
            .map(|mut account| {
                let mails = std::mem::take(&mut account.mailbox)
                    .into_iter()
                    .map(|m| {
                        n += 1;
                        stored(m, n)
                    })
                    .collect();
                AccountState {
                    account,
                    password_last_change: now,
                    mails,
                }
            })
            .collect();
        let served = accounts
            .iter()
            .filter(|a| !a.mails.is_empty())
            .map(|a| {
                let ids = a.mails.iter().map(|m| m.id.clone()).collect();
                (a.account.username.clone(), ids)
            })
            .collect();
        let shared = Arc::new(Shared {
            state: Recorder::new(State {
                obs: KvcRestObservations::default(),
                accounts,
                csrs: BTreeMap::new(),
                faults: config.faults,
                last_change: now,
                next_id: n + 1,
                stored_bytes: 0,
            }),
            base_path: base,
            profile: config.profile,
            limits,
            started: Instant::now(),
            csr_issuer: Mutex::new(None),
        });
        let tls = TlsAcceptor::from(pki.server_config(config.cert));
        let http_limits = HttpLimits {
            header_timeout: shared.limits.header_timeout,
            request_timeout: shared.limits.request_timeout,
            max_connections: shared.limits.max_connections,
            max_in_flight: shared.limits.max_in_flight,
        };
        let task = tokio::spawn(crate::http::server::serve(
            listener,
            tls,
            shared.clone(),
            http_limits,
            shared.started,
        ));
        Ok(KvcRestMock {
            shared,
            addr,
            host: config.host,
            served,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<host>:<port><base>` (no trailing slash), e.g. `https://localhost:8443/kvconnect/rest`.
    pub fn base_url(&self) -> String {
        format!(
            "https://{}:{}{}",
            self.host,
            self.addr.port(),
            self.shared.base_path
        )
    }

    /// A snapshot of everything observed so far.
    pub fn observations(&self) -> KvcRestObservations {
        self.shared.state.snapshot(|s| &s.obs)
    }

    /// Puts a message (raw bytes, served byte for byte) at the end of `username`'s mailbox and
    /// returns its message id (from its `Message-ID` header, without brackets).
    pub fn deliver(&self, username: &str, raw: Vec<u8>) -> Result<String, MockError> {
        self.shared.update(|s| {
            let n = s.next_id;
            s.next_id += 1;
            let acc = s
                .accounts
                .iter_mut()
                .find(|a| a.account.username.eq_ignore_ascii_case(username))
                .ok_or_else(|| MockError::Config(format!("no account `{username}`")))?;
            let m = stored(raw, n);
            let id = m.id.clone();
            acc.mails.push(m);
            Ok(id)
        })
    }

    /// The message ids currently in `username`'s mailbox, oldest first (e.g. to assert that an
    /// undecryptable message is still on the server).
    pub fn mailbox_ids(&self, username: &str) -> Vec<String> {
        self.shared
            .lock()
            .accounts
            .iter()
            .find(|a| a.account.username.eq_ignore_ascii_case(username))
            .map(|a| a.mails.iter().map(|m| m.id.clone()).collect())
            .unwrap_or_default()
    }

    /// The current state of an account (password, certificate; mailbox left empty).
    pub fn account(&self, username: &str) -> Option<KvcRestAccount> {
        self.shared
            .lock()
            .accounts
            .iter()
            .find(|a| a.account.username.eq_ignore_ascii_case(username))
            .map(|a| a.account.clone())
    }

    /// Sets or removes an account's certificate (PEM).
    pub fn set_certificate(&self, username: &str, pem: Option<String>) -> Result<(), MockError> {
        self.shared.update(|s| {
            let acc = s
                .accounts
                .iter_mut()
                .find(|a| a.account.username.eq_ignore_ascii_case(username))
                .ok_or_else(|| MockError::Config(format!("no account `{username}`")))?;
            acc.account.certificate_pem = pem;
            s.last_change = SystemTime::now();
            Ok(())
        })
    }

    /// Replaces the scripted faults.
    pub fn set_faults(&self, faults: KvcRestFaults) {
        self.shared.update(|s| s.faults = faults);
    }

    /// Sets how certificates are issued when a CSR reaches 999. Without an issuer the account
    /// keeps its configured certificate.
    pub fn set_csr_issuer(&self, issuer: Option<CsrIssuer>) {
        *self
            .shared
            .csr_issuer
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = issuer;
    }

    /// Waits until `done` holds for the observations or `timeout` passed; returns the snapshot.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&KvcRestObservations) -> bool,
    ) -> KvcRestObservations {
        self.shared
            .state
            .wait_until(timeout, |s| &s.obs, done)
            .await
    }

    /// Waits until at least `n` requests were recorded, or `timeout` passed.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> KvcRestObservations {
        self.wait_until(timeout, |o| o.requests.len() >= n).await
    }

    /// Stops accepting and aborts running connections.
    pub async fn shutdown(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for KvcRestMock {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Per request, what the REST records add to the engine's exchange.
pub(crate) struct RestTag {
    pub(crate) resource: RestResource,
    pub(crate) auth: RestAuth,
}

pub(crate) type Ctx = Exchange<RestTag>;

impl Routes for Shared {
    type Tag = RestTag;

    fn new_tag(&self) -> RestTag {
        RestTag {
            resource: RestResource::NotRouted,
            auth: RestAuth::NotRequired,
        }
    }

    fn route<'a>(&'a self, req: Request<Incoming>, ex: &'a mut Ctx) -> BoxFuture<'a, Reply> {
        Box::pin(routes::route(self, req, ex))
    }

    fn connected(&self, c: HttpConnection) {
        self.update(|s| {
            if s.obs.connections.len() < MAX_RECORDS {
                s.obs.connections.push(c);
            } else {
                s.obs.dropped_records += 1;
            }
        });
    }

    fn exchanged(&self, e: HttpExchange, tag: RestTag) {
        self.record(RestRequest {
            exchange: e,
            resource: tag.resource,
            auth: tag.auth,
        });
    }

    fn rejected(&self) {
        self.update(|s| s.obs.rejected_connections += 1);
    }

    fn response_delay(&self) -> Option<Duration> {
        self.lock().faults.response_delay
    }
}

/// Escapes text for an XML body (control characters XML 1.0 forbids are dropped).
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

impl crate::server::MockServer for KvcRestMock {
    fn services(&self) -> Vec<crate::server::ServiceEndpoint> {
        vec![crate::server::ServiceEndpoint {
            name: "rest",
            kind: crate::server::ServiceKind::Https,
            addr: self.addr,
        }]
    }

    /// The requests with their resource as [`Resource::KvcRest`]; mailbox ids: those served at
    /// start and which of the served accounts' messages are still there.
    fn evidence(&self) -> crate::evidence::Evidence {
        let o = self.observations();
        let remaining_ids = self
            .served
            .iter()
            .flat_map(|(user, _)| self.mailbox_ids(user))
            .collect();
        let http = crate::evidence::HttpEvidence {
            connections: o.connections,
            requests: o
                .requests
                .into_iter()
                .map(|r| r.map_resource(crate::evidence::Resource::KvcRest))
                .collect(),
            posted: o.posted,
            mailbox_ids: self
                .served
                .iter()
                .flat_map(|(_, ids)| ids.clone())
                .collect(),
            remaining_ids,
            csrs: o.csrs,
            rejected_connections: o.rejected_connections,
            dropped_records: o.dropped_records,
        };
        crate::evidence::Evidence {
            http: Some(http),
            ..Default::default()
        }
    }

    fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.state.subscribe()
    }

    fn shutdown(self: Box<Self>) -> crate::server::BoxFuture<'static, ()> {
        Box::pin(KvcRestMock::shutdown(*self))
    }
}
