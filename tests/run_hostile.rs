//! A hostile SUT behind the same adapter trait as a vendor's: it never connects, connects and
//! stalls, drops the connection inside DATA, sends 50 MB, or sends garbage instead of TLS/SMTP.
//! The affected case must end as `error` within its timeout, the other cases still run, and
//! memory stays bounded. Also: an interrupted run keeps what finished, marked incomplete.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use kvc_check::catalogue::Catalogue;
use kvc_check::report::run::ReportWriter;
use kvc_check::roles::kvc_pvs::world::KvcMockHost;
use kvc_check::rules::KvcRegistry;
use kvc_check::runner::answers::Answers;
use kvc_check::runner::model::{RunInfo, RunResult, Verdict};
use kvc_check::runner::observe::{Endpoints, MockHost};
use kvc_check::runner::{self, RunContext};
use kvc_check::suite::{self, Case};
use kvc_check::sut::reference::ReferenceAdapter;
use kvc_check::sut::{Reply, SendRequest, SutAdapter};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Clone, Copy, Debug)]
enum Mode {
    NeverConnects,
    Stall,
    DropInData,
    Huge,
    Garbage,
}

const HUGE_BYTES: usize = 50 * 1024 * 1024;

struct Hostile {
    mode: Mode,
    /// Fetching is delegated to the reference PVS, so the POP3 case still passes.
    good: ReferenceAdapter,
    ca_pem: String,
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn reply(r: &mut BufReader<Tls>) -> Result<String, String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("closed after `{all}`"));
        }
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] == b' ' {
            return Ok(all);
        }
    }
}

async fn cmd(r: &mut BufReader<Tls>, line: &str) -> Result<String, String> {
    r.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    reply(r).await
}

/// Connects over TLS, authenticates and opens DATA.
async fn open_data(ep: &Endpoints, ca_pem: &str) -> Result<BufReader<Tls>, String> {
    let config = kvc_mocks::net::tls::client_config_trusting(ca_pem).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(ep.addr("smtp"))
        .await
        .map_err(|e| e.to_string())?;
    let name =
        rustls_pki_types::ServerName::try_from(ep.host.clone()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(tls);
    reply(&mut r).await?;
    cmd(&mut r, "EHLO hostile.test").await?;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{}", ep.user, ep.password));
    cmd(&mut r, &format!("AUTH PLAIN {token}")).await?;
    cmd(&mut r, &format!("MAIL FROM:<{}>", ep.from)).await?;
    cmd(&mut r, "RCPT TO:<empfaenger@kv-connect.test>").await?;
    cmd(&mut r, "DATA").await?;
    Ok(r)
}

impl SutAdapter for Hostile {
    fn describe(&self) -> String {
        format!("hostile SUT ({:?})", self.mode)
    }

    fn send<'a>(&'a self, ep: &'a Endpoints, _req: &'a SendRequest) -> Reply<'a> {
        Box::pin(async move {
            match self.mode {
                Mode::NeverConnects => {}
                Mode::Stall => {
                    let tcp = TcpStream::connect(ep.addr("smtp"))
                        .await
                        .map_err(|e| e.to_string())?;
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(tcp);
                    });
                }
                Mode::Garbage => {
                    let mut tcp = TcpStream::connect(ep.addr("smtp"))
                        .await
                        .map_err(|e| e.to_string())?;
                    let _ = tcp
                        .write_all(
                            b"\x00\xffHELO? this is not TLS, not SMTP\r\n\x16\x03garbage\r\n",
                        )
                        .await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Mode::DropInData => {
                    let mut r = open_data(ep, &self.ca_pem).await?;
                    let _ = r
                        .get_mut()
                        .write_all(b"Subject: cut\r\nX-KVC-Sendersystem: x;1\r\n\r\nhalf a bo")
                        .await;
                    drop(r);
                }
                Mode::Huge => {
                    let mut r = open_data(ep, &self.ca_pem).await?;
                    let line = [b'A'; 1022];
                    let mut chunk = Vec::with_capacity(64 * 1024);
                    while chunk.len() + 1024 <= 64 * 1024 {
                        chunk.extend_from_slice(&line);
                        chunk.extend_from_slice(b"\r\n");
                    }
                    let mut sent = 0;
                    while sent < HUGE_BYTES {
                        if r.get_mut().write_all(&chunk).await.is_err() {
                            break;
                        }
                        sent += chunk.len();
                    }
                    let _ = r.get_mut().write_all(b".\r\n").await;
                    let _ = reply(&mut r).await;
                }
            }
            // Like a careless vendor hook: claims success whatever happened.
            Ok("hostile SUT says: sent".into())
        })
    }

    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a> {
        self.good.fetch(ep)
    }
}

