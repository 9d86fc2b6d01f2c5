//! Load on the KIM mocks: 200 parallel SignDocument and 200 parallel EncryptDocument calls to the
//! mock Konnektor (each on its own TLS connection, as many Clientmodul workers would open), with
//! 200 parallel GetCards (TLS + SOAP, no card cryptography) as the baseline in the same run; 200
//! parallel VZD lookups (LDAPS connect, anonymous bind, search by mail) against 200 parallel
//! binds without a search. Every call must succeed, or the bench panics.
//!
//!
//! The Fachdienst: 50 parallel 25 MiB KAS uploads, then their 50 downloads (curl processes as
//! clients, so this process holds the servers only and its peak RSS is theirs: uploads stream
//! to disk), and 100 parallel SMTP sessions of 100 KiB each against the MTA.
//!
//! `cargo bench -p kvc-mocks --bench kim_load`; after the criterion groups it prints one more
//! round per load with p50/p99 latency and the process's peak RSS. Figures: docs/PERFORMANCE.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, Method};
use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use der::Encode;
use kvc_mocks::TlsPki;
use kvc_mocks::http::client::{HttpsClient, HttpsTarget};
use kvc_mocks::kim::konnektor::{InsertedCard, KonnektorConfig, KonnektorMock};
use kvc_mocks::kim::vzd::{KimVzdMock, KomLeVersion, VzdConfig, VzdEntry};
use kvc_smime::card_pki::{CardKeyRole, CardKind, CardPki, CardVariant, Holder};
use rustls::pki_types::ServerName;

const PARALLEL: usize = 200;
const CONTEXT: &str = "<CCTX:Context xmlns:CCTX=\"http://ws.gematik.de/conn/ConnectorContext/v2.0\" xmlns:CONN=\"http://ws.gematik.de/conn/ConnectorCommon/v5.0\"><CONN:MandantId>Mandant1</CONN:MandantId><CONN:ClientSystemId>KIM-CM</CONN:ClientSystemId><CONN:WorkplaceId>Workplace1</CONN:WorkplaceId></CCTX:Context>";

struct Call {
    path: String,
    action: String,
    body: String,
}

struct World {
    tls: TlsPki,
    konnektor: KonnektorMock,
    vzd: KimVzdMock,
    calls: Vec<(&'static str, Call)>,
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{body}</s:Body></s:Envelope>"
    )
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    format!("/{}", rest.split_once('/').map(|x| x.1).unwrap_or(""))
}

