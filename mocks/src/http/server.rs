//! An HTTPS/1.1 server engine on hyper: TLS handshake recorded per connection, header and
//! request timeouts, bounded connections and requests in flight (429), body limits (413), every
//! exchange recorded. What the requests mean is the product's: it implements [`Routes`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use base64::Engine;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::net::session::{TlsOutcome, handshake};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Limits of one server.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// TLS handshake and request headers must arrive within this (else the connection closes).
    pub header_timeout: Duration,
    /// A request must be handled within this (else 408 and close).
    pub request_timeout: Duration,
    /// Concurrent connections; more are closed at once ([`Routes::rejected`]).
    pub max_connections: usize,
    /// Requests handled at the same time; more get 429.
    pub max_in_flight: usize,
}

/// One TCP connection and its TLS outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HttpConnection {
    pub peer: SocketAddr,
    pub tls: TlsOutcome,
    /// Since the server started.
    #[serde(
        rename = "at_ms",
        serialize_with = "crate::net::session::serialize_millis"
    )]
    pub at: Duration,
}

/// One request and its response, as the engine saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpExchange {
    pub peer: SocketAddr,
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub content_type: Option<String>,
    pub status: u16,
    pub bytes_in: usize,
    pub bytes_out: usize,
    /// Since the server started.
    pub at: Duration,
    pub duration: Duration,
    pub note: Option<String>,
}

/// What a route learns while handling one request: the product's `tag` (e.g. the resource and
/// who authenticated) and the engine's part of the record.
#[derive(Debug)]
pub struct Exchange<T> {
    pub tag: T,
    pub bytes_in: usize,
    pub note: Option<String>,
    /// Close the connection after this response (e.g. a rejected oversized body).
    pub close: bool,
}

/// A response.
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: Vec<(header::HeaderName, String)>,
    pub body: Vec<u8>,
    /// Stream this file as the body instead of `body` (large downloads are not held in memory);
    /// its length is sent as Content-Length.
    pub file: Option<std::path::PathBuf>,
    /// HEAD: send headers (Content-Length of the body) without the body.
    pub head_only: bool,
    /// Stream the file without Content-Length (chunked): a reference fault only.
    pub chunked: bool,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
            file: None,
            head_only: false,
            chunked: false,
        }
    }

    pub fn body(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type: Some(content_type.to_string()),
            headers: Vec::new(),
            body,
            file: None,
            head_only: false,
            chunked: false,
        }
    }

    /// `status` with the file at `path` streamed as the body.
    pub fn file(status: u16, content_type: &str, path: std::path::PathBuf) -> Reply {
        Reply {
            file: Some(path),
            ..Reply::body(status, content_type, Vec::new())
        }
    }

    pub fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// The product side of a server: routes requests and keeps the records.
pub trait Routes: Send + Sync + 'static {
    /// What the product records per request beyond the engine's [`HttpExchange`].
    type Tag: Send + 'static;
    fn new_tag(&self) -> Self::Tag;
    fn route<'a>(
        &'a self,
        req: Request<Incoming>,
        ex: &'a mut Exchange<Self::Tag>,
    ) -> BoxFuture<'a, Reply>;
    fn connected(&self, connection: HttpConnection);
    fn exchanged(&self, exchange: HttpExchange, tag: Self::Tag);
    /// A connection closed at once because `max_connections` were open.
    fn rejected(&self);
    /// Delay every response by this long (a slow server); read per request.
    fn response_delay(&self) -> Option<Duration> {
        None
    }
}

/// A product whose routes keep the engine's records in an [`HttpRecords`](super::HttpRecords)
/// of its state: it gets [`Routes::connected`], [`Routes::exchanged`] and [`Routes::rejected`]
/// from [`RecordingRoutes::records`].
pub trait RecordingRoutes: Send + Sync + 'static {
    /// What the product records per request (its resource).
    type Call: Clone + Send + 'static;
    fn new_call(&self) -> Self::Call;
    fn route<'a>(
        &'a self,
        req: Request<Incoming>,
        ex: &'a mut Exchange<(Self::Call, super::BasicAuth)>,
    ) -> BoxFuture<'a, Reply>;
    /// Applies `f` to the records (and wakes whoever waits on them).
    fn records(&self, f: &mut dyn FnMut(&mut super::HttpRecords<Self::Call>));
    fn response_delay(&self) -> Option<Duration> {
        None
    }
}

