//! The REST transport of the reference PVS: a practice system that talks directly to the
//! KV-Connect REST server interface (HTTPS, BASIC authentication) and does the cryptography
//! itself, as "Anbindung an KV-Connect" V4.1 §3.1.2 describes (KVC-FACTS §5).
//!
//! - Send ([`RestPvs::send_message`]): the message is composed exactly like the SMTP variant
//!   ([`compose_message`], header faults included), split into outer headers and the signed MIME
//!   entity; for each recipient `GET certificates?email=`; a missing (404/empty), unreadable or
//!   not currently valid certificate aborts the send before anything is posted. The entity is
//!   signed (own key + certificate), encrypted to every recipient AND the own certificate and
//!   `POST mails` with `Content-Type: text/plain;charset=UTF-8`; a non-2xx answer is an error.
//! - Receive ([`RestPvs::fetch_all`]): `GET login/{user}` (the only request whose redirect is
//!   followed) → `uid`; `GET accounts/{uid}/headers`; per message `GET accounts/{uid}/mails/{id}`,
//!   decrypt with the own key — failure: error, the message stays on the server and the receive
//!   run is aborted; verify (signature, chain to the configured user CAs, signer = From): valid →
//!   stored locally, then `DELETE`; invalid → discarded with a warning (KVC-Anb022), then
//!   `DELETE`. A failed `DELETE` is a warning; the message stays stored.
//!
//! HTTP: hyper 1 (`client::conn::http1`) over tokio-rustls, one connection per request, with the
//! same rustls client configuration as the SMTP variant (server certificate checked against
//! `ca_pem` and `server_name`, or not at all with [`PvsFault::AcceptsAnyCertificate`]). The TCP
//! connection goes to `connect_to` while the certificate is checked for `server_name`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use hyper::{Method, header};
use kvc_smime::cms::KeyTransport;
use kvc_smime::message::{KvConnectMessage, SmimeOutcome, build_kvconnect_message, open_message};
use kvc_smime::pki::CertifiedKey;
use kvc_smime::{Certificate, PrivateKeyMaterial};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::rest_xml as xml;
use crate::http::client::{HttpsClient, HttpsTarget};
use crate::net::client::{client_tls_config, server_name};
use crate::reference::kvc_pvs::{
    MessageIds, PvsError, PvsFault, SendRequest, bare_address, compose_message, knows_dienstkennung,
};

const WHAT: &str = "REST";
/// Upper bound for one response body (a KV-Connect message may carry 25 MB of attachments).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// Redirects followed for `login/{user}`.
const MAX_REDIRECTS: usize = 3;
/// `Content-Type` of `POST mails` (KVC-FACTS §3 R8).
pub const SEND_CONTENT_TYPE: &str = "text/plain;charset=UTF-8";
/// `User-Agent` of the reference PVS.
const USER_AGENT: &str = "kvc-check-reference-pvs/1.0";

/// Characters escaped in a path segment or query value (everything but unreserved and `@`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// Where and as whom the REST PVS talks to the KV-Connect server, and its key material.
#[derive(Debug, Clone)]
pub struct RestPvsConfig {
    /// e.g. `https://<server_name>:<port>/kvconnect/rest` (https only).
    pub base_url: String,
    /// Where the server's name resolves (the TCP connection goes here).
    pub connect_to: SocketAddr,
    /// The name the server certificate must be valid for (SNI too).
    pub server_name: String,
    /// TLS trust anchor (PEM) for the server certificate.
    pub ca_pem: String,
    pub user: String,
    pub password: String,
    /// Header From.
    pub from: String,
    /// The PVS's KV-Connect user key (PEM; PKCS#8 or PKCS#1).
    pub own_key_pem: String,
    /// Its user certificate (needed to send; receiving works without).
    pub own_cert_pem: Option<String>,
    /// Trust anchors (PEM bundle) for verifying received signatures.
    pub user_ca_pem: String,
    /// The PVS's clock for every certificate check (received signers, recipient certificates);
    /// `None` = now.
    pub verify_at: Option<SystemTime>,
    pub faults: BTreeSet<PvsFault>,
    /// Bound for one whole send or fetch.
    pub timeout: Duration,
}

