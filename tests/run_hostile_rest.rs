//! A hostile SUT on the REST transport, behind the same adapter trait as a vendor's: it speaks
//! plain HTTP to the HTTPS port, uses wrong credentials, storms the server with requests, or
//! uploads 50 MB. The REST cases must end as `fail` or `error` with evidence naming what
//! happened, within their timeout; the other cases of the run still decide.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use kvc_check::catalogue::Catalogue;
use kvc_check::roles::kvc_pvs::world::KvcMockHost;
use kvc_check::rules::KvcRegistry;
use kvc_check::runner::answers::Answers;
use kvc_check::runner::model::{CaseResult, RunInfo, RunResult, Verdict};
use kvc_check::runner::observe::{Endpoints, MockHost};
use kvc_check::runner::{self, RunContext};
use kvc_check::suite::{self, Case};
use kvc_check::sut::{Reply, SendRequest, SutAdapter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Plain HTTP to the HTTPS port.
    NoTls,
    /// Correct TLS, wrong password.
    WrongCredentials,
    /// 300 concurrent requests.
    Storm,
    /// A 50 MB `POST mails`.
    Huge,
}

const HUGE_BYTES: usize = 50 * 1024 * 1024;

struct Hostile {
    mode: Mode,
    ca_pem: String,
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(ep: &Endpoints, ca_pem: &str) -> Result<Tls, String> {
    let config = kvc_mocks::net::tls::client_config_trusting(ca_pem).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(ep.addr("rest"))
        .await
        .map_err(|e| e.to_string())?;
    let name =
        rustls_pki_types::ServerName::try_from(ep.host.clone()).map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())
}

fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// Path of the base URL (`/kvconnect/rest`).
fn base_path(ep: &Endpoints) -> String {
    let url = ep
        .rest
        .as_ref()
        .map(|r| r.base_url.clone())
        .unwrap_or_default();
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
    after_scheme
        .find('/')
        .map(|i| after_scheme[i..].to_string())
        .unwrap_or_default()
}

/// Sends one request and reads the status line (or what came back).
async fn request<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    head: &str,
    body: &[u8],
) -> String {
    if s.write_all(head.as_bytes()).await.is_err() {
        return "write failed".into();
    }
    let _ = s.write_all(body).await;
    let mut buf = vec![0u8; 512];
    match tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        _ => "no answer".into(),
    }
}

impl SutAdapter for Hostile {
    fn describe(&self) -> String {
        format!("hostile REST SUT ({:?})", self.mode)
    }

    fn transports(&self) -> Vec<kvc_check::sut::Transport> {
        vec![kvc_check::sut::Transport::Rest]
    }

    fn send<'a>(&'a self, ep: &'a Endpoints, _req: &'a SendRequest) -> Reply<'a> {
        Box::pin(async move {
            let path = base_path(ep);
            let mail = "From: praxis@kv-connect.test\r\nTo: empfaenger@kv-connect.test\r\nSubject: x\r\n\r\nnot encrypted\r\n";
            let status = match self.mode {
                Mode::NoTls => {
                    let addr = ep.addr("rest");
                    let mut tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                    let head = format!(
                        "POST {path}/mails HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Length: {}\r\n\r\n",
                        ep.host,
                        basic(&ep.user, &ep.password),
                        mail.len()
                    );
                    request(&mut tcp, &head, mail.as_bytes()).await
                }
                Mode::WrongCredentials => {
                    let mut tls = connect(ep, &self.ca_pem).await?;
                    let head = format!(
                        "POST {path}/mails HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                        ep.host,
                        basic(&ep.user, "falsch"),
                        mail.len()
                    );
                    request(&mut tls, &head, mail.as_bytes()).await
                }
                Mode::Storm => {
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..300 {
                        let ep = ep.clone();
                        let ca = self.ca_pem.clone();
                        let path = path.clone();
                        tasks.spawn(async move {
                            let Ok(mut tls) = connect(&ep, &ca).await else {
                                return;
                            };
                            let head = format!(
                                "GET {path}/server/version HTTP/1.1\r\nHost: {}\r\n\r\n",
                                ep.host
                            );
                            let _ = request(&mut tls, &head, b"").await;
                        });
                    }
                    while tasks.join_next().await.is_some() {}
                    "storm done".into()
                }
                Mode::Huge => {
                    let mut tls = connect(ep, &self.ca_pem).await?;
                    let head = format!(
                        "POST {path}/mails HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {HUGE_BYTES}\r\n\r\n",
                        ep.host,
                        basic(&ep.user, &ep.password),
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let chunk = vec![b'A'; 64 * 1024];
                    let mut sent = 0;
                    while sent < HUGE_BYTES {
                        if tls.write_all(&chunk).await.is_err() {
                            break;
                        }
                        sent += chunk.len();
                    }
                    let mut buf = vec![0u8; 256];
                    let n = tls.read(&mut buf).await.unwrap_or(0);
                    String::from_utf8_lossy(&buf[..n]).to_string()
                }
            };
            // Like a careless vendor hook: claims success whatever happened.
            Ok(format!("hostile SUT says: sent ({status})"))
        })
    }

    fn fetch<'a>(&'a self, _ep: &'a Endpoints) -> Reply<'a> {
        Box::pin(async { Ok("hostile SUT says: fetched".into()) })
    }
}

