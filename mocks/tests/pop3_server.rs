//! The mock KV-Connect Client's POP3 server over real sockets on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use kvc_mocks::{KvcClientConfig, SessionEnd, TlsOutcome};

const M1: &[u8] = b"Subject: eins\r\nX-KVC-Dienstkennung: Arztbrief;VHitG-Versand;V1.0\r\n\r\nline 1\r\n.dot line\r\n.\r\nline 4\r\n";
const M2: &[u8] = b"Subject: zwei\r\n\r\nno final line break";

fn config() -> KvcClientConfig {
    KvcClientConfig {
        idle_timeout: Duration::from_secs(5),
        mailbox: vec![M1.to_vec(), M2.to_vec()],
        ..kvc_mocks::kvc::client::default_config()
    }
}

/// Undoes POP3 dot-stuffing of a multi-line body.
fn unstuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in raw.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

async fn login(c: &mut Client) {
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.cmd(&format!("USER {USER}")).await.starts_with("+OK"));
    let r = c.cmd(&format!("PASS {PASSWORD}")).await;
    assert!(r.starts_with("+OK maildrop has 2"), "{r}");
}

#[tokio::test]
async fn serves_mailbox_and_commits_deletions_at_quit() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = connect(mock.pop3_addr(), &pki).await;
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    let caps = String::from_utf8(c.multiline().await).unwrap();
    assert!(caps.contains("USER") && caps.contains("UIDL") && caps.contains("TOP"));
    assert!(c.cmd("STAT").await.starts_with("-ERR"), "STAT before auth");
    assert!(c.cmd(&format!("USER {USER}")).await.starts_with("+OK"));
    assert!(c.cmd("PASS falsch").await.starts_with("-ERR [AUTH]"));
    assert!(c.cmd(&format!("USER {USER}")).await.starts_with("+OK"));
    assert!(c.cmd(&format!("PASS {PASSWORD}")).await.starts_with("+OK"));
    assert_eq!(
        c.cmd("STAT").await.trim_end(),
        format!("+OK 2 {}", M1.len() + M2.len())
    );
    assert!(c.cmd("LIST").await.starts_with("+OK"));
    assert_eq!(
        c.multiline().await,
        format!("1 {}\r\n2 {}\r\n", M1.len(), M2.len()).into_bytes()
    );
    assert_eq!(
        c.cmd("LIST 2").await.trim_end(),
        format!("+OK 2 {}", M2.len())
    );
    assert!(c.cmd("UIDL").await.starts_with("+OK"));
    assert_eq!(c.multiline().await, b"1 kvc-mock-1\r\n2 kvc-mock-2\r\n");
    assert!(c.cmd("TOP 1 1").await.starts_with("+OK"));
    assert_eq!(
        unstuff(&c.multiline().await),
        b"Subject: eins\r\nX-KVC-Dienstkennung: Arztbrief;VHitG-Versand;V1.0\r\n\r\nline 1\r\n"
    );
    assert!(
        c.cmd("RETR 1")
            .await
            .starts_with(&format!("+OK {} octets", M1.len()))
    );
    let raw = c.multiline().await;
    assert!(
        raw.windows(11).any(|w| w == b"\r\n..dot lin"),
        "dot-stuffed on the wire"
    );
    assert_eq!(unstuff(&raw), M1);
    assert!(c.cmd("RETR 2").await.starts_with("+OK"));
    let mut m2 = M2.to_vec();
    m2.extend_from_slice(b"\r\n"); // the server completes the last line
    assert_eq!(unstuff(&c.multiline().await), m2);
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    assert!(c.cmd("DELE 1").await.starts_with("-ERR"));
    assert!(c.cmd("RETR 1").await.starts_with("-ERR"));
    assert!(c.cmd("RSET").await.starts_with("+OK"));
    assert!(c.cmd("DELE 2").await.starts_with("+OK"));
    assert!(c.cmd("NOOP").await.starts_with("+OK"));
    assert_eq!(
        c.cmd("STAT").await.trim_end(),
        format!("+OK 1 {}", M1.len())
    );
    assert!(
        mock.observations().pop3[0].deleted.is_empty(),
        "not committed before QUIT"
    );
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    let obs = mock.wait_for_pop3_quit(STEP).await;
    let s = &obs.pop3[0];
    assert_eq!(s.end, SessionEnd::Quit);
    assert_eq!(s.retrieved, vec![1, 2]);
    assert_eq!(s.topped, vec![1]);
    assert_eq!(s.deleted, vec![2]);
    assert_eq!(s.auth.len(), 2);
    assert!(!s.auth[0].success && s.auth[1].success && s.auth[1].mechanism == "USER");
    assert!(matches!(s.tls, TlsOutcome::Established { .. }));
    assert!(!format!("{:?}", s.transcript).contains(PASSWORD));

    // next session: message 2 is gone
    let mut c = connect(mock.pop3_addr(), &pki).await;
    assert!(c.line().await.starts_with("+OK"));
    c.cmd(&format!("USER {USER}")).await;
    let r = c.cmd(&format!("PASS {PASSWORD}")).await;
    assert!(r.starts_with("+OK maildrop has 1"), "{r}");
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    assert_eq!(unstuff(&c.multiline().await), M1);
    mock.shutdown().await;
}