/// One message in the PVS's local store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// As listed by the server (without angle brackets).
    pub message_id: String,
    /// Whether the PVS treats it as correctly signed (always true unless a fault made it keep a
    /// bad one: then `integrity_check_result` shows the real codes).
    pub valid: bool,
    pub warning: Option<String>,
    /// The decrypted inner MIME entity (the signed content of the innermost layer).
    pub mime: Vec<u8>,
    /// `00` when decrypted.
    pub decryption_result: String,
    /// `["01"]` when the signature, the chain and signer = From hold; otherwise the failing codes
    /// (`02` integrity, `05` certificate path, `X10` signer ≠ From, ...).
    pub integrity_check_result: Vec<String>,
}

/// What one receive run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestFetchReport {
    /// Stored in this run (also in [`RestPvs::stored`]).
    pub stored: Vec<StoredMessage>,
    /// Not stored: (message id, reason incl. the codes). Discarded ones were deleted on the
    /// server; undecryptable ones are also in `kept_on_server` unless a fault deleted them.
    pub rejected: Vec<(String, String)>,
    /// Left on the server on purpose: (message id, reason), e.g. decryption failed.
    pub kept_on_server: Vec<(String, String)>,
    /// Not fetched because the application is unknown ([`PvsFault::SkipsUnknownApplications`]).
    pub skipped: Vec<String>,
    /// What the user is told (discarded messages, failed deletes, failed fetches).
    pub warnings: Vec<String>,
    /// Messages whose `DELETE` the server refused: (message id, status). The receive run
    /// reports them as an error (SEED-ANB §3.1.2) unless [`PvsFault::IgnoresDeleteFailure`].
    pub delete_failed: Vec<(String, u16)>,
    /// Set when the run stopped early (decryption failure); the rest of the mailbox is untouched.
    pub aborted: Option<String>,
}

/// The REST transport of the reference PVS.
pub struct RestPvs {
    config: RestPvsConfig,
    http: HttpsClient,
    /// `host:port` for the Host header and the redirect check.
    authority: String,
    /// Path of the base URL without trailing slash, e.g. `/kvconnect/rest`.
    base_path: String,
    own_key: PrivateKeyMaterial,
    own: Option<CertifiedKey>,
    trust: Vec<Certificate>,
    sequence: AtomicUsize,
    store: Mutex<Vec<StoredMessage>>,
}

impl std::fmt::Debug for RestPvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestPvs")
            .field("base_url", &self.config.base_url)
            .field("user", &self.config.user)
            .field("faults", &self.config.faults)
            .finish_non_exhaustive()
    }
}