struct Collect;

impl runner::Sink for Collect {
    fn case_finished(&mut self, _: &CaseResult, _: &RunResult) {}
}

fn suite_cases(ids: &[&str]) -> Vec<Case> {
    let catalogue = Catalogue::embedded().expect("catalogue");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/kvc-pvs");
    suite::load_dir(&dir, catalogue)
        .expect("suite loads")
        .into_iter()
        .filter(|c| ids.contains(&c.id.as_str()))
        .collect()
}

fn info() -> RunInfo {
    RunInfo {
        tool: "kvc-check".into(),
        version: "test".into(),
        started: "test".into(),
        role: "kvc-pvs".into(),
        sut: "hostile".into(),
        transport: "rest".into(),
        faults: vec![],
        jobs: 4,
        timeout_s: 3.0,
        selection: vec![],
        scope: Default::default(),
        suites: "embedded".into(),
        out: String::new(),
        rerun: String::new(),
        shard: None,
        merged_from: vec![],
        strict: false,
    }
}

async fn hostile_run(mode: Mode) -> (RunResult, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let timeout = Duration::from_secs(4);
    let host = KvcMockHost::new("localhost", &dir.path().join("ca.pem"), None).expect("pki");
    host.prepare_rest().expect("user pki");
    let ctx = Arc::new(RunContext {
        sut: Arc::new(Hostile {
            mode,
            ca_pem: host.ca_pem(),
        }),
        mocks: Arc::new(host),
        registry: Arc::new(KvcRegistry::builtin().expect("registry")),
        answers: Arc::new(Answers::default()),
        catalogue: Catalogue::embedded().expect("catalogue"),
        jobs: 4,
        timeout,
        fixed_ports: Default::default(),
        idle_timeout: timeout,
    });
    let cases = suite_cases(&[
        "kvc-pvs/anb010-rest",
        "kvc-pvs/anb130-fallback",
        "kvc-pvs/anb030-attest",
    ]);
    let start = Instant::now();
    let r = runner::run(cases, ctx, info(), &mut Collect, std::future::pending()).await;
    (r, start.elapsed())
}

fn case<'a>(r: &'a RunResult, id: &str) -> &'a CaseResult {
    r.cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} missing"))
}

/// All evidence of a case as one text.
fn evidence(c: &CaseResult) -> String {
    let mut all = c.reason.clone().unwrap_or_default();
    for ch in &c.checks {
        all.push('\n');
        all.push_str(&ch.observed);
    }
    for s in &c.steps {
        all.push('\n');
        all.push_str(&s.detail);
    }
    all
}

async fn assert_hostile(mode: Mode, evidence_contains: &str) {
    let (r, elapsed) = hostile_run(mode).await;
    assert!(r.complete, "{mode:?}");
    for id in ["kvc-pvs/anb010-rest", "kvc-pvs/anb130-fallback"] {
        let c = case(&r, id);
        assert!(
            matches!(c.verdict, Verdict::Fail | Verdict::Error),
            "{mode:?}: {id}: {:?}: {}",
            c.verdict,
            evidence(c)
        );
        assert!(
            c.duration_ms <= 4_500,
            "{mode:?}: {id} took {} ms",
            c.duration_ms
        );
    }
    let transport = case(&r, "kvc-pvs/anb010-rest");
    let text = evidence(transport);
    assert!(
        text.contains(evidence_contains),
        "{mode:?}: evidence lacks `{evidence_contains}`:\n{text}"
    );
    assert_eq!(
        case(&r, "kvc-pvs/anb030-attest").verdict,
        Verdict::Attest,
        "{mode:?}: the other cases still decide"
    );
    assert!(
        elapsed < Duration::from_secs(12),
        "{mode:?}: run took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_https_port() {
    assert_hostile(Mode::NoTls, "TLS handshake failed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials() {
    assert_hostile(
        Mode::WrongCredentials,
        "-> 401 (auth: failed praxis@kv-connect.test)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_requests() {
    assert_hostile(Mode::Storm, "GET /kvconnect/rest/server/version -> ").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_upload() {
    assert_hostile(Mode::Huge, "-> 413").await;
}
