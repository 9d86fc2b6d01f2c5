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

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use base64::Engine;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::error::MockError;
use crate::kvc_client::{TlsOutcome, handshake};
use crate::observe::Recorder;
use crate::tls::{ServerCertKind, TlsPki};

/// The KV-Connect address domain (KVC-FACTS §1: every address is `<username>@kv-safenet.de`).
pub const KV_SAFENET_DOMAIN: &str = "kv-safenet.de";
/// Default base path (KVC-FACTS §1, evidenced: `https://kvc-2.kvtg.kbv.de:8443/kvconnect/rest/`).
pub const DEFAULT_BASE_PATH: &str = "/kvconnect/rest";
/// Default port of the standalone mock (KVC-FACTS §1, evidenced for reference system 2).
pub const DEFAULT_PORT: u16 = 8443;

/// Records kept per list; beyond it one counter grows ([`KvcRestObservations::dropped_records`]).
const MAX_RECORDS: usize = 100_000;

/// A KV-Connect account of the mock (REST user, mailbox owner, directory entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvcRestAccount {
    /// Account name = BASIC user = local part of the address, e.g. `praxis.1` (§1, §2).
    pub username: String,
    pub password: String,
    /// The account uid used in `accounts/{uid}` (§4.1), e.g. `<uuid>@1` (format: guess).
    pub uid: String,
    /// `<username>@kv-safenet.de`.
    pub email: String,
    /// §2/§4.1: a new account must change its initial password first.
    pub password_change_needed: bool,
    /// The account's user certificate (PEM), served by `certificates?uid=|email=` (§4.3) and
    /// listed in the directory. `None` = no certificate (404).
    pub certificate_pem: Option<String>,
    /// Messages in the mailbox, oldest first (raw KV-Connect e-mails, served byte for byte).
    pub mailbox: Vec<Vec<u8>>,
    /// Directory attributes (§10.1): `givenName`, `sn`, `street`, `postalCode`, `l`.
    pub given_name: String,
    pub surname: String,
    pub street: String,
    pub postal_code: String,
    pub locality: String,
}

impl KvcRestAccount {
    /// An account `username@kv-safenet.de` with a fresh uid, no certificate, empty mailbox.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> KvcRestAccount {
        let username = username.into();
        KvcRestAccount {
            uid: format!("{}@1", uuid::Uuid::new_v4()),
            email: format!("{username}@{KV_SAFENET_DOMAIN}"),
            password: password.into(),
            password_change_needed: false,
            certificate_pem: None,
            mailbox: Vec::new(),
            given_name: "Test".into(),
            surname: username.clone(),
            street: "Teststr. 1".into(),
            postal_code: "10115".into(),
            locality: "Berlin".into(),
            username,
        }
    }

    pub fn with_certificate(mut self, pem: impl Into<String>) -> KvcRestAccount {
        self.certificate_pem = Some(pem.into());
        self
    }

    pub fn with_mailbox(mut self, mailbox: Vec<Vec<u8>>) -> KvcRestAccount {
        self.mailbox = mailbox;
        self
    }
}

/// How dates are written in XML bodies (`passwordLastChange`, `validFrom`, `validTo`). The real
/// format is NOT FOUND (KVC-FACTS §4.1/§4.3: the client parses them with JavaScript `new Date`,
/// which accepts all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// RFC 3339 / ISO 8601 UTC, `2026-11-23T16:00:00Z` (default).
    Iso8601,
    /// RFC 1123, `Mon, 23 Nov 2026 16:00:00 GMT`.
    Rfc1123,
    /// Milliseconds since the epoch.
    EpochMillis,
}

/// The guessed parts of the interface (KVC-FACTS §13 "[G]"), one field each. The defaults are
/// the §13 proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvcRestProfile {
    /// Media type of XML responses (account, headers, certificate, csr-status). [G]
    pub xml_media_type: String,
    /// Media type of `GET accounts/{uid}/mails/{id}` (the raw e-mail). [G]
    pub mail_media_type: String,
    /// Media type of `GET server/version` and other text responses. [G]
    pub text_media_type: String,
    /// Body of `GET server/version`. [G]
    pub server_version: String,
    /// Date format in XML. [G]
    pub date_format: DateFormat,
    /// Status of the `GET login/{username}` redirect. [E: a redirect; G: the code]
    pub login_redirect_status: u16,
    /// Missing or wrong BASIC credentials. [G]
    pub unauthorized_status: u16,
    /// Realm in `WWW-Authenticate: Basic realm="..."`. [G]
    pub basic_realm: String,
    /// Authenticated, but not the owner of `accounts/{uid}` (or login for another user). [G]
    pub forbidden_status: u16,
    /// `POST mails` accepted. [E: 2xx; G: the code]
    pub send_status: u16,
    /// `POST csr` accepted. [G]
    pub csr_created_status: u16,
    /// `DELETE accounts/{uid}/mails/{id}` and `DELETE accounts/{uid}/certificate`. [G]
    pub delete_status: u16,
    /// `POST accounts/{uid}/password` accepted. [G]
    pub password_ok_status: u16,
    /// `headers?from=&to=`: `from` inclusive, `to` exclusive, 0-based. When false, 1-based and
    /// `to` inclusive. [G]
    pub header_window_zero_based: bool,
    /// Child elements of `headers(short)`. [G]
    pub short_header_fields: Vec<String>,
    /// CSR status progression, one step per `GET csr/{id}`; the last one is final. [E codes, G order]
    pub csr_progression: Vec<u16>,
    /// Accounts with `password_change_needed` get [`KvcRestProfile::forbidden_status`] on
    /// everything except login, account and password until they change it. [I, TOMEDO]
    pub enforce_password_change: bool,
    /// Attribute under which the directory mock publishes the DER certificate. NOT FOUND
    /// (§10.1); also read by [`crate::kvc_directory::KvcDirectoryConfig::from_accounts`]. [G]
    pub ldap_certificate_attribute: String,
}

