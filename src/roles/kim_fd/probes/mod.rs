//! The kim-fd probes: the suite as the Clientmodul of a Fachdienst. Each probe is a fixed
//! sequence of exchanges with one service, each exchange labelled with what it tries (the
//! checks in `expect/` find them by label), recorded as a
//! [`ProbeExchange`](kvc_mocks::probe::ProbeExchange) with the response's headers, length, an
//! excerpt, the probe's own observations (`facts`) and the interface-file violations
//! (`openapi.rs`). A probe does not judge: it records, even when the SUT answers nonsense or
//! nothing (status 0 with a note).

pub mod am;
pub mod kas;
pub mod mta;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use hyper::Method;
use hyper::header::HeaderName;
use kvc_mocks::http::client::{HttpsClient, HttpsTarget};
use kvc_mocks::net::client::{client_tls_config, server_name};
use kvc_mocks::probe::{BODY_EXCERPT_CHARS, ProbeExchange, ProbeLog};

use super::openapi::InterfaceFiles;
use super::target::FdTarget;
use crate::runner::observe::{BoxFuture, CaseProber};

/// Every probe a kim-fd case may name (`- probe: <name>`).
pub const NAMES: &[&str] = &[
    kas::SIZE_LIMIT,
    kas::ACCESS,
    kas::LINKS,
    kas::RECIPIENT,
    kas::RATE_LIMIT,
    kas::CONTENT_LENGTH,
    kas::EXPIRY,
    am::INTERFACE,
    am::TOKEN,
    am::REVOKE,
    mta::ENVELOPE_SENDER,
    mta::HEADER_SENDER,
];

/// Responses larger than this are cut off (a hostile provider cannot fill the memory).
pub const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// The probes of one case against one Fachdienst.
pub struct FdProber {
    pub target: FdTarget,
    pub log: ProbeLog,
    pub files: Arc<InterfaceFiles>,
}

impl CaseProber for FdProber {
    fn probe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let ctx = ProbeCtx {
                target: &self.target,
                log: &self.log,
                files: &self.files,
                probe: name,
                started: Instant::now(),
            };
            match name {
                kas::SIZE_LIMIT => kas::size_limit(&ctx).await,
                kas::ACCESS => kas::access(&ctx).await,
                kas::LINKS => kas::links(&ctx).await,
                kas::RECIPIENT => kas::recipient(&ctx).await,
                kas::RATE_LIMIT => kas::rate_limit(&ctx).await,
                kas::CONTENT_LENGTH => kas::content_length(&ctx).await,
                kas::EXPIRY => kas::expiry(&ctx).await,
                am::INTERFACE => am::interface(&ctx).await,
                am::TOKEN => am::token_probe(&ctx).await,
                am::REVOKE => am::revoke(&ctx).await,
                mta::ENVELOPE_SENDER => mta::envelope_sender(&ctx).await,
                mta::HEADER_SENDER => mta::header_sender(&ctx).await,
                other => Err(format!("unknown probe `{other}`")),
            }?;
            let n = self
                .log
                .exchanges()
                .iter()
                .filter(|e| e.probe == name)
                .count();
            Ok(format!("{n} exchange(s) with the SUT"))
        })
    }
}

/// What one probe works with.
pub struct ProbeCtx<'a> {
    pub target: &'a FdTarget,
    pub log: &'a ProbeLog,
    pub files: &'a InterfaceFiles,
    pub probe: &'a str,
    pub started: Instant,
}

/// One HTTP request of a probe.
pub struct Request<'r> {
    pub label: &'r str,
    pub method: Method,
    pub path: String,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Option<(String, Vec<u8>)>,
    /// The answer carries a credential (an OTP, a private key): no excerpt is recorded.
    pub secret_answer: bool,
}

impl<'r> Request<'r> {
    pub fn new(label: &'r str, method: Method, path: impl Into<String>) -> Self {
        Request {
            label,
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
            secret_answer: false,
        }
    }

    /// Keeps the answer's body out of the evidence (it carries a credential).
    pub fn secret_answer(mut self) -> Self {
        self.secret_answer = true;
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers
            .push((HeaderName::from_static(name), value.into()));
        self
    }

    pub fn body(mut self, content_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.body = Some((content_type.into(), bytes));
        self
    }
}

/// An exchange as the probe sees it: the record (at `index` in the log) plus the whole body
/// (not recorded).
pub struct Answer {
    pub exchange: ProbeExchange,
    pub body: Vec<u8>,
    index: usize,
}

