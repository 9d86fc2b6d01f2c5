//! The KIM Fachdienst's MTA and mailbox on the mail engine: Python smtplib sends through the
//! MTA (AUTH user must be MAIL FROM, A_23421; scripted 421/451/550/552, a drop inside DATA, a
//! slow greeting) and poplib fetches served KOM-LE messages that open with the recipient's card
//! key as their variant says.
//!
//! Needs `python3` (smtplib and poplib are in its standard library).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kvc_mocks::kim::practices::{MUSTERFRAU, ROSENSTRAUCH};
use kvc_mocks::kim::served_messages::{self, KomLeVariant, Party};
use kvc_mocks::mail::{Account, MailServer, MailServerConfig, SmtpFaults, SmtpStage};
use kvc_mocks::{SessionEnd, TlsPki};
use kvc_smime::card_pki::{Card, CardKeyRole, CardPki, CardVariant};

const SENDER: &str = ROSENSTRAUCH.mail;
const RECIPIENT: &str = MUSTERFRAU.mail;
const PASSWORD: &str = "Kim-Geheim-1";

struct Cards {
    pki: CardPki,
    sender: Card,
    recipient: Card,
}

fn cards() -> &'static Cards {
    static C: OnceLock<Cards> = OnceLock::new();
    C.get_or_init(|| {
        let pki = CardPki::generate().unwrap();
        Cards {
            sender: ROSENSTRAUCH.smcb(&pki, CardVariant::Valid).unwrap(),
            recipient: MUSTERFRAU.smcb(&pki, CardVariant::Valid).unwrap(),
            pki,
        }
    })
}

async fn fachdienst(mailbox: Vec<Vec<u8>>) -> (MailServer, tempfile::TempDir, String) {
    let pki = TlsPki::generate("localhost").unwrap();
    let config = MailServerConfig {
        accounts: vec![
            Account::new(SENDER, PASSWORD),
            Account::new(RECIPIENT, PASSWORD),
        ],
        mailbox,
        banner: "kvc-check mock KIM Fachdienst".into(),
        sender_must_match_auth: true,
        ..MailServerConfig::default()
    };
    let mock = MailServer::start(config, &pki).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    pki.write_ca(&ca).unwrap();
    let ca = ca.display().to_string();
    (mock, dir, ca)
}

async fn python(script: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .args(&all)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python3 within 60 s")
    .expect("python3 is needed (CI installs it)")
}

/// Sends one message; prints the reply code of the step that failed, or `sent`.
const PY_SEND: &str = r#"
import smtplib, ssl, sys
ca, port, user, pw, mail_from = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
try:
    s = smtplib.SMTP_SSL("localhost", int(port), context=ctx, timeout=20)
    s.login(user, pw)
    s.sendmail(mail_from, ["praxis.musterfrau@kim.telematik-test"], b"Subject: x\r\n\r\nHallo\r\n")
    s.quit()
    print("sent")
except smtplib.SMTPResponseException as e:
    print(e.smtp_code)
except smtplib.SMTPRecipientsRefused as e:
    print(list(e.recipients.values())[0][0])
except smtplib.SMTPServerDisconnected:
    print("disconnected")
"#;

