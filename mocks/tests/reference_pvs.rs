//! The reference PVS: conforming messages, each fault changes exactly what it names, and its
//! SMTPS/POP3S behaviour against the mock KV-Connect Client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use kvc_mocks::net::client::ClientError;
use kvc_mocks::reference::kvc_pvs::*;
use kvc_mocks::{KvcClientConfig, KvcClientMock, ServerCertKind, SessionEnd, TlsOutcome, TlsPki};

const FROM: &str = "praxis@kv-connect.test";

fn ids(sequence: usize) -> MessageIds {
    MessageIds {
        message_id: "0f8fad5b-d9cb-469f-a165-70867728950e@kv-connect.test".into(),
        date: "Mon, 23 Nov 2026 15:00:00 +0000".into(),
        boundary: "=_kvc_boundary".into(),
        sequence,
    }
}

fn arztbrief() -> SendRequest {
    SendRequest {
        to: vec!["arzt@kv-connect.test".into()],
        application: Application::Arztbrief,
        subject: None,
        body: "Sehr geehrte Kollegin,\nanbei der Brief.\n.Punktzeile\n".into(),
        attachment: Some(("brief.pdf".into(), b"%PDF-1.4 test".to_vec())),
    }
}

fn unspecified() -> SendRequest {
    SendRequest {
        to: vec!["a@kv-connect.test".into(), "b@kv-connect.test".into()],
        application: Application::Unspecified,
        subject: Some("Rückfrage zur Überweisung".into()),
        body: "Grüße aus der Praxis".into(),
        attachment: None,
    }
}

fn compose(req: &SendRequest, faults: &[PvsFault], seq: usize) -> Vec<u8> {
    compose_message(FROM, req, &faults.iter().copied().collect(), &ids(seq))
}

fn lines(m: &[u8]) -> Vec<String> {
    String::from_utf8(m.to_vec())
        .unwrap()
        .split("\r\n")
        .map(str::to_string)
        .collect()
}

fn header(m: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(m).replace("\r\n", "\n");
    let head = text.split("\n\n").next().unwrap().to_string();
    head.lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_string())
        .collect()
}

/// The single differing line pair between two messages with the same number of lines.
fn changed_line(a: &[u8], b: &[u8]) -> (String, String) {
    let (a, b) = (lines(a), lines(b));
    assert_eq!(a.len(), b.len(), "same number of lines");
    let diffs: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).collect();
    assert_eq!(diffs.len(), 1, "exactly one line differs: {diffs:?}");
    (diffs[0].0.clone(), diffs[0].1.clone())
}

/// The single line `b` has in addition to `a` (or the one it lacks, with `extra = false`).
fn extra_line(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (lines(a), lines(b));
    assert_eq!(a.len() + 1, b.len());
    let i = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len());
    let mut without = b.clone();
    let removed = without.remove(i);
    assert_eq!(without, a, "only one line added");
    removed
}

#[test]
fn conforming_messages() {
    for req in [arztbrief(), unspecified()] {
        let m = compose(&req, &[], 0);
        // CRLF only
        for (i, &b) in m.iter().enumerate() {
            if b == b'\n' {
                assert_eq!(m[i - 1], b'\r');
            }
            if b == b'\r' {
                assert_eq!(m[i + 1], b'\n');
            }
        }
        assert!(m.ends_with(b"--\r\n"));
        assert_eq!(header(&m, "X-KVC-Sendersystem"), vec![SENDERSYSTEM]);
        assert_eq!(
            header(&m, "Message-ID"),
            vec![format!("<{}>", ids(0).message_id)]
        );
        assert_eq!(header(&m, "MIME-Version"), vec!["1.0"]);
        assert_eq!(header(&m, "From"), vec![FROM]);
        assert_eq!(header(&m, "Date").len(), 1);
        assert!(header(&m, "Bcc").is_empty());
        assert!(header(&m, "Content-Type")[0].starts_with("multipart/mixed"));
        let text = String::from_utf8_lossy(&m);
        assert!(text.contains("Content-Type: text/plain; charset=utf-8"));
    }
    let a = compose(&arztbrief(), &[], 0);
    assert_eq!(
        header(&a, "X-KVC-Dienstkennung"),
        vec![ARZTBRIEF_DIENSTKENNUNG]
    );
    assert_eq!(header(&a, "Subject"), vec![ARZTBRIEF_SUBJECT]);
    assert!(String::from_utf8_lossy(&a).contains("filename=\"brief.pdf\""));
    assert!(String::from_utf8_lossy(&a).contains("\r\n.Punktzeile\r\n"));
    let u = compose(&unspecified(), &[], 0);
    assert_eq!(
        header(&u, "X-KVC-Dienstkennung"),
        vec![FALLBACK_DIENSTKENNUNG]
    );
    assert_eq!(
        header(&u, "To"),
        vec!["a@kv-connect.test, b@kv-connect.test"]
    );
    // non-ASCII subject RFC 2047-encoded, text part base64
    assert!(header(&u, "Subject")[0].starts_with("=?utf-8?B?"));
    let neutral = SendRequest {
        subject: None,
        ..unspecified()
    };
    assert_eq!(
        header(&compose(&neutral, &[], 0), "Subject"),
        vec![NEUTRAL_SUBJECT]
    );
}

