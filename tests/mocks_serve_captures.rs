//! `kvc-check mocks serve kvc-client --save DIR` (issue 18 item 8): each message a system sends
//! through the standalone mock is saved byte for byte and its lint verdict printed as it
//! arrives. Python smtplib plays the vendor's system; a passing and a failing vector are sent.
//!
//! Needs `python3` (smtplib is in its standard library).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const PY_SEND: &str = r#"
import smtplib, ssl, sys
ca, port, user, pw, path = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
s = smtplib.SMTP_SSL("localhost", int(port), context=ctx, timeout=20)
s.login(user, pw)
s.sendmail(user, ["arzt@kv-connect.test"], open(path, "rb").read())
s.quit()
"#;

/// Reads lines until `done` says so or 30 s pass; returns what was read.
fn read_until(lines: &mpsc::Receiver<String>, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done(&got) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) => got.push(l),
            Err(_) => break,
        }
    }
    got
}

#[test]
fn captured_messages_are_saved_and_linted_as_they_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(dir.path())
        .args([
            "mocks",
            "serve",
            "kvc-client",
            "--smtp-port",
            "0",
            "--pop3-port",
            "0",
            "--ca-out",
            "ca.pem",
            "--save",
            "captures",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kvc-check mocks serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = read_until(&lines, |l| l.iter().any(|x| x.contains("POP3 mailbox")));
    let port = start
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("SMTP (implicit TLS): smtps://localhost:")
        })
        .expect("SMTP port printed")
        .to_string();
    let (user, password) = start
        .iter()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("account: user `")?;
            let (user, rest) = rest.split_once('`')?;
            let pw = rest.split_once("password `")?.1.split_once('`')?.0;
            Some((user.to_string(), pw.to_string()))
        })
        .expect("account printed");
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/kvc");
    let sent = ["pass-arztbrief.eml", "fail-090-missing-sendersystem.eml"];
    let mut output = Vec::new();
    for (i, name) in sent.iter().enumerate() {
        let file = vectors.join(name);
        let out = Command::new("python3")
            .args([
                "-c",
                PY_SEND,
                dir.path().join("ca.pem").to_str().expect("utf-8"),
                &port,
                &user,
                &password,
                file.to_str().expect("utf-8"),
            ])
            .output()
            .expect("python3 is needed (CI installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n = i + 1;
        output.extend(read_until(&lines, |l| {
            l.iter()
                .any(|x| x.contains(&format!("message {n} saved to")))
        }));
        // The findings of a failing message follow its verdict line.
        if name.starts_with("fail") {
            output.extend(read_until(&lines, |l| {
                l.iter().any(|x| x.contains("details: kvc-check lint"))
            }));
        }
    }
    child.kill().expect("stop mocks serve");
    let _ = child.wait();
    let text = output.join("\n");
    assert!(
        text.contains("message 1 saved to captures/message-1.eml: lint --profile kvc: pass"),
        "{text}"
    );
    assert!(
        text.contains("message 2 saved to captures/message-2.eml: lint --profile kvc: fail"),
        "{text}"
    );
    assert!(text.contains("error KVC-Anb090"), "{text}");
    assert!(
        text.contains("details: kvc-check lint --profile kvc captures/message-2.eml"),
        "{text}"
    );
    for (i, name) in sent.iter().enumerate() {
        let saved = std::fs::read(dir.path().join(format!("captures/message-{}.eml", i + 1)))
            .expect("saved");
        assert_eq!(saved, std::fs::read(vectors.join(name)).expect("vector"));
    }
}