async fn send(mock: &MailServer, ca: &str, mail_from: &str) -> String {
    let port = mock.smtp_addr().port().to_string();
    let out = python(PY_SEND, &[ca, &port, SENDER, PASSWORD, mail_from]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mta_accepts_only_the_authenticated_sender() {
    let (mock, _dir, ca) = fachdienst(vec![]).await;
    assert_eq!(send(&mock, &ca, SENDER).await, "sent", "control");
    assert_eq!(send(&mock, &ca, "fremd@kim.telematik-test").await, "550");
    let obs = mock.wait_for_idle(Duration::from_secs(10)).await;
    assert_eq!(obs.messages().count(), 1);
    let refused = &obs.smtp[1];
    assert!(refused.transcript.iter().any(|l| {
        l.line
            .starts_with("550 5.7.1 Sender address does not match")
    }));
    assert!(
        obs.smtp[0].transcript[0]
            .line
            .contains("ESMTP kvc-check mock KIM Fachdienst")
    );
}

#[rstest::rstest]
#[case::unavailable_at_mail(SmtpStage::MailFrom, 421, "421")]
#[case::local_error_at_rcpt(SmtpStage::RcptTo, 451, "451")]
#[case::refused_at_rcpt(SmtpStage::RcptTo, 550, "550")]
#[case::storage_at_end_of_data(SmtpStage::DataEnd, 552, "552")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_replies_reach_the_client(
    #[case] stage: SmtpStage,
    #[case] code: u16,
    #[case] seen: &str,
) {
    let (mock, _dir, ca) = fachdienst(vec![]).await;
    assert_eq!(
        send(&mock, &ca, SENDER).await,
        "sent",
        "control before the fault"
    );
    mock.set_smtp_faults(SmtpFaults {
        reply: Some((stage, code)),
        ..Default::default()
    });
    let got = send(&mock, &ca, SENDER).await;
    // 421 closes the channel; smtplib may see the code or the closed connection.
    assert!(
        got == seen || (code == 421 && got == "disconnected"),
        "{got}"
    );
    let obs = mock.wait_for_idle(Duration::from_secs(10)).await;
    assert_eq!(
        obs.messages().count(),
        1,
        "nothing captured under the fault"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_inside_data_and_a_slow_greeting() {
    let (mock, _dir, ca) = fachdienst(vec![]).await;
    mock.set_smtp_faults(SmtpFaults {
        drop_in_data_after: Some(1),
        ..Default::default()
    });
    let got = send(&mock, &ca, SENDER).await;
    assert!(
        got == "disconnected" || got == "451" || got == "-1",
        "{got}"
    );
    let obs = mock.wait_for_idle(Duration::from_secs(10)).await;
    assert_eq!(obs.messages().count(), 0);
    assert!(matches!(&obs.smtp[0].end, SessionEnd::ProtocolError(e) if e.contains("dropped")));
    mock.set_smtp_faults(SmtpFaults {
        greeting_delay: Some(Duration::from_millis(700)),
        ..Default::default()
    });
    let begun = Instant::now();
    assert_eq!(send(&mock, &ca, SENDER).await, "sent");
    assert!(begun.elapsed() >= Duration::from_millis(700));
}

const PY_FETCH: &str = r#"
import poplib, ssl, sys, os
ca, port, user, pw, out = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
p = poplib.POP3_SSL("localhost", int(port), context=ctx, timeout=20)
p.user(user)
p.pass_(pw)
n, _ = p.stat()
p.top(1, 0)
for i in range(1, n + 1):
    resp, lines, octets = p.retr(i)
    open(os.path.join(out, f"{i}.eml"), "wb").write(b"\r\n".join(lines) + b"\r\n")
p.dele(1)
p.quit()
print(n)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_fetches_komle_messages_that_open_as_their_variant_says() {
    let c = cards();
    let sender = Party {
        mail: SENDER,
        card: &c.sender,
    };
    let recipient = Party {
        mail: RECIPIENT,
        card: &c.recipient,
    };
    let variants = [
        KomLeVariant::Valid,
        KomLeVariant::TamperedSignature,
        KomLeVariant::WrongRecipient,
        KomLeVariant::NotKomLe,
        KomLeVariant::KasReduced {
            attachment_json: r#"{"link":"https://localhost/attachments/v2.4/attachment/x","k":"AAAA","hash":"AAAA","size":1}"#.into(),
        },
    ];
    let mailbox: Vec<Vec<u8>> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            served_messages::build(v, sender, recipient, &format!("m{i}@kim.telematik-test"))
                .unwrap()
        })
        .collect();
    let (mock, dir, ca) = fachdienst(mailbox.clone()).await;
    let port = mock.pop3_addr().port().to_string();
    let out = python(
        PY_FETCH,
        &[
            &ca,
            &port,
            RECIPIENT,
            PASSWORD,
            dir.path().to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        variants.len().to_string()
    );
    let obs = mock.wait_for_pop3_quit(Duration::from_secs(10)).await;
    let s = &obs.pop3[0];
    assert_eq!(s.retrieved, (1..=variants.len()).collect::<Vec<_>>());
    assert_eq!((s.topped.clone(), s.deleted.clone()), (vec![1], vec![1]));

    let enc = c.recipient.key(CardKeyRole::Enc).unwrap();
    let key = enc.rsa.to_key_material("recipient C.ENC");
    let trust = c.pki.trust_anchors();
    let open = |i: usize| {
        let raw = std::fs::read(dir.path().join(format!("{}.eml", i + 1))).unwrap();
        assert_eq!(raw, mailbox[i], "served byte for byte");
        kvc_smime::message::open_message(&raw, &key, &trust, None)
    };
    let valid = open(0).unwrap();
    assert_eq!(
        (
            valid.decryption_result.as_str(),
            valid.integrity_check_result.clone()
        ),
        ("00", vec!["01".to_string()])
    );
    let tampered = open(1).unwrap();
    assert!(
        tampered.integrity_check_result.contains(&"02".to_string()),
        "{:?}",
        tampered.integrity_check_result
    );
    assert!(open(2).is_err(), "encrypted to the sender only");
    assert!(open(3).is_err(), "not S/MIME at all");
    let kas = open(4).unwrap();
    let inner = String::from_utf8(kas.inner_message.unwrap()).unwrap();
    assert!(inner.contains("Content-Disposition: x-kas"), "{inner}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_is_bounded_and_says_452_beyond_it() {
    let pki = TlsPki::generate("localhost").unwrap();
    let config = MailServerConfig {
        accounts: vec![Account::new(SENDER, PASSWORD)],
        sender_must_match_auth: true,
        max_stored_bytes: 40,
        ..MailServerConfig::default()
    };
    let mock = MailServer::start(config, &pki).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    pki.write_ca(&ca).unwrap();
    let ca = ca.display().to_string();
    // Each message is 25 bytes: the first fits, the second would pass 40.
    assert_eq!(send(&mock, &ca, SENDER).await, "sent", "control");
    assert_eq!(send(&mock, &ca, SENDER).await, "452");
    let obs = mock.wait_for_idle(Duration::from_secs(10)).await;
    assert_eq!(obs.messages().count(), 1);
}

/// Lists the maildrop of one account: prints the message count, then each message's first two
/// header lines.
const PY_LIST: &str = r#"
import poplib, ssl, sys
ca, port, user, pw = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
p = poplib.POP3_SSL("localhost", int(port), context=ctx, timeout=20)
p.user(user)
p.pass_(pw)
n, _ = p.stat()
print(n)
for i in range(1, n + 1):
    resp, lines, octets = p.retr(i)
    print(lines[0].decode(), "|", lines[1].decode())
p.quit()
"#;

async fn maildrop_of(mock: &MailServer, ca: &str, user: &str) -> Vec<String> {
    let port = mock.pop3_addr().port().to_string();
    let out = python(PY_LIST, &[ca, &port, user, PASSWORD]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// One maildrop per account: a served message reaches only its owner, and a message sent over
/// SMTP is delivered into the recipient's maildrop with Return-Path and Received, not into the
/// sender's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_account_reads_its_own_maildrop() {
    let pki = TlsPki::generate("localhost").unwrap();
    let config = MailServerConfig {
        accounts: vec![
            Account::new(SENDER, PASSWORD),
            Account::new(RECIPIENT, PASSWORD),
        ],
        account_mailbox: vec![(
            SENDER.to_string(),
            b"Subject: only for the sender\r\nX: 1\r\n\r\nHallo\r\n".to_vec(),
        )],
        deliver_to_accounts: true,
        sender_must_match_auth: true,
        ..MailServerConfig::default()
    };
    let mock = MailServer::start(config, &pki).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    pki.write_ca(&ca).unwrap();
    let ca = ca.display().to_string();
    assert_eq!(maildrop_of(&mock, &ca, RECIPIENT).await, vec!["0"]);
    let own = maildrop_of(&mock, &ca, SENDER).await;
    assert_eq!(own.len(), 2, "{own:?}");
    assert!(own[1].starts_with("Subject: only for the sender"));

    assert_eq!(send(&mock, &ca, SENDER).await, "sent");
    let got = maildrop_of(&mock, &ca, RECIPIENT).await;
    assert_eq!(got[0], "1", "{got:?}");
    assert!(
        got[1].starts_with(&format!(
            "Return-Path: <{SENDER}> | Received: from [127.0.0.1] by localhost"
        )),
        "{got:?}"
    );
    assert_eq!(
        maildrop_of(&mock, &ca, SENDER).await.len(),
        2,
        "nothing delivered to the sender"
    );
    // The capture stays byte for byte what the client sent; the delivery carries the trace.
    let obs = mock.wait_for_idle(Duration::from_secs(10)).await;
    let captured = obs.messages().next().unwrap();
    assert!(captured.data.starts_with(b"Subject: x\r\n"));
}
