//! Interop proof: clients nobody here wrote (Python's smtplib/poplib, curl) talk to the mock
//! KV-Connect Client over implicit TLS, trusting the CA the mock writes out.
//!
//! What is compared: the message files here use CRLF line ends only and end with CRLF, so
//! neither smtplib (which rewrites bare LF/CR to CRLF and dot-stuffs) nor curl (which dot-stuffs
//! but does not touch line ends without --crlf) changes them; the server must capture the file
//! byte for byte (dot-unstuffed, the last line's CRLF included). On POP3, poplib returns lines
//! without their CRLF and already unstuffed, so the script joins them with CRLF and appends a
//! final CRLF; curl writes the unstuffed body including the last line's CRLF. Both must equal the
//! mailbox message byte for byte.
//!
//! These tests need `python3` and `curl` on PATH; they fail with a clear message if missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use kvc_mocks::{KvcClientConfig, KvcClientMock, ServerCertKind, SessionEnd, TlsOutcome, TlsPki};

/// A message with a leading-dot line, a lone "." line, 8-bit UTF-8 and a long line.
fn message(tag: &str) -> Vec<u8> {
    let mut m = format!(
        "From: praxis@kv-connect.test\r\nTo: arzt@kv-connect.test\r\nSubject: {tag}\r\n\
         Message-ID: <{tag}@kv-connect.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Gr\u{fc}\u{df}e\r\n.eine Zeile mit Punkt\r\n.\r\n..zwei Punkte\r\n"
    )
    .into_bytes();
    m.extend_from_slice(format!("{}\r\nEnde\r\n", "x".repeat(990)).as_bytes());
    m
}