struct Resp {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

impl Resp {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn detail(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.len() > 200 {
            format!("{}…", text.chars().take(200).collect::<String>())
        } else {
            text.to_string()
        }
    }
}

/// Splits `https://host:port/path` into authority and path (without trailing slash).
fn parse_base_url(url: &str) -> Result<(String, String), PvsError> {
    let rest = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
        .ok_or_else(|| PvsError::Config(format!("base URL `{url}` is not an https:// URL")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(PvsError::Config(format!("base URL `{url}` has no host")));
    }
    Ok((
        authority.to_string(),
        path.trim_end_matches('/').to_string(),
    ))
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

impl RestPvs {
    /// Reads the key material and prepares the TLS configuration.
    pub fn new(config: RestPvsConfig) -> Result<RestPvs, PvsError> {
        let (authority, base_path) = parse_base_url(&config.base_url)?;
        let name = server_name(&config.server_name)?;
        let tls = client_tls_config(
            config.faults.contains(&PvsFault::AcceptsAnyCertificate),
            &config.ca_pem,
        )?;
        let own_key = kvc_smime::keys::parse_private_key(
            config.own_key_pem.as_bytes(),
            None,
            "own KV-Connect key",
        )
        .map_err(|e| PvsError::Config(e.to_string()))?;
        let own_cert = match &config.own_cert_pem {
            Some(pem) => {
                kvc_smime::keys::parse_certificates(pem.as_bytes(), "own KV-Connect certificate")
                    .map_err(|e| PvsError::Config(e.to_string()))?
                    .into_iter()
                    .next()
            }
            None => own_key.certificate.clone(),
        };
        let own = own_cert.map(|certificate| CertifiedKey {
            certificate,
            key: own_key.key.clone(),
        });
        let trust = if config.user_ca_pem.trim().is_empty() {
            Vec::new()
        } else {
            kvc_smime::keys::parse_certificates(config.user_ca_pem.as_bytes(), "user CA bundle")
                .map_err(|e| PvsError::Config(e.to_string()))?
        };
        let basic = format!(
            "Basic {}",
            B64.encode(format!("{}:{}", config.user, config.password))
        );
        let http = HttpsClient::new(HttpsTarget {
            what: WHAT,
            connect_to: config.connect_to,
            name,
            tls,
            headers: vec![
                (header::HOST, authority.clone()),
                (header::AUTHORIZATION, basic),
                (header::USER_AGENT, USER_AGENT.to_string()),
            ],
            max_response_bytes: MAX_RESPONSE_BYTES,
        });
        Ok(RestPvs {
            http,
            authority,
            base_path,
            own_key,
            own,
            trust,
            sequence: AtomicUsize::new(0),
            store: Mutex::new(Vec::new()),
            config,
        })
    }

    pub fn config(&self) -> &RestPvsConfig {
        &self.config
    }

    fn has(&self, f: PvsFault) -> bool {
        self.config.faults.contains(&f)
    }

    fn now(&self) -> SystemTime {
        self.config.verify_at.unwrap_or_else(SystemTime::now)
    }

    /// Everything the local store holds, in the order it was stored.
    pub fn stored(&self) -> Vec<StoredMessage> {
        self.store.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    // --------------------------------------------------------------------------------------
    // HTTP

    async fn request(
        &self,
        method: Method,
        target: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Resp, PvsError> {
        let r = self.http.request(method, target, body).await?;
        Ok(Resp {
            status: r.status,
            location: r.location,
            body: r.body,
        })
    }

    fn url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.base_path)
    }

    /// `GET login/{user}`, following its redirect(s) to the account; returns the uid.
    async fn login(&self) -> Result<String, PvsError> {
        let first = self.url(&format!("login/{}", enc(&self.config.user)));
        let mut target = first.clone();
        for _ in 0..=MAX_REDIRECTS {
            let r = self.request(Method::GET, &target, None).await?;
            if (300..400).contains(&r.status) {
                let loc = r.location.clone().ok_or_else(|| PvsError::Http {
                    request: format!("GET {target}"),
                    status: r.status,
                    detail: "redirect without Location".into(),
                })?;
                target = self.redirect_target(&target, &loc)?;
                continue;
            }
            if !r.ok() {
                return Err(PvsError::Http {
                    request: format!("GET {target}"),
                    status: r.status,
                    detail: r.detail(),
                });
            }
            return xml::account_uid(&r.body).ok_or_else(|| {
                PvsError::protocol(
                    WHAT,
                    format!("GET {first}"),
                    format!("no <account uid=\"...\"> in: {}", r.detail()),
                )
            });
        }
        Err(PvsError::protocol(
            WHAT,
            format!("GET {first}"),
            format!("more than {MAX_REDIRECTS} redirects"),
        ))
    }

    /// The request target of a `Location`; a redirect to another host is refused (the
    /// credentials would go there).
    fn redirect_target(&self, from: &str, loc: &str) -> Result<String, PvsError> {
        let lower = loc.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            let https = lower.starts_with("https://");
            let rest = &loc[if https { 8 } else { 7 }..];
            let (auth, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            if !https || !auth.eq_ignore_ascii_case(&self.authority) {
                return Err(PvsError::protocol(
                    WHAT,
                    format!("GET {from}"),
                    format!("redirect to `{loc}` (another origin) refused"),
                ));
            }
            Ok(path.to_string())
        } else if loc.starts_with('/') {
            Ok(loc.to_string())
        } else {
            let dir = from.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            Ok(format!("{dir}/{loc}"))
        }
    }

    // --------------------------------------------------------------------------------------
    // Send

    /// Full native send: compose, fetch the recipient certificates, sign, encrypt (recipients +
    /// own certificate), `POST mails`. Returns the posted bytes ([`PvsFault::NotSent`]: the bytes
    /// that would have been posted; nothing is posted).
    pub async fn send_message(&self, req: &SendRequest) -> Result<Vec<u8>, PvsError> {
        if req.to.is_empty() {
            return Err(PvsError::Config(
                "a message needs at least one recipient".into(),
            ));
        }
        let after = self.config.timeout;
        match tokio::time::timeout(after, self.send_inner(req)).await {
            Ok(r) => r,
            Err(_) => Err(PvsError::Timeout {
                what: WHAT,
                operation: "sending the message",
                after,
            }),
        }
    }

    /// Like [`RestPvs::send_message`] without the bytes.
    pub async fn send(&self, req: &SendRequest) -> Result<(), PvsError> {
        self.send_message(req).await.map(|_| ())
    }

    async fn send_inner(&self, req: &SendRequest) -> Result<Vec<u8>, PvsError> {
        let own = self.own.as_ref().ok_or_else(|| {
            PvsError::Config("sending needs the PVS's own user certificate (own_cert_pem)".into())
        })?;
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        // Line ends are changed after encryption (the signed entity is always canonical CRLF).
        let mut faults = self.config.faults.clone();
        let bare_lf = faults.remove(&PvsFault::BareLf);
        let composed = compose_message(
            &self.config.from,
            req,
            &faults,
            &MessageIds::fresh(&self.config.from, n),
        );
        let (headers, entity) = split_for_signing(&composed);

        let mut recipients = Vec::new();
        for to in &req.to {
            let addr = bare_address(to);
            match self.recipient_certificate(addr).await? {
                Ok(c) => recipients.push(c),
                Err(CertProblem::Missing(_)) if self.has(PvsFault::IgnoresMissingCertificate) => {}
                Err(CertProblem::Missing(reason) | CertProblem::Unusable(reason)) => {
                    return Err(PvsError::RecipientCertificate {
                        recipient: addr.to_string(),
                        reason,
                    });
                }
            }
        }
        recipients.push(own.certificate.clone());
        let mut out = build_kvconnect_message(&KvConnectMessage {
            content: &entity,
            headers,
            sender: own,
            recipients,
            key_transport: KeyTransport::Pkcs1v15,
        })
        .map_err(|e| PvsError::Config(format!("cannot sign/encrypt the message: {e}")))?;
        if bare_lf {
            out = super::compose::crlf_to_lf(&out);
        }
        if self.has(PvsFault::NotSent) {
            return Ok(out);
        }
        let target = self.url("mails");
        let r = self
            .request(
                Method::POST,
                &target,
                Some((SEND_CONTENT_TYPE, out.clone())),
            )
            .await?;
        if !r.ok() && !self.has(PvsFault::IgnoresSendFailure) {
            return Err(PvsError::Http {
                request: format!("POST {target}"),
                status: r.status,
                detail: r.detail(),
            });
        }
        Ok(out)
    }

    /// `GET certificates?email=<addr>`: the certificate, or why it cannot be used. Other HTTP
    /// errors (401, 5xx) are errors of the send.
    async fn recipient_certificate(
        &self,
        addr: &str,
    ) -> Result<Result<Certificate, CertProblem>, PvsError> {
        let target = self.url(&format!("certificates?email={}", enc(addr)));
        let r = self.request(Method::GET, &target, None).await?;
        if r.status == 404 {
            return Ok(Err(CertProblem::Missing(
                "recipient certificate not found (HTTP 404)".into(),
            )));
        }
        if !r.ok() {
            return Err(PvsError::Http {
                request: format!("GET {target}"),
                status: r.status,
                detail: r.detail(),
            });
        }
        let Some(pem) = xml::certificate_body(&r.body).filter(|b| !b.trim().is_empty()) else {
            return Ok(Err(CertProblem::Missing(
                "recipient certificate not found (empty <body>)".into(),
            )));
        };
        let cert =
            match kvc_smime::keys::parse_certificates(pem.as_bytes(), "recipient certificate") {
                Ok(c) => match c.into_iter().next() {
                    Some(c) => c,
                    None => {
                        return Ok(Err(CertProblem::Missing(
                            "recipient certificate not found (no certificate in <body>)".into(),
                        )));
                    }
                },
                Err(e) => {
                    return Ok(Err(CertProblem::Unusable(format!(
                        "recipient certificate unreadable: {e}"
                    ))));
                }
            };
        if !self.has(PvsFault::EncryptsToExpiredCertificate) {
            let v = cert.tbs_certificate().validity();
            let now = self.now();
            if now > v.not_after.to_system_time() {
                return Ok(Err(CertProblem::Unusable(format!(
                    "recipient certificate expired (notAfter {})",
                    v.not_after
                ))));
            }
            if now < v.not_before.to_system_time() {
                return Ok(Err(CertProblem::Unusable(format!(
                    "recipient certificate not yet valid (notBefore {})",
                    v.not_before
                ))));
            }
        }
        Ok(Ok(cert))
    }

    // --------------------------------------------------------------------------------------
    // Receive

    /// Full native receive (see the module documentation). Network and HTTP errors of the login
    /// and the header listing are errors; per-message problems are in the report.
    pub async fn fetch_all(&self) -> Result<RestFetchReport, PvsError> {
        let after = self.config.timeout;
        match tokio::time::timeout(after, self.fetch_inner()).await {
            Ok(r) => r,
            Err(_) => Err(PvsError::Timeout {
                what: WHAT,
                operation: "fetching the mailbox",
                after,
            }),
        }
    }

    async fn fetch_inner(&self) -> Result<RestFetchReport, PvsError> {
        let mut report = RestFetchReport::default();
        let uid = self.login().await?;
        let account = format!("accounts/{}", enc(&uid));
        let target = self.url(&format!("{account}/headers"));
        let r = self.request(Method::GET, &target, None).await?;
        if !r.ok() {
            return Err(PvsError::Http {
                request: format!("GET {target}"),
                status: r.status,
                detail: r.detail(),
            });
        }
        let headers = xml::headers(&r.body).map_err(|e| {
            PvsError::protocol(
                WHAT,
                format!("GET {target}"),
                format!("unreadable header list: {e}"),
            )
        })?;
        for h in headers {
            let Some(id) = h.get("message-id").map(|s| s.trim().to_string()) else {
                report
                    .warnings
                    .push("a header without message-id was skipped".into());
                continue;
            };
            if self.has(PvsFault::SkipsUnknownApplications)
                && !h
                    .get("x-kvc-dienstkennung")
                    .is_some_and(|d| knows_dienstkennung(d))
            {
                report.skipped.push(id);
                continue;
            }
            let mail = self.url(&format!("{account}/mails/{}", enc(&id)));
            let mut deleted = false;
            if self.has(PvsFault::DeletesBeforeFetch) {
                self.delete(&mail, &id, &mut report).await?;
                deleted = true;
            }
            let r = self.request(Method::GET, &mail, None).await?;
            if !r.ok() {
                report.warnings.push(format!(
                    "message {id}: fetch failed: HTTP {} {}",
                    r.status,
                    r.detail()
                ));
                continue;
            }
            if self.has(PvsFault::DeletesUndecryptable) && !deleted {
                self.delete(&mail, &id, &mut report).await?;
                deleted = true;
            }
            let outcome = open_message(&r.body, &self.own_key, &self.trust, Some(self.now()));
            let outcome = match undecryptable(outcome) {
                Ok(o) => o,
                Err(reason) => {
                    let text = format!("message {id}: {reason}");
                    if !deleted {
                        report.kept_on_server.push((id.clone(), reason.clone()));
                    }
                    report.rejected.push((id.clone(), reason));
                    report.warnings.push(text.clone());
                    report.aborted = Some(format!("receive aborted: {text}"));
                    break;
                }
            };
            if outcome.is_valid() || self.has(PvsFault::KeepsBadSignatures) {
                let m = StoredMessage {
                    message_id: id.clone(),
                    valid: true,
                    warning: None,
                    mime: outcome.inner_message.clone().unwrap_or_default(),
                    decryption_result: outcome.decryption_result.clone(),
                    integrity_check_result: outcome.integrity_check_result.clone(),
                };
                self.store
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(m.clone());
                report.stored.push(m);
            } else {
                let reason = integrity_reason(&outcome);
                report.warnings.push(format!(
                    "message {id} discarded: signature check failed: {reason}"
                ));
                report.rejected.push((id.clone(), reason));
            }
            if !deleted {
                self.delete(&mail, &id, &mut report).await?;
            }
        }
        Ok(report)
    }

    /// `DELETE` one message; a non-2xx answer is a warning.
    async fn delete(
        &self,
        target: &str,
        id: &str,
        report: &mut RestFetchReport,
    ) -> Result<(), PvsError> {
        let r = self.request(Method::DELETE, target, None).await?;
        if !r.ok() && !self.has(PvsFault::IgnoresDeleteFailure) {
            report.delete_failed.push((id.to_string(), r.status));
            report.warnings.push(format!(
                "message {id}: delete failed: HTTP {} {}",
                r.status,
                r.detail()
            ));
        }
        Ok(())
    }
}

/// Why a recipient certificate cannot be used.
enum CertProblem {
    /// 404, empty or no certificate (KVC-Anb010 / SEED-ANB §3.1.2: abort the send).
    Missing(String),
    /// Unreadable, expired or not yet valid (KVC-Anb080).
    Unusable(String),
}

/// `Ok(outcome)` if the message was decrypted, otherwise the reason (with the
/// X-KIM-DecryptionResult code).
fn undecryptable(outcome: kvc_smime::Result<SmimeOutcome>) -> Result<SmimeOutcome, String> {
    match outcome {
        Ok(o) if o.decryption_result == "00" && o.inner_message.is_some() => Ok(o),
        Ok(o) => Err(format!(
            "decryption failed (DecryptionResult {}): {}",
            if o.decryption_result.is_empty() {
                "none"
            } else {
                &o.decryption_result
            },
            o.decryption_explanation
        )),
        Err(e) => Err(format!(
            "decryption failed (DecryptionResult {}): {e}",
            e.decryption_result_code()
        )),
    }
}

/// The integrity codes with their explanations, e.g. `integrity 02: ...`.
fn integrity_reason(o: &SmimeOutcome) -> String {
    let codes = o.integrity_check_result.join(",");
    let why: Vec<String> = o
        .integrity_explanations
        .iter()
        .map(|c| format!("{}: {}", c.code, c.explanation))
        .collect();
    format!("IntegrityCheckResult {codes} ({})", why.join("; "))
}

/// Splits a composed message into the outer header fields (everything but `MIME-Version` and
/// `Content-*`, which the S/MIME layer sets) and the MIME entity to sign (`Content-*` fields +
/// body).
fn split_for_signing(composed: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
    let (head, body) = kvc_smime::mime::split_header_body(composed);
    let fields = kvc_smime::mime::folded_fields(head);
    let mut outer = Vec::new();
    let mut entity = Vec::new();
    for (n, v) in fields {
        if n.to_ascii_lowercase().starts_with("content-") {
            entity.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        } else if !n.eq_ignore_ascii_case("MIME-Version") {
            outer.push((n, v));
        }
    }
    entity.extend_from_slice(b"\r\n");
    entity.extend_from_slice(body);
    (outer, entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_and_split() {
        assert_eq!(
            parse_base_url("https://localhost:8443/kvconnect/rest/").unwrap(),
            ("localhost:8443".into(), "/kvconnect/rest".into())
        );
        assert!(parse_base_url("http://localhost/x").is_err());
        let (outer, entity) = split_for_signing(
            b"Date: d\r\nFrom: a@b\r\nSubject: s\r\n t\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbody\r\n",
        );
        assert_eq!(
            outer,
            vec![
                ("Date".to_string(), "d".to_string()),
                ("From".into(), "a@b".into()),
                ("Subject".into(), "s\r\n t".into())
            ]
        );
        assert_eq!(entity, b"Content-Type: text/plain\r\n\r\nbody\r\n");
        assert_eq!(
            super::super::compose::crlf_to_lf(b"a\r\nb\rc\n"),
            b"a\nb\rc\n"
        );
        assert_eq!(enc("<a+b@c.de>"), "%3Ca%2Bb@c.de%3E");
    }
}