async fn world() -> World {
    let tls = TlsPki::generate("localhost").expect("tls");
    let cards = CardPki::generate().expect("card pki");
    let holder = Holder::practice(
        "80276001011699901102",
        "1-2-KVCCHECK-Load01",
        "Bernd",
        "Last",
    );
    let card = cards
        .card(CardKind::SmcB, &holder, CardVariant::Valid)
        .expect("card");
    let enc_cert = card
        .key(CardKeyRole::Enc)
        .expect("enc")
        .rsa
        .certificate
        .to_der()
        .expect("der");
    let konnektor = KonnektorMock::start(
        KonnektorConfig {
            cards: vec![InsertedCard::new("SMC-B-1", 1, card)],
            trust: cards.trust_anchors(),
            ..KonnektorConfig::default()
        },
        &tls,
    )
    .await
    .expect("konnektor");
    let entries = (0..1000)
        .map(|i| {
            VzdEntry::institution(
                &format!("1-2-KVCCHECK-{i:04}"),
                "Praxis",
                &format!("praxis{i}@kim.telematik-test"),
                KomLeVersion::V15,
                vec![enc_cert.clone()],
            )
        })
        .collect();
    let vzd = KimVzdMock::start(
        VzdConfig {
            entries,
            ..VzdConfig::default()
        },
        &tls,
    )
    .await
    .expect("vzd");
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let document = b64(&vec![b'x'; 16 * 1024]);
    let sig = "http://ws.gematik.de/conn/SignatureService/v7.5";
    let crypt = "http://ws.gematik.de/conn/EncryptionService/v6.1";
    let event = "http://ws.gematik.de/conn/EventService/v7.2";
    let calls = vec![
        (
            "GetCards (baseline)",
            Call {
                path: path_of(&konnektor.endpoint("EventService", "7.2.1").expect("event")),
                action: format!("{event}#GetCards"),
                body: envelope(&format!(
                    "<EVT:GetCards xmlns:EVT=\"{event}\">{CONTEXT}</EVT:GetCards>"
                )),
            },
        ),
        (
            "SignDocument",
            Call {
                path: path_of(
                    &konnektor
                        .endpoint("SignatureService", "7.5.5")
                        .expect("sig"),
                ),
                action: format!("{sig}#SignDocument"),
                body: envelope(&format!(
                    "<SIG:SignDocument xmlns:SIG=\"{sig}\" xmlns:CONN=\"http://ws.gematik.de/conn/ConnectorCommon/v5.0\" xmlns:dss=\"urn:oasis:names:tc:dss:1.0:core:schema\"><CONN:CardHandle>SMC-B-1</CONN:CardHandle>{CONTEXT}<SIG:TvMode>NONE</SIG:TvMode><SIG:SignRequest RequestID=\"r1\"><SIG:OptionalInputs><SIG:IncludeEContent>true</SIG:IncludeEContent></SIG:OptionalInputs><SIG:Document><dss:Base64Data>{document}</dss:Base64Data></SIG:Document><SIG:IncludeRevocationInfo>false</SIG:IncludeRevocationInfo></SIG:SignRequest></SIG:SignDocument>"
                )),
            },
        ),
        (
            "EncryptDocument",
            Call {
                path: path_of(
                    &konnektor
                        .endpoint("EncryptionService", "6.1.1")
                        .expect("crypt"),
                ),
                action: format!("{crypt}#EncryptDocument"),
                body: envelope(&format!(
                    "<CRYPT:EncryptDocument xmlns:CRYPT=\"{crypt}\" xmlns:CONN=\"http://ws.gematik.de/conn/ConnectorCommon/v5.0\" xmlns:dss=\"urn:oasis:names:tc:dss:1.0:core:schema\">{CONTEXT}<CRYPT:RecipientKeys><CRYPT:Certificate>{}</CRYPT:Certificate></CRYPT:RecipientKeys><CONN:Document><dss:Base64Data>{document}</dss:Base64Data></CONN:Document></CRYPT:EncryptDocument>",
                    b64(&enc_cert)
                )),
            },
        ),
    ];
    World {
        tls,
        konnektor,
        vzd,
        calls,
    }
}

/// One SOAP call on a new TLS connection; its latency.
async fn soap(w: Arc<World>, which: usize) -> Duration {
    let call = &w.calls[which].1;
    let client = HttpsClient::new(HttpsTarget {
        what: "Konnektor",
        connect_to: w.konnektor.addr(),
        name: ServerName::try_from("localhost").expect("name"),
        tls: w.tls.client_config().expect("client config"),
        headers: vec![(
            HeaderName::from_static("soapaction"),
            format!("\"{}\"", call.action),
        )],
        max_response_bytes: 8 << 20,
    });
    let begun = Instant::now();
    let r = client
        .request(
            Method::POST,
            &call.path,
            Some(("text/xml; charset=utf-8", call.body.clone().into_bytes())),
        )
        .await
        .expect("Konnektor answers");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    begun.elapsed()
}

