//! The mock Konnektor as a KIM Clientmodul calls it: an HTTPS server (TLS always; client
//! certificate and BASIC authentication selectable, as connector.sds announces them) serving
//! `GET /connector.sds` and the SOAP services of KIM-FACTS §4 on the card test PKI.
//!
//! Every request is read namespace-aware and checked against what the WSDL/XSD demand
//! ([`soap`]); a request that does not conform is answered with a SOAP fault carrying a
//! TelematikError and recorded with the reason, so a case can fail the Clientmodul for it.
//! Scripted faults ([`KonnektorFaults`]) change the answers per case; every call is recorded
//! ([`KonnektorCall`]) with operation, Context, card handle, bounded request and response
//! bodies, outcome and timing; the TLS client identity is in the connection records.

pub mod client;
pub mod operations;
pub mod records;
pub mod services;
pub mod soap;
mod xml;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{Request, header};
use hyper::body::Incoming;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use x509_cert::Certificate;

use crate::error::MockError;
use crate::evidence::{Evidence, Resource};
use crate::http::server::{BoxFuture, RecordingRoutes, basic_credentials, read_body};
use crate::http::{
    BasicAuth, Exchange, HttpConnection, HttpLimits, HttpRecords, HttpRequest, Reply,
};
use crate::net::recorder::Recorder;
use crate::net::tls::{ClientAuth, ServerCertKind, TlsPki};
use kvc_smime::card_pki::Card;
pub use records::KonnektorCall;
pub use services::{EndpointLayout, Operation, ServiceVersion};
pub use soap::{CallContext, Violation};

/// Bytes of a request or response body kept in a record.
pub const RECORDED_BODY_BYTES: usize = 8 * 1024;

/// The PIN state of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinState {
    Verified,
    /// Not verified yet; VerifyPin makes it verified.
    Verifiable,
    Blocked,
    TransportPin,
}

/// A card in a terminal of the mock.
#[derive(Debug, Clone)]
pub struct InsertedCard {
    pub handle: String,
    pub ct_id: String,
    pub slot_id: u32,
    pub card: Card,
    pub pin: PinState,
    pub inserted: bool,
}

impl InsertedCard {
    /// A card in slot `slot_id` of terminal `CT-1`, PIN verified.
    pub fn new(handle: &str, slot_id: u32, card: Card) -> InsertedCard {
        InsertedCard {
            handle: handle.to_string(),
            ct_id: "CT-1".to_string(),
            slot_id,
            card,
            pin: PinState::Verified,
            inserted: true,
        }
    }
}

/// A Context the Konnektor knows (Mandant, client system, workplace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KnownContext {
    pub mandant_id: String,
    pub client_system_id: String,
    pub workplace_id: String,
}

impl Default for KnownContext {
    fn default() -> Self {
        KnownContext {
            mandant_id: "Mandant1".into(),
            client_system_id: "KIM-CM".into(),
            workplace_id: "Workplace1".into(),
        }
    }
}

/// Scripted faults of one case (recorded on every call they change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KonnektorFaults {
    /// No card inserted: GetCards lists none, card operations fail with 4008.
    pub no_card: bool,
    /// Every card's PIN is in this state instead of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinState>,
    /// After this many answered calls every card counts as removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_cards_after: Option<usize>,
    /// Every answer is delayed by this long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_delay: Option<Duration>,
    /// VerifyDocument answers with this Konnektor code (4115, 4253, 4112, 4206, 4264).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_document_code: Option<u32>,
    /// SignDocument returns a CMS cut in half.
    pub broken_signature: bool,
}

impl KonnektorFaults {
    /// The faults in effect as short names (for records and reports).
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.no_card {
            out.push("no-card".to_string());
        }
        if let Some(p) = self.pin {
            out.push(format!("pin-{p:?}").to_ascii_lowercase());
        }
        if let Some(n) = self.remove_cards_after {
            out.push(format!("card-removed-after-{n}-calls"));
        }
        if let Some(d) = self.response_delay {
            out.push(format!("delay-{}ms", d.as_millis()));
        }
        if let Some(c) = self.verify_document_code {
            out.push(format!("verify-document-{c}"));
        }
        if self.broken_signature {
            out.push("broken-signature".to_string());
        }
        out
    }
}