impl Default for KvcRestProfile {
    fn default() -> Self {
        KvcRestProfile {
            xml_media_type: "application/xml; charset=UTF-8".into(),
            mail_media_type: "message/rfc822".into(),
            text_media_type: "text/plain; charset=UTF-8".into(),
            server_version: "2.7.0".into(),
            date_format: DateFormat::Iso8601,
            login_redirect_status: 303,
            unauthorized_status: 401,
            basic_realm: "kvconnect".into(),
            forbidden_status: 403,
            send_status: 201,
            csr_created_status: 201,
            delete_status: 200,
            password_ok_status: 200,
            header_window_zero_based: true,
            short_header_fields: [
                "from",
                "to",
                "subject",
                "message-id",
                "date",
                "x-kvc-dienstkennung",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            csr_progression: vec![100, 210, 299, 399, 999],
            enforce_password_change: false,
            ldap_certificate_attribute: "userCertificate;binary".into(),
        }
    }
}

/// Header elements of `GET accounts/{uid}/headers` (KVC-FACTS §4.2, evidenced), in this order.
pub const HEADER_FIELDS: &[&str] = &[
    "from",
    "to",
    "subject",
    "message-id",
    "in-reply-to",
    "date",
    "x-kvc-sendersystem",
    "x-kvc-dienstkennung",
    "return-path",
    "disposition-notification-to",
    "content-type",
];

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
// Observations

/// Which resource a request addressed (after routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestResource {
    /// `GET server/version` (R1).
    Version,
    /// `GET login/{username}` (R2).
    Login { username: String },
    /// `GET accounts/{uid}` (R3).
    Account { uid: String },
    /// `GET accounts/{uid}/headers` or `headers(short)` (R4).
    Headers { uid: String, short: bool },
    /// `GET accounts/{uid}/mails` (R5).
    AllMails { uid: String },
    /// `GET` / `DELETE accounts/{uid}/mails/{messageId}` (R6/R7); `message_id` normalised
    /// (percent-decoded, without angle brackets).
    Mail { uid: String, message_id: String },
    /// `POST mails` (R8).
    Send,
    /// `POST csr` (R9).
    CsrSubmit,
    /// `GET csr/{id}` (R10).
    CsrStatus { id: String },
    /// `GET certificates?uid=|email=` (R11).
    Certificates {
        uid: Option<String>,
        email: Option<String>,
    },
    /// `DELETE accounts/{uid}/certificate` (R12).
    AccountCertificate { uid: String },
    /// `POST accounts/{uid}/password` (R13).
    Password { uid: String },
    /// `GET vzd/accounts.json.zip|accounts.xml.zip` (R14).
    AddressBook { file: String },
    /// Nothing matched (404/405).
    Unknown,
    /// Rejected before routing (429 / 408 / 413 on the header).
    NotRouted,
}

/// BASIC authentication of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestAuth {
    /// The resource needs none and none was checked.
    NotRequired,
    /// No (parsable) `Authorization: Basic` header.
    Missing,
    /// Credentials of an account, correct.
    Ok { user: String },
    /// Unknown user or wrong password.
    Failed { user: String },
}

/// One HTTP request, as the mock handled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestRequest {
    pub peer: SocketAddr,
    pub method: String,
    /// Path and query as received.
    pub target: String,
    pub resource: RestResource,
    pub auth: RestAuth,
    /// Request `Content-Type`, if any.
    pub content_type: Option<String>,
    pub status: u16,
    /// Body bytes read (for 413: what was read before giving up).
    pub bytes_in: usize,
    pub bytes_out: usize,
    /// When the request arrived, since the mock started.
    pub at: Duration,
    /// Time to the response (including a scripted delay).
    pub duration: Duration,
    /// Why this status (rejections, faults, checks), if there is something to say.
    pub note: Option<String>,
}

/// One TCP connection and its TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestConnection {
    pub peer: SocketAddr,
    pub tls: TlsOutcome,
    pub at: Duration,
}

/// A `POST mails` body the mock received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMail {
    /// Authenticated account.
    pub user: String,
    pub content_type: Option<String>,
    /// The body exactly as received.
    pub data: Vec<u8>,
    pub status: u16,
    /// Usernames whose mailbox got it (matched by `To`/`Cc` address).
    pub delivered_to: Vec<String>,
    /// Addresses of `To`/`Cc` that are no account of the mock.
    pub unknown_recipients: Vec<String>,
    /// Id under which it was accepted (`Location: <base>/mails/{id}`).
    pub id: String,
}

/// A `POST csr` the mock received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRecord {
    pub id: String,
    pub user: String,
    pub pem: String,
    /// Status entries handed out so far, oldest first.
    pub statuses: Vec<u16>,
}

/// What the mock saw, as a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvcRestObservations {
    pub requests: Vec<RestRequest>,
    pub connections: Vec<RestConnection>,
    /// Connections closed at once because `max_connections` were open.
    pub rejected_connections: usize,
    pub posted: Vec<PostedMail>,
    pub csrs: Vec<CsrRecord>,
    /// Requests/connections not recorded because a list was full.
    pub dropped_records: usize,
}

impl KvcRestObservations {
    /// `DELETE accounts/{uid}/mails/{id}` requests (any outcome), in order.
    pub fn deletes(&self) -> impl Iterator<Item = &RestRequest> {
        self.requests
            .iter()
            .filter(|r| r.method == "DELETE" && matches!(r.resource, RestResource::Mail { .. }))
    }

    /// `GET accounts/{uid}/mails/{id}` requests (any outcome), in order.
    pub fn fetches(&self) -> impl Iterator<Item = &RestRequest> {
        self.requests
            .iter()
            .filter(|r| r.method == "GET" && matches!(r.resource, RestResource::Mail { .. }))
    }

    /// Header listings (`headers`, `headers(short)`).
    pub fn header_listings(&self) -> impl Iterator<Item = &RestRequest> {
        self.requests
            .iter()
            .filter(|r| matches!(r.resource, RestResource::Headers { .. }))
    }

    /// Certificate lookups (`certificates?...`).
    pub fn certificate_lookups(&self) -> impl Iterator<Item = &RestRequest> {
        self.requests
            .iter()
            .filter(|r| matches!(r.resource, RestResource::Certificates { .. }))
    }

