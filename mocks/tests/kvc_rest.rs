//! The mock KV-Connect REST server on real sockets: curl (a client nobody here wrote), a raw
//! HTTPS client for exact requests, scripted faults and hostile clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kvc_mocks::kvc::rest::{
    KvcRestAccount, KvcRestConfig, KvcRestFaults, KvcRestLimits, KvcRestMock, RecipientCertFault,
    RestAuth, RestResource,
};
use kvc_mocks::net::session::TlsOutcome;
use kvc_mocks::{ServerCertKind, TlsPki};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const STEP: Duration = Duration::from_secs(15);

fn vivy(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors/third-party/kvc-samples-vivy")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn msg(id: &str, to: &str) -> Vec<u8> {
    format!(
        "From: arzt.2@kv-safenet.de\r\nTo: {to}\r\nSubject: Arztbrief\r\nMessage-ID: <{id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nX-KVC-Sendersystem: test;1.0\r\nX-KVC-Dienstkennung: Arztbrief;VHitG-Versand;V1.0\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    )
    .into_bytes()
}

struct Env {
    pki: TlsPki,
    mock: KvcRestMock,
    uid: String,
    _dir: tempfile::TempDir,
    ca: PathBuf,
}

async fn env(config: KvcRestConfig) -> Env {
    let pki = TlsPki::generate("localhost").unwrap();
    let uid = config.accounts[0].uid.clone();
    let mock = KvcRestMock::start(config, &pki).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    pki.write_ca(&ca).unwrap();
    Env {
        pki,
        mock,
        uid,
        _dir: dir,
        ca,
    }
}

fn accounts() -> Vec<KvcRestAccount> {
    vec![
        KvcRestAccount::new("praxis.1", "Geheim12"),
        KvcRestAccount::new("arzt.2", "Geheim34"),
    ]
}

struct Resp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

fn basic(user: &str, pw: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

/// One request over a fresh TLS connection (`Connection: close`), response read to EOF.
async fn request(
    addr: SocketAddr,
    pki: &TlsPki,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    tokio::time::timeout(STEP, async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = TlsConnector::from(pki.client_config().unwrap());
        let mut s = tls
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some((u, p)) = auth {
            req.push_str(&format!("Authorization: {}\r\n", basic(u, p)));
        }
        for (n, v) in extra {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let _ = s.write_all(body).await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        let split = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("response head");
        let head = String::from_utf8_lossy(&out[..split]).to_string();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        Resp {
            status,
            head,
            body: out[split + 4..].to_vec(),
        }
    })
    .await
    .expect("request in time")
}

async fn run(program: &str, args: &[&str]) -> std::process::Output {
    let out = tokio::time::timeout(
        STEP,
        tokio::process::Command::new(program)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("external client finishes in time");
    out.unwrap_or_else(|e| panic!("`{program}` is needed for this test and could not be run: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_lists_headers_and_fetches_the_real_reference_message_byte_for_byte() {
    let sample = vivy("kvconnect-mail");
    let mut accts = accounts();
    accts[0].mailbox = vec![
        sample.clone(),
        msg("second@kv-safenet.de", "praxis.1@kv-safenet.de"),
    ];
    let e = env(KvcRestConfig {
        accounts: accts,
        ..KvcRestConfig::default()
    })
    .await;
    let base = e.mock.base_url();
    let ca = e.ca.to_str().unwrap();
    let headers_url = format!("{base}/accounts/{}/headers", e.uid);
    let out = run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            ca,
            "-u",
            "praxis.1:Geheim12",
            &headers_url,
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(xml.contains("<headers><header>"), "{xml}");
    assert!(
        xml.contains(
            "<message-id>20d63e23-68d5-4583-bc54-be5742907439@kvtg-mailer.de</message-id>"
        ),
        "{xml}"
    );
    assert!(xml.contains("<x-kvc-dienstkennung>eMail-Dienst;Lieferung;V1.0</x-kvc-dienstkennung>"));
    assert!(xml.contains("<from>kvcm.testmailer.KVTG@kv-safenet.de</from>"));
    // Oldest first.
    assert!(xml.find("20d63e23").unwrap() < xml.find("second@kv-safenet.de").unwrap());

    // Fetch by the listed Message-ID (as a client would URL-encode it).
    let fetched = e._dir.path().join("fetched.eml");
    let url = format!(
        "{base}/accounts/{}/mails/%3C20d63e23-68d5-4583-bc54-be5742907439@kvtg-mailer.de%3E",
        e.uid
    );
    let out = run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            ca,
            "-u",
            "praxis.1:Geheim12",
            "-o",
            fetched.to_str().unwrap(),
            &url,
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        sample,
        "served byte for byte"
    );

    // Wrong password: curl gets 401 and the mock records the failure.
    let out = run(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            ca,
            "-u",
            "praxis.1:falsch",
            &headers_url,
        ],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");

    let obs = e.mock.wait_for_requests(3, STEP).await;
    assert_eq!(obs.header_listings().count(), 2);
    let f: Vec<_> = obs.fetches().collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].status, 200);
    assert_eq!(f[0].bytes_out, sample.len());
    assert_eq!(
        f[0].auth,
        RestAuth::Ok {
            user: "praxis.1".into()
        }
    );
    let failed = obs.requests.last().unwrap();
    assert_eq!(failed.status, 401);
    assert_eq!(
        failed.auth,
        RestAuth::Failed {
            user: "praxis.1".into()
        }
    );
    // Not deleted: still on the server.
    assert_eq!(e.mock.mailbox_ids("praxis.1").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_redirects_to_the_account_and_version_needs_no_credentials() {
    let e = env(KvcRestConfig {
        accounts: accounts(),
        ..KvcRestConfig::default()
    })
    .await;
    let a = e.mock.addr();
    let r = request(
        a,
        &e.pki,
        "GET",
        "/kvconnect/rest/server/version",
        None,
        &[],
        b"",
    )
    .await;
    assert_eq!((r.status, r.text().as_str()), (200, "2.7.0"));
    let r = request(
        a,
        &e.pki,
        "GET",
        "/kvconnect/rest/login/praxis.1",
        Some(("praxis.1", "Geheim12")),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 303);
    let loc = r.header("Location").unwrap();
    assert_eq!(loc, format!("/kvconnect/rest/accounts/{}", e.uid));
    let r = request(
        a,
        &e.pki,
        "GET",
        &loc,
        Some(("praxis.1", "Geheim12")),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    let x = r.text();
    assert!(x.contains(&format!("<account uid=\"{}\">", e.uid)), "{x}");
    assert!(x.contains("<email>praxis.1@kv-safenet.de</email>"));
    assert!(x.contains("<passwordLastChange>"));
    assert!(x.contains("<passwordChangeNeeded>false</passwordChangeNeeded>"));
    assert_eq!(
        r.header("Content-Type").unwrap(),
        "application/xml; charset=UTF-8"
    );
    // Another user's account: 403; no credentials: 401 with a Basic challenge.
    let r = request(
        a,
        &e.pki,
        "GET",
        &loc,
        Some(("arzt.2", "Geheim34")),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
    let r = request(a, &e.pki, "GET", &loc, None, &[], b"").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("WWW-Authenticate").unwrap(),
        "Basic realm=\"kvconnect\""
    );
    // INS builds `<base>//...`: double slashes are accepted.
    let r = request(
        a,
        &e.pki,
        "GET",
        "/kvconnect/rest//server/version",
        None,
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    let r = request(a, &e.pki, "GET", "/kvconnect/rest/nothing", None, &[], b"").await;
    assert_eq!(r.status, 404);
    let obs = e.mock.observations();
    assert!(obs.requests.iter().any(|r| r.resource
        == RestResource::Login {
            username: "praxis.1".into()
        }));
    assert_eq!(obs.with_status(401).next().unwrap().auth, RestAuth::Missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delivers_delete_removes_and_faults_are_recorded() {
    let e = env(KvcRestConfig {
        accounts: accounts(),
        ..KvcRestConfig::default()
    })
    .await;
    let a = e.mock.addr();
    let arzt_uid = e.mock.account("arzt.2").unwrap().uid;
    let m = msg("m1@kv-safenet.de", "praxis.1@kv-safenet.de");
    let r = request(
        a,
        &e.pki,
        "POST",
        "/kvconnect/rest/mails",
        Some(("arzt.2", "Geheim34")),
        &[("Content-Type", "text/plain;charset=UTF-8")],
        &m,
    )
    .await;
    assert_eq!(r.status, 201);
    assert!(
        r.header("Location")
            .unwrap()
            .starts_with("/kvconnect/rest/mails/")
    );
    assert_eq!(
        e.mock.mailbox_ids("praxis.1"),
        vec!["m1@kv-safenet.de".to_string()]
    );
    let obs = e.mock.observations();
    let p: Vec<_> = obs.posted_mails().collect();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].data, m);
    assert_eq!(p[0].delivered_to, vec!["praxis.1".to_string()]);
    assert_eq!(
        p[0].content_type.as_deref(),
        Some("text/plain;charset=UTF-8")
    );

    // The recipient fetches and deletes it.
    let path = format!("/kvconnect/rest/accounts/{}/mails/m1@kv-safenet.de", e.uid);
    let r = request(
        a,
        &e.pki,
        "GET",
        &path,
        Some(("praxis.1", "Geheim12")),
        &[],
        b"",
    )
    .await;
    assert_eq!((r.status, r.body.clone()), (200, m.clone()));
    // Scripted: delete fails, the message stays.
    e.mock.set_faults(KvcRestFaults {
        delete_status: Some(500),
        ..Default::default()
    });
    let r = request(
        a,
        &e.pki,
        "DELETE",
        &path,
        Some(("praxis.1", "Geheim12")),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 500);
    assert_eq!(e.mock.mailbox_ids("praxis.1").len(), 1);
    e.mock.set_faults(KvcRestFaults::default());
    let r = request(
        a,
        &e.pki,
        "DELETE",
        &path,
        Some(("praxis.1", "Geheim12")),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(e.mock.mailbox_ids("praxis.1").is_empty());
    let r = request(
        a,
        &e.pki,
        "DELETE",
        &path,
        Some(("praxis.1", "Geheim12")),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 404);
    // Only the owner may read a mailbox.
    let r = request(
        a,
        &e.pki,
        "GET",
        &format!("/kvconnect/rest/accounts/{arzt_uid}/headers"),
        Some(("praxis.1", "Geheim12")),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);

    // Scripted: 503 on send, nothing delivered.
    e.mock.set_faults(KvcRestFaults {
        send_status: Some(503),
        ..Default::default()
    });
    let r = request(
        a,
        &e.pki,
        "POST",
        "/kvconnect/rest/mails",
        Some(("arzt.2", "Geheim34")),
        &[("Content-Type", "text/plain;charset=UTF-8")],
        &msg("m2@x", "praxis.1@kv-safenet.de"),
    )
    .await;
    assert_eq!(r.status, 503);
    assert!(e.mock.mailbox_ids("praxis.1").is_empty());

    let obs = e.mock.observations();
    let d: Vec<_> = obs.deletes().map(|r| r.status).collect();
    assert_eq!(d, vec![500, 200, 404]);
    assert_eq!(obs.deleted_ids(), vec!["m1@kv-safenet.de".to_string()]);
    assert_eq!(obs.posted[1].status, 503);
    assert!(obs.posted[1].delivered_to.is_empty());
    assert!(obs.requests.iter().all(|r| r.duration < STEP));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_password_csr_and_address_book() {
    let cert = kvc_smime::pki::TestPki::generate()
        .unwrap()
        .issue(&kvc_smime::pki::EndEntitySpec::new(
            "arzt.2@kv-safenet.de",
            kvc_smime::pki::KeyPurpose::Both,
        ))
        .unwrap()
        .certificate_pem()
        .unwrap();
    let mut accts = accounts();
    accts[1].certificate_pem = Some(cert.clone());
    accts[0].password_change_needed = true;
    let e = env(KvcRestConfig {
        accounts: accts,
        ..KvcRestConfig::default()
    })
    .await;
    let a = e.mock.addr();
    let me = Some(("praxis.1", "Geheim12"));
    let r = request(
        a,
        &e.pki,
        "GET",
        "/kvconnect/rest/certificates?email=arzt.2%40kv-safenet.de",
        me,
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    let x = r.text();
    for el in [
        "<certificate><id>",
        "<email>arzt.2@kv-safenet.de</email>",
        "<body>-----BEGIN CERTIFICATE-----",
        "<validFrom>",
        "<validTo>",
    ] {
        assert!(x.contains(el), "{el} in {x}");
    }
    let arzt_uid = e.mock.account("arzt.2").unwrap().uid;
    let r = request(
        a,
        &e.pki,
        "GET",
        &format!("/kvconnect/rest/certificates?uid={arzt_uid}"),
        me,
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    // The own account has no certificate: 404 (INS error 2109).
    let r = request(
        a,
        &e.pki,
        "GET",
        "/kvconnect/rest/certificates?email=praxis.1@kv-safenet.de",
        me,
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 404);
    // Scripted: the recipient certificate is missing / replaced (e.g. by an expired one).
    let mut f = KvcRestFaults::default();
    f.recipient_certificates
        .insert("arzt.2".into(), RecipientCertFault::Missing);
    e.mock.set_faults(f.clone());
    let r = request(
        a,
        &e.pki,
        "GET",
        "/kvconnect/rest/certificates?email=arzt.2@kv-safenet.de",
        me,
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 404);
    f.recipient_certificates.insert(
        "arzt.2@kv-safenet.de".into(),
        RecipientCertFault::Replace(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
        ),
    );
    f.recipient_certificates.remove("arzt.2");
    e.mock.set_faults(f);
    let r = request(
        a,
        &e.pki,
        "GET",
        "/kvconnect/rest/certificates?email=arzt.2@kv-safenet.de",
        me,
        &[],
        b"",
    )
    .await;
    assert!(r.text().contains("AAAA"));
    e.mock.set_faults(KvcRestFaults::default());

    // Password change: empty 400, policy 422, ok 200 (then the old password no longer works).
    let pw = format!("/kvconnect/rest/accounts/{}/password", e.uid);
    let ct = [("Content-Type", "text/plain;charset=UTF-8")];
    assert_eq!(
        request(a, &e.pki, "POST", &pw, me, &ct, b"").await.status,
        400
    );
    assert_eq!(
        request(a, &e.pki, "POST", &pw, me, &ct, b"kurz1")
            .await
            .status,
        422
    );
    assert_eq!(
        request(a, &e.pki, "POST", &pw, me, &ct, b"abcdefgh1")
            .await
            .status,
        422
    );
    assert_eq!(
        request(a, &e.pki, "POST", &pw, me, &ct, b"NeuesPW99")
            .await
            .status,
        200
    );
    let acct = e.mock.account("praxis.1").unwrap();
    assert!(!acct.password_change_needed);
    assert_eq!(
        request(
            a,
            &e.pki,
            "GET",
            &format!("/kvconnect/rest/accounts/{}", e.uid),
            me,
            &[],
            b""
        )
        .await
        .status,
        401
    );
    let me = Some(("praxis.1", "NeuesPW99"));

    // CSR: Location/body carry the id; status progresses 100 -> ... -> 999, newest first.
    let r = request(
        a,
        &e.pki,
        "POST",
        "/kvconnect/rest/csr",
        me,
        &[("Content-Type", "text/plain")],
        b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
    )
    .await;
    assert_eq!(r.status, 201);
    let body = r.text();
    let id = body.rsplit('/').next().unwrap().to_string();
    let mut firsts = Vec::new();
    for _ in 0..6 {
        let r = request(
            a,
            &e.pki,
            "GET",
            &format!("/kvconnect/rest/csr/{id}"),
            me,
            &[],
            b"",
        )
        .await;
        assert_eq!(r.status, 200);
        let t = r.text();
        assert!(
            t.contains("<csr-status><status-entries><status-entry status=\""),
            "{t}"
        );
        let first: u16 = t.split("status=\"").nth(1).unwrap()[..3].parse().unwrap();
        firsts.push(first);
    }
    assert_eq!(firsts, vec![100, 210, 299, 399, 999, 999]);
    let r = request(
        a,
        &e.pki,
        "POST",
        "/kvconnect/rest/csr",
        me,
        &[],
        b"not a csr",
    )
    .await;
    assert_eq!(r.status, 400);

    // Address book: no credentials, zip, 304 with If-Modified-Since.
    let r = request(
        a,
        &e.pki,
        "GET",
        "/kvconnect/rest/vzd/accounts.json.zip",
        None,
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..4], b"PK\x03\x04");
    assert!(String::from_utf8_lossy(&r.body).contains("\"mail\":\"arzt.2@kv-safenet.de\""));
    let lm = r.header("Last-Modified").unwrap();
    let r = request(
        a,
        &e.pki,
        "GET",
        "/kvconnect/rest//vzd/accounts.xml.zip",
        None,
        &[("If-Modified-Since", &lm)],
        b"",
    )
    .await;
    assert_eq!(r.status, 304);
    let r = request(
        a,
        &e.pki,
        "GET",
        "/vzd/accounts.xml.zip",
        None,
        &[("If-Modified-Since", "Mon, 12 Aug 2019 02:30:07 GMT")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("<mail>praxis.1@kv-safenet.de</mail>"));
    let obs = e.mock.observations();
    assert_eq!(obs.csrs.len(), 1);
    assert_eq!(obs.csrs[0].statuses, vec![100, 210, 299, 399, 999]);
    assert_eq!(obs.certificate_lookups().count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_server_certificates_are_refused_by_curl_and_recorded() {
    for kind in [
        ServerCertKind::UntrustedCa,
        ServerCertKind::Expired,
        ServerCertKind::WrongName,
    ] {
        let e = env(KvcRestConfig {
            cert: kind,
            ..KvcRestConfig::default()
        })
        .await;
        let url = format!("{}/accounts/{}/headers", e.mock.base_url(), e.uid);
        let out = run(
            "curl",
            &[
                "-sS",
                "--cacert",
                e.ca.to_str().unwrap(),
                "-u",
                "praxis.1:Geheim12",
                &url,
            ],
        )
        .await;
        assert!(!out.status.success(), "{kind:?}: curl must refuse");
        let obs = e.mock.wait_until(STEP, |o| !o.connections.is_empty()).await;
        // rustls/OpenSSL refuse in the handshake, or (name check after it) send no request.
        assert!(
            !obs.credentials_offered(),
            "{kind:?}: no credentials may be sent"
        );
        assert!(obs.requests.is_empty(), "{kind:?}: {:?}", obs.requests);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_end_as_recorded_rejections() {
    let e = env(KvcRestConfig {
        accounts: accounts(),
        limits: KvcRestLimits {
            max_body_bytes: 1024 * 1024,
            max_in_flight: 4,
            header_timeout: Duration::from_secs(2),
            max_stored_bytes: 3 * 1024 * 1024,
            request_timeout: Duration::from_secs(2),
            ..KvcRestLimits::default()
        },
        ..KvcRestConfig::default()
    })
    .await;
    let a = e.mock.addr();

    // 1. No TLS: plain HTTP to the HTTPS port.
    let mut tcp = TcpStream::connect(a).await.unwrap();
    tcp.write_all(b"GET /kvconnect/rest/server/version HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(STEP, tcp.read_to_end(&mut buf))
        .await
        .expect("closed in time");
    assert!(!String::from_utf8_lossy(&buf).contains("2.7.0"));
    let obs = e.mock.wait_until(STEP, |o| !o.connections.is_empty()).await;
    assert!(
        matches!(obs.connections[0].tls, TlsOutcome::HandshakeFailed(_)),
        "{:?}",
        obs.connections
    );

    // 2. A 50 MB upload: 413 once the limit is passed, without reading it all.
    let started = Instant::now();
    let tcp = TcpStream::connect(a).await.unwrap();
    let tls = TlsConnector::from(e.pki.client_config().unwrap());
    let mut s = tls
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    // Chunked, so the Content-Length shortcut does not apply.
    s.write_all(format!("POST /kvconnect/rest/mails HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n", basic("praxis.1", "Geheim12")).as_bytes()).await.unwrap();
    let chunk = vec![b'A'; 64 * 1024];
    let mut sent = 0usize;
    let writer = async {
        while sent < 50 * 1024 * 1024 {
            s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            s.write_all(&chunk).await?;
            s.write_all(b"\r\n").await?;
            sent += chunk.len();
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(STEP, writer).await;
    assert!(started.elapsed() < STEP);
    let obs = e
        .mock
        .wait_until(STEP, |o| o.with_status(413).count() == 1)
        .await;
    let r = obs.with_status(413).next().expect("413 recorded");
    assert!(r.bytes_in <= 1024 * 1024, "{}", r.bytes_in);
    assert!(obs.posted.is_empty());
    // Declared too large: 413 at once.
    let r = request(
        a,
        &e.pki,
        "POST",
        "/kvconnect/rest/csr",
        Some(("praxis.1", "Geheim12")),
        &[],
        &vec![b'x'; 2 * 1024 * 1024],
    )
    .await;
    assert_eq!(r.status, 413);

    // 2b. Posting beyond the mock's storage budget: 507, nothing kept.
    let big = {
        let mut m = msg("big@kv-safenet.de", "arzt.2@kv-safenet.de");
        m.extend(std::iter::repeat_n(b'x', 700 * 1024));
        m
    };
    for expect in [201, 201, 507] {
        let r = request(
            a,
            &e.pki,
            "POST",
            "/kvconnect/rest/mails",
            Some(("praxis.1", "Geheim12")),
            &[],
            &big,
        )
        .await;
        assert_eq!(r.status, expect);
    }
    assert_eq!(e.mock.observations().posted.len(), 2);

    // 3. A storm: 200 concurrent requests against slow responses and 4 slots -> 429s, no hang.
    e.mock.set_faults(KvcRestFaults {
        response_delay: Some(Duration::from_millis(300)),
        ..Default::default()
    });
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let pki_cfg = e.pki.client_config().unwrap();
        tasks.spawn(async move {
            let tcp = TcpStream::connect(a).await.ok()?;
            let mut s = TlsConnector::from(pki_cfg)
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .ok()?;
            s.write_all(b"GET /kvconnect/rest/server/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.ok()?;
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).split_whitespace().nth(1).map(str::to_string)
        });
    }
    let mut codes = Vec::new();
    while let Some(r) = tokio::time::timeout(STEP, tasks.join_next())
        .await
        .expect("storm ends in time")
    {
        codes.push(r.unwrap());
    }
    assert!(started.elapsed() < STEP);
    assert!(
        codes.iter().any(|c| c.as_deref() == Some("429")),
        "{codes:?}"
    );
    assert!(
        codes.iter().any(|c| c.as_deref() == Some("200")),
        "{codes:?}"
    );
    e.mock.set_faults(KvcRestFaults::default());
    let obs = e.mock.observations();
    assert!(obs.with_status(429).count() >= 1);
    assert!(
        obs.with_status(429)
            .all(|r| r.note.as_deref().unwrap_or("").contains("in flight"))
    );

    // 4. Wrong credentials: 401, recorded.
    let r = request(
        a,
        &e.pki,
        "GET",
        &format!("/kvconnect/rest/accounts/{}/headers", e.uid),
        Some(("praxis.1", "x")),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 401);

    // 6. A body that never arrives: 408 after the request timeout, recorded.
    let tcp = TcpStream::connect(a).await.unwrap();
    let mut s = TlsConnector::from(e.pki.client_config().unwrap())
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    s.write_all(
        format!(
            "POST /kvconnect/rest/mails HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 1000\r\n\r\nFrom: x",
            basic("praxis.1", "Geheim12")
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, s.read_to_end(&mut out))
        .await
        .expect("answered in time");
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(e.mock.observations().with_status(408).count(), 1);

    // 5. A client that opens TLS and never sends a request header is closed by the mock.
    let tcp = TcpStream::connect(a).await.unwrap();
    let mut s = TlsConnector::from(e.pki.client_config().unwrap())
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    s.write_all(b"GET /kvconnect/rest/server/version HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let r = tokio::time::timeout(STEP, s.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "stalled request closed by the header timeout");
}