/// One test of this file at a time: `sends_50_mb_with_bounded_memory` reads the process-wide
/// peak RSS, which tests running beside it would raise.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Collect;

impl runner::Sink for Collect {
    fn case_finished(&mut self, _: &kvc_check::runner::model::CaseResult, _: &RunResult) {}
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

/// A case sending one message into a mock that accepts at most 1 MiB.
fn small_limit_case() -> Case {
    let catalogue = Catalogue::embedded().expect("catalogue");
    let text = "id: hostile/one-message
title: one message, 1 MiB limit
requirements: [KVC-Anb170]
role: kvc-pvs
profile: kvc
setup:
  mock: kvc-client
  max_message_bytes: 1048576
steps:
  - send: {to: [empfaenger@kv-connect.test], application: Arztbrief}
  - wait_messages: {count: 1}
expect:
  - lint: {requirements: [KVC-Anb170]}
";
    suite::load_case(Path::new("hostile.yaml"), text, catalogue).expect("case loads")
}

fn context(dir: &Path, mode: Mode, timeout: Duration) -> Arc<RunContext> {
    let host = KvcMockHost::new("localhost", &dir.join("ca.pem"), None).expect("pki");
    let good = ReferenceAdapter::new(&[], host.server_name(), host.ca_pem(), host.account())
        .expect("reference");
    let sut = Hostile {
        mode,
        good,
        ca_pem: host.ca_pem(),
    };
    Arc::new(RunContext {
        sut: Arc::new(sut),
        mocks: Arc::new(host),
        registry: Arc::new(KvcRegistry::builtin().expect("registry")),
        answers: Arc::new(Answers::default()),
        catalogue: Catalogue::embedded().expect("catalogue"),
        jobs: 4,
        timeout,
        fixed_ports: Default::default(),
        idle_timeout: timeout,
    })
}

fn info() -> RunInfo {
    RunInfo {
        tool: "kvc-check".into(),
        version: "test".into(),
        started: "test".into(),
        role: "kvc-pvs".into(),
        sut: "hostile".into(),
        transport: "smtp-pop3".into(),
        faults: vec![],
        jobs: 4,
        timeout_s: 2.0,
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

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

async fn hostile_run(mode: Mode) -> (RunResult, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let timeout = Duration::from_secs(2);
    let ctx = context(dir.path(), mode, timeout);
    let mut cases = suite_cases(&[
        "kvc-pvs/anb170-no-bcc",
        "kvc-pvs/anb020-unknown-application",
        "kvc-pvs/anb030-attest",
    ]);
    cases.push(small_limit_case());
    let start = Instant::now();
    let r = runner::run(cases, ctx, info(), &mut Collect, std::future::pending()).await;
    (r, start.elapsed())
}

fn verdict(r: &RunResult, id: &str) -> (Verdict, String, u64) {
    let c = r
        .cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} missing"));
    (
        c.verdict,
        c.reason.clone().unwrap_or_default(),
        c.duration_ms,
    )
}

async fn assert_hostile(mode: Mode) {
    let (r, elapsed) = hostile_run(mode).await;
    assert!(r.complete);
    for id in ["kvc-pvs/anb170-no-bcc", "hostile/one-message"] {
        let (v, reason, ms) = verdict(&r, id);
        assert_eq!(v, Verdict::Error, "{mode:?}: {id}: {reason}");
        assert!(ms <= 2_500, "{mode:?}: {id} took {ms} ms, timeout is 2 s");
    }
    // The other cases still ran and decided.
    assert_eq!(
        verdict(&r, "kvc-pvs/anb020-unknown-application").0,
        Verdict::Pass,
        "{mode:?}"
    );
    assert_eq!(
        verdict(&r, "kvc-pvs/anb030-attest").0,
        Verdict::Attest,
        "{mode:?}"
    );
    // Two phases (run-scoped lint case after the others), each bounded by the timeout.
    assert!(
        elapsed < Duration::from_secs(6),
        "{mode:?}: run took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_connects() {
    let _serial = SERIAL.lock().await;
    assert_hostile(Mode::NeverConnects).await;
    let (r, _) = hostile_run(Mode::NeverConnects).await;
    let (_, reason, _) = verdict(&r, "hostile/one-message");
    assert!(reason.contains("the SUT never connected"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_and_stalls() {
    let _serial = SERIAL.lock().await;
    assert_hostile(Mode::Stall).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_the_connection_inside_data() {
    let _serial = SERIAL.lock().await;
    assert_hostile(Mode::DropInData).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_garbage_instead_of_smtp() {
    let _serial = SERIAL.lock().await;
    assert_hostile(Mode::Garbage).await;
}

/// KVC-Anb021 must not pass for a SUT that merely fails the handshake by not speaking TLS, nor
/// for one that never connects: a refusal has to be observed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_refusal_is_not_granted_to_garbage_or_silence() {
    let _serial = SERIAL.lock().await;
    for mode in [Mode::Garbage, Mode::NeverConnects, Mode::Stall] {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = context(dir.path(), mode, Duration::from_secs(2));
        let cases = suite_cases(&["kvc-pvs/anb021-untrusted-ca"]);
        let r = runner::run(cases, ctx, info(), &mut Collect, std::future::pending()).await;
        let (v, reason, _) = verdict(&r, "kvc-pvs/anb021-untrusted-ca");
        assert_eq!(v, Verdict::Error, "{mode:?}: {reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_50_mb_with_bounded_memory() {
    let _serial = SERIAL.lock().await;
    // Pay the one-off costs (runtime, TLS and PKI set-up, catalogue, lint registry) before the
    // baseline, so the growth measured is the huge messages' alone, whichever test ran first.
    let _ = hostile_run(Mode::Garbage).await;
    let before = peak_rss();
    assert_hostile(Mode::Huge).await;
    let (r, _) = hostile_run(Mode::Huge).await;
    let (_, reason, _) = verdict(&r, "hostile/one-message");
    assert!(reason.contains("too large"), "{reason}");
    if let (Some(before), Some(after)) = (before, peak_rss()) {
        // 2 x 50 MB went through the mocks (limit 1 MiB / 16 MiB). Measured growth without
        // buffering: 34-54 MB (the 16 MiB capture, TLS and socket buffers, two runtimes'
        // threads). Buffering one 50 MB message whole adds 50 MB on top of that (84 MB or
        // more), both 100 MB: over the bound either way.
        let growth = after.saturating_sub(before);
        assert!(growth < 64 * 1024 * 1024, "peak RSS grew by {growth} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_keeps_what_finished_and_is_marked_incomplete() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = context(dir.path(), Mode::NeverConnects, Duration::from_secs(20));
    let cases = suite_cases(&["kvc-pvs/anb130-fallback", "kvc-pvs/anb030-attest"]);
    let out = dir.path().join("out");
    let mut writer = ReportWriter::new(out.clone(), None).expect("writer");
    let start = Instant::now();
    let r = runner::run(
        cases,
        ctx,
        info(),
        &mut writer,
        tokio::time::sleep(Duration::from_millis(500)),
    )
    .await;
    writer.finish(&r).expect("reports written");
    assert!(start.elapsed() < Duration::from_secs(5), "cancel is prompt");
    assert!(!r.complete);
    assert_eq!(r.exit_code(false), 2);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("json"))
            .expect("valid");
    assert_eq!(json["complete"], false);
    assert_eq!(json["planned_cases"], 2);
    let ids: Vec<&str> = json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["kvc-pvs/anb030-attest"]);
    let html = std::fs::read_to_string(out.join("report.html")).expect("html");
    assert!(html.contains("INCOMPLETE"));
}