    /// Bodies of `POST mails`, in order (including those answered with a fault status).
    pub fn posted_mails(&self) -> impl Iterator<Item = &PostedMail> {
        self.posted.iter()
    }

    /// Requests answered with `status`.
    pub fn with_status(&self, status: u16) -> impl Iterator<Item = &RestRequest> {
        self.requests.iter().filter(move |r| r.status == status)
    }

    /// The message ids deleted successfully (2xx), in order.
    pub fn deleted_ids(&self) -> Vec<String> {
        self.deletes()
            .filter(|r| (200..300).contains(&r.status))
            .filter_map(|r| match &r.resource {
                RestResource::Mail { message_id, .. } => Some(message_id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether any request of the client carried credentials (authenticated or not).
    pub fn credentials_offered(&self) -> bool {
        self.requests
            .iter()
            .any(|r| matches!(r.auth, RestAuth::Ok { .. } | RestAuth::Failed { .. }))
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

/// Issues a certificate (PEM) for a CSR that reached 999: `(csr_pem, account) -> cert PEM`.
pub type CsrIssuer = Arc<dyn Fn(&str, &KvcRestAccount) -> Result<String, String> + Send + Sync>;

struct Shared {
    state: Recorder<State>,
    base_path: String,
    profile: KvcRestProfile,
    limits: KvcRestLimits,
    started: Instant,
    in_flight: Arc<Semaphore>,
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
        let accounts = config
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
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            started: Instant::now(),
            csr_issuer: Mutex::new(None),
        });
        let tls = TlsAcceptor::from(pki.server_config(config.cert));
        let task = tokio::spawn(accept_loop(listener, tls, shared.clone()));
        Ok(KvcRestMock {
            shared,
            addr,
            host: config.host,
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

async fn accept_loop(listener: TcpListener, tls: TlsAcceptor, shared: Arc<Shared>) {
    let max = shared.limits.max_connections;
    let rejected = || shared.update(|s| s.obs.rejected_connections += 1);
    crate::accept::accept_loop(listener, max, true, rejected, |tcp, peer| {
        serve_connection(tcp, peer, tls.clone(), shared.clone())
    })
    .await
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: TlsAcceptor,
    shared: Arc<Shared>,
) {
    let at = shared.started.elapsed();
    let hs = handshake(tcp, &tls, shared.limits.header_timeout).await;
    let (stream, outcome) = match hs {
        Ok((s, o)) => (Some(s), o),
        Err((o, _)) => (None, o),
    };
    shared.update(|s| {
        if s.obs.connections.len() < MAX_RECORDS {
            s.obs.connections.push(RestConnection {
                peer,
                tls: outcome,
                at,
            });
        } else {
            s.obs.dropped_records += 1;
        }
    });
    let Some(stream) = stream else { return };
    let svc_shared = shared.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = svc_shared.clone();
        async move { Ok::<_, Infallible>(handle(shared, req, peer).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_timeout)
        .max_buf_size(64 * 1024);
    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
}

// ------------------------------------------------------------------------------------------
// Request handling

struct Ctx {
    resource: RestResource,
    auth: RestAuth,
    bytes_in: usize,
    note: Option<String>,
    /// Close the connection after this response (rejected oversized body).
    close: bool,
}

struct Reply {
    status: u16,
    content_type: Option<String>,
    headers: Vec<(header::HeaderName, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    fn body(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type: Some(content_type.to_string()),
            headers: Vec::new(),
            body,
        }
    }
    fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let at = shared.started.elapsed();
    let method = req.method().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut ctx = Ctx {
        resource: RestResource::NotRouted,
        auth: RestAuth::NotRequired,
        bytes_in: 0,
        note: None,
        close: false,
    };
    let reply = match shared.in_flight.clone().try_acquire_owned() {
        Err(_) => {
            ctx.note = Some(format!(
                "too many requests in flight (limit {})",
                shared.limits.max_in_flight
            ));
            ctx.close = true;
            Reply::status(429).header(header::RETRY_AFTER, "1")
        }
        Ok(permit) => {
            let timeout = shared.limits.request_timeout;
            let r = match tokio::time::timeout(timeout, route(&shared, req, &mut ctx)).await {
                Ok(r) => r,
                Err(_) => {
                    ctx.note = Some(format!("request not complete within {timeout:?}"));
                    ctx.close = true;
                    Reply::status(408)
                }
            };
            // A slow response holds its slot (a slow server has less capacity).
            let delay = shared.lock().faults.response_delay;
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            drop(permit);
            r
        }
    };
    let status = reply.status;
    let bytes_out = reply.body.len();
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h: &mut HeaderMap = resp.headers_mut();
    if let Some(ct) = reply.content_type
        && let Ok(v) = HeaderValue::from_str(&ct)
    {
        h.insert(header::CONTENT_TYPE, v);
    }
    for (n, v) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.append(n, v);
        }
    }
    if ctx.close {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    shared.record(RestRequest {
        peer,
        method,
        target,
        resource: ctx.resource,
        auth: ctx.auth,
        content_type,
        status,
        bytes_in: ctx.bytes_in,
        bytes_out,
        at,
        duration: started.elapsed(),
        note: ctx.note,
    });
    resp
}

/// Path segments after the base path, percent-decoded; `None` if outside the base.
fn segments(base: &str, path: &str) -> Option<Vec<String>> {
    let rest = if let Some(r) = path.strip_prefix(base) {
        if !(r.is_empty() || r.starts_with('/')) {
            return None;
        }
        r
    } else if path.starts_with("/vzd/") || path.starts_with("//vzd/") {
        // MEDYS-REST / INS variants of the address book URL outside the base.
        path
    } else {
        return None;
    };
    Some(
        rest.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .to_string()
            })
            .collect(),
    )
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .to_string()
        })
    })
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

enum Body413 {
    TooLarge,
    Failed(String),
}

async fn read_body(
    shared: &Shared,
    req: Request<Incoming>,
    ctx: &mut Ctx,
) -> Result<Vec<u8>, Reply> {
    let limit = shared.limits.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared
        && n > limit as u64
    {
        ctx.note = Some(format!(
            "Content-Length {n} exceeds the body limit of {limit} bytes"
        ));
        ctx.close = true;
        return Err(Reply::status(413));
    }
    let r = axum::body::to_bytes(Body::new(req.into_body()), limit)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .map(|s| s.to_string().contains("length limit"))
                .unwrap_or(false)
                || e.to_string().contains("length limit");
            if too_large {
                Body413::TooLarge
            } else {
                Body413::Failed(e.to_string())
            }
        });
    match r {
        Ok(b) => {
            ctx.bytes_in = b.len();
            Ok(b.to_vec())
        }
        Err(Body413::TooLarge) => {
            ctx.bytes_in = limit;
            ctx.note = Some(format!("body exceeds the limit of {limit} bytes"));
            ctx.close = true;
            Err(Reply::status(413))
        }
        Err(Body413::Failed(e)) => {
            ctx.note = Some(format!("request body not readable: {e}"));
            ctx.close = true;
            Err(Reply::status(400))
        }
    }
}