/// LDAPS connect + anonymous bind (+ one search by mail); its latency.
async fn lookup(w: Arc<World>, i: usize, search: bool) -> Duration {
    let begun = Instant::now();
    let settings = ldap3::LdapConnSettings::new()
        .set_config(w.tls.client_config().expect("client config"))
        .set_conn_timeout(Duration::from_secs(30));
    let (conn, mut ldap) = ldap3::LdapConnAsync::with_settings(settings, &w.vzd.url())
        .await
        .expect("connect");
    ldap3::drive!(conn);
    ldap.simple_bind("", "")
        .await
        .expect("bind")
        .success()
        .expect("bind ok");
    if search {
        let (entries, _) = ldap
            .search(
                kvc_mocks::kim::vzd::VZD_BASE_DN,
                ldap3::Scope::Subtree,
                &format!("(mail=praxis{}@kim.telematik-test)", i % 1000),
                vec!["mail", "userCertificate;binary", "komLeData"],
            )
            .await
            .expect("search")
            .success()
            .expect("search ok");
        assert_eq!(entries.len(), 1);
    }
    let _ = ldap.unbind().await;
    begun.elapsed()
}

async fn parallel_soap(w: &Arc<World>, which: usize) -> Vec<Duration> {
    let tasks: Vec<_> = (0..PARALLEL)
        .map(|_| tokio::spawn(soap(w.clone(), which)))
        .collect();
    let mut out = Vec::with_capacity(PARALLEL);
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

async fn parallel_ldap(w: &Arc<World>, search: bool) -> Vec<Duration> {
    let tasks: Vec<_> = (0..PARALLEL)
        .map(|i| tokio::spawn(lookup(w.clone(), i, search)))
        .collect();
    let mut out = Vec::with_capacity(PARALLEL);
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn peak_rss_kb() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

const KAS_PARALLEL: usize = 50;
const KAS_BYTES: usize = 25 * 1024 * 1024;
const SMTP_PARALLEL: usize = 100;
const SMTP_USER: &str = "praxis@kim.telematik-test";
const SMTP_PASSWORD: &str = "Last-Geheim-1";

struct FdWorld {
    tls: TlsPki,
    kas: kvc_mocks::kim::kas::KasMock,
    mta: kvc_mocks::mail::MailServer,
    dir: tempfile::TempDir,
    ca: String,
    file: String,
}

async fn fd_world() -> FdWorld {
    use kvc_mocks::kim::kas::{KasAccount, KasConfig, KasMock};
    use kvc_mocks::mail::{Account, MailServer, MailServerConfig};
    let tls = TlsPki::generate("localhost").expect("tls");
    let mut account = KasAccount::new(SMTP_USER, SMTP_PASSWORD);
    account.quota_bytes = u64::MAX;
    let kas = KasMock::start(
        KasConfig {
            accounts: vec![account],
            ..KasConfig::default()
        },
        &tls,
    )
    .await
    .expect("kas");
    let mta = MailServer::start(
        MailServerConfig {
            accounts: vec![Account::new(SMTP_USER, SMTP_PASSWORD)],
            sender_must_match_auth: true,
            max_sessions: 256,
            // Keeps every message of every round (the product default caps at 1 GiB).
            max_stored_bytes: usize::MAX,
            ..MailServerConfig::default()
        },
        &tls,
    )
    .await
    .expect("mta");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    tls.write_ca(&ca).expect("ca");
    let file = dir.path().join("attachment.enc");
    std::fs::write(&file, vec![0x5a; KAS_BYTES]).expect("attachment");
    FdWorld {
        tls,
        kas,
        mta,
        ca: ca.display().to_string(),
        file: file.display().to_string(),
        dir,
    }
}

/// One curl upload; (latency, share link).
async fn kas_upload(w: &FdWorld) -> (Duration, String) {
    let begun = Instant::now();
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let expires = expires
        .format(&time::format_description::well_known::Rfc2822)
        .expect("date");
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "--cacert",
            &w.ca,
            "-u",
            &format!("{SMTP_USER}:{SMTP_PASSWORD}"),
        ])
        .args([
            "--form-string",
            "messageID=<load@kim.telematik-test>",
            "--form-string",
        ])
        .arg("recipients=empfang@kim.telematik-test")
        .args(["--form-string", &format!("expires={expires}")])
        .args([
            "-F",
            &format!("attachment=@{};type=application/octet-stream", w.file),
        ])
        .arg(format!("{}/attachment/", w.kas.base_url()))
        .output()
        .await
        .expect("curl");
    assert!(
        out.status.success(),
        "upload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    (
        begun.elapsed(),
        v["sharedLink"].as_str().expect("link").to_string(),
    )
}