/// For every fault: the message differs from the conforming one only in the intended respect.
#[test]
fn each_fault_changes_only_what_it_names() {
    use PvsFault::*;
    for &fault in PvsFault::all() {
        for req in [arztbrief(), unspecified()] {
            let ok = compose(&req, &[], 1);
            let bad = compose(&req, &[fault], 1);
            let arzt = req.application == Application::Arztbrief;
            match fault {
                NotSent | SkipsUnknownApplications | AcceptsAnyCertificate => {
                    assert!(!fault.rest_only());
                    assert_eq!(ok, bad, "{fault}: behavioural fault, message unchanged")
                }
                KeepsBadSignatures
                | EncryptsToExpiredCertificate
                | IgnoresMissingCertificate
                | DeletesUndecryptable
                | DeletesBeforeFetch
                | IgnoresSendFailure
                | IgnoresDeleteFailure => {
                    assert!(fault.rest_only(), "{fault}");
                    assert_eq!(ok, bad, "{fault}: REST-only fault, SMTP message unchanged")
                }
                BareLf => {
                    assert!(!bad.contains(&b'\r'), "{fault}");
                    let restored = String::from_utf8(bad.clone())
                        .unwrap()
                        .replace('\n', "\r\n");
                    assert_eq!(restored.into_bytes(), ok, "{fault}: only line ends differ");
                }
                NoSendersystem => {
                    assert_eq!(
                        extra_line(&bad, &ok),
                        format!("X-KVC-Sendersystem: {SENDERSYSTEM}")
                    )
                }
                NoDienstkennung => {
                    assert!(extra_line(&bad, &ok).starts_with("X-KVC-Dienstkennung: "))
                }
                SendersystemWithoutVersion => assert_eq!(
                    changed_line(&ok, &bad).1,
                    "X-KVC-Sendersystem: kvc-check-reference-pvs"
                ),
                SendersystemInconsistent => {
                    // message 0 is conforming, message 1 differs only in the spelling
                    assert_eq!(compose(&req, &[fault], 0), compose(&req, &[], 0));
                    let (a, b) = changed_line(&ok, &bad);
                    assert!(a.starts_with("X-KVC-Sendersystem: "));
                    assert!(a != b && a.eq_ignore_ascii_case(&b), "{a} / {b}");
                }
                DienstkennungWrongCase => {
                    let (a, b) = changed_line(&ok, &bad);
                    assert!(a.starts_with("X-KVC-Dienstkennung: "));
                    assert!(a != b && a.eq_ignore_ascii_case(&b), "{a} / {b}");
                    // the application part keeps its spelling (so the lint finds the app)
                    assert_eq!(a.split(';').next(), b.split(';').next());
                }
                InventedDienstkennung if arzt => assert_eq!(ok, bad),
                InventedDienstkennung => assert_eq!(
                    changed_line(&ok, &bad),
                    (
                        format!("X-KVC-Dienstkennung: {FALLBACK_DIENSTKENNUNG}"),
                        format!("X-KVC-Dienstkennung: {INVENTED_DIENSTKENNUNG}")
                    )
                ),
                WrongSubject if !arzt => assert_eq!(ok, bad),
                WrongSubject => assert_eq!(
                    changed_line(&ok, &bad),
                    (
                        "Subject: Arztbrief".into(),
                        format!("Subject: {WRONG_ARZTBRIEF_SUBJECT}")
                    )
                ),
                PersonalDataInSubject if arzt => assert_eq!(ok, bad),
                PersonalDataInSubject => {
                    let (a, b) = changed_line(&ok, &bad);
                    assert!(a.starts_with("Subject: "));
                    assert_eq!(b, format!("Subject: {PERSONAL_SUBJECT}"));
                }
                MessageIdWithoutBrackets => assert_eq!(
                    changed_line(&ok, &bad),
                    (
                        format!("Message-ID: <{}>", ids(1).message_id),
                        format!("Message-ID: {}", ids(1).message_id)
                    )
                ),
                BccHeader => assert_eq!(extra_line(&ok, &bad), format!("Bcc: {FROM}")),
            }
        }
    }
}