fn xml_escape(s: &str) -> String {
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

fn format_date(t: SystemTime, f: DateFormat) -> String {
    match f {
        DateFormat::Iso8601 => time::OffsetDateTime::from(t)
            .replace_nanosecond(0)
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default(),
        DateFormat::Rfc1123 => httpdate::fmt_http_date(t),
        DateFormat::EpochMillis => t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis().to_string())
            .unwrap_or_else(|_| "0".into()),
    }
}

/// Password policy (KVC-FACTS §2, TOMEDO): at least 8 characters, 2 lower-case, 2 upper-case
/// letters and 1 digit.
pub fn password_policy_ok(p: &str) -> bool {
    p.chars().count() >= 8
        && p.chars().filter(|c| c.is_ascii_lowercase()).count() >= 2
        && p.chars().filter(|c| c.is_ascii_uppercase()).count() >= 2
        && p.chars().any(|c| c.is_ascii_digit())
}

async fn route(shared: &Shared, req: Request<Incoming>, ctx: &mut Ctx) -> Reply {
    let p = &shared.profile;
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let method = req.method().clone();
    let Some(seg) = segments(&shared.base_path, &path) else {
        ctx.resource = RestResource::Unknown;
        return Reply::status(404);
    };
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();

    // Routing (method checked per resource).
    let resource = match seg.as_slice() {
        ["server", "version"] => RestResource::Version,
        ["login", u] => RestResource::Login {
            username: u.to_string(),
        },
        ["accounts", uid] => RestResource::Account {
            uid: uid.to_string(),
        },
        ["accounts", uid, "headers"] => RestResource::Headers {
            uid: uid.to_string(),
            short: false,
        },
        ["accounts", uid, "headers(short)"] => RestResource::Headers {
            uid: uid.to_string(),
            short: true,
        },
        ["accounts", uid, "mails"] => RestResource::AllMails {
            uid: uid.to_string(),
        },
        ["accounts", uid, "mails", id @ ..] if !id.is_empty() => RestResource::Mail {
            uid: uid.to_string(),
            message_id: normalise_message_id(&id.join("/")),
        },
        ["accounts", uid, "certificate"] => RestResource::AccountCertificate {
            uid: uid.to_string(),
        },
        ["accounts", uid, "password"] => RestResource::Password {
            uid: uid.to_string(),
        },
        ["mails"] => RestResource::Send,
        ["csr"] => RestResource::CsrSubmit,
        ["csr", id] => RestResource::CsrStatus { id: id.to_string() },
        ["certificates"] => RestResource::Certificates {
            uid: query_param(query.as_deref(), "uid"),
            email: query_param(query.as_deref(), "email"),
        },
        ["vzd", f] if *f == "accounts.json.zip" || *f == "accounts.xml.zip" => {
            RestResource::AddressBook {
                file: f.to_string(),
            }
        }
        _ => RestResource::Unknown,
    };
    ctx.resource = resource.clone();
    let allowed: &[Method] = match &resource {
        RestResource::Mail { .. } => &[Method::GET, Method::DELETE],
        RestResource::Send | RestResource::CsrSubmit | RestResource::Password { .. } => {
            &[Method::POST]
        }
        RestResource::AccountCertificate { .. } => &[Method::DELETE],
        RestResource::Unknown | RestResource::NotRouted => return Reply::status(404),
        _ => &[Method::GET],
    };
    if !allowed.contains(&method) {
        let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        return Reply::status(405).header(header::ALLOW, allow.join(", "));
    }

    // Resources without authentication (R1, R14).
    match &resource {
        RestResource::Version => {
            return Reply::body(
                200,
                &p.text_media_type,
                p.server_version.clone().into_bytes(),
            );
        }
        RestResource::AddressBook { file } => {
            return address_book(shared, file, req.headers());
        }
        _ => {}
    }

    // BASIC authentication.
    let Some((user, password)) = basic_credentials(req.headers()) else {
        ctx.auth = RestAuth::Missing;
        ctx.note = Some("no BASIC credentials".into());
        return unauthorized(p);
    };
    let me = {
        let s = shared.lock();
        s.accounts
            .iter()
            .find(|a| a.account.username == user && a.account.password == password)
            .map(|a| a.account.clone())
    };
    let Some(me) = me else {
        ctx.auth = RestAuth::Failed { user: user.clone() };
        ctx.note = Some(format!("wrong user or password for `{user}`"));
        return unauthorized(p);
    };
    ctx.auth = RestAuth::Ok {
        user: me.username.clone(),
    };
    let owner_check = |uid: &str, ctx: &mut Ctx| -> Option<Reply> {
        if uid != me.uid {
            ctx.note = Some(format!(
                "`{}` is not the owner of account uid `{uid}`",
                me.username
            ));
            return Some(Reply::status(p.forbidden_status));
        }
        None
    };
    if p.enforce_password_change
        && me.password_change_needed
        && !matches!(
            resource,
            RestResource::Login { .. }
                | RestResource::Account { .. }
                | RestResource::Password { .. }
        )
    {
        ctx.note = Some("the initial password must be changed first".into());
        return Reply::status(p.forbidden_status);
    }

    match resource {
        RestResource::Login { username } => {
            if username != me.username {
                ctx.note = Some(format!(
                    "login for `{username}` with the credentials of `{}`",
                    me.username
                ));
                return Reply::status(p.forbidden_status);
            }
            let loc = format!("{}/accounts/{}", shared.base_path, me.uid);
            Reply::status(p.login_redirect_status).header(header::LOCATION, loc)
        }
        RestResource::Account { uid } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            let s = shared.lock();
            let Some(a) = s.accounts.iter().find(|a| a.account.uid == uid) else {
                return Reply::status(404);
            };
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<account uid=\"{}\"><email>{}</email><passwordLastChange>{}</passwordLastChange><passwordChangeNeeded>{}</passwordChangeNeeded></account>\n",
                xml_escape(&a.account.uid),
                xml_escape(&a.account.email),
                format_date(a.password_last_change, p.date_format),
                a.account.password_change_needed
            );
            Reply::body(200, &p.xml_media_type, xml.into_bytes())
        }
        RestResource::Headers { uid, short } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            let mails = mails_of(shared, &uid);
            let n = mails.len();
            let num =
                |k: &str| query_param(query.as_deref(), k).and_then(|v| v.parse::<usize>().ok());
            let (from, to) = if p.header_window_zero_based {
                (num("from").unwrap_or(0), num("to").unwrap_or(n))
            } else {
                (
                    num("from").map(|f| f.saturating_sub(1)).unwrap_or(0),
                    num("to").unwrap_or(n),
                )
            };
            let to = to.min(n);
            let from = from.min(to);
            let fields: Vec<String> = if short {
                p.short_header_fields.clone()
            } else {
                HEADER_FIELDS.iter().map(|s| s.to_string()).collect()
            };
            let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<headers>");
            for m in &mails[from..to] {
                let (h, _) = kvc_smime::mime::split_header_body(&m.raw);
                let hdr = kvc_smime::mime::Headers::parse(h);
                xml.push_str("<header>");
                for f in &fields {
                    let value = if f == "message-id" {
                        Some(m.id.clone())
                    } else {
                        hdr.get(f).map(str::to_string)
                    };
                    if let Some(v) = value {
                        xml.push_str(&format!("<{f}>{}</{f}>", xml_escape(&v)));
                    }
                }
                xml.push_str("</header>");
            }
            xml.push_str("</headers>\n");
            Reply::body(200, &p.xml_media_type, xml.into_bytes())
        }
        RestResource::AllMails { uid } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            let mails = mails_of(shared, &uid);
            let boundary = format!("kvc-mock-{}", uuid::Uuid::new_v4().simple());
            let mut body = Vec::new();
            for m in &mails {
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(&m.raw);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            Reply::body(
                200,
                &format!("multipart/mixed; boundary=\"{boundary}\""),
                body,
            )
        }
        RestResource::Mail { uid, message_id } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            if method == Method::GET {
                let found = mails_of(shared, &uid)
                    .into_iter()
                    .find(|m| m.id == message_id);
                match found {
                    Some(m) => Reply::body(200, &p.mail_media_type, m.raw.to_vec()),
                    None => {
                        ctx.note = Some(format!("no message `{message_id}` in the mailbox"));
                        Reply::status(404)
                    }
                }
            } else {
                let fault = shared.lock().faults.delete_status;
                if let Some(code) = fault {
                    ctx.note = Some(format!("scripted fault: delete answers {code}"));
                    return Reply::status(code);
                }
                let removed = shared.update(|s| {
                    s.accounts
                        .iter_mut()
                        .find(|a| a.account.uid == uid)
                        .and_then(|a| {
                            let i = a.mails.iter().position(|m| m.id == message_id)?;
                            Some(a.mails.remove(i))
                        })
                        .is_some()
                });
                if removed {
                    Reply::status(p.delete_status)
                } else {
                    ctx.note = Some(format!("no message `{message_id}` in the mailbox"));
                    Reply::status(404)
                }
            }
        }
        RestResource::Send => {
            let content_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = match read_body(shared, req, ctx).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            send(shared, &me, body, content_type, ctx)
        }
        RestResource::CsrSubmit => {
            let body = match read_body(shared, req, ctx).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let pem = String::from_utf8_lossy(&body).to_string();
            if !pem.contains("-----BEGIN CERTIFICATE REQUEST-----")
                && !pem.contains("-----BEGIN NEW CERTIFICATE REQUEST-----")
            {
                ctx.note = Some("body is no PEM certificate request".into());
                return Reply::status(400);
            }
            let id = shared.update(|s| {
                let id = s.next_id.to_string();
                s.next_id += 1;
                let record_index = s.obs.csrs.len();
                s.obs.csrs.push(CsrRecord {
                    id: id.clone(),
                    user: me.username.clone(),
                    pem,
                    statuses: Vec::new(),
                });
                s.csrs.insert(
                    id.clone(),
                    CsrState {
                        record_index,
                        username: me.username.clone(),
                        polls: 0,
                        issued: None,
                    },
                );
                id
            });
            let loc = format!("{}/csr/{id}", shared.base_path);
            Reply::body(
                p.csr_created_status,
                &p.text_media_type,
                loc.clone().into_bytes(),
            )
            .header(header::LOCATION, loc)
        }
        RestResource::CsrStatus { id } => csr_status(shared, &me, &id, ctx),
        RestResource::Certificates { uid, email } => {
            let s = shared.lock();
            let acc = s.accounts.iter().find(|a| {
                uid.as_deref().is_some_and(|u| a.account.uid == u)
                    || email
                        .as_deref()
                        .is_some_and(|e| a.account.email.eq_ignore_ascii_case(e))
            });
            let Some(acc) = acc else {
                ctx.note = Some("no such account".into());
                return Reply::status(404);
            };
            let fault = s.faults.recipient_certificates.iter().find_map(|(k, v)| {
                (k.eq_ignore_ascii_case(&acc.account.username)
                    || k.eq_ignore_ascii_case(&acc.account.email))
                .then_some(v)
            });
            let pem = match fault {
                Some(RecipientCertFault::Missing) => {
                    ctx.note = Some("scripted fault: certificate missing".into());
                    None
                }
                Some(RecipientCertFault::Replace(pem)) => {
                    ctx.note = Some("scripted fault: certificate replaced".into());
                    Some(pem.clone())
                }
                None => acc.account.certificate_pem.clone(),
            };
            let Some(pem) = pem else {
                return Reply::status(404);
            };
            let (id, from, to) = cert_facts(&pem);
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<certificate><id>{}</id><email>{}</email><body>{}</body><validFrom>{}</validFrom><validTo>{}</validTo></certificate>\n",
                xml_escape(&id),
                xml_escape(&acc.account.email),
                xml_escape(pem.trim_end()),
                from.map(|t| format_date(t, p.date_format))
                    .unwrap_or_default(),
                to.map(|t| format_date(t, p.date_format))
                    .unwrap_or_default(),
            );
            Reply::body(200, &p.xml_media_type, xml.into_bytes())
        }
        RestResource::AccountCertificate { uid } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            shared.update(|s| {
                if let Some(a) = s.accounts.iter_mut().find(|a| a.account.uid == uid) {
                    a.account.certificate_pem = None;
                }
                s.last_change = SystemTime::now();
            });
            Reply::status(p.delete_status)
        }
        RestResource::Password { uid } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            let body = match read_body(shared, req, ctx).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let new = String::from_utf8_lossy(&body);
            let new = new.trim_end_matches(['\r', '\n']);
            if new.is_empty() {
                ctx.note = Some("new password empty".into());
                return Reply::status(400);
            }
            if !password_policy_ok(new) {
                ctx.note = Some(
                    "new password violates the policy (>= 8 chars, 2 lower, 2 upper, 1 digit)"
                        .into(),
                );
                return Reply::status(422);
            }
            let new = new.to_string();
            shared.update(|s| {
                if let Some(a) = s.accounts.iter_mut().find(|a| a.account.uid == uid) {
                    a.account.password = new;
                    a.account.password_change_needed = false;
                    a.password_last_change = SystemTime::now();
                }
            });
            Reply::status(p.password_ok_status)
        }
        RestResource::Version
        | RestResource::AddressBook { .. }
        | RestResource::Unknown
        | RestResource::NotRouted => Reply::status(404),
    }
}

