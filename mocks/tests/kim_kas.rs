//! The mock KAS over real HTTPS with curl as the client nobody here wrote (upload as multipart,
//! read with and without the recipient header, HEAD, delete), every refusal beside an accepted
//! control; hostile clients; and Schemathesis checking every answer against gematik's
//! AttachmentService.yaml.
//!
//! Needs `curl` and `python3` (Schemathesis is installed with pip when missing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kvc_mocks::TlsPki;
use kvc_mocks::kim::kas::{KasAccount, KasApi, KasConfig, KasMock, RecipientsForm};
use sha2::Digest;

const SENDER: &str = "praxis.rosenstrauch@kim.telematik-test";
const PASSWORD: &str = "Kas-Geheim-1";
const RECIPIENT: &str = "praxis.musterfrau@kim.telematik-test";
const OTHER: &str = "praxis.beispiel@kim.telematik-test";

struct World {
    mock: KasMock,
    dir: tempfile::TempDir,
    ca: String,
}

async fn world(tweak: impl FnOnce(&mut KasConfig)) -> World {
    let tls = TlsPki::generate("localhost").unwrap();
    let mut config = KasConfig {
        accounts: vec![
            KasAccount::new(SENDER, PASSWORD),
            KasAccount::new(OTHER, "Anderes-Geheim-2"),
        ],
        ..KasConfig::default()
    };
    tweak(&mut config);
    let mock = KasMock::start(config, &tls).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    tls.write_ca(&ca).unwrap();
    World {
        mock,
        ca: ca.display().to_string(),
        dir,
    }
}

async fn run(program: &str, args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(300), child).await {
        Err(_) => panic!("{program} did not finish within 300 s"),
        Ok(Err(e)) => panic!("cannot run `{program}` (CI installs it): {e}"),
        Ok(Ok(out)) => out,
    }
}

fn expires_in(secs: u64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs as i64);
    t.format(&time::format_description::well_known::Rfc2822)
        .unwrap()
}

impl World {
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// curl `args` against `url`; (status, body).
    async fn curl(&self, args: &[&str], url: &str) -> (u16, Vec<u8>) {
        let body = self
            .dir
            .path()
            .join(format!("body-{}", uuid::Uuid::new_v4()));
        let mut all = vec![
            "-sS",
            "--cacert",
            &self.ca,
            "-o",
            body.to_str().unwrap(),
            "-w",
            "%{http_code}",
        ];
        all.extend_from_slice(args);
        all.push(url);
        let out = run("curl", &all).await;
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status = String::from_utf8_lossy(&out.stdout).parse().unwrap();
        (status, std::fs::read(&body).unwrap_or_default())
    }

    async fn upload(
        &self,
        data: &[u8],
        recipients: &[&str],
        expires: &str,
        user: &str,
    ) -> (u16, Vec<u8>) {
        let file = self.file("attachment.enc", data);
        let att = format!(
            "attachment=@{};type=application/octet-stream;filename=attachment.enc",
            file.display()
        );
        let auth = format!(
            "{user}:{}",
            if user == SENDER {
                PASSWORD
            } else {
                "Anderes-Geheim-2"
                // --form-string: curl would read a value starting with `<` or `@` from a file.
            }
        );
        let mut args: Vec<String> = vec![
            "-u".into(),
            auth,
            "--form-string".into(),
            "messageID=<m1@kim.telematik-test>".into(),
        ];
        for r in recipients {
            args.push("--form-string".into());
            args.push(format!("recipients={r}"));
        }
        args.extend([
            "--form-string".into(),
            format!("expires={expires}"),
            "-F".into(),
            att,
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.curl(&args, &format!("{}/attachment/", self.mock.base_url()))
            .await
    }

    async fn read(&self, link: &str, recipient: Option<&str>) -> (u16, Vec<u8>) {
        let header = recipient.map(|r| format!("recipient: {r}"));
        let args: Vec<&str> = match &header {
            Some(h) => vec!["-H", h],
            None => vec![],
        };
        self.curl(&args, link).await
    }
}

fn link_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["sharedLink"].as_str().unwrap().to_string()
}

fn message_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert!(
        v["traceId"]
            .as_str()
            .is_some_and(|t| !t.is_empty() && t.len() <= 255)
    );
    v["message"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_uploads_reads_heads_and_deletes() {
    let w = world(|_| {}).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (s, body) = w
        .upload(&data, &[RECIPIENT, OTHER], &expires_in(3600), SENDER)
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let link = link_of(&body);
    let id = link.rsplit('/').next().unwrap().to_string();
    assert!(
        link.starts_with(&format!("{}/attachment/", w.mock.base_url())),
        "{link}"
    );
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "random UUID id: {id}");
    let up = &w.mock.uploads()[0];
    assert_eq!((up.owner.as_str(), up.size), (SENDER, data.len() as u64));
    assert_eq!(up.recipients, vec![RECIPIENT, OTHER]);
    assert_eq!(up.recipients_form, RecipientsForm::Exploded);
    assert_eq!(up.message_id, "<m1@kim.telematik-test>");
    let hex: String = sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(up.sha256, hex);
    assert_eq!(
        w.mock.stored(&id).unwrap(),
        data,
        "stored ciphertext byte for byte"
    );

    // Read: recipient and sender get the bytes; no header 400; a stranger 401 (A_22410).
    assert_eq!(w.read(&link, Some(RECIPIENT)).await, (200, data.clone()));
    assert_eq!(w.read(&link, Some(SENDER)).await.0, 200);
    let (s, body) = w.read(&link, None).await;
    assert_eq!(s, 400);
    assert!(message_of(&body).contains("recipient"));
    let (s, _) = w.read(&link, Some("fremd@kim.telematik-test")).await;
    assert_eq!(s, 401);
    let (s, _) = w
        .read(
            &format!("{}/attachment/{}", w.mock.base_url(), uuid::Uuid::new_v4()),
            Some(RECIPIENT),
        )
        .await;
    assert_eq!(s, 404);

    // HEAD: size without the body.
    let out = run(
        "curl",
        &[
            "-sS",
            "-I",
            "--cacert",
            &w.ca,
            "-H",
            &format!("recipient: {RECIPIENT}"),
            &link,
        ],
    )
    .await;
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", data.len())),
        "{head}"
    );

