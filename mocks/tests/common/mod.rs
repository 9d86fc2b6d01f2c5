//! Test helpers: a minimal line-oriented TLS client for the mock servers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kvc_mocks::{KvcClientConfig, KvcClientMock, TlsPki};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub const USER: &str = "praxis@kv-connect.test";
pub const PASSWORD: &str = "geheim";
/// Upper bound for every single step of a test.
pub const STEP: Duration = Duration::from_secs(10);

pub fn pki() -> TlsPki {
    TlsPki::generate("localhost").expect("test PKI")
}

pub async fn start(config: KvcClientConfig, pki: &TlsPki) -> KvcClientMock {
    KvcClientMock::start(config, pki)
        .await
        .expect("mock starts")
}

pub struct Client {
    pub io: BufReader<TlsStream<TcpStream>>,
}

pub async fn try_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<Client> {
    let tcp = tokio::time::timeout(STEP, TcpStream::connect(addr)).await??;
    let tls = TlsConnector::from(config);
    let name = ServerName::try_from("localhost").unwrap();
    let stream = tokio::time::timeout(STEP, tls.connect(name, tcp)).await??;
    Ok(Client {
        io: BufReader::new(stream),
    })
}

pub async fn connect(addr: SocketAddr, pki: &TlsPki) -> Client {
    try_connect(addr, pki.client_config().unwrap())
        .await
        .expect("TLS connect")
}

impl Client {
    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(STEP, async {
            self.io.get_mut().write_all(bytes).await?;
            self.io.get_mut().flush().await
        })
        .await
        .expect("write in time")
        .expect("write");
    }

    pub async fn line(&mut self) -> String {
        let mut s = String::new();
        tokio::time::timeout(STEP, self.io.read_line(&mut s))
            .await
            .expect("reply in time")
            .expect("read");
        s
    }

    /// Reads a (multi-line) SMTP reply; returns all lines joined with \n.
    pub async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let l = self.line().await;
            assert!(!l.is_empty(), "connection closed; so far: {all:?}");
            all.push_str(l.trim_end());
            if l.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
            all.push('\n');
        }
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Reads until "." on a line; returns the raw bytes (still dot-stuffed) without the terminator.
    pub async fn multiline(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut l = Vec::new();
            tokio::time::timeout(STEP, self.io.read_until(b'\n', &mut l))
                .await
                .expect("in time")
                .expect("read");
            assert!(!l.is_empty(), "closed inside multi-line response");
            if l == b".\r\n" {
                return out;
            }
            out.extend_from_slice(&l);
        }
    }

    /// True if the server closed the connection (EOF or reset) within STEP.
    pub async fn closed(&mut self) -> bool {
        let mut l = String::new();
        match tokio::time::timeout(STEP, self.io.read_line(&mut l)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => {
                // drain whatever the server said before closing
                loop {
                    l.clear();
                    match tokio::time::timeout(STEP, self.io.read_line(&mut l)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => return true,
                        Ok(Ok(_)) => continue,
                        Err(_) => return false,
                    }
                }
            }
            Err(_) => false,
        }
    }
}

pub fn plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Greeting, EHLO, AUTH PLAIN.
pub async fn smtp_login(addr: SocketAddr, pki: &TlsPki) -> Client {
    let mut c = connect(addr, pki).await;
    assert!(c.reply().await.starts_with("220 "));
    assert!(c.cmd("EHLO pvs.test").await.starts_with("250-"));
    let r = c
        .cmd(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)))
        .await;
    assert!(r.starts_with("235 "), "{r}");
    c
}

/// Runs Schemathesis (PyPI) against `base_url` with gematik's `spec`, with positive and then
/// negative data, and asserts that no answer lies outside the yaml: status code documented, body
/// against its schema, content type, required headers, no server error. `auth` are the CLI
/// arguments that authenticate (`--auth user:pw`, `-H "Authorization: Bearer …"`).
/// `Content-Length` is left to the HTTP client (`tests/interop/schemathesis_hooks.py` says why).
/// A failure prints its seed; `KVC_SCHEMATHESIS_SEED=<seed>` replays it. Returns nothing: the
/// caller asserts that the mock saw the requests.
pub async fn schemathesis(
    spec: &std::path::Path,
    base_url: &str,
    ca: &str,
    auth: &[&str],
    max_examples: u32,
) {
    let checks = "not_a_server_error,status_code_conformance,content_type_conformance,\
                  response_headers_conformance,response_schema_conformance";
    let hooks_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let seed = std::env::var("KVC_SCHEMATHESIS_SEED").ok();
    let examples = max_examples.to_string();
    for mode in ["positive", "negative"] {
        let mut args = vec![
            "-m",
            "schemathesis.cli",
            "run",
            spec.to_str().expect("utf-8 path"),
            "--url",
            base_url,
            "--tls-verify",
            ca,
            "--mode",
            mode,
            "--checks",
            checks,
            "--max-examples",
            &examples,
            "--no-color",
        ];
        args.extend_from_slice(auth);
        if let Some(s) = &seed {
            args.extend(["--seed", s.as_str()]);
        }
        let out = tokio::time::timeout(
            Duration::from_secs(600),
            tokio::process::Command::new("python3")
                .args(&args)
                .env("PYTHONPATH", &hooks_dir)
                .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("schemathesis within 600 s")
        .expect("python3 with schemathesis is needed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "schemathesis ({mode}) found violations:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