fn unauthorized(p: &KvcRestProfile) -> Reply {
    Reply::status(p.unauthorized_status).header(
        header::WWW_AUTHENTICATE,
        format!("Basic realm=\"{}\"", p.basic_realm),
    )
}

fn mails_of(shared: &Shared, uid: &str) -> Vec<StoredMail> {
    shared
        .lock()
        .accounts
        .iter()
        .find(|a| a.account.uid == uid)
        .map(|a| a.mails.clone())
        .unwrap_or_default()
}

/// Serial (hex) and validity of a PEM certificate (empty/None if it does not parse).
fn cert_facts(pem: &str) -> (String, Option<SystemTime>, Option<SystemTime>) {
    match kvc_smime::keys::parse_certificates(pem.as_bytes(), "account certificate") {
        Ok(certs) if !certs.is_empty() => {
            let tbs = certs[0].tbs_certificate();
            let serial: String = tbs
                .serial_number()
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();
            let v = tbs.validity();
            (
                serial,
                Some(v.not_before.to_system_time()),
                Some(v.not_after.to_system_time()),
            )
        }
        _ => (String::new(), None, None),
    }
}

fn send(
    shared: &Shared,
    me: &KvcRestAccount,
    body: Vec<u8>,
    content_type: Option<String>,
    ctx: &mut Ctx,
) -> Reply {
    let p = &shared.profile;
    let (h, _) = kvc_smime::mime::split_header_body(&body);
    let hdr = kvc_smime::mime::Headers::parse(h);
    let mut rcpts: Vec<String> = Vec::new();
    for name in ["To", "Cc"] {
        for v in hdr.get_all(name) {
            rcpts.extend(kvc_smime::mime::addresses(v));
        }
    }
    let fault = shared.lock().faults.send_status;
    let raw_for_mailbox = body.clone();
    let cost = body.len().saturating_mul(1 + rcpts.len());
    shared.update(|s| {
        let id = s.next_id.to_string();
        s.next_id += 1;
        if s.stored_bytes.saturating_add(cost) > shared.limits.max_stored_bytes {
            ctx.note = Some(format!(
                "mock storage limit of {} bytes reached: body dropped",
                shared.limits.max_stored_bytes
            ));
            return Reply::status(507);
        }
        s.stored_bytes += cost;
        let mut delivered = Vec::new();
        let mut unknown = Vec::new();
        let status = fault.unwrap_or(p.send_status);
        if fault.is_none() {
            for r in &rcpts {
                match s
                    .accounts
                    .iter_mut()
                    .find(|a| a.account.email.eq_ignore_ascii_case(r))
                {
                    Some(a) => {
                        let n = s.next_id;
                        a.mails.push(stored(raw_for_mailbox.clone(), n));
                        delivered.push(a.account.username.clone());
                    }
                    None => unknown.push(r.clone()),
                }
            }
            s.next_id += 1;
        }
        let from_matches = hdr
            .get("From")
            .map(kvc_smime::mime::addresses)
            .unwrap_or_default()
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&me.email));
        let mut notes = Vec::new();
        if let Some(code) = fault {
            notes.push(format!("scripted fault: send answers {code}"));
        }
        if rcpts.is_empty() {
            notes.push("no To/Cc address in the message".to_string());
        }
        if !unknown.is_empty() {
            notes.push(format!("unknown recipients: {}", unknown.join(", ")));
        }
        if !from_matches {
            notes.push(format!("From is not the sender's address {}", me.email));
        }
        if !notes.is_empty() {
            ctx.note = Some(notes.join("; "));
        }
        if s.obs.posted.len() < MAX_RECORDS {
            s.obs.posted.push(PostedMail {
                user: me.username.clone(),
                content_type,
                data: body,
                status,
                delivered_to: delivered,
                unknown_recipients: unknown,
                id: id.clone(),
            });
        } else {
            s.obs.dropped_records += 1;
        }
        let loc = format!("{}/mails/{id}", shared.base_path);
        if fault.is_some() {
            Reply::status(status)
        } else {
            Reply::body(status, &p.text_media_type, loc.clone().into_bytes())
                .header(header::LOCATION, loc)
        }
    })
}