async fn kas_download(w: &FdWorld, link: &str) -> Duration {
    let begun = Instant::now();
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "--cacert",
            &w.ca,
            "-H",
            "recipient: empfang@kim.telematik-test",
        ])
        .args(["-o", "/dev/null", "-w", "%{size_download}", link])
        .output()
        .await
        .expect("curl");
    assert!(
        out.status.success(),
        "download: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), KAS_BYTES.to_string());
    begun.elapsed()
}

/// 50 uploads in parallel, then the 50 downloads in parallel.
async fn kas_round(w: &Arc<FdWorld>) -> (Vec<Duration>, Vec<Duration>) {
    let ups: Vec<_> = (0..KAS_PARALLEL)
        .map(|_| {
            let w = w.clone();
            tokio::spawn(async move { kas_upload(&w).await })
        })
        .collect();
    let mut links = Vec::new();
    let mut up_lat = Vec::new();
    for t in ups {
        let (d, l) = t.await.expect("task");
        up_lat.push(d);
        links.push(l);
    }
    let downs: Vec<_> = links
        .into_iter()
        .map(|l| {
            let w = w.clone();
            tokio::spawn(async move { kas_download(&w, &l).await })
        })
        .collect();
    let mut down_lat = Vec::new();
    for t in downs {
        down_lat.push(t.await.expect("task"));
    }
    (up_lat, down_lat)
}