/// Configuration of [`KonnektorMock`]; build it with `..KonnektorConfig::default()`.
#[derive(Debug, Clone)]
pub struct KonnektorConfig {
    pub bind: IpAddr,
    /// 0 = ephemeral.
    pub port: u16,
    /// Host name in the endpoint URLs (the valid TLS certificate is issued for it).
    pub host: String,
    pub cert: ServerCertKind,
    /// `ClientAutMandatory`: a client certificate from the test CA is required.
    pub client_auth: ClientAuth,
    /// User and password every request must carry (BASIC), if any.
    pub basic_auth: Option<(String, String)>,
    pub layout: EndpointLayout,
    pub contexts: Vec<KnownContext>,
    pub cards: Vec<InsertedCard>,
    /// What VerifyCertificate and VerifyDocument trust (the card PKI's CAs).
    pub trust: Vec<Certificate>,
    pub faults: KonnektorFaults,
    pub limits: HttpLimits,
}

impl Default for KonnektorConfig {
    fn default() -> Self {
        KonnektorConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            host: "localhost".into(),
            cert: ServerCertKind::Valid,
            client_auth: ClientAuth::None,
            basic_auth: None,
            layout: EndpointLayout::default(),
            contexts: vec![KnownContext::default()],
            cards: Vec::new(),
            trust: Vec::new(),
            faults: KonnektorFaults::default(),
            limits: HttpLimits {
                header_timeout: Duration::from_secs(10),
                request_timeout: Duration::from_secs(60),
                max_connections: 256,
                max_in_flight: 256,
            },
        }
    }
}

/// The card and PIN state and the scripted faults, changed by calls and by the case.
pub struct State {
    pub cards: Vec<InsertedCard>,
    pub trust: Vec<Certificate>,
    pub faults: KonnektorFaults,
    pub job_number: u32,
    answered: usize,
    http: HttpRecords<KonnektorCall>,
}

struct Shared {
    state: Recorder<State>,
    services: Vec<ServiceVersion>,
    sds: Mutex<String>,
    contexts: Vec<KnownContext>,
    basic_auth: Option<(String, String)>,
    /// Bytes of request and response bodies the records may still keep.
    body_budget: std::sync::atomic::AtomicUsize,
}

/// Bodies kept in records over a mock's life (a long standalone run stays bounded).
pub const RECORDED_BODY_BUDGET: usize = 32 * 1024 * 1024;

impl Shared {
    /// The body as a record keeps it: bounded per body and in all.
    fn keep(&self, bytes: &[u8]) -> String {
        use std::sync::atomic::Ordering;
        let want = bytes.len().min(RECORDED_BODY_BYTES);
        let granted = self
            .body_budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(want)
            })
            .is_ok();
        if granted {
            bounded(bytes)
        } else {
            format!(
                "({} bytes, not kept: the record budget is used up)",
                bytes.len()
            )
        }
    }
}

/// `xs:dateTime` in UTC.
pub(crate) fn xsd_date_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => "1970-01-01T00:00:00Z".into(),
    }
}