impl<P: RecordingRoutes> Routes for P {
    type Tag = (P::Call, super::BasicAuth);

    fn new_tag(&self) -> Self::Tag {
        (self.new_call(), super::BasicAuth::NotRequired)
    }

    fn route<'a>(
        &'a self,
        req: Request<Incoming>,
        ex: &'a mut Exchange<Self::Tag>,
    ) -> BoxFuture<'a, Reply> {
        RecordingRoutes::route(self, req, ex)
    }

    fn connected(&self, c: HttpConnection) {
        let mut c = Some(c);
        self.records(&mut |r| {
            if let Some(c) = c.take() {
                r.connected(c);
            }
        });
    }

    fn exchanged(&self, exchange: HttpExchange, (call, auth): Self::Tag) {
        let mut once = Some((exchange, call, auth));
        self.records(&mut |r| {
            if let Some((e, c, a)) = once.take() {
                r.exchanged(e, c, a);
            }
        });
    }

    fn rejected(&self) {
        self.records(&mut |r| r.rejected_connections += 1);
    }

    fn response_delay(&self) -> Option<Duration> {
        RecordingRoutes::response_delay(self)
    }
}

/// Accepts connections on `listener` until the task is aborted.
pub async fn serve<R: Routes>(
    listener: TcpListener,
    tls: TlsAcceptor,
    routes: Arc<R>,
    limits: HttpLimits,
    started: Instant,
) {
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
    let server = Arc::new(Server {
        routes,
        limits,
        started,
        in_flight,
    });
    let max = server.limits.max_connections;
    let rejected = || server.routes.rejected();
    crate::net::accept::accept_loop(listener, max, true, rejected, |tcp, peer| {
        server.clone().connection(tcp, peer, tls.clone())
    })
    .await
}

struct Server<R> {
    routes: Arc<R>,
    limits: HttpLimits,
    started: Instant,
    in_flight: Arc<Semaphore>,
}

impl<R: Routes> Server<R> {
    async fn connection(
        self: Arc<Self>,
        tcp: tokio::net::TcpStream,
        peer: SocketAddr,
        tls: TlsAcceptor,
    ) {
        let at = self.started.elapsed();
        let (stream, outcome) = match handshake(tcp, &tls, self.limits.header_timeout).await {
            Ok((s, o)) => (Some(s), o),
            Err((o, _)) => (None, o),
        };
        self.routes.connected(HttpConnection {
            peer,
            tls: outcome,
            at,
        });
        let Some(stream) = stream else { return };
        let server = self.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let server = server.clone();
            async move { Ok::<_, Infallible>(server.handle(req, peer).await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_buf_size(64 * 1024);
        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
    }

    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let at = self.started.elapsed();
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
        let mut ex = Exchange {
            tag: self.routes.new_tag(),
            bytes_in: 0,
            note: None,
            close: false,
        };
        let reply = match self.in_flight.clone().try_acquire_owned() {
            Err(_) => {
                ex.note = Some(format!(
                    "too many requests in flight (limit {})",
                    self.limits.max_in_flight
                ));
                ex.close = true;
                Reply::status(429).header(header::RETRY_AFTER, "1")
            }
            Ok(permit) => {
                let timeout = self.limits.request_timeout;
                let r = match tokio::time::timeout(timeout, self.routes.route(req, &mut ex)).await {
                    Ok(r) => r,
                    Err(_) => {
                        ex.note = Some(format!("request not complete within {timeout:?}"));
                        ex.close = true;
                        Reply::status(408)
                    }
                };
                // A slow response holds its slot (a slow server has less capacity).
                if let Some(d) = self.routes.response_delay() {
                    tokio::time::sleep(d).await;
                }
                drop(permit);
                r
            }
        };
        let status = reply.status;
        let buffered = reply.body.len();
        let (body, length) = match &reply.file {
            None => (Body::from(reply.body), None),
            Some(path) => match tokio::fs::File::open(path).await {
                Ok(f) => {
                    let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
                    let stream = tokio_util::io::ReaderStream::with_capacity(f, 64 * 1024);
                    (Body::from_stream(stream), Some(len))
                }
                Err(e) => {
                    ex.note = Some(format!("stored file not readable: {e}"));
                    (Body::empty(), Some(0))
                }
            },
        };
        let bytes_out = match (reply.head_only, length) {
            (true, _) => 0,
            (false, Some(n)) => n as usize,
            (false, None) => buffered,
        };
        let body = if reply.head_only { Body::empty() } else { body };
        let mut resp = Response::new(body);
        if let Some(len) = length.filter(|_| !reply.chunked)
            && let Ok(v) = HeaderValue::from_str(&len.to_string())
        {
            resp.headers_mut().insert(header::CONTENT_LENGTH, v);
        }
        *resp.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
        if ex.close {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        self.routes.exchanged(
            HttpExchange {
                peer,
                method,
                target,
                content_type,
                status,
                bytes_in: ex.bytes_in,
                bytes_out,
                at,
                duration: started.elapsed(),
                note: ex.note,
            },
            ex.tag,
        );
        resp
    }
}

pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .to_string()
        })
    })
}

pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
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

/// Reads a request body of at most `limit` bytes. Too large (declared or sent): 413 and the
/// connection closed; unreadable: 400. `ex` records the bytes read and why it was refused.
pub async fn read_body<T>(
    req: Request<Incoming>,
    limit: usize,
    ex: &mut Exchange<T>,
) -> Result<Vec<u8>, Reply> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared
        && n > limit as u64
    {
        ex.note = Some(format!(
            "Content-Length {n} exceeds the body limit of {limit} bytes"
        ));
        ex.close = true;
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
            ex.bytes_in = b.len();
            Ok(b.to_vec())
        }
        Err(Body413::TooLarge) => {
            ex.bytes_in = limit;
            ex.note = Some(format!("body exceeds the limit of {limit} bytes"));
            ex.close = true;
            Err(Reply::status(413))
        }
        Err(Body413::Failed(e)) => {
            ex.note = Some(format!("request body not readable: {e}"));
            ex.close = true;
            Err(Reply::status(400))
        }
    }
}

/// A running HTTPS server task bound to one address: what every HTTPS product holds to stop
/// its server (explicitly or when dropped).
#[derive(Debug)]
pub struct HttpTask {
    addr: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl HttpTask {
    /// Binds `addr` (`what` names the server in errors); for products that must know their
    /// port before their routes exist (share links naming it).
    pub async fn listen(
        what: &'static str,
        addr: std::net::SocketAddr,
    ) -> Result<TcpListener, crate::error::MockError> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| crate::error::MockError::Bind { what, addr, source })
    }

    /// Serves `routes` with TLS `tls` on a bound `listener`.
    pub fn serve<R: Routes>(
        listener: TcpListener,
        tls: TlsAcceptor,
        routes: Arc<R>,
        limits: HttpLimits,
    ) -> Result<HttpTask, crate::error::MockError> {
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener, tls, routes, limits, Instant::now()));
        Ok(HttpTask {
            addr,
            task: Some(task),
        })
    }

    /// Binds `addr` and serves `routes` there.
    pub async fn bind<R: Routes>(
        what: &'static str,
        addr: std::net::SocketAddr,
        tls: TlsAcceptor,
        routes: Arc<R>,
        limits: HttpLimits,
    ) -> Result<HttpTask, crate::error::MockError> {
        HttpTask::serve(HttpTask::listen(what, addr).await?, tls, routes, limits)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops accepting and aborts running connections.
    pub async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for HttpTask {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}