struct Setup {
    pki: TlsPki,
    mock: KvcClientMock,
}

async fn setup(cert: ServerCertKind, mailbox: Vec<Vec<u8>>) -> Setup {
    let pki = pki();
    let mock = start(
        KvcClientConfig {
            cert,
            mailbox,
            idle_timeout: Duration::from_secs(5),
            ..kvc_mocks::kvc::client::default_config()
        },
        &pki,
    )
    .await;
    Setup { pki, mock }
}

fn pvs(s: &Setup, faults: &[PvsFault]) -> ReferencePvs {
    ReferencePvs::new(PvsConfig {
        smtp: s.mock.smtp_addr(),
        pop3: s.mock.pop3_addr(),
        server_name: "localhost".into(),
        ca_pem: s.pki.ca_pem().to_string(),
        user: USER.into(),
        password: PASSWORD.into(),
        from: FROM.into(),
        faults: faults.iter().copied().collect::<BTreeSet<_>>(),
        timeout: STEP,
    })
}

#[tokio::test]
async fn sends_over_smtps_byte_exact_with_unique_ids() {
    let s = setup(ServerCertKind::Valid, vec![]).await;
    let p = pvs(&s, &[]);
    let m1 = p.send_message(&arztbrief()).await.unwrap();
    let m2 = p.send_message(&unspecified()).await.unwrap();
    let obs = s.mock.wait_for_messages(2, STEP).await;
    let got: Vec<_> = obs.messages().collect();
    assert_eq!(
        got[0].data, m1,
        "captured byte-equal (incl. the dot-stuffed .Punktzeile)"
    );
    assert_eq!(got[1].data, m2);
    assert_eq!(got[0].mail_from, FROM);
    assert_eq!(
        got[1].rcpt_to,
        vec!["a@kv-connect.test", "b@kv-connect.test"]
    );
    assert_ne!(header(&m1, "Message-ID"), header(&m2, "Message-ID"));
    assert_eq!(
        header(&m1, "X-KVC-Sendersystem"),
        header(&m2, "X-KVC-Sendersystem")
    );
    let id = &header(&m1, "Message-ID")[0];
    let inner = id
        .strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap();
    let (uuid, host) = inner.split_once('@').unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(host, "kv-connect.test");
    let sess = &s.mock.wait_for_idle(STEP).await.smtp[0];
    assert_eq!(sess.end, SessionEnd::Quit);
    assert_eq!(sess.auth[0].mechanism, "PLAIN");
    assert!(sess.auth[0].success);
    s.mock.shutdown().await;
}

#[tokio::test]
async fn consistency_fault_varies_the_spelling_between_messages() {
    let s = setup(ServerCertKind::Valid, vec![]).await;
    let p = pvs(&s, &[PvsFault::SendersystemInconsistent]);
    p.send(&arztbrief()).await.unwrap();
    p.send(&arztbrief()).await.unwrap();
    let obs = s.mock.wait_for_messages(2, STEP).await;
    let v: Vec<_> = obs
        .messages()
        .map(|m| header(&m.data, "X-KVC-Sendersystem")[0].clone())
        .collect();
    assert_eq!(v, vec![SENDERSYSTEM, SENDERSYSTEM_OTHER_SPELLING]);
    s.mock.shutdown().await;
}