fn bounded(bytes: &[u8]) -> String {
    let cut = bytes.len().min(RECORDED_BODY_BYTES);
    let mut s = String::from_utf8_lossy(&bytes[..cut]).into_owned();
    if bytes.len() > cut {
        s.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    s
}

fn envelope(soap12: bool, body: &str) -> String {
    let ns = if soap12 {
        services::NS_SOAP12
    } else {
        services::NS_SOAP11
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{ns}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

/// A SOAP fault (HTTP 500) with a TelematikError in its detail.
fn fault(soap12: bool, v: &Violation) -> Reply {
    let error = operations::error_element(v.code, v.error_text);
    let text = xml::escape(v.error_text);
    let body = if soap12 {
        format!(
            "<soap:Fault><soap:Code><soap:Value>soap:Receiver</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang=\"de\">{text}</soap:Text></soap:Reason><soap:Detail>{error}</soap:Detail></soap:Fault>"
        )
    } else {
        format!(
            "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>{text}</faultstring><detail>{error}</detail></soap:Fault>"
        )
    };
    Reply::body(
        500,
        content_type(soap12),
        envelope(soap12, &body).into_bytes(),
    )
}

fn content_type(soap12: bool) -> &'static str {
    if soap12 {
        "application/soap+xml; charset=utf-8"
    } else {
        "text/xml; charset=utf-8"
    }
}

impl Shared {
    fn find_service(&self, path: &str) -> Option<&ServiceVersion> {
        self.services.iter().find(|s| s.path == path)
    }

    fn check_context(&self, ctx: &CallContext) -> Result<(), Violation> {
        let mandant: Vec<&KnownContext> = self
            .contexts
            .iter()
            .filter(|k| k.mandant_id == ctx.mandant_id)
            .collect();
        let refuse = |c: (u32, &'static str), what: &str, value: &str| Violation {
            code: c.0,
            error_text: c.1,
            reason: format!("Context/{what} `{value}` is not configured at the Konnektor"),
        };
        if mandant.is_empty() {
            return Err(refuse(soap::codes::MANDANT, "MandantId", &ctx.mandant_id));
        }
        let cs: Vec<&&KnownContext> = mandant
            .iter()
            .filter(|k| k.client_system_id == ctx.client_system_id)
            .collect();
        if cs.is_empty() {
            return Err(refuse(
                soap::codes::CLIENT_SYSTEM,
                "ClientSystemId",
                &ctx.client_system_id,
            ));
        }
        if !cs.iter().any(|k| k.workplace_id == ctx.workplace_id) {
            return Err(refuse(
                soap::codes::WORKPLACE,
                "WorkplaceId",
                &ctx.workplace_id,
            ));
        }
        Ok(())
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
        ex: &mut Exchange<(KonnektorCall, BasicAuth)>,
    ) -> Reply {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        if let Some((user, password)) = &self.basic_auth {
            ex.tag.1 = match basic_credentials(req.headers()) {
                None => BasicAuth::Missing,
                Some((u, p)) if &u == user && &p == password => BasicAuth::Ok { user: u },
                Some((u, _)) => BasicAuth::Failed { user: u },
            };
            if !matches!(ex.tag.1, BasicAuth::Ok { .. }) {
                ex.tag.0.outcome = "http 401".into();
                ex.tag.0.reason = Some("BASIC authentication missing or wrong".into());
                return Reply::status(401)
                    .header(header::WWW_AUTHENTICATE, "Basic realm=\"Konnektor\"");
            }
        }
        if path == "/connector.sds" {
            ex.tag.0.operation = "connector.sds".into();
            if method != axum::http::Method::GET {
                ex.tag.0.outcome = "http 405".into();
                return Reply::status(405).header(header::ALLOW, "GET");
            }
            let sds = self.sds.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Reply::body(200, "application/xml; charset=utf-8", sds.into_bytes());
        }
        let Some(service) = self.find_service(&path).cloned() else {
            ex.tag.0.operation = "unknown".into();
            ex.tag.0.outcome = "http 404".into();
            ex.tag.0.reason = Some(format!("no service at `{path}` (see connector.sds)"));
            return Reply::status(404);
        };
        ex.tag.0.endpoint = Some(format!("{} {}", service.service, service.version));
        if method != axum::http::Method::POST {
            ex.tag.0.outcome = "http 405".into();
            return Reply::status(405).header(header::ALLOW, "POST");
        }
        let header_str = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let ct = header_str("content-type");
        let action = soap::soap_action(header_str("soapaction").as_deref(), ct.as_deref());
        let body = match read_body(req, soap::MAX_REQUEST_BYTES, ex).await {
            Ok(b) => b,
            Err(reply) => {
                ex.tag.0.outcome = format!("http {}", reply.status);
                return reply;
            }
        };
        ex.tag.0.request = self.keep(&body);
        let parsed = soap::read_request(&body, ct.as_deref(), action.as_deref(), &service);
        let soap12 = match &parsed {
            Ok(r) => r.soap12,
            Err(_) => std::str::from_utf8(&body).is_ok_and(soap::envelope_is_soap12),
        };
        let result = parsed.and_then(|r| {
            ex.tag.0.operation = r.operation.name().to_string();
            ex.tag.0.context = Some(r.context.clone());
            ex.tag.0.card_handle = r.call.card_handle().map(str::to_string);
            ex.tag.0.recipient_emails = r.call.recipient_emails();
            self.check_context(&r.context)?;
            let now = SystemTime::now();
            self.state.record(|s| {
                if let Some(n) = s.faults.remove_cards_after
                    && s.answered >= n
                {
                    for c in &mut s.cards {
                        c.inserted = false;
                    }
                }
                if let Some(p) = s.faults.pin {
                    for c in &mut s.cards {
                        c.pin = p;
                    }
                }
                ex.tag.0.faults = s.faults.names();
                s.answered += 1;
                operations::answer(s, &r.call, service.namespace, now)
            })
        });
        match result {
            Ok(xml) => Reply::body(
                200,
                content_type(soap12),
                envelope(soap12, &xml).into_bytes(),
            ),
            Err(v) => {
                ex.tag.0.outcome = format!("fault {}", v.code);
                ex.tag.0.reason = Some(v.reason.clone());
                fault(soap12, &v)
            }
        }
    }
}

impl RecordingRoutes for Shared {
    type Call = KonnektorCall;

    fn new_call(&self) -> KonnektorCall {
        KonnektorCall::new("unknown")
    }

    fn route<'a>(
        &'a self,
        req: Request<Incoming>,
        ex: &'a mut Exchange<(KonnektorCall, BasicAuth)>,
    ) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let reply = self.handle(req, ex).await;
            ex.tag.0.response = self.keep(&reply.body);
            reply
        })
    }

    fn records(&self, f: &mut dyn FnMut(&mut HttpRecords<KonnektorCall>)) {
        self.state.record(|s| f(&mut s.http));
    }

    fn response_delay(&self) -> Option<Duration> {
        self.state.lock().faults.response_delay
    }
}

