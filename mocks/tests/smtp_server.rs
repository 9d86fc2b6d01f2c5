//! The mock KV-Connect Client's SMTP server over real sockets on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use kvc_mocks::{KvcClientConfig, ServerCertKind, SessionEnd, TlsOutcome};

fn config() -> KvcClientConfig {
    KvcClientConfig {
        idle_timeout: Duration::from_secs(5),
        ..kvc_mocks::kvc::client::default_config()
    }
}

#[tokio::test]
async fn captures_message_byte_for_byte_with_envelope_and_transcript() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = smtp_login(mock.smtp_addr(), &pki).await;
    assert!(
        c.cmd("MAIL FROM:<praxis@kv-connect.test>")
            .await
            .starts_with("250")
    );
    assert!(
        c.cmd("RCPT TO:<a@kv-connect.test>")
            .await
            .starts_with("250")
    );
    assert!(
        c.cmd("RCPT TO:<b@kv-connect.test>")
            .await
            .starts_with("250")
    );
    assert!(c.cmd("DATA").await.starts_with("354"));
    // ".hidden" and "." lines are dot-stuffed on the wire; 8-bit and a bare LF pass unchanged.
    let message = b"Subject: x\r\n\r\n.hidden\r\n.\r\nGr\xc3\xbc\xc3\x9fe\nbare LF\r\n..two\r\n";
    c.send(b"Subject: x\r\n\r\n..hidden\r\n..\r\nGr\xc3\xbc\xc3\x9fe\nbare LF\r\n...two\r\n.\r\n")
        .await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert!(c.cmd("QUIT").await.starts_with("221"));
    let obs = mock.wait_for_idle(STEP).await;
    let s = &obs.smtp[0];
    assert_eq!(s.end, SessionEnd::Quit);
    assert_eq!(
        s.tls,
        TlsOutcome::Established {
            sni: Some("localhost".into()),
            client: None,
        }
    );
    assert_eq!(s.auth.len(), 1);
    assert!(s.credentials_offered());
    assert!(s.auth[0].success && s.auth[0].mechanism == "PLAIN" && s.auth[0].user == USER);
    assert_eq!(s.messages.len(), 1);
    let m = &s.messages[0];
    assert_eq!(m.mail_from, "praxis@kv-connect.test");
    assert_eq!(m.rcpt_to, vec!["a@kv-connect.test", "b@kv-connect.test"]);
    assert_eq!(m.data, message.to_vec());
    let client_lines: Vec<&str> = s
        .transcript
        .iter()
        .filter(|l| l.from_client)
        .map(|l| l.line.as_str())
        .collect();
    assert_eq!(
        client_lines,
        vec![
            "EHLO pvs.test",
            "AUTH PLAIN ***",
            "MAIL FROM:<praxis@kv-connect.test>",
            "RCPT TO:<a@kv-connect.test>",
            "RCPT TO:<b@kv-connect.test>",
            "DATA",
            "QUIT"
        ]
    );
    assert!(!format!("{:?}", s.transcript).contains(PASSWORD));
    mock.shutdown().await;
}

#[tokio::test]
async fn empty_message_and_two_messages_in_one_session() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = smtp_login(mock.smtp_addr(), &pki).await;
    for body in [&b""[..], &b"A: b\r\n\r\nbody\r\n"[..]] {
        assert!(c.cmd("MAIL FROM:<>").await.starts_with("250"));
        assert!(c.cmd("RCPT TO:<a@x.test>").await.starts_with("250"));
        assert!(c.cmd("DATA").await.starts_with("354"));
        c.send(body).await;
        c.send(b".\r\n").await;
        assert!(c.reply().await.starts_with("250"));
    }
    let obs = mock.wait_for_messages(2, STEP).await;
    let msgs: Vec<_> = obs.messages().collect();
    assert_eq!(msgs[0].data, b"");
    assert_eq!(msgs[0].mail_from, "");
    assert_eq!(msgs[1].data, b"A: b\r\n\r\nbody\r\n");
    mock.shutdown().await;
}