#[tokio::test]
async fn deletions_without_quit_are_discarded() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = connect(mock.pop3_addr(), &pki).await;
    login(&mut c).await;
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    drop(c);
    let obs = mock.wait_for_idle(STEP).await;
    assert_eq!(obs.pop3[0].end, SessionEnd::PeerClosed);
    assert!(obs.pop3[0].deleted.is_empty());
    let mut c = connect(mock.pop3_addr(), &pki).await;
    login(&mut c).await;
    mock.shutdown().await;
}

#[tokio::test]
async fn garbage_gets_err_and_closes_after_max_errors() {
    let pki = pki();
    let cfg = KvcClientConfig {
        max_errors: 3,
        ..config()
    };
    let mock = start(cfg, &pki).await;
    let mut c = connect(mock.pop3_addr(), &pki).await;
    c.line().await;
    assert!(c.cmd("HELLO").await.starts_with("-ERR"));
    assert!(
        c.cmd(&"x".repeat(9000))
            .await
            .starts_with("-ERR line too long")
    );
    assert!(c.cmd("\x00\x01").await.starts_with("-ERR too many errors"));
    assert!(c.closed().await);
    let obs = mock.wait_for_idle(STEP).await;
    assert!(matches!(obs.pop3[0].end, SessionEnd::ProtocolError(_)));
    mock.shutdown().await;
}

#[tokio::test]
async fn idle_pop3_peer_is_dropped() {
    let pki = pki();
    let cfg = KvcClientConfig {
        idle_timeout: Duration::from_millis(300),
        ..config()
    };
    let mock = start(cfg, &pki).await;
    let mut c = connect(mock.pop3_addr(), &pki).await;
    let t = Instant::now();
    login(&mut c).await;
    assert!(c.closed().await);
    assert!(t.elapsed() < Duration::from_secs(3));
    let obs = mock.wait_for_idle(STEP).await;
    assert_eq!(obs.pop3[0].end, SessionEnd::IdleTimeout);
    assert!(obs.pop3[0].deleted.is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn untrusted_certificate_recorded_without_auth() {
    let pki = pki();
    let cfg = KvcClientConfig {
        cert: kvc_mocks::ServerCertKind::UntrustedCa,
        ..config()
    };
    let mock = start(cfg, &pki).await;
    assert!(
        try_connect(mock.pop3_addr(), pki.client_config().unwrap())
            .await
            .is_err()
    );
    let obs = mock.wait_for_idle(STEP).await;
    assert!(matches!(obs.pop3[0].tls, TlsOutcome::HandshakeFailed(_)));
    assert!(obs.pop3[0].auth.is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn retr_of_25_mb() {
    let pki = pki();
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    while big.len() < 25 * 1024 * 1024 {
        big.extend_from_slice(
            b".QUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJD\r\n",
        );
    }
    let cfg = KvcClientConfig {
        mailbox: vec![big.clone()],
        ..config()
    };
    let mock = start(cfg, &pki).await;
    let mut c = connect(mock.pop3_addr(), &pki).await;
    c.line().await;
    c.cmd(&format!("USER {USER}")).await;
    c.cmd(&format!("PASS {PASSWORD}")).await;
    let t = Instant::now();
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    let got = unstuff(&c.multiline().await);
    eprintln!(
        "RETR of {} bytes (every line dot-stuffed) in {:?}",
        big.len(),
        t.elapsed()
    );
    assert!(got == big);
    mock.shutdown().await;
}
