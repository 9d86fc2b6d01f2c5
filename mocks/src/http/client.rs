//! An HTTPS/1.1 client on hyper for the suite's own clients (the reference practice system on
//! the KV-Connect REST interface now; the suite as a client of KAS and Account Manager later):
//! one connection per request, the certificate checked for the configured name, bounded response
//! bodies, every exchange recorded like the server records its own.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::HeaderName;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use crate::http::server::HttpExchange;
use crate::net::client::{ClientError, connect_tls};

/// A response as the client read it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub location: Option<String>,
    /// Every response header field (names lower-case, values lossy UTF-8), in order.
    pub headers: Vec<(String, String)>,
    /// The TLS session: protocol, cipher suite, the server certificate's subject.
    pub tls: String,
    pub body: Vec<u8>,
}

/// Where and how an [`HttpsClient`] connects, and what every request carries.
pub struct HttpsTarget {
    /// The service in errors (`REST`).
    pub what: &'static str,
    pub connect_to: SocketAddr,
    pub name: ServerName<'static>,
    pub tls: Arc<rustls::ClientConfig>,
    /// Sent in every request, e.g. `Host`, `Authorization`, `User-Agent` (values are never
    /// recorded).
    pub headers: Vec<(HeaderName, String)>,
    pub max_response_bytes: usize,
}

/// An HTTPS client for one target that records every exchange.
pub struct HttpsClient {
    target: HttpsTarget,
    started: Instant,
    exchanges: Mutex<Vec<HttpExchange>>,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No header values: they hold credentials.
        f.debug_struct("HttpsClient")
            .field("what", &self.target.what)
            .field("connect_to", &self.target.connect_to)
            .finish_non_exhaustive()
    }
}

impl HttpsClient {
    pub fn new(target: HttpsTarget) -> HttpsClient {
        HttpsClient {
            target,
            started: Instant::now(),
            exchanges: Mutex::new(Vec::new()),
        }
    }

    /// Every request sent so far, with the status it got (`0`: no response).
    pub fn exchanges(&self) -> Vec<HttpExchange> {
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends one request on a new connection; `body` is `(content type, bytes)`.
    pub async fn request(
        &self,
        method: Method,
        target: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpResponse, ClientError> {
        self.request_with(method, target, &[], body).await
    }

    /// [`HttpsClient::request`] with `extra` header fields for this request only (their
    /// values are never recorded either).
    pub async fn request_with(
        &self,
        method: Method,
        target: &str,
        extra: &[(HeaderName, String)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpResponse, ClientError> {
        let at = self.started.elapsed();
        let begun = Instant::now();
        let (content_type, bytes_out) = match &body {
            Some((ct, b)) => (Some(ct.to_string()), b.len()),
            None => (None, 0),
        };
        let (method_text, target_text) = (method.to_string(), target.to_string());
        let result = self.exchange(method, target, extra, body).await;
        let (status, bytes_in, note) = match &result {
            Ok(r) => (r.status, r.body.len(), None),
            Err(e) => (0, 0, Some(e.to_string())),
        };
        let record = HttpExchange {
            peer: self.target.connect_to,
            method: method_text,
            target: target_text,
            content_type,
            status,
            // Seen from the client: `bytes_out` sent, `bytes_in` received.
            bytes_in,
            bytes_out,
            at,
            duration: begun.elapsed(),
            note,
        };
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
        result
    }

    async fn exchange(
        &self,
        method: Method,
        target: &str,
        extra: &[(HeaderName, String)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpResponse, ClientError> {
        let what = self.target.what;
        let shown = format!("{method} {target}");
        let io_err = |stage: &str, e: &dyn std::fmt::Display| ClientError::Io {
            what,
            stage: format!("{stage} ({shown})"),
            source: std::io::Error::other(e.to_string()),
        };
        let stream = connect_tls(
            what,
            self.target.connect_to,
            &self.target.name,
            self.target.tls.clone(),
        )
        .await?;
        let tls = {
            let (_, session) = stream.get_ref();
            let subject = session
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| crate::net::tls::certificate_subject(c))
                .unwrap_or_else(|| "none".into());
            format!(
                "{}, {}, server certificate {subject}",
                session
                    .protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default(),
                session
                    .negotiated_cipher_suite()
                    .map(|c| format!("{:?}", c.suite()))
                    .unwrap_or_default()
            )
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| io_err("HTTP handshake", &e))?;
        let conn_task = tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut b = Request::builder().method(method).uri(target);
        for (name, value) in self.target.headers.iter().chain(extra) {
            b = b.header(name, value);
        }
        let bytes = match body {
            Some((ct, bytes)) => {
                b = b.header(header::CONTENT_TYPE, ct);
                bytes
            }
            None => Vec::new(),
        };
        let req = b
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| ClientError::Config(format!("cannot build request {shown}: {e}")))?;
        let max = self.target.max_response_bytes;
        let result = async {
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| io_err("request", &e))?;
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = Limited::new(resp.into_body(), max)
                .collect()
                .await
                .map_err(|e| io_err("response body", &*e))?
                .to_bytes()
                .to_vec();
            Ok(HttpResponse {
                status,
                location,
                headers,
                tls,
                body,
            })
        }
        .await;
        conn_task.abort();
        result
    }
}