async fn run(program: &str, args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(60), child).await {
        Err(_) => panic!("{program} did not finish within 60 s"),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{program}` is not installed or not on PATH: the interop tests need it \
             (CI installs python3 and curl); install it and re-run"
        ),
        Ok(Err(e)) => panic!("cannot run {program}: {e}"),
        Ok(Ok(out)) => out,
    }
}

fn ok(program: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{program} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Env {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    ca: String,
    _pki: TlsPki,
    mock: KvcClientMock,
}

async fn env(cert: ServerCertKind, mailbox: Vec<Vec<u8>>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let ca = dir.path().join("kvc-mock-ca.pem");
    pki.write_ca(&ca).unwrap();
    let mock = start(
        KvcClientConfig {
            cert,
            mailbox,
            idle_timeout: Duration::from_secs(10),
            ..kvc_mocks::kvc::client::default_config()
        },
        &pki,
    )
    .await;
    Env {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        ca: ca.display().to_string(),
        _pki: pki,
        mock,
    }
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.display().to_string()
}

const PY_SMTP: &str = r#"
import smtplib, ssl, sys
ca, port, user, pw, path, mech = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP_SSL("localhost", int(port), context=ctx, timeout=20) as s:
    if mech == "LOGIN":
        s.ehlo()
        s.auth("LOGIN", s.auth_login)   # sends AUTH LOGIN <user> as initial response
    else:
        s.login(user, pw)               # picks AUTH PLAIN from the EHLO list
    s.sendmail("praxis@kv-connect.test", ["arzt@kv-connect.test"], open(path, "rb").read())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_sends_with_plain_and_login() {
    let e = env(ServerCertKind::Valid, vec![]).await;
    let port = e.mock.smtp_addr().port().to_string();
    let mut sent = Vec::new();
    for mech in ["PLAIN", "LOGIN"] {
        let m = message(&format!("smtplib-{mech}"));
        let path = write(&e.dir, "m.eml", &m);
        // smtplib's auth_login reads user/password from the SMTP object
        let script = PY_SMTP.replace(
            "s.auth(\"LOGIN\", s.auth_login)",
            "s.user, s.password = user, pw; s.auth(\"LOGIN\", s.auth_login)",
        );
        let out = run(
            "python3",
            &["-c", &script, &e.ca, &port, USER, PASSWORD, &path, mech],
        )
        .await;
        ok("python3 smtplib", &out);
        sent.push(m);
    }
    let obs = e.mock.wait_for_messages(2, STEP).await;
    let obs = {
        let _ = obs;
        e.mock.wait_for_idle(STEP).await
    };
    for (i, mech) in ["PLAIN", "LOGIN"].iter().enumerate() {
        let s = &obs.smtp[i];
        assert_eq!(s.end, SessionEnd::Quit);
        assert_eq!(s.auth[0].mechanism, *mech);
        assert!(s.auth[0].success);
        assert_eq!(s.messages[0].mail_from, "praxis@kv-connect.test");
        assert_eq!(s.messages[0].rcpt_to, vec!["arzt@kv-connect.test"]);
        assert_eq!(
            String::from_utf8_lossy(&s.messages[0].data),
            String::from_utf8_lossy(&sent[i])
        );
        assert_eq!(s.messages[0].data, sent[i], "byte for byte");
    }
    e.mock.shutdown().await;
}

const PY_POP3: &str = r#"
import poplib, ssl, sys
ca, port, user, pw = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
p = poplib.POP3_SSL("localhost", int(port), context=ctx, timeout=20)
p.user(user)
p.pass_(pw)
n, size = p.stat()
assert n == 2, (n, size)
uidl = p.uidl()[1]
assert uidl == [b"1 kvc-mock-1", b"2 kvc-mock-2"], uidl
resp, lines, octets = p.retr(1)
sys.stdout.buffer.write(b"\r\n".join(lines) + b"\r\n")
p.dele(1)
p.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_poplib_fetches_and_deletes() {
    let m1 = message("poplib-1");
    let m2 = message("poplib-2");
    let e = env(ServerCertKind::Valid, vec![m1.clone(), m2]).await;
    let port = e.mock.pop3_addr().port().to_string();
    let out = run("python3", &["-c", PY_POP3, &e.ca, &port, USER, PASSWORD]).await;
    ok("python3 poplib", &out);
    assert_eq!(
        out.stdout, m1,
        "RETR 1 through poplib equals the mailbox message"
    );
    let obs = e.mock.wait_for_pop3_quit(STEP).await;
    let s = &obs.pop3[0];
    assert_eq!(s.retrieved, vec![1]);
    assert_eq!(s.deleted, vec![1]);
    assert!(s.auth[0].success);
    assert!(
        matches!(&s.tls, TlsOutcome::Established { sni: Some(n), client: None } if n == "localhost")
    );
    e.mock.shutdown().await;
}

const PY_REFUSE: &str = r#"
import smtplib, poplib, ssl, sys
ca, smtp_port, pop3_port = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
for what, connect in (("smtp", lambda: smtplib.SMTP_SSL("localhost", int(smtp_port), context=ctx, timeout=20)),
                      ("pop3", lambda: poplib.POP3_SSL("localhost", int(pop3_port), context=ctx, timeout=20))):
    try:
        connect()
        print(what, "CONNECTED")
        sys.exit(1)
    except ssl.SSLCertVerificationError as e:
        print(what, "refused:", e.verify_message)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_refuses_bad_certificates_and_the_mock_records_it() {
    for kind in [
        ServerCertKind::UntrustedCa,
        ServerCertKind::Expired,
        ServerCertKind::WrongName,
    ] {
        let e = env(kind, vec![]).await;
        let out = run(
            "python3",
            &[
                "-c",
                PY_REFUSE,
                &e.ca,
                &e.mock.smtp_addr().port().to_string(),
                &e.mock.pop3_addr().port().to_string(),
            ],
        )
        .await;
        ok("python3 ssl", &out);
        eprintln!("{kind:?}: {}", String::from_utf8_lossy(&out.stdout).trim());
        let obs = e.mock.wait_for_idle(STEP).await;
        assert_eq!((obs.smtp.len(), obs.pop3.len()), (1, 1));
        for (tls, auth) in [
            (&obs.smtp[0].tls, obs.smtp[0].auth.len()),
            (&obs.pop3[0].tls, obs.pop3[0].auth.len()),
        ] {
            // Python's ssl checks chain, validity and host name inside the handshake
            assert!(
                matches!(tls, TlsOutcome::HandshakeFailed(_)),
                "{kind:?}: {tls:?}"
            );
            assert_eq!(auth, 0);
        }
        e.mock.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_sends_over_smtps() {
    let e = env(ServerCertKind::Valid, vec![]).await;
    let m = message("curl-smtp");
    let path = write(&e.dir, "curl.eml", &m);
    let url = format!("smtps://localhost:{}", e.mock.smtp_addr().port());
    let creds = format!("{USER}:{PASSWORD}");
    let out = run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "30",
            &url,
            "--cacert",
            &e.ca,
            "--mail-from",
            "praxis@kv-connect.test",
            "--mail-rcpt",
            "arzt@kv-connect.test",
            "--mail-rcpt",
            "zweit@kv-connect.test",
            "-T",
            &path,
            "--user",
            &creds,
        ],
    )
    .await;
    ok("curl smtps", &out);
    let obs = e.mock.wait_for_idle(STEP).await;
    let s = &obs.smtp[0];
    assert_eq!(s.end, SessionEnd::Quit);
    assert!(s.auth[0].success, "{:?}", s.auth);
    let got = &s.messages[0];
    assert_eq!(
        got.rcpt_to,
        vec!["arzt@kv-connect.test", "zweit@kv-connect.test"]
    );
    assert_eq!(got.data, m, "byte for byte");
    e.mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_fetches_over_pop3s() {
    let m1 = message("curl-pop3");
    let e = env(ServerCertKind::Valid, vec![m1.clone()]).await;
    let url = format!("pop3s://localhost:{}/1", e.mock.pop3_addr().port());
    let creds = format!("{USER}:{PASSWORD}");
    let out = run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "30",
            &url,
            "--cacert",
            &e.ca,
            "--user",
            &creds,
        ],
    )
    .await;
    ok("curl pop3s", &out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&m1)
    );
    assert_eq!(out.stdout, m1, "byte for byte");
    let obs = e.mock.wait_for_idle(STEP).await;
    assert_eq!(obs.pop3[0].retrieved, vec![1]);
    assert!(obs.pop3[0].deleted.is_empty());
    // curl refuses the wrong-name certificate
    e.mock.shutdown().await;
    let e = env(ServerCertKind::WrongName, vec![m1]).await;
    let url = format!("pop3s://localhost:{}/1", e.mock.pop3_addr().port());
    let out = run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "30",
            &url,
            "--cacert",
            &e.ca,
            "--user",
            &creds,
        ],
    )
    .await;
    assert!(
        !out.status.success(),
        "curl must refuse the wrong-name certificate"
    );
    let obs = e.mock.wait_for_idle(STEP).await;
    // curl (OpenSSL backend) checks the host name only after the handshake has completed and
    // then closes without a word: the mock sees TLS established, no command, PeerClosed.
    let s = &obs.pop3[0];
    assert!(!s.credentials_offered(), "{s:?}");
    assert!(s.auth.is_empty());
    assert!(s.transcript.iter().all(|l| !l.from_client), "{s:?}");
    assert_eq!(s.end, SessionEnd::PeerClosed);
    e.mock.shutdown().await;
}