fn csr_status(shared: &Shared, me: &KvcRestAccount, id: &str, ctx: &mut Ctx) -> Reply {
    let p = &shared.profile;
    let issuer = shared
        .csr_issuer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let step = shared.update(|s| {
        let final_fault = s.faults.csr_final_status;
        let st = s.csrs.get_mut(id)?;
        if st.username != me.username {
            return Some(Err(()));
        }
        let mut prog = p.csr_progression.clone();
        if let Some(f) = final_fault
            && let Some(last) = prog.last_mut()
        {
            *last = f;
        }
        let i = st.polls.min(prog.len() - 1);
        st.polls += 1;
        let code = prog[i];
        let idx = st.record_index;
        let statuses = s.obs.csrs.get_mut(idx).map(|r| {
            if r.statuses.last() != Some(&code) || r.statuses.len() <= i {
                r.statuses.push(code);
            }
            r.statuses.clone()
        });
        let pem = s.obs.csrs.get(idx).map(|r| r.pem.clone());
        let issued = s.csrs.get(id).and_then(|st| st.issued.clone());
        Some(Ok((code, statuses.unwrap_or_default(), pem, issued)))
    });
    let (code, mut statuses, pem, issued) = match step {
        None => {
            ctx.note = Some(format!("no CSR `{id}`"));
            return Reply::status(404);
        }
        Some(Err(())) => {
            ctx.note = Some("CSR of another account".into());
            return Reply::status(p.forbidden_status);
        }
        Some(Ok(x)) => x,
    };
    let mut outcome = issued;
    if code == 999
        && outcome.is_none()
        && let (Some(issuer), Some(pem)) = (issuer, pem)
    {
        let r = issuer(&pem, me);
        if let Ok(cert) = &r {
            let cert = cert.clone();
            shared.update(|s| {
                if let Some(a) = s
                    .accounts
                    .iter_mut()
                    .find(|a| a.account.username == me.username)
                {
                    a.account.certificate_pem = Some(cert);
                }
                s.last_change = SystemTime::now();
            });
        }
        let r = r.map(|_| ());
        shared.update(|s| {
            if let Some(st) = s.csrs.get_mut(id) {
                st.issued = Some(r.clone());
                if r.is_err()
                    && let Some(rec) = s.obs.csrs.get_mut(st.record_index)
                {
                    rec.statuses.push(903);
                }
            }
        });
        outcome = Some(r);
    }
    if let Some(Err(e)) = outcome {
        ctx.note = Some(format!("CSR refused by the issuer: {e}"));
        if statuses.last() != Some(&903) {
            statuses.push(903);
        }
    }
    let mut xml =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<csr-status><status-entries>");
    for c in statuses.iter().rev() {
        xml.push_str(&format!("<status-entry status=\"{c}\"/>"));
    }
    xml.push_str("</status-entries></csr-status>\n");
    Reply::body(200, &p.xml_media_type, xml.into_bytes())
}