/// One SMTP session (AUTH PLAIN, one 100 KiB message).
async fn smtp_session(w: Arc<FdWorld>) -> Duration {
    use kvc_mocks::mail::client::MailClient;
    let begun = Instant::now();
    let name = ServerName::try_from("localhost").expect("name");
    let mut c = MailClient::connect(
        "SMTP",
        w.mta.smtp_addr(),
        &name,
        w.tls.client_config().expect("tls"),
    )
    .await
    .expect("connect");
    c.smtp_expect("greeting", 220).await.expect("greeting");
    c.smtp_cmd("EHLO load", 250).await.expect("ehlo");
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{SMTP_USER}\0{SMTP_PASSWORD}"));
    c.smtp_cmd_masked(&format!("AUTH PLAIN {plain}"), "AUTH PLAIN ***", 235)
        .await
        .expect("auth");
    c.smtp_cmd(&format!("MAIL FROM:<{SMTP_USER}>"), 250)
        .await
        .expect("mail");
    c.smtp_cmd("RCPT TO:<empfang@kim.telematik-test>", 250)
        .await
        .expect("rcpt");
    c.smtp_cmd("DATA", 354).await.expect("data");
    let mut body = b"Subject: load\r\n\r\n".to_vec();
    for _ in 0..(100 * 1024 / 64) {
        body.extend_from_slice(&[b'x'; 62]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    c.write(&body, "data").await.expect("write");
    c.smtp_expect("end of data", 250).await.expect("queued");
    let _ = c.smtp_cmd("QUIT", 221).await;
    begun.elapsed()
}

async fn smtp_round(w: &Arc<FdWorld>) -> Vec<Duration> {
    let tasks: Vec<_> = (0..SMTP_PARALLEL)
        .map(|_| tokio::spawn(smtp_session(w.clone())))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let w = Arc::new(rt.block_on(world()));
    let mut group = c.benchmark_group("kim_load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    for (i, (name, _)) in w.calls.iter().enumerate() {
        group.bench_function(format!("konnektor {PARALLEL} parallel {name}"), |b| {
            b.iter(|| rt.block_on(parallel_soap(&w, i)))
        });
    }
    group.bench_function(format!("vzd {PARALLEL} parallel bind (baseline)"), |b| {
        b.iter(|| rt.block_on(parallel_ldap(&w, false)))
    });
    group.bench_function(format!("vzd {PARALLEL} parallel bind + search"), |b| {
        b.iter(|| rt.block_on(parallel_ldap(&w, true)))
    });
    group.finish();
    // One more round each for latency percentiles and throughput.
    let report = |name: &str, mut d: Vec<Duration>, wall: Duration| {
        d.sort();
        let n = d.len();
        println!(
            "{name}: {n} calls in {:.0} ms = {:.0}/s, p50 {:.1} ms, p99 {:.1} ms",
            wall.as_secs_f64() * 1e3,
            n as f64 / wall.as_secs_f64(),
            percentile(&d, 0.5).as_secs_f64() * 1e3,
            percentile(&d, 0.99).as_secs_f64() * 1e3
        );
    };
    for (i, (name, _)) in w.calls.iter().enumerate() {
        let begun = Instant::now();
        let d = rt.block_on(parallel_soap(&w, i));
        report(&format!("konnektor {name}"), d, begun.elapsed());
    }
    for (search, name) in [(false, "vzd bind (baseline)"), (true, "vzd bind + search")] {
        let begun = Instant::now();
        let d = rt.block_on(parallel_ldap(&w, search));
        report(name, d, begun.elapsed());
    }
    let refused = w
        .konnektor
        .calls()
        .iter()
        .filter(|c| c.resource.refused())
        .count();
    assert_eq!(refused, 0, "no Konnektor call may be refused under load");
    println!(
        "peak RSS after the Konnektor and VZD loads: {}",
        peak_rss_kb()
    );

    let fd = Arc::new(rt.block_on(fd_world()));
    // The KAS round moves 2 x 1.25 GiB: measured as single rounds, not by criterion's sampling.
    for round in 1..=3 {
        let begun = Instant::now();
        let (mut up, mut down) = rt.block_on(kas_round(&fd));
        let wall = begun.elapsed();
        up.sort();
        down.sort();
        println!(
            "kas round {round}: {KAS_PARALLEL} uploads + {KAS_PARALLEL} downloads of 25 MiB in {:.1} s ({:.0} MiB/s); upload p50 {:.0} ms p99 {:.0} ms; download p50 {:.0} ms p99 {:.0} ms",
            wall.as_secs_f64(),
            (2 * KAS_PARALLEL * KAS_BYTES) as f64 / 1048576.0 / wall.as_secs_f64(),
            percentile(&up, 0.5).as_secs_f64() * 1e3,
            percentile(&up, 0.99).as_secs_f64() * 1e3,
            percentile(&down, 0.5).as_secs_f64() * 1e3,
            percentile(&down, 0.99).as_secs_f64() * 1e3,
        );
    }
    println!("peak RSS after the KAS rounds: {}", peak_rss_kb());
    let mut group = c.benchmark_group("kim_fd_load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function(
        format!("mta {SMTP_PARALLEL} parallel sessions of 100 KiB"),
        |b| b.iter(|| rt.block_on(smtp_round(&fd))),
    );
    group.finish();
    let begun = Instant::now();
    let d = rt.block_on(smtp_round(&fd));
    report(
        &format!("mta {SMTP_PARALLEL} parallel sessions"),
        d,
        begun.elapsed(),
    );
    let captured = fd.mta.observations().messages().count();
    assert!(captured >= SMTP_PARALLEL, "every SMTP session delivered");
    assert_eq!(
        fd.kas.uploads().len(),
        3 * KAS_PARALLEL,
        "every upload stored"
    );
    println!(
        "peak RSS of the bench process (servers only for the KAS rounds): {}",
        peak_rss_kb()
    );
    let _ = &fd.dir;
}

criterion_group!(benches, bench);
criterion_main!(benches);