#[tokio::test]
async fn bare_lf_message_arrives_unchanged() {
    let s = setup(ServerCertKind::Valid, vec![]).await;
    let p = pvs(&s, &[PvsFault::BareLf]);
    let m = p.send_message(&arztbrief()).await.unwrap();
    let obs = s.mock.wait_for_messages(1, STEP).await;
    assert_eq!(obs.smtp[0].messages[0].data, m);
    assert!(!m.contains(&b'\r'));
    s.mock.shutdown().await;
}

#[tokio::test]
async fn not_sent_fault_returns_ok_but_nothing_arrives() {
    let s = setup(ServerCertKind::Valid, vec![]).await;
    pvs(&s, &[PvsFault::NotSent])
        .send(&arztbrief())
        .await
        .unwrap();
    let obs = s
        .mock
        .wait_for_messages(1, Duration::from_millis(300))
        .await;
    assert!(obs.smtp.is_empty());
    s.mock.shutdown().await;
}

#[tokio::test]
async fn refuses_bad_certificates_before_sending_credentials() {
    for kind in [
        ServerCertKind::UntrustedCa,
        ServerCertKind::Expired,
        ServerCertKind::WrongName,
    ] {
        let s = setup(kind, vec![b"Subject: x\r\n\r\nx\r\n".to_vec()]).await;
        let p = pvs(&s, &[]);
        let err = p.send(&arztbrief()).await.unwrap_err();
        assert!(
            matches!(err, PvsError::Client(ClientError::Tls { .. })),
            "{kind:?}: {err}"
        );
        let err = p.fetch_all().await.unwrap_err();
        assert!(
            matches!(err, PvsError::Client(ClientError::Tls { .. })),
            "{kind:?}: {err}"
        );
        let obs = s.mock.wait_for_idle(STEP).await;
        assert!(matches!(obs.smtp[0].tls, TlsOutcome::HandshakeFailed(_)));
        assert!(matches!(obs.pop3[0].tls, TlsOutcome::HandshakeFailed(_)));
        assert!(obs.smtp[0].auth.is_empty() && obs.pop3[0].auth.is_empty());
        assert!(!obs.smtp[0].credentials_offered() && !obs.pop3[0].credentials_offered());
        // fault KVC-Anb021: the same server is accepted and the credentials go out
        let bad = pvs(&s, &[PvsFault::AcceptsAnyCertificate]);
        bad.send(&arztbrief()).await.unwrap();
        assert_eq!(bad.fetch_all().await.unwrap().len(), 1);
        let obs = s.mock.wait_for_idle(STEP).await;
        assert!(obs.smtp[1].auth[0].success, "{kind:?}");
        assert!(obs.pop3[1].auth[0].success, "{kind:?}");
        s.mock.shutdown().await;
    }
}

fn mail(dienstkennung: &str, body: &str) -> Vec<u8> {
    format!("Subject: t\r\nX-KVC-Dienstkennung: {dienstkennung}\r\n\r\n{body}\r\n").into_bytes()
}

#[tokio::test]
async fn fetch_all_retrieves_and_deletes_everything() {
    let mailbox = vec![
        mail(ARZTBRIEF_DIENSTKENNUNG, "brief\r\n.punkt\r\n."),
        mail("LDT-Befund;Lieferung;V1.0", "labor"),
        mail(FALLBACK_DIENSTKENNUNG, "nachricht"),
    ];
    let s = setup(ServerCertKind::Valid, mailbox.clone()).await;
    let got = pvs(&s, &[]).fetch_all().await.unwrap();
    assert_eq!(got, mailbox);
    let obs = s.mock.wait_for_pop3_quit(STEP).await;
    assert_eq!(obs.pop3[0].retrieved, vec![1, 2, 3]);
    assert_eq!(obs.pop3[0].deleted, vec![1, 2, 3]);
    assert!(pvs(&s, &[]).fetch_all().await.unwrap().is_empty());
    s.mock.shutdown().await;
}