/// The running mock Konnektor (service `konnektor`).
pub struct KonnektorMock {
    shared: Arc<Shared>,
    addr: SocketAddr,
    host: String,
    tls: TlsAcceptor,
    limits: HttpLimits,
    started: Instant,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for KonnektorMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KonnektorMock")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl KonnektorMock {
    /// Binds and starts serving HTTPS with the certificate `config.cert` of `pki`.
    pub async fn start(config: KonnektorConfig, pki: &TlsPki) -> Result<KonnektorMock, MockError> {
        if config.contexts.is_empty() {
            return Err(MockError::Config(
                "the Konnektor needs at least one Context".into(),
            ));
        }
        let mut handles = std::collections::BTreeSet::new();
        for c in &config.cards {
            if !handles.insert(c.handle.clone()) {
                return Err(MockError::Config(format!(
                    "card handle `{}` is configured twice",
                    c.handle
                )));
            }
        }
        let addr = SocketAddr::new(config.bind, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MockError::Bind {
                what: "Konnektor (HTTPS)",
                addr,
                source,
            })?;
        let addr = listener.local_addr()?;
        let services = services::offered(config.layout);
        let sds = services::connector_sds(
            &services::SdsHeader {
                tls_mandatory: true,
                client_auth_mandatory: config.client_auth == ClientAuth::Required,
                base_url: format!("https://{}:{}", config.host, addr.port()),
            },
            &services,
        );
        let shared = Arc::new(Shared {
            state: Recorder::new(State {
                cards: config.cards,
                trust: config.trust,
                faults: config.faults,
                job_number: 0,
                answered: 0,
                http: HttpRecords::default(),
            }),
            services,
            sds: Mutex::new(sds),
            contexts: config.contexts,
            basic_auth: config.basic_auth,
            body_budget: std::sync::atomic::AtomicUsize::new(RECORDED_BODY_BUDGET),
        });
        let tls = TlsAcceptor::from(pki.server_config_with(config.cert, config.client_auth)?);
        let mock = KonnektorMock {
            shared,
            addr,
            host: config.host,
            tls,
            limits: config.limits,
            started: Instant::now(),
            task: Mutex::new(None),
        };
        mock.serve(listener);
        Ok(mock)
    }

