//! `kvc-check run --role kim-fd`: the suite as the Clientmodul of a Fachdienst. Against the
//! reference Fachdienst every case passes with the exchanges as evidence; against the same
//! Fachdienst started on its own (`kvc-check mocks serve kim-fd`) and given by a `--sut`
//! config, the verdicts are the same; a provider that stalls, answers 10 MB of garbage or
//! redirects in a loop ends each case as `error` with evidence, within the timeout. (The fault
//! matrix is in `tests/run_cli.rs`.)

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn kvc_check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("kvc-check runs")
}

/// `kvc-check run --role kim-fd <args> --out <out>`: its output and report.json.
fn run_fd(args: &[&str], out: &Path) -> (Output, Value) {
    let mut all = vec!["run", "--role", "kim-fd"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().expect("utf-8")]);
    let o = kvc_check(&all);
    let r = report(out);
    (o, r)
}

fn report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// Requirement → verdict.
fn verdicts(r: &Value) -> BTreeMap<String, String> {
    r["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .map(|q| {
            (
                q["id"].as_str().unwrap_or_default().to_string(),
                q["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_kim_fd_requirement_passes_against_the_reference_with_its_exchanges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let (o, r) = run_fd(&[], &out);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v = verdicts(&r);
    assert_eq!(v.len(), 12, "{v:?}");
    assert!(v.values().all(|x| x == "pass"), "{v:?}");
    for c in r["cases"].as_array().expect("cases") {
        let probes = c["sessions"]["probes"].as_array().expect("probe evidence");
        assert!(!probes.is_empty(), "{}: no exchanges", c["id"]);
        // Each HTTPS exchange names its TLS session (the MTA's SMTP exchanges do not).
        for e in probes.iter().filter(|e| e["service"] != "mta") {
            assert!(e["tls"].as_str().is_some_and(|t| t.contains("TLS")), "{e}");
        }
        // No credential in the evidence: request lines name method and path only.
        let text = c.to_string();
        assert!(
            !text.contains("Kim-"),
            "{}: a password in the report",
            c["id"]
        );
        assert!(
            !text.contains("Bearer "),
            "{}: a token in the report",
            c["id"]
        );
    }
    // Answers that carry a credential (the OTP, the PKCS#12 with its key) leave no excerpt.
    let interface = r["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["id"] == "kim-fd/a20063-am-interface")
        .expect("interface case");
    for e in interface["sessions"]["probes"].as_array().expect("probes") {
        if e["label"] == "getOTP" || e["label"] == "createCert" {
            assert!(e.get("body_excerpt").is_none(), "{e}");
        } else if e["label"] == "getAccount" {
            assert!(e["body_excerpt"].is_string(), "{e}");
        }
    }
    // report.html shows the exchanges.
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("Exchanges of the suite with the SUT"));
    assert!(html.contains("download by an outsider"));
    // The reference's own records are there too (the KAS saw the uploads).
    let size = r["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["id"] == "kim-fd/a19378-kas-size-limit")
        .expect("size case");
    assert!(
        size["sessions"]["http"]["requests"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
}

/// `kvc-check mocks serve kim-fd` on free ports, until dropped.
struct Standalone {
    child: Child,
    json: Value,
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_fachdienst(dir: &Path) -> Standalone {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .args(["mocks", "serve", "kim-fd", "--out"])
        .arg(dir)
        .args([
            "--smtps-port",
            "0",
            "--pop3s-port",
            "0",
            "--kas-port",
            "0",
            "--am-port",
            "0",
            "--dns-port",
            "0",
            "--kas-max-bytes",
            "100000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mocks serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let file = dir.join("kim-fd.json");
    let until = Instant::now() + Duration::from_secs(60);
    while !file.is_file() && Instant::now() < until {
        // The JSON is written before the listing is printed.
        if lines.next().is_none() {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let text = std::fs::read_to_string(&file).expect("kim-fd.json written");
    Standalone {
        child,
        json: serde_json::from_str(&text).expect("kim-fd.json is JSON"),
    }
}

/// Once with every service given by address, once with KAS and Account Manager found by DNS-SD
/// (the standalone's responder) as a Clientmodul finds them.
#[test]
fn a_fachdienst_started_on_its_own_gets_the_same_verdicts_as_in_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fd_dir = dir.path().join("fd");
    let fd = serve_fachdienst(&fd_dir);
    let j = &fd.json;
    let account = |i: usize| &j["accounts"][i];
    let config = format!(
        r#"name: "kvc-check mocks serve kim-fd"
fachdienst:
  host: localhost
  ca_file: {ca}
  {{services}}
  mta: {mta}
  kas_max_bytes: {max}
  sender: {{address: "{a0}", password: "{p0}", aut_key: {k0}, aut_cert: {c0}}}
  recipient: {{address: "{a1}", password: "{p1}"}}
  deregistered: {{address: "{ad}", password: "{pd}", aut_key: {k0}, aut_cert: {c0}}}
"#,
        ca = j["ca_pem"].as_str().expect("ca"),
        mta = j["mta"]["smtps"].as_str().expect("mta"),
        max = j["kas_max_bytes"],
        a0 = account(0)["address"].as_str().expect("a0"),
        p0 = account(0)["password"].as_str().expect("p0"),
        k0 = account(0)["identity"]["aut_key"].as_str().expect("aut key"),
        c0 = account(0)["identity"]["aut_certificate"]
            .as_str()
            .expect("aut cert"),
        a1 = account(1)["address"].as_str().expect("a1"),
        p1 = account(1)["password"].as_str().expect("p1"),
        ad = j["deregistered"]["address"].as_str().expect("dereg"),
        pd = j["deregistered"]["password"].as_str().expect("dereg pw"),
    );
    let host_port = |url: &Value| {
        let u = url.as_str().expect("url").trim_start_matches("https://");
        u.split('/').next().unwrap_or_default().to_string()
    };
    let by_address = format!(
        "kas: {}\n  kas_api: \"2.4\"\n  account_manager: {}",
        host_port(&j["kas"]["base_url"]),
        host_port(&j["am"]["base_url"])
    );
    let by_discovery = format!(
        "discovery: {{dns: \"{}\", domain: {}}}",
        j["dns"]["addr"].as_str().expect("dns"),
        j["dns"]["domain"].as_str().expect("domain")
    );
    let inproc = dir.path().join("inproc");
    let (_, inproc) = run_fd(&[], &inproc);
    for (name, services) in [("address", by_address), ("discovery", by_discovery)] {
        // The paths in kim-fd.json are relative to its folder, as the config's are to the config.
        let sut = fd_dir.join(format!("sut-{name}.yaml"));
        std::fs::write(&sut, config.replace("{services}", &services)).expect("config written");
        let out = dir.path().join(name);
        let (o, external) = run_fd(&["--sut", sut.to_str().expect("utf-8")], &out);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            external["run"]["sut"]
                .as_str()
                .is_some_and(|s| s.contains("mocks serve kim-fd"))
        );
        assert_eq!(verdicts(&external), verdicts(&inproc), "{name}");
    }
}

#[derive(Clone, Copy, Debug)]
enum Hostility {
    /// Accepts TLS, never answers.
    Stall,
    /// Answers every request with 10 MB of garbage.
    Garbage,
    /// Redirects every request to itself.
    RedirectLoop,
}

/// A TLS server on loopback with `config`: reads the first request of each connection and
/// hands the stream to `answer`.
async fn tls_server<F, Fut>(
    config: std::sync::Arc<rustls::ServerConfig>,
    answer: F,
) -> std::net::SocketAddr
where
    F: Fn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, std::net::SocketAddr) -> Fut
        + Send
        + Sync
        + Copy
        + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 64 * 1024];
                let _ = tls.read(&mut buf).await;
                answer(tls, addr).await;
            });
        }
    });
    addr
}

/// A TLS server on loopback that treats every connection the `Hostility` way.
async fn hostile_server(pki: &kvc_mocks::TlsPki, how: Hostility) -> std::net::SocketAddr {
    let config = pki.server_config(kvc_mocks::ServerCertKind::Valid);
    tls_server(config, move |mut tls, addr| async move {
        match how {
            Hostility::Stall => tokio::time::sleep(Duration::from_secs(3600)).await,
            Hostility::Garbage => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n";
                let _ = tls.write_all(head.as_bytes()).await;
                let chunk = vec![b'#'; 64 * 1024];
                for _ in 0..160 {
                    if tls.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            }
            Hostility::RedirectLoop => {
                let head = format!("HTTP/1.1 302 Found\r\nLocation: https://localhost:{}/attachments/v2.4/attachment/\r\nContent-Length: 0\r\n\r\n", addr.port());
                let _ = tls.write_all(head.as_bytes()).await;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_provider_gets_error_with_evidence_within_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = kvc_mocks::TlsPki::generate("localhost").expect("pki");
    let ca = dir.path().join("ca.pem");
    pki.write_ca(&ca).expect("ca written");
    for how in [
        Hostility::Stall,
        Hostility::Garbage,
        Hostility::RedirectLoop,
    ] {
        let addr = hostile_server(&pki, how).await;
        let config = format!(
            "name: hostile\nfachdienst:\n  host: localhost\n  ca_file: {}\n  kas: {addr}\n  account_manager: {addr}\n  kas_max_bytes: 1000\n  sender: {{address: a@x.kim.telematik-test, password: pw}}\n  recipient: {{address: b@x.kim.telematik-test, password: pw}}\n",
            ca.display()
        );
        let sut = dir.path().join(format!("{how:?}.yaml"));
        std::fs::write(&sut, config).expect("config");
        let out = dir.path().join(format!("{how:?}"));
        let started = Instant::now();
        let (o, r) = tokio::task::spawn_blocking({
            let (sut, out) = (sut.clone(), out.clone());
            move || {
                run_fd(
                    &[
                        "--sut",
                        sut.to_str().expect("utf-8"),
                        "--case",
                        "kim-fd/a19378-kas-size-limit",
                        "--case",
                        "kim-fd/a22410-kas-recipient-checked",
                        "--timeout",
                        "3",
                    ],
                    &out,
                )
            }
        })
        .await
        .expect("run");
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(30),
            "{how:?}: the run took {took:?}"
        );
        assert_eq!(
            o.status.code(),
            Some(2),
            "{how:?}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        for c in r["cases"].as_array().expect("cases") {
            assert_eq!(
                c["verdict"], "error",
                "{how:?} {}: {}",
                c["id"], c["reason"]
            );
            if matches!(how, Hostility::Stall) {
                // What stalled is in the step's record.
                assert!(
                    c.to_string().contains("did not end within"),
                    "{how:?} {}: {c}",
                    c["id"]
                );
            } else {
                let probes = c["sessions"]["probes"].as_array().expect("evidence");
                assert!(!probes.is_empty(), "{how:?} {}: no evidence", c["id"]);
            }
        }
    }
}

/// A TLS server that demands a client certificate from the test CA and answers every request
/// with 500 (what the probe gets shows whether the handshake succeeded).
async fn mutual_tls_server(pki: &kvc_mocks::TlsPki) -> std::net::SocketAddr {
    let config = pki
        .server_config_with(
            kvc_mocks::ServerCertKind::Valid,
            kvc_mocks::net::tls::ClientAuth::Required,
        )
        .expect("mutual TLS config");
    tls_server(config, |mut tls, _| async move {
        let _ = tls
            .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_client_certificate_is_presented_when_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = kvc_mocks::TlsPki::generate("localhost").expect("pki");
    pki.write_ca(&dir.path().join("ca.pem")).expect("ca");
    let id = pki.client_identity();
    std::fs::write(dir.path().join("cm.pem"), &id.certificate_pem).expect("cert");
    std::fs::write(dir.path().join("cm.key.pem"), &id.key_pem).expect("key");
    let addr = mutual_tls_server(&pki).await;
    for with_cert in [false, true] {
        let client = if with_cert {
            "  client_cert: cm.pem\n  client_key: cm.key.pem\n"
        } else {
            ""
        };
        let config = format!(
            "name: mtls\nfachdienst:\n  host: localhost\n  ca_file: ca.pem\n  kas: {addr}\n  kas_max_bytes: 10\n{client}  sender: {{address: a@x.kim.telematik-test, password: pw}}\n  recipient: {{address: b@x.kim.telematik-test, password: pw}}\n"
        );
        let sut = dir.path().join(format!("mtls-{with_cert}.yaml"));
        std::fs::write(&sut, config).expect("config");
        let out = dir.path().join(format!("out-{with_cert}"));
        let (o, r) = tokio::task::spawn_blocking({
            let (sut, out) = (sut.clone(), out.clone());
            move || {
                run_fd(
                    &[
                        "--sut",
                        sut.to_str().expect("utf-8"),
                        "--case",
                        "kim-fd/a19378-kas-size-limit",
                        "--timeout",
                        "5",
                    ],
                    &out,
                )
            }
        })
        .await
        .expect("run");
        assert_eq!(
            o.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let first = &r["cases"][0]["sessions"]["probes"][0];
        if with_cert {
            assert_eq!(first["status"], 500, "{first}");
        } else {
            assert_eq!(first["status"], 0, "{first}");
        }
    }
}