    // Delete: only the uploader.
    let (s, _) = w
        .curl(
            &["-X", "DELETE", "-u", &format!("{OTHER}:Anderes-Geheim-2")],
            &link,
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = w
        .curl(
            &["-X", "DELETE", "-u", &format!("{SENDER}:{PASSWORD}")],
            &link,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(w.read(&link, Some(RECIPIENT)).await.0, 404);
    assert!(w.mock.stored(&id).is_none());
    let ops: Vec<&str> = w
        .mock
        .calls()
        .iter()
        .map(|c| c.resource.operation)
        .collect();
    assert_eq!(
        ops.iter().filter(|o| **o == "readMailData").count(),
        6,
        "{ops:?}"
    );
    assert!(
        !format!("{:?}", w.mock.calls()).contains(PASSWORD),
        "no password in records"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_quota_downloads_and_the_403_alternative() {
    let w = world(|c| {
        c.max_attachment_bytes = 10_000;
        c.max_downloads = 2;
        c.forbidden_status = 403;
        c.accounts[0].quota_bytes = 15_000;
    })
    .await;
    let exp = expires_in(3600);
    // At the maximum: accepted; one byte above: 413.
    let (s, body) = w.upload(&[1u8; 10_000], &[RECIPIENT], &exp, SENDER).await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let link = link_of(&body);
    let (s, body) = w.upload(&[1u8; 10_001], &[RECIPIENT], &exp, SENDER).await;
    assert_eq!(s, 413, "{}", String::from_utf8_lossy(&body));
    // Quota: 10,000 stored of 15,000; 6,000 more do not fit.
    let (s, body) = w.upload(&[2u8; 6_000], &[RECIPIENT], &exp, SENDER).await;
    assert_eq!(s, 507, "{}", String::from_utf8_lossy(&body));
    let (s, _) = w.upload(&[2u8; 4_000], &[RECIPIENT], &exp, SENDER).await;
    assert_eq!(s, 201, "control: within the quota");
    // Downloads: two, then 429.
    assert_eq!(w.read(&link, Some(RECIPIENT)).await.0, 200);
    assert_eq!(w.read(&link, Some(RECIPIENT)).await.0, 200);
    assert_eq!(w.read(&link, Some(RECIPIENT)).await.0, 429);
    // The API file's 403 for a stranger.
    assert_eq!(w.read(&link, Some("fremd@kim.telematik-test")).await.0, 403);
    // Bad input: 400 each, beside the accepted uploads above.
    let (s, b) = w.upload(b"x", &["keine-adresse"], &exp, SENDER).await;
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&b));
    let (s, b) = w.upload(b"x", &[RECIPIENT], "gestern", SENDER).await;
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&b));
    let (s, b) = w
        .upload(b"x", &[RECIPIENT], "Mon, 15 Aug 22 15:52:01 +0000", SENDER)
        .await;
    assert_eq!(s, 400, "expired already: {}", String::from_utf8_lossy(&b));
    assert!(message_of(&b).contains("past"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_mail_data_is_deleted() {
    let w = world(|_| {}).await;
    let (s, body) = w
        .upload(b"bald weg", &[RECIPIENT], &expires_in(2), SENDER)
        .await;
    assert_eq!(s, 201);
    let link = link_of(&body);
    let id = link.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        w.read(&link, Some(RECIPIENT)).await.0,
        200,
        "control: readable before"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(w.read(&link, Some(RECIPIENT)).await.0, 404);
    assert!(
        w.mock.stored(&id).is_none(),
        "the ciphertext is gone (A_19385)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comma_joined_recipients_are_recorded_or_refused() {
    let lenient = world(|_| {}).await;
    let joined = format!("{RECIPIENT},{OTHER}");
    let (s, _) = lenient
        .upload(b"x", &[&joined], &expires_in(60), SENDER)
        .await;
    assert_eq!(s, 201);
    let up = &lenient.mock.uploads()[0];
    assert_eq!(up.recipients_form, RecipientsForm::CommaJoined);
    assert_eq!(up.recipients, vec![RECIPIENT, OTHER]);
    let strict = world(|c| c.strict_recipients = true).await;
    let (s, _) = strict
        .upload(b"x", &[&joined], &expires_in(60), SENDER)
        .await;
    assert_eq!(s, 400);
    let (s, _) = strict
        .upload(b"x", &[RECIPIENT, OTHER], &expires_in(60), SENDER)
        .await;
    assert_eq!(s, 201, "control: exploded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_end_with_a_status_and_the_server_stays_up() {
    let w = world(|c| {
        c.limits.request_timeout = Duration::from_secs(2);
        c.limits.max_connections = 64;
    })
    .await;
    let url = format!("{}/attachment/", w.mock.base_url());
    let auth = format!("{SENDER}:{PASSWORD}");
    let file = w.file("a.enc", b"abc");
    let att = format!("attachment=@{}", file.display());
    let exp = format!("expires={}", expires_in(60));
    // Without Content-Length (chunked): 400.
    let (s, b) = w
        .curl(
            &[
                "-u",
                &auth,
                "-H",
                "Transfer-Encoding: chunked",
                "-F",
                "messageID=m",
                "-F",
                &format!("recipients={RECIPIENT}"),
                "-F",
                &exp,
                "-F",
                &att,
            ],
            &url,
        )
        .await;
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&b));
    assert!(message_of(&b).contains("Content-Length"));
    // Unauthenticated: 401.
    let (s, _) = w.curl(&["-F", "messageID=m", "-F", &att], &url).await;
    assert_eq!(s, 401);
    // A stalled body (Content-Length announced, a few bytes sent): 408 within the timeout.
    let stalled = stalled_upload(&w).await;
    assert!(stalled.starts_with("HTTP/1.1 408"), "{stalled}");
    // A flood of connections: refused or served, and the server answers afterwards.
    let addr = w.mock.addr();
    let flood: Vec<_> = (0..1000)
        .map(|_| tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await.ok() }))
        .collect();
    let mut held = Vec::new();
    for f in flood {
        held.push(f.await.unwrap());
    }
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, _) = w
        .upload(b"danach", &[RECIPIENT], &expires_in(60), SENDER)
        .await;
    assert_eq!(s, 201, "the server is up after the flood");
}