    fn serve(&self, listener: TcpListener) {
        let task = tokio::spawn(crate::http::server::serve(
            listener,
            self.tls.clone(),
            self.shared.clone(),
            self.limits.clone(),
            self.started,
        ));
        if let Some(old) = self
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<host>:<port>/connector.sds`.
    pub fn sds_url(&self) -> String {
        format!("https://{}:{}/connector.sds", self.host, self.addr.port())
    }

    /// The service versions offered, with their paths.
    pub fn services(&self) -> &[ServiceVersion] {
        &self.shared.services
    }

    /// The endpoint URL of `service` in `version` (e.g. `SignatureService`, `7.5.5`).
    pub fn endpoint(&self, service: &str, version: &str) -> Option<String> {
        self.shared
            .services
            .iter()
            .find(|s| s.service == service && s.version == version)
            .map(|s| format!("https://{}:{}{}", self.host, self.addr.port(), s.path))
    }

    /// Replaces the scripted faults.
    pub fn set_faults(&self, faults: KonnektorFaults) {
        self.shared.state.record(|s| s.faults = faults);
    }

    /// Inserts or removes a card (by handle); false if the handle is unknown.
    pub fn set_card_inserted(&self, handle: &str, inserted: bool) -> bool {
        self.shared.state.record(|s| {
            s.cards
                .iter_mut()
                .find(|c| c.handle == handle)
                .map(|c| c.inserted = inserted)
                .is_some()
        })
    }

    /// "Konnektor unreachable": closes the listening socket (connections are refused) until
    /// [`KonnektorMock::set_reachable`] opens it again on the same port.
    pub async fn set_reachable(&self, reachable: bool) -> Result<(), MockError> {
        let running = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = running {
            t.abort();
            let _ = t.await;
        }
        if reachable {
            let listener =
                TcpListener::bind(self.addr)
                    .await
                    .map_err(|source| MockError::Bind {
                        what: "Konnektor (HTTPS)",
                        addr: self.addr,
                        source,
                    })?;
            self.serve(listener);
        }
        Ok(())
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<HttpRequest<KonnektorCall>> {
        self.shared.state.lock().http.requests.clone()
    }

    /// Every TLS connection so far (with the client certificate's subject, if one was shown).
    pub fn connections(&self) -> Vec<HttpConnection> {
        self.shared.state.lock().http.connections.clone()
    }

    /// Waits until at least `n` requests were recorded, or `timeout` passed.
    pub async fn wait_for_calls(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<HttpRequest<KonnektorCall>> {
        self.shared
            .state
            .wait_until(timeout, |s| &s.http.requests, |r| r.len() >= n)
            .await
    }

    /// Stops accepting and aborts running connections.
    pub async fn shutdown(self) {
        let _ = self.set_reachable(false).await;
    }
}

impl Drop for KonnektorMock {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }
}

impl crate::server::MockServer for KonnektorMock {
    fn services(&self) -> Vec<crate::server::ServiceEndpoint> {
        vec![crate::server::ServiceEndpoint {
            name: "konnektor",
            kind: crate::server::ServiceKind::Https,
            addr: self.addr,
        }]
    }

    /// The calls with their resource as [`Resource::Konnektor`].
    fn evidence(&self) -> Evidence {
        let s = self.shared.state.lock();
        s.http.evidence(|c| Resource::Konnektor(Box::new(c)))
    }

    fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.state.subscribe()
    }

    fn shutdown(self: Box<Self>) -> crate::server::BoxFuture<'static, ()> {
        Box::pin(KonnektorMock::shutdown(*self))
    }
}