#[tokio::test]
async fn auth_login_wrong_password_and_mail_before_auth() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = connect(mock.smtp_addr(), &pki).await;
    c.reply().await;
    let r = c.cmd("AUTH PLAIN x").await;
    assert!(r.starts_with("503"), "AUTH before EHLO: {r}");
    c.cmd("EHLO pvs.test").await;
    let r = c.cmd("MAIL FROM:<praxis@kv-connect.test>").await;
    assert!(r.starts_with("530"), "MAIL before AUTH: {r}");
    let r = c
        .cmd(&format!("AUTH PLAIN {}", plain(USER, "falsch")))
        .await;
    assert!(r.starts_with("535"), "{r}");
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6");
    assert_eq!(c.cmd(&b64(USER)).await, "334 UGFzc3dvcmQ6");
    let r = c.cmd(&b64(PASSWORD)).await;
    assert!(r.starts_with("235"), "{r}");
    // PLAIN without initial response
    let r = c.cmd("AUTH PLAIN").await;
    assert!(r.starts_with("503"), "already authenticated: {r}");
    assert!(c.cmd("QUIT").await.starts_with("221"));
    let obs = mock.wait_for_idle(STEP).await;
    let auth = &obs.smtp[0].auth;
    assert_eq!(auth.len(), 2);
    assert_eq!(
        (auth[0].mechanism.as_str(), auth[0].success),
        ("PLAIN", false)
    );
    assert_eq!(
        (auth[1].mechanism.as_str(), auth[1].success),
        ("LOGIN", true)
    );
    assert!(obs.smtp[0].transcript.iter().any(|l| l.line == "***"));
    assert!(!format!("{:?}", obs.smtp[0].transcript).contains(&b64(PASSWORD)));
    mock.shutdown().await;
}