#[tokio::test]
async fn skipping_fault_leaves_unknown_applications_unfetched() {
    let mailbox = vec![
        mail(ARZTBRIEF_DIENSTKENNUNG, "brief"),
        mail("LDT-Befund;Lieferung;V1.0", "labor"),
        mail(FALLBACK_DIENSTKENNUNG, "nachricht"),
    ];
    let s = setup(ServerCertKind::Valid, mailbox.clone()).await;
    let got = pvs(&s, &[PvsFault::SkipsUnknownApplications])
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(got, vec![mailbox[0].clone(), mailbox[2].clone()]);
    let obs = s.mock.wait_for_pop3_quit(STEP).await;
    assert_eq!(obs.pop3[0].retrieved, vec![1, 3]);
    assert_eq!(obs.pop3[0].deleted, vec![1, 3]);
    assert_eq!(obs.pop3[0].topped, vec![1, 2, 3]);
    s.mock.shutdown().await;
}

#[tokio::test]
async fn sends_and_fetches_25_mb() {
    let s = setup(ServerCertKind::Valid, vec![]).await;
    let p = pvs(&s, &[]);
    let req = SendRequest {
        attachment: Some(("gross.bin".into(), vec![0x5a; 18 * 1024 * 1024])),
        ..arztbrief()
    };
    let t = Instant::now();
    let m = p.send_message(&req).await.unwrap();
    let obs = s.mock.wait_for_messages(1, STEP).await;
    eprintln!(
        "reference PVS sent {} bytes, captured in {:?}",
        m.len(),
        t.elapsed()
    );
    assert!(obs.smtp[0].messages[0].data == m);
    s.mock.shutdown().await;

    let s = setup(ServerCertKind::Valid, vec![m.clone()]).await;
    let t = Instant::now();
    let got = pvs(&s, &[]).fetch_all().await.unwrap();
    eprintln!(
        "reference PVS fetched {} bytes in {:?}",
        got[0].len(),
        t.elapsed()
    );
    assert!(got[0] == m);
    s.mock.shutdown().await;
}

/// The REST-only faults change nothing on the SMTP/POP3 transport: the same bytes arrive and
/// the same messages are retrieved and deleted.
#[tokio::test]
async fn rest_only_faults_change_nothing_on_smtp() {
    let rest_only: Vec<PvsFault> = PvsFault::all()
        .iter()
        .copied()
        .filter(PvsFault::rest_only)
        .collect();
    assert_eq!(rest_only.len(), 7);
    for f in &rest_only {
        assert!(f.to_string().starts_with(f.requirement()), "{f}");
    }
    let mailbox = vec![
        mail(ARZTBRIEF_DIENSTKENNUNG, "brief"),
        mail("LDT-Befund;Lieferung;V1.0", "labor"),
    ];
    let s = setup(ServerCertKind::Valid, mailbox.clone()).await;
    let p = pvs(&s, &rest_only);
    let m = p.send_message(&arztbrief()).await.unwrap();
    let obs = s.mock.wait_for_messages(1, STEP).await;
    assert_eq!(obs.smtp[0].messages[0].data, m);
    let expected = compose_message(FROM, &arztbrief(), &BTreeSet::new(), &ids(0));
    // only Message-ID, Date and boundary are random: compare with them replaced
    let normalise = |b: &[u8]| {
        let t = String::from_utf8_lossy(b).to_string();
        t.lines()
            .filter(|l| !l.starts_with("Message-ID:") && !l.starts_with("Date:"))
            .map(|l| l.split("=_kvc_").next().unwrap_or(l).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(normalise(&m), normalise(&expected));
    assert_eq!(p.fetch_all().await.unwrap(), mailbox);
    let obs = s.mock.wait_for_pop3_quit(STEP).await;
    assert_eq!(obs.pop3[0].retrieved, vec![1, 2]);
    assert_eq!(obs.pop3[0].deleted, vec![1, 2]);
    s.mock.shutdown().await;
}