// ------------------------------------------------------------------------------------------
// Address book (R14)

fn address_book(shared: &Shared, file: &str, headers: &HeaderMap) -> Reply {
    let p = &shared.profile;
    let (entries, last_change) = {
        let s = shared.lock();
        (
            s.accounts
                .iter()
                .map(|a| a.account.clone())
                .collect::<Vec<_>>(),
            s.last_change,
        )
    };
    let last_secs = last_change
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let ims_secs = ims
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if ims_secs >= last_secs {
            return Reply::status(304);
        }
    }
    let json = file.contains("json");
    let inner_name = if json {
        "accounts.json"
    } else {
        "accounts.xml"
    };
    let mut inner = String::new();
    if json {
        inner.push('[');
        for (i, a) in entries.iter().enumerate() {
            if i > 0 {
                inner.push(',');
            }
            inner.push_str(&format!(
                "{{\"username\":{},\"mail\":{},\"givenName\":{},\"sn\":{},\"street\":{},\"postalCode\":{},\"l\":{},\"hasCertificate\":{}}}",
                json_str(&a.username),
                json_str(&a.email),
                json_str(&a.given_name),
                json_str(&a.surname),
                json_str(&a.street),
                json_str(&a.postal_code),
                json_str(&a.locality),
                a.certificate_pem.is_some()
            ));
        }
        inner.push(']');
    } else {
        inner.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<accounts>");
        for a in &entries {
            inner.push_str(&format!(
                "<account><username>{}</username><mail>{}</mail><givenName>{}</givenName><sn>{}</sn><street>{}</street><postalCode>{}</postalCode><l>{}</l></account>",
                xml_escape(&a.username),
                xml_escape(&a.email),
                xml_escape(&a.given_name),
                xml_escape(&a.surname),
                xml_escape(&a.street),
                xml_escape(&a.postal_code),
                xml_escape(&a.locality)
            ));
        }
        inner.push_str("</accounts>\n");
    }
    let zip = stored_zip(inner_name, inner.as_bytes());
    let _ = p;
    Reply::body(200, "application/zip", zip)
        .header(header::LAST_MODIFIED, httpdate::fmt_http_date(last_change))
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A ZIP archive with one stored (uncompressed) file.
pub fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(data);
    let size = data.len() as u32;
    let name_b = name.as_bytes();
    let mut out = Vec::with_capacity(data.len() + 128);
    // Local file header.
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes()); // version needed
    out.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: UTF-8 names
    out.extend_from_slice(&0u16.to_le_bytes()); // stored
    out.extend_from_slice(&0u16.to_le_bytes()); // time
    out.extend_from_slice(&0x0021u16.to_le_bytes()); // date 1980-01-01
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&(name_b.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name_b);
    out.extend_from_slice(data);
    let cd_offset = out.len() as u32;
    // Central directory.
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes()); // made by
    out.extend_from_slice(&20u16.to_le_bytes()); // needed
    out.extend_from_slice(&0x0800u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0x0021u16.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&(name_b.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // extra
    out.extend_from_slice(&0u16.to_le_bytes()); // comment
    out.extend_from_slice(&0u16.to_le_bytes()); // disk
    out.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
    out.extend_from_slice(&0u32.to_le_bytes()); // external attrs
    out.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    out.extend_from_slice(name_b);
    let cd_size = out.len() as u32 - cd_offset;
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

// ------------------------------------------------------------------------------------------
// Standalone

/// Runs the mock KV-Connect REST server and directory standalone until Ctrl-C, on 127.0.0.1:
/// HTTPS on `port` (0 = ephemeral; the real reference system uses 8443) and LDAPS on
/// `ldaps_port` (0 = ephemeral; real: 636). Writes the TLS CA certificate to `ca_out` and, next
/// to it, the user PKI: `kvc-user-root.pem` (trust anchor for message signatures) and the
/// first account's `<username>.cert.pem` / `<username>.key.pem` (to decrypt what it is served).
/// `mailbox` is served from the first account's mailbox; if it is empty, one message built like
/// the reference sample (from `arzt.2`) is served. Prints endpoints, accounts, files, and every
/// request as it is handled. Wired to `kvc-check mocks serve kvc-rest`.
pub async fn serve_kvc_rest(
    port: u16,
    ldaps_port: u16,
    ca_out: &Path,
    mailbox: Vec<Vec<u8>>,
) -> Result<KvcRestObservations, MockError> {
    use crate::kvc_messages::{
        KvcMessagePki, KvcMessageSpec, KvcMessageVariant, build_served_message,
    };
    let mut config = KvcRestConfig {
        port,
        ..KvcRestConfig::default()
    };
    config
        .accounts
        .push(KvcRestAccount::new("arzt.2", "Geheim34"));
    let (sut_email, sender_email) = (
        config.accounts[0].email.clone(),
        config.accounts[1].email.clone(),
    );
    let users = KvcMessagePki::generate(&sut_email, &sender_email)?;
    let pem = |c: &kvc_smime::pki::CertifiedKey| {
        c.certificate_pem()
            .map_err(|e| MockError::Pki(e.to_string()))
    };
    config.accounts[0].certificate_pem = Some(pem(&users.sut)?);
    config.accounts[1].certificate_pem = Some(pem(&users.sender)?);
    config.accounts[0].mailbox = if mailbox.is_empty() {
        vec![build_served_message(
            &users,
            &KvcMessageSpec::arztbrief(&sender_email, &sut_email),
            KvcMessageVariant::Valid,
        )?]
    } else {
        mailbox
    };
    let pki = TlsPki::generate(&config.host)?;
    pki.write_ca(ca_out)?;
    let dir = ca_out.parent().unwrap_or_else(|| Path::new("."));
    let write = |name: &str, data: String| {
        let path = dir.join(name);
        // The user's private key is for the owner only (0600, whatever the umask).
        if name.ends_with(".key.pem") {
            kvc_smime::files::write_private(&path, data.as_bytes())
        } else {
            std::fs::write(&path, data)
        }
        .map_err(|source| MockError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok::<_, MockError>(path)
    };
    let root_file = write("kvc-user-root.pem", users.root_pem()?)?;
    let user = config.accounts[0].username.clone();
    let cert_file = write(&format!("{user}.cert.pem"), pem(&users.sut)?)?;
    let key_file = write(
        &format!("{user}.key.pem"),
        users
            .sut
            .key_pem()
            .map_err(|e| MockError::Pki(e.to_string()))?,
    )?;
    let accounts = config.accounts.clone();
    let dir_config = crate::kvc_directory::KvcDirectoryConfig {
        port: ldaps_port,
        ..crate::kvc_directory::KvcDirectoryConfig::from_accounts(&accounts, &config.profile)
    };
    let mock = KvcRestMock::start(config, &pki).await?;
    mock.set_csr_issuer(Some(users.csr_issuer()));
    let directory = crate::kvc_directory::KvcDirectoryMock::start(dir_config, &pki).await?;
    println!("mock KV-Connect REST server and directory running (Ctrl-C to stop)");
    println!("  REST base URL: {}", mock.base_url());
    println!(
        "  directory: {} (base {})",
        directory.url(),
        crate::kvc_directory::KV_DIRECTORY_BASE_DN
    );
    for a in &accounts {
        println!(
            "  account: user `{}` password `{}` uid `{}` address {} ({} message(s))",
            a.username,
            a.password,
            a.uid,
            a.email,
            a.mailbox.len()
        );
    }
    println!("  TLS CA certificate to trust: {}", ca_out.display());
    println!("  user CA (message signatures): {}", root_file.display());
    println!(
        "  {user}'s certificate / key: {} / {}",
        cert_file.display(),
        key_file.display()
    );
    if let Some(a) = accounts.first() {
        println!(
            "  try: curl --cacert {} -u {}:{} {}/accounts/{}/headers",
            ca_out.display(),
            a.username,
            a.password,
            mock.base_url(),
            a.uid
        );
    }
    let report = async {
        let mut seen = 0usize;
        loop {
            let obs = mock
                .wait_for_requests(seen + 1, Duration::from_millis(500))
                .await;
            for r in obs.requests.iter().skip(seen) {
                seen += 1;
                println!(
                    "{} {} -> {} ({} in, {} out){}",
                    r.method,
                    r.target,
                    r.status,
                    r.bytes_in,
                    r.bytes_out,
                    r.note
                        .as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                );
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = report => {}
    }
    let obs = mock.observations();
    mock.shutdown().await;
    directory.shutdown().await;
    println!(
        "stopped: {} connection(s), {} request(s), {} mail(s) posted",
        obs.connections.len(),
        obs.requests.len(),
        obs.posted.len()
    );
    Ok(obs)
}