#[tokio::test]
async fn auth_plain_with_continuation_helo_rset_noop() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = connect(mock.smtp_addr(), &pki).await;
    c.reply().await;
    assert!(c.cmd("HELO pvs.test").await.starts_with("250 "));
    assert_eq!(c.cmd("AUTH PLAIN").await, "334");
    assert!(c.cmd(&plain(USER, PASSWORD)).await.starts_with("235"));
    assert!(c.cmd("MAIL FROM:<a@b.test>").await.starts_with("250"));
    assert!(c.cmd("RSET").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<c@d.test>").await.starts_with("503"));
    assert!(c.cmd("NOOP").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("503"));
    assert!(c.cmd("QUIT").await.starts_with("221"));
    let obs = mock.wait_for_idle(STEP).await;
    assert!(obs.smtp[0].messages.is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn bdat_chunks_are_captured() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = smtp_login(mock.smtp_addr(), &pki).await;
    c.cmd("MAIL FROM:<a@b.test>").await;
    c.cmd("RCPT TO:<c@d.test>").await;
    c.send(b"BDAT 10\r\n.line one\r").await;
    assert!(c.reply().await.starts_with("250"));
    c.send(b"BDAT 6 LAST\r\n\nend\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    let obs = mock.wait_for_messages(1, STEP).await;
    assert_eq!(obs.smtp[0].messages[0].data, b".line one\r\nend\r\n");
    mock.shutdown().await;
}

#[tokio::test]
async fn too_large_data_is_answered_552_and_not_buffered() {
    let pki = pki();
    let cfg = KvcClientConfig {
        max_message_bytes: 10_000,
        ..config()
    };
    let mock = start(cfg, &pki).await;
    let mut c = smtp_login(mock.smtp_addr(), &pki).await;
    c.cmd("MAIL FROM:<a@b.test>").await;
    c.cmd("RCPT TO:<c@d.test>").await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    let line = format!("{}\r\n", "x".repeat(998));
    for _ in 0..200 {
        c.send(line.as_bytes()).await;
    }
    c.send(b".\r\n").await;
    let r = c.reply().await;
    assert!(r.starts_with("552 5.3.4"), "{r}");
    assert!(c.closed().await);
    let obs = mock.wait_for_idle(STEP).await;
    assert_eq!(obs.smtp[0].end, SessionEnd::TooLarge);
    assert!(obs.smtp[0].messages.is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn mail_from_size_above_limit_is_refused() {
    let pki = pki();
    let cfg = KvcClientConfig {
        max_message_bytes: 10_000,
        ..config()
    };
    let mock = start(cfg, &pki).await;
    let mut c = smtp_login(mock.smtp_addr(), &pki).await;
    let r = c.cmd("MAIL FROM:<a@b.test> SIZE=20000").await;
    assert!(r.starts_with("552"), "{r}");
    mock.shutdown().await;
}

#[tokio::test]
async fn garbage_lines_get_500_and_close_after_max_errors() {
    let pki = pki();
    let cfg = KvcClientConfig {
        max_errors: 5,
        ..config()
    };
    let mock = start(cfg, &pki).await;
    let mut c = connect(mock.smtp_addr(), &pki).await;
    c.reply().await;
    for i in 0..4 {
        let r = c.cmd(&format!("GARBAGE\x01 {i}")).await;
        assert!(r.starts_with("500"), "{r}");
    }
    let r = c.cmd("\u{fffd}\u{fffd}").await;
    assert!(r.starts_with("421"), "{r}");
    assert!(c.closed().await);
    let obs = mock.wait_for_idle(STEP).await;
    assert!(
        matches!(&obs.smtp[0].end, SessionEnd::ProtocolError(why) if why.contains("5 error replies")),
        "{:?}",
        obs.smtp[0].end
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn overlong_command_line_gets_500_and_session_continues() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = connect(mock.smtp_addr(), &pki).await;
    c.reply().await;
    let r = c.cmd(&format!("NOOP {}", "y".repeat(10_000))).await;
    assert!(r.starts_with("500 5.5.2 Line too long"), "{r}");
    assert!(c.cmd("NOOP").await.starts_with("250"));
    mock.shutdown().await;
}

#[tokio::test]
async fn flood_without_line_break_closes_the_connection() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = connect(mock.smtp_addr(), &pki).await;
    c.reply().await;
    let junk = vec![b'z'; 64 * 1024];
    // The server stops reading after ~1 MiB; writes may then fail, which is fine.
    for _ in 0..40 {
        use tokio::io::AsyncWriteExt;
        if c.io.get_mut().write_all(&junk).await.is_err() {
            break;
        }
    }
    let obs = mock.wait_for_idle(STEP).await;
    assert!(
        matches!(&obs.smtp[0].end, SessionEnd::ProtocolError(why) if why.contains("without line break")),
        "{:?}",
        obs.smtp[0].end
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn connection_dropped_inside_data_captures_nothing() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = smtp_login(mock.smtp_addr(), &pki).await;
    c.cmd("MAIL FROM:<a@b.test>").await;
    c.cmd("RCPT TO:<c@d.test>").await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(b"Subject: half\r\n\r\nhalf a message\r\n").await;
    drop(c);
    let obs = mock.wait_for_idle(STEP).await;
    assert_eq!(obs.smtp[0].end, SessionEnd::PeerClosed);
    assert!(obs.smtp[0].messages.is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn idle_peer_is_dropped() {
    let pki = pki();
    let cfg = KvcClientConfig {
        idle_timeout: Duration::from_millis(300),
        ..config()
    };
    let mock = start(cfg, &pki).await;
    // after TLS: silent client gets 421 and is closed
    let mut c = connect(mock.smtp_addr(), &pki).await;
    let t = Instant::now();
    c.reply().await;
    assert!(c.reply().await.starts_with("421 4.4.2"));
    assert!(c.closed().await);
    assert!(t.elapsed() < Duration::from_secs(3));
    // stalled inside DATA
    let mut c = smtp_login(mock.smtp_addr(), &pki).await;
    c.cmd("MAIL FROM:<a@b.test>").await;
    c.cmd("RCPT TO:<c@d.test>").await;
    c.cmd("DATA").await;
    c.send(b"Subject: stalled\r\n").await;
    assert!(c.closed().await);
    // plain TCP, never starts TLS
    let _tcp = tokio::net::TcpStream::connect(mock.smtp_addr())
        .await
        .unwrap();
    let t = Instant::now();
    while mock.observations().smtp.len() < 3 && t.elapsed() < STEP {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let obs = mock.wait_for_idle(STEP).await;
    assert_eq!(obs.smtp.len(), 3);
    assert!(
        obs.smtp.iter().all(|s| s.end == SessionEnd::IdleTimeout),
        "{obs:?}"
    );
    assert!(obs.smtp[1].messages.is_empty());
    assert!(matches!(obs.smtp[2].tls, TlsOutcome::HandshakeFailed(_)));
    mock.shutdown().await;
}

#[tokio::test]
async fn concurrent_sessions_are_bounded() {
    let pki = pki();
    let cfg = KvcClientConfig {
        max_sessions: 2,
        ..config()
    };
    let mock = start(cfg, &pki).await;
    let mut a = connect(mock.smtp_addr(), &pki).await;
    a.reply().await;
    let mut b = connect(mock.smtp_addr(), &pki).await;
    b.reply().await;
    // third: closed without greeting (the TLS handshake itself fails)
    let third = try_connect(mock.smtp_addr(), pki.client_config().unwrap()).await;
    if let Ok(mut c) = third {
        assert!(c.closed().await);
    }
    assert_eq!(mock.observations().rejected_connections, 1);
    // a slot frees up after QUIT
    a.cmd("QUIT").await;
    assert!(a.closed().await);
    let mut d = connect(mock.smtp_addr(), &pki).await;
    assert!(d.reply().await.starts_with("220"));
    drop(b);
    mock.shutdown().await;
}

#[tokio::test]
async fn refused_certificates_are_recorded_as_handshake_failures() {
    let pki = pki();
    for kind in [
        ServerCertKind::UntrustedCa,
        ServerCertKind::Expired,
        ServerCertKind::WrongName,
    ] {
        let cfg = KvcClientConfig {
            cert: kind,
            ..config()
        };
        let mock = start(cfg, &pki).await;
        let err = try_connect(mock.smtp_addr(), pki.client_config().unwrap()).await;
        let err = err
            .err()
            .unwrap_or_else(|| panic!("{kind:?}: client must refuse"));
        let obs = mock.wait_for_idle(STEP).await;
        let s = &obs.smtp[0];
        match &s.tls {
            TlsOutcome::HandshakeFailed(why) => {
                assert!(!why.is_empty(), "{kind:?}");
                eprintln!("{kind:?}: client said {err}; server recorded {why}");
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        assert!(s.auth.is_empty() && s.transcript.is_empty());
        assert!(!s.credentials_offered());
        mock.shutdown().await;
    }
}

#[tokio::test]
async fn capture_25_mb_message() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = smtp_login(mock.smtp_addr(), &pki).await;
    c.cmd("MAIL FROM:<a@b.test>").await;
    c.cmd("RCPT TO:<c@d.test>").await;
    c.cmd("DATA").await;
    let mut message = b"Subject: big\r\n\r\n".to_vec();
    let line = format!("{}\r\n", "QUJD".repeat(19));
    while message.len() < 25 * 1024 * 1024 {
        message.extend_from_slice(line.as_bytes());
    }
    let t = Instant::now();
    c.send(&message).await;
    c.send(b".\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    let elapsed = t.elapsed();
    eprintln!("captured {} bytes over SMTPS in {elapsed:?}", message.len());
    let obs = mock.wait_for_messages(1, STEP).await;
    assert!(obs.smtp[0].messages[0].data == message);
    mock.shutdown().await;
}

#[tokio::test]
async fn transcript_is_bounded_for_a_chatty_peer() {
    let pki = pki();
    let mock = start(config(), &pki).await;
    let mut c = connect(mock.smtp_addr(), &pki).await;
    c.reply().await;
    let batch = "NOOP\r\n".repeat(500);
    for _ in 0..11 {
        c.send(batch.as_bytes()).await;
        for _ in 0..500 {
            assert!(c.reply().await.starts_with("250"));
        }
    }
    let obs = mock.observations();
    let t = &obs.smtp[0].transcript;
    assert_eq!(t.len(), 10_001);
    assert!(t[10_000].line.contains("truncated"));
    assert_eq!(obs.smtp[0].end, SessionEnd::Open);
    assert!(c.cmd("QUIT").await.starts_with("221"));
    mock.shutdown().await;
}