impl Answer {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl ProbeCtx<'_> {
    /// The TLS client settings: the provider's CA, and the client certificate if configured.
    pub fn tls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        match &self.target.client_tls {
            None => client_tls_config(false, &self.target.ca_pem).map_err(|e| e.to_string()),
            Some(c) => kvc_mocks::net::tls::client_config_with_identity(
                &self.target.ca_pem,
                &c.cert_pem,
                &c.key_pem,
            )
            .map_err(|e| e.to_string()),
        }
    }

    /// Sends `req` to `service` at `addr` and records it (with `facts` added later through
    /// [`ProbeCtx::record`]). The response is checked against the interface file.
    pub async fn http(
        &self,
        service: &'static str,
        addr: Option<std::net::SocketAddr>,
        mut req: Request<'_>,
    ) -> Result<Answer, String> {
        let Some(addr) = addr else {
            return Err(format!(
                "the SUT configuration names no address for the {service} service"
            ));
        };
        let tls = self.tls()?;
        let name = server_name(&self.target.host).map_err(|e| e.to_string())?;
        let client = HttpsClient::new(HttpsTarget {
            what: "Fachdienst",
            connect_to: addr,
            name,
            tls,
            headers: vec![
                (
                    hyper::header::HOST,
                    format!("{}:{}", self.target.host, addr.port()),
                ),
                (hyper::header::USER_AGENT, "kvc-check".into()),
            ],
            max_response_bytes: MAX_RESPONSE_BYTES,
        });
        let at = self.started.elapsed();
        let begun = Instant::now();
        let mut exchange = ProbeExchange {
            probe: self.probe.to_string(),
            label: req.label.to_string(),
            service: service.to_string(),
            request: format!("{} {}", req.method, req.path),
            at_ms: at.as_millis() as u64,
            note: Some("no answer before the case ended".into()),
            ..ProbeExchange::default()
        };
        // Recorded before it is sent: if the SUT never answers, the request is still evidence.
        let index = self.log.push(exchange.clone());
        // Moved, not copied: an upload of the provider's maximum is held once.
        let (content_type, bytes) = match req.body.take() {
            Some((ct, b)) => (Some(ct), Some(b)),
            None => (None, None),
        };
        let body = content_type.as_deref().zip(bytes);
        let result = client
            .request_with(req.method.clone(), &req.path, &req.headers, body)
            .await;
        exchange.duration_ms = begun.elapsed().as_millis() as u64;
        exchange.note = None;
        let body = match result {
            Ok(r) => {
                exchange.status = r.status;
                exchange.tls = Some(r.tls);
                exchange.headers = r.headers;
                exchange.body_len = r.body.len();
                exchange.body_excerpt = if req.secret_answer {
                    None
                } else {
                    excerpt(&r.body)
                };
                exchange.violations = self.files.check(
                    service,
                    req.method.as_str(),
                    &req.path,
                    r.status,
                    &exchange.headers,
                    &r.body,
                );
                r.body
            }
            Err(e) => {
                exchange.note = Some(e.to_string());
                Vec::new()
            }
        };
        self.log.update(index, exchange.clone());
        Ok(Answer {
            exchange,
            body,
            index,
        })
    }

    /// Adds the probe's observations to a recorded exchange.
    pub fn record(&self, mut answer: Answer, facts: &[(&str, String)]) -> Answer {
        for (k, v) in facts {
            answer.exchange.facts.insert(k.to_string(), v.clone());
        }
        self.log.update(answer.index, answer.exchange.clone());
        answer
    }

    /// Sends and records without facts.
    pub async fn send(
        &self,
        service: &'static str,
        addr: Option<std::net::SocketAddr>,
        req: Request<'_>,
    ) -> Result<Answer, String> {
        let a = self.http(service, addr, req).await?;
        Ok(self.record(a, &[]))
    }

    /// Records an SMTP exchange (one command or the message's end of DATA).
    pub fn smtp(&self, label: &str, request: &str, reply: &str, note: Option<String>) {
        let status = reply
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .unwrap_or(0);
        let _ = self.log.push(ProbeExchange {
            probe: self.probe.to_string(),
            label: label.to_string(),
            service: "mta".into(),
            request: request.to_string(),
            status,
            body_excerpt: (!reply.is_empty())
                .then(|| reply.chars().take(BODY_EXCERPT_CHARS).collect()),
            note,
            at_ms: self.started.elapsed().as_millis() as u64,
            facts: BTreeMap::new(),
            ..ProbeExchange::default()
        });
    }
}

/// The start of a text body for the report.
fn excerpt(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if text.is_empty() || text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return None;
    }
    Some(text.chars().take(BODY_EXCERPT_CHARS).collect())
}