/// Opens TLS, sends a POST announcing 100,000 bytes, sends 10, waits; what the server answers.
async fn stalled_upload(w: &World) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pem = std::fs::read(&w.ca).unwrap();
    let config =
        kvc_mocks::net::tls::client_config_trusting(&String::from_utf8(pem).unwrap()).unwrap();
    let tcp = tokio::net::TcpStream::connect(w.mock.addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap();
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{SENDER}:{PASSWORD}"));
    let head = format!(
        "POST /attachments/v2.4/attachment/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {auth}\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 100000\r\n\r\n--XYZ\r\n"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
        .await
        .expect("answer within the timeout")
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).to_string()
}

fn yaml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors/third-party/api-kim/openapi/AttachmentService.yaml")
}

/// Schemathesis (PyPI) generates requests from gematik's yaml and checks every answer: status
/// code documented, body against its schema, content type, required headers, no server error.
/// The mock runs in the API file's 403 profile (with the seed's 401, a stranger's read would be
/// an undocumented status by construction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_answer_outside_the_yaml() {
    let w = world(|c| c.forbidden_status = 403).await;
    // One stored upload so that reads and deletes can reach a real resource too.
    let (s, _) = w
        .upload(b"vorhanden", &[RECIPIENT], &expires_in(3600), SENDER)
        .await;
    assert_eq!(s, 201);
    let auth = format!("{SENDER}:{PASSWORD}");
    common::schemathesis(&yaml(), &w.mock.base_url(), &w.ca, &["--auth", &auth], 30).await;
    assert!(
        w.mock.calls().len() > 20,
        "schemathesis sent requests: {}",
        w.mock.calls().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_2_2_has_its_base_path_and_no_delete_or_head() {
    let w = world(|c| c.api = KasApi::V2_2).await;
    assert!(w.mock.base_url().ends_with("/attachments/v2.2"));
    let (s, body) = w
        .upload(b"alt", &[RECIPIENT], &expires_in(60), SENDER)
        .await;
    assert_eq!(s, 201, "control: upload works");
    let link = link_of(&body);
    assert!(link.contains("/attachments/v2.2/attachment/"));
    let (s, _) = w
        .curl(
            &["-X", "DELETE", "-u", &format!("{SENDER}:{PASSWORD}")],
            &link,
        )
        .await;
    assert_eq!(s, 405, "DELETE came with 2.3.1");
    assert_eq!(w.read(&link, Some(RECIPIENT)).await.0, 200, "still there");
}
