//! The REST transport of the reference PVS against the mock KV-Connect REST server on real
//! sockets: native send (certificate lookup, sign+encrypt, POST), native receive (login,
//! headers, fetch, decrypt, verify, delete), its REST-only faults, TLS refusal, and the real
//! reference-system messages of the VIVY samples.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use kvc_mocks::kvc::rest::{
    KvcRestAccount, KvcRestConfig, KvcRestFaults, KvcRestMock, RecipientCertFault, RestResource,
};
use kvc_mocks::kvc::served_messages::{
    KvcMessagePki, KvcMessageSpec, KvcMessageVariant, build_served_message,
};
use kvc_mocks::net::client::ClientError;
use kvc_mocks::reference::kvc_pvs::rest::{RestFetchReport, RestPvs, RestPvsConfig};
use kvc_mocks::reference::kvc_pvs::{Application, PvsError, PvsFault, SendRequest};
use kvc_mocks::{ServerCertKind, TlsPki};
use rstest::rstest;

const STEP: Duration = Duration::from_secs(30);
const SUT: &str = "praxis.1";
const SUT_PW: &str = "Geheim12";
const SUT_EMAIL: &str = "praxis.1@kv-safenet.de";
const PEER: &str = "arzt.2";
const PEER_EMAIL: &str = "arzt.2@kv-safenet.de";
const THIRD: &str = "andere.praxis";
const THIRD_EMAIL: &str = "andere.praxis@kv-safenet.de";

/// One user PKI for the whole file (RSA key generation is the slow part).
fn upki() -> &'static KvcMessagePki {
    static P: OnceLock<KvcMessagePki> = OnceLock::new();
    P.get_or_init(|| KvcMessagePki::generate(SUT_EMAIL, PEER_EMAIL).unwrap())
}

fn vivy_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors/third-party/kvc-samples-vivy")
        .join(name)
}

fn vivy(name: &str) -> Vec<u8> {
    let p = vivy_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn vivy_text(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| String::from_utf8(vivy(n)).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

struct Env {
    pki: TlsPki,
    mock: KvcRestMock,
}

/// The SUT account (with certificate and `mailbox`), the peer and a third account.
async fn env_with(cert: ServerCertKind, mailbox: Vec<Vec<u8>>, faults: KvcRestFaults) -> Env {
    let u = upki();
    let pki = TlsPki::generate("localhost").unwrap();
    let config = KvcRestConfig {
        cert,
        accounts: vec![
            KvcRestAccount::new(SUT, SUT_PW)
                .with_certificate(u.sut.certificate_pem().unwrap())
                .with_mailbox(mailbox),
            KvcRestAccount::new(PEER, "Geheim34")
                .with_certificate(u.sender.certificate_pem().unwrap()),
            KvcRestAccount::new(THIRD, "Geheim56")
                .with_certificate(u.other.certificate_pem().unwrap()),
        ],
        faults,
        ..KvcRestConfig::default()
    };
    let mock = KvcRestMock::start(config, &pki).await.unwrap();
    Env { pki, mock }
}

async fn env(mailbox: Vec<Vec<u8>>) -> Env {
    env_with(ServerCertKind::Valid, mailbox, KvcRestFaults::default()).await
}

fn config(e: &Env, faults: &[PvsFault]) -> RestPvsConfig {
    let u = upki();
    RestPvsConfig {
        base_url: e.mock.base_url(),
        connect_to: e.mock.addr(),
        server_name: "localhost".into(),
        ca_pem: e.pki.ca_pem().to_string(),
        user: SUT.into(),
        password: SUT_PW.into(),
        from: SUT_EMAIL.into(),
        own_key_pem: u.sut.key_pem().unwrap(),
        own_cert_pem: Some(u.sut.certificate_pem().unwrap()),
        user_ca_pem: u.root_pem().unwrap(),
        verify_at: None,
        faults: faults.iter().copied().collect::<BTreeSet<_>>(),
        timeout: STEP,
    }
}

fn pvs(e: &Env, faults: &[PvsFault]) -> RestPvs {
    RestPvs::new(config(e, faults)).unwrap()
}

fn arztbrief(to: &[&str]) -> SendRequest {
    SendRequest {
        to: to.iter().map(|s| s.to_string()).collect(),
        application: Application::Arztbrief,
        subject: None,
        body: "Sehr geehrte Kollegin,\nanbei der Brief.\n".into(),
        attachment: Some(("brief.pdf".into(), b"%PDF-1.4 test".to_vec())),
    }
}

fn header(m: &[u8], name: &str) -> Vec<String> {
    let (h, _) = kvc_smime::mime::split_header_body(m);
    kvc_smime::mime::Headers::parse(h)
        .get_all(name)
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn key_of(
    k: &kvc_mocks::kvc::served_messages::KvcMessagePki,
    who: &str,
) -> kvc_smime::PrivateKeyMaterial {
    let pem = match who {
        "sut" => k.sut.key_pem(),
        "sender" => k.sender.key_pem(),
        _ => k.other.key_pem(),
    }
    .unwrap();
    kvc_smime::keys::parse_private_key(pem.as_bytes(), None, who).unwrap()
}

fn trust() -> Vec<kvc_smime::Certificate> {
    kvc_smime::keys::parse_certificates(upki().root_pem().unwrap().as_bytes(), "root").unwrap()
}

// ------------------------------------------------------------------------------------------
// Send

#[tokio::test]
async fn conforming_send_posts_a_message_the_recipient_opens() {
    let e = env(vec![]).await;
    let p = pvs(&e, &[]);
    let sent = p.send_message(&arztbrief(&[PEER_EMAIL])).await.unwrap();
    let obs = e.mock.observations();
    let posted: Vec<_> = obs.posted_mails().collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].data, sent);
    assert!((200..300).contains(&posted[0].status));
    assert_eq!(
        posted[0].content_type.as_deref(),
        Some("text/plain;charset=UTF-8")
    );
    assert_eq!(posted[0].delivered_to, vec![PEER.to_string()]);
    // outer headers of the composed message, S/MIME body
    assert_eq!(header(&sent, "From"), vec![SUT_EMAIL]);
    assert_eq!(header(&sent, "To"), vec![PEER_EMAIL]);
    assert_eq!(header(&sent, "Subject"), vec!["Arztbrief"]);
    assert_eq!(
        header(&sent, "X-KVC-Dienstkennung"),
        vec!["Arztbrief;VHitG-Versand;V1.0"]
    );
    assert_eq!(header(&sent, "X-KVC-Sendersystem").len(), 1);
    assert!(header(&sent, "Message-ID")[0].starts_with('<'));
    assert_eq!(header(&sent, "MIME-Version"), vec!["1.0"]);
    assert!(header(&sent, "Content-Type")[0].starts_with("application/pkcs7-mime"));
    // the recipient opens it: valid, signer = From
    let o =
        kvc_smime::message::open_message(&sent, &key_of(upki(), "sender"), &trust(), None).unwrap();
    assert!(
        o.is_valid(),
        "{:?} {:?}",
        o.integrity_check_result,
        o.integrity_explanations
    );
    assert!(
        o.signer_emails
            .iter()
            .any(|s| s.eq_ignore_ascii_case(SUT_EMAIL))
    );
    let inner = String::from_utf8_lossy(o.inner_message.as_ref().unwrap()).to_string();
    assert!(
        inner.starts_with("Content-Type: multipart/mixed"),
        "{inner}"
    );
    assert!(inner.contains("filename=\"brief.pdf\""));
    // ... and so does the sender itself (encrypted to the own certificate too)
    let own =
        kvc_smime::message::open_message(&sent, &key_of(upki(), "sut"), &trust(), None).unwrap();
    assert!(own.is_valid());
    // a third party cannot
    assert!(
        kvc_smime::message::open_message(&sent, &key_of(upki(), "other"), &trust(), None).is_err()
    );
    // the mock delivered it to the peer's mailbox
    assert_eq!(e.mock.mailbox_ids(PEER).len(), 1);
    assert_eq!(obs.certificate_lookups().count(), 1);
    e.mock.shutdown().await;
}

/// Recipient certificate problems: nothing is posted unless the respective fault ignores it.
#[rstest]
#[case::missing(
    RecipientFix::Missing,
    PvsFault::IgnoresMissingCertificate,
    "not found"
)]
#[case::expired(
    RecipientFix::Expired,
    PvsFault::EncryptsToExpiredCertificate,
    "expired"
)]
#[tokio::test]
async fn recipient_certificate_problems_abort_the_send(
    #[case] fix: RecipientFix,
    #[case] fault: PvsFault,
    #[case] reason: &str,
) {
    let u = upki();
    let cert_fault = match fix {
        RecipientFix::Missing => RecipientCertFault::Missing,
        RecipientFix::Expired => {
            RecipientCertFault::Replace(u.expired_certificate_pem(PEER_EMAIL).unwrap())
        }
    };
    let faults = KvcRestFaults {
        recipient_certificates: [(PEER.to_string(), cert_fault)].into_iter().collect(),
        ..KvcRestFaults::default()
    };
    let e = env_with(ServerCertKind::Valid, vec![], faults).await;
    // conforming: error naming the recipient, zero posts (also with a second, good recipient)
    let err = pvs(&e, &[])
        .send_message(&arztbrief(&[THIRD_EMAIL, PEER_EMAIL]))
        .await
        .unwrap_err();
    match &err {
        PvsError::RecipientCertificate {
            recipient,
            reason: r,
        } => {
            assert_eq!(recipient, PEER_EMAIL);
            assert!(r.contains(reason), "{r}");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("not sent"), "{err}");
    assert_eq!(e.mock.observations().posted_mails().count(), 0);
    // with the fault the message goes out
    let sent = pvs(&e, &[fault])
        .send_message(&arztbrief(&[THIRD_EMAIL, PEER_EMAIL]))
        .await
        .unwrap();
    assert_eq!(e.mock.observations().posted_mails().count(), 1);
    // the third recipient can read it in both cases
    let third =
        kvc_smime::message::open_message(&sent, &key_of(u, "other"), &trust(), None).unwrap();
    assert!(third.is_valid());
    e.mock.shutdown().await;
}

#[derive(Debug, Clone, Copy)]
enum RecipientFix {
    Missing,
    Expired,
}

#[rstest]
#[case(500)]
#[case(503)]
#[tokio::test]
async fn send_failure_is_an_error_naming_the_status(#[case] status: u16) {
    let faults = KvcRestFaults {
        send_status: Some(status),
        ..KvcRestFaults::default()
    };
    let e = env_with(ServerCertKind::Valid, vec![], faults).await;
    let err = pvs(&e, &[])
        .send_message(&arztbrief(&[PEER_EMAIL]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PvsError::Http { status: s, .. } if s == status),
        "{err}"
    );
    assert!(err.to_string().contains(&status.to_string()));
    // KVC-Anb010-ignores-send-failure: the same refusal is reported as sent.
    let bytes = pvs(&e, &[PvsFault::IgnoresSendFailure])
        .send_message(&arztbrief(&[PEER_EMAIL]))
        .await
        .expect("the fault claims success");
    assert!(!bytes.is_empty());
    let obs = e.mock.observations();
    assert_eq!(obs.posted.len(), 2);
    assert!(obs.posted.iter().all(|p| p.status == status));
    e.mock.shutdown().await;
}

#[tokio::test]
async fn send_faults_act_on_the_rest_transport() {
    let e = env(vec![]).await;
    // KVC-Anb010: Ok, certificates looked up, nothing posted
    let bytes = pvs(&e, &[PvsFault::NotSent])
        .send_message(&arztbrief(&[PEER_EMAIL]))
        .await
        .unwrap();
    assert!(!bytes.is_empty());
    let obs = e.mock.observations();
    assert_eq!(obs.posted_mails().count(), 0);
    assert_eq!(obs.certificate_lookups().count(), 1);
    // KVC-Anb023: bare LF in the posted bytes
    let lf = pvs(&e, &[PvsFault::BareLf])
        .send_message(&arztbrief(&[PEER_EMAIL]))
        .await
        .unwrap();
    assert!(!lf.contains(&b'\r'));
    assert_eq!(e.mock.observations().posted[0].data, lf);
    // header faults apply as on SMTP
    let bcc = pvs(
        &e,
        &[
            PvsFault::BccHeader,
            PvsFault::NoSendersystem,
            PvsFault::MessageIdWithoutBrackets,
            PvsFault::WrongSubject,
        ],
    )
    .send_message(&arztbrief(&[PEER_EMAIL]))
    .await
    .unwrap();
    assert_eq!(header(&bcc, "Bcc"), vec![SUT_EMAIL]);
    assert!(header(&bcc, "X-KVC-Sendersystem").is_empty());
    assert!(!header(&bcc, "Message-ID")[0].starts_with('<'));
    assert_eq!(header(&bcc, "Subject"), vec!["eArztbrief"]);
    e.mock.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// Receive

fn served(variant: KvcMessageVariant, id: &str) -> Vec<u8> {
    let mut spec = KvcMessageSpec::arztbrief(PEER_EMAIL, SUT_EMAIL);
    spec.message_id = Some(id.to_string());
    build_served_message(upki(), &spec, variant).unwrap()
}

fn id_of(v: KvcMessageVariant) -> String {
    format!("{}@kv-safenet.de", v.name())
}

fn mixed_mailbox() -> Vec<Vec<u8>> {
    use KvcMessageVariant::*;
    [
        Valid,
        BadSignature,
        SignerNotFrom,
        ForeignCaSigner,
        UnknownDienstkennung,
        MdnRequested,
    ]
    .into_iter()
    .map(|v| served(v, &id_of(v)))
    .collect()
}

fn rejected<'a>(r: &'a RestFetchReport, id: &str) -> &'a str {
    r.rejected
        .iter()
        .find(|(i, _)| i == id)
        .map(|(_, why)| why.as_str())
        .unwrap_or_else(|| panic!("{id} not rejected: {r:#?}"))
}

#[tokio::test]
async fn conforming_receive_stores_valid_discards_bad_and_deletes_all() {
    use KvcMessageVariant::*;
    let e = env(mixed_mailbox()).await;
    let p = pvs(&e, &[]);
    let r = p.fetch_all().await.unwrap();
    assert_eq!(r.aborted, None);
    let stored: Vec<&str> = r.stored.iter().map(|m| m.message_id.as_str()).collect();
    let valid_ids = [
        id_of(Valid),
        id_of(UnknownDienstkennung),
        id_of(MdnRequested),
    ];
    assert_eq!(
        stored,
        valid_ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for m in &r.stored {
        assert!(m.valid && m.warning.is_none());
        assert_eq!(m.decryption_result, "00");
        assert_eq!(m.integrity_check_result, vec!["01"]);
        assert!(String::from_utf8_lossy(&m.mime).contains("anbei der Arztbrief"));
    }
    assert_eq!(p.stored(), r.stored);
    // bad ones: not stored, warned with the codes, deleted (discarded)
    assert!(rejected(&r, &id_of(BadSignature)).contains("02"));
    assert!(rejected(&r, &id_of(SignerNotFrom)).contains("X10"));
    assert!(rejected(&r, &id_of(ForeignCaSigner)).contains("05"));
    assert_eq!(r.rejected.len(), 3);
    assert_eq!(
        r.warnings
            .iter()
            .filter(|w| w.contains("discarded"))
            .count(),
        3,
        "{:?}",
        r.warnings
    );
    assert!(r.kept_on_server.is_empty());
    assert!(e.mock.mailbox_ids(SUT).is_empty());
    let obs = e.mock.observations();
    assert_eq!(obs.deleted_ids().len(), 6);
    // every DELETE after the GET of the same message
    let order: Vec<(String, String)> = obs
        .requests
        .iter()
        .filter_map(|q| match &q.resource {
            RestResource::Mail { message_id, .. } => Some((q.method.clone(), message_id.clone())),
            _ => None,
        })
        .collect();
    for pair in order.chunks(2) {
        assert_eq!(pair[0].0, "GET");
        assert_eq!(pair[1].0, "DELETE");
        assert_eq!(pair[0].1, pair[1].1);
    }
    // login with the redirect, then the header listing
    assert!(matches!(
        obs.requests[0].resource,
        RestResource::Login { .. }
    ));
    assert!(matches!(
        obs.requests[1].resource,
        RestResource::Account { .. }
    ));
    assert_eq!(obs.header_listings().count(), 1);
    // a second run finds nothing
    let again = p.fetch_all().await.unwrap();
    assert!(again.stored.is_empty() && again.rejected.is_empty());
    e.mock.shutdown().await;
}

#[tokio::test]
async fn undecryptable_message_stays_on_the_server_and_aborts() {
    use KvcMessageVariant::*;
    let mailbox = vec![
        served(Valid, "first@kv-safenet.de"),
        served(EncryptedToSomeoneElse, "undecryptable@kv-safenet.de"),
        served(Valid, "after@kv-safenet.de"),
    ];
    let e = env(mailbox).await;
    let r = pvs(&e, &[]).fetch_all().await.unwrap();
    assert_eq!(r.stored.len(), 1);
    assert_eq!(r.stored[0].message_id, "first@kv-safenet.de");
    assert_eq!(r.kept_on_server.len(), 1);
    assert_eq!(r.kept_on_server[0].0, "undecryptable@kv-safenet.de");
    assert!(
        r.kept_on_server[0]
            .1
            .contains("decryption failed (DecryptionResult 01)"),
        "{r:?}"
    );
    assert!(
        r.aborted
            .as_deref()
            .unwrap()
            .contains("undecryptable@kv-safenet.de")
    );
    assert_eq!(
        e.mock.mailbox_ids(SUT),
        vec!["undecryptable@kv-safenet.de", "after@kv-safenet.de"]
    );
    let obs = e.mock.observations();
    assert_eq!(obs.deleted_ids(), vec!["first@kv-safenet.de"]);
    assert_eq!(
        obs.fetches().count(),
        2,
        "the rest of the mailbox is untouched"
    );
    e.mock.shutdown().await;
}

#[tokio::test]
async fn receive_fault_keeps_bad_signatures_as_valid() {
    use KvcMessageVariant::*;
    let e = env(vec![served(BadSignature, "bad@kv-safenet.de")]).await;
    let r = pvs(&e, &[PvsFault::KeepsBadSignatures])
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(r.stored.len(), 1);
    let m = &r.stored[0];
    assert!(m.valid && m.warning.is_none() && r.warnings.is_empty());
    assert_eq!(
        m.integrity_check_result,
        vec!["02"],
        "the real result shows"
    );
    assert!(r.rejected.is_empty());
    e.mock.shutdown().await;
}

#[tokio::test]
async fn receive_fault_deletes_the_undecryptable() {
    use KvcMessageVariant::*;
    let e = env(vec![served(EncryptedToSomeoneElse, "lost@kv-safenet.de")]).await;
    let r = pvs(&e, &[PvsFault::DeletesUndecryptable])
        .fetch_all()
        .await
        .unwrap();
    assert!(r.kept_on_server.is_empty());
    assert!(rejected(&r, "lost@kv-safenet.de").contains("decryption failed"));
    assert!(e.mock.mailbox_ids(SUT).is_empty());
    let obs = e.mock.observations();
    assert_eq!(obs.deleted_ids(), vec!["lost@kv-safenet.de"]);
    e.mock.shutdown().await;
}

#[tokio::test]
async fn receive_fault_deletes_before_fetching() {
    use KvcMessageVariant::*;
    let e = env(vec![served(Valid, "early@kv-safenet.de")]).await;
    let r = pvs(&e, &[PvsFault::DeletesBeforeFetch])
        .fetch_all()
        .await
        .unwrap();
    assert!(r.stored.is_empty());
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("fetch failed: HTTP 404")),
        "{r:?}"
    );
    let obs = e.mock.observations();
    let mail: Vec<&str> = obs
        .requests
        .iter()
        .filter(|q| matches!(q.resource, RestResource::Mail { .. }))
        .map(|q| q.method.as_str())
        .collect();
    assert_eq!(mail, vec!["DELETE", "GET"], "DELETE without prior GET");
    e.mock.shutdown().await;
}

#[tokio::test]
async fn skipping_fault_neither_fetches_nor_deletes_unknown_applications() {
    use KvcMessageVariant::*;
    let e = env(vec![
        served(UnknownDienstkennung, "unknown@kv-safenet.de"),
        served(Valid, "known@kv-safenet.de"),
    ])
    .await;
    let r = pvs(&e, &[PvsFault::SkipsUnknownApplications])
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(r.skipped, vec!["unknown@kv-safenet.de"]);
    assert_eq!(r.stored.len(), 1);
    assert_eq!(e.mock.mailbox_ids(SUT), vec!["unknown@kv-safenet.de"]);
    assert_eq!(e.mock.observations().fetches().count(), 1);
    e.mock.shutdown().await;
}

#[tokio::test]
async fn failed_delete_is_a_warning_and_the_message_stays_stored() {
    use KvcMessageVariant::*;
    let faults = KvcRestFaults {
        delete_status: Some(500),
        ..KvcRestFaults::default()
    };
    let e = env_with(
        ServerCertKind::Valid,
        vec![served(Valid, "keep@kv-safenet.de")],
        faults,
    )
    .await;
    let p = pvs(&e, &[]);
    let r = p.fetch_all().await.unwrap();
    assert_eq!(r.stored.len(), 1);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("delete failed: HTTP 500")),
        "{r:?}"
    );
    assert_eq!(p.stored().len(), 1);
    assert_eq!(
        r.delete_failed,
        vec![("keep@kv-safenet.de".to_string(), 500)]
    );
    e.mock.shutdown().await;
}

#[tokio::test]
async fn receive_fault_ignores_a_refused_delete() {
    use KvcMessageVariant::*;
    let faults = KvcRestFaults {
        delete_status: Some(500),
        ..KvcRestFaults::default()
    };
    let e = env_with(
        ServerCertKind::Valid,
        vec![served(Valid, "quiet@kv-safenet.de")],
        faults,
    )
    .await;
    let r = pvs(&e, &[PvsFault::IgnoresDeleteFailure])
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(r.stored.len(), 1);
    assert!(r.delete_failed.is_empty() && r.warnings.is_empty(), "{r:?}");
    assert_eq!(e.mock.observations().deletes().count(), 1);
    e.mock.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// TLS

#[rstest]
#[case(ServerCertKind::UntrustedCa)]
#[case(ServerCertKind::Expired)]
#[case(ServerCertKind::WrongName)]
#[tokio::test]
async fn refuses_bad_server_certificates_before_sending_credentials(#[case] kind: ServerCertKind) {
    use KvcMessageVariant::*;
    let e = env_with(
        kind,
        vec![served(Valid, "tls@kv-safenet.de")],
        KvcRestFaults::default(),
    )
    .await;
    let p = pvs(&e, &[]);
    let err = p.send(&arztbrief(&[PEER_EMAIL])).await.unwrap_err();
    assert!(
        matches!(err, PvsError::Client(ClientError::Tls { .. })),
        "{kind:?}: {err}"
    );
    let err = p.fetch_all().await.unwrap_err();
    assert!(
        matches!(err, PvsError::Client(ClientError::Tls { .. })),
        "{kind:?}: {err}"
    );
    let obs = e.mock.observations();
    assert!(!obs.credentials_offered(), "{kind:?}");
    assert!(obs.requests.is_empty());
    // fault KVC-Anb021: the same server is accepted and the credentials go out
    let bad = pvs(&e, &[PvsFault::AcceptsAnyCertificate]);
    bad.send(&arztbrief(&[PEER_EMAIL])).await.unwrap();
    assert_eq!(bad.fetch_all().await.unwrap().stored.len(), 1);
    assert!(e.mock.observations().credentials_offered(), "{kind:?}");
    e.mock.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// The real reference-system messages (VIVY samples)

/// 2018-10-01, inside the validity of the certificates of `kvconnect-mail`.
fn in_2018() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_538_352_000)
}

/// 2019-03-01, inside the validity of the certificates of the `kvconnect-mail-verification-*`
/// files (their signer certificate is valid from 2018-12-21).
fn in_2019() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_551_398_400)
}

/// The time to verify a sample file at.
fn sample_time(file: &str) -> SystemTime {
    if file.starts_with("kvconnect-mail-verification-") {
        in_2019()
    } else {
        in_2018()
    }
}

/// The SUT account receives `file` (bytes unchanged); the PVS uses the VIVY key and trust.
async fn vivy_fetch(file: &str, key: &str, trust: &[&str]) -> (Env, RestFetchReport, String) {
    let e = env(vec![]).await;
    let raw = vivy(file);
    let id = e.mock.deliver(SUT, raw).unwrap();
    let mut c = config(&e, &[]);
    c.own_key_pem = vivy_text(&[key]);
    c.own_cert_pem = None;
    c.user_ca_pem = vivy_text(trust);
    c.verify_at = Some(sample_time(file));
    let r = RestPvs::new(c).unwrap().fetch_all().await.unwrap();
    (e, r, id)
}

#[tokio::test]
async fn vivy_reference_message_is_fetched_verified_stored_and_deleted() {
    let (e, r, id) = vivy_fetch(
        "kvconnect-mail",
        "kvprivatekey-open-pem",
        &["kvroot-ca-pem", "kvvivy-ca-pem"],
    )
    .await;
    assert_eq!(r.aborted, None, "{r:?}");
    assert_eq!(r.stored.len(), 1, "{r:?}");
    let m = &r.stored[0];
    assert_eq!(m.message_id, id);
    assert!(m.valid);
    assert_eq!(m.integrity_check_result, vec!["01"]);
    let expected = vivy("kvconnect-mail-dec-verified-both-layers");
    assert_eq!(
        String::from_utf8_lossy(&m.mime).trim(),
        String::from_utf8_lossy(&expected).trim(),
        "fully unwrapped MIME equals the sample"
    );
    assert_eq!(e.mock.observations().deleted_ids(), vec![id]);
    assert!(e.mock.mailbox_ids(SUT).is_empty());
    e.mock.shutdown().await;
}

/// Undecryptable VIVY messages: kept on the server, receive aborted.
#[rstest]
#[case::corrupted(
    "kvconnect-mail-corrupted",
    "kvprivatekey-open-pem",
    "DecryptionResult 02"
)]
#[case::wrong_key("kvconnect-mail", "wrong-privatekey-open-pem", "DecryptionResult 01")]
#[tokio::test]
async fn vivy_undecryptable_stays_on_the_server(
    #[case] file: &str,
    #[case] key: &str,
    #[case] reason: &str,
) {
    let (e, r, id) = vivy_fetch(file, key, &["kvroot-ca-pem", "kvvivy-ca-pem"]).await;
    assert!(r.stored.is_empty());
    assert_eq!(r.kept_on_server.len(), 1, "{r:?}");
    assert_eq!(r.kept_on_server[0].0, id);
    assert!(r.kept_on_server[0].1.contains(reason), "{r:?}");
    assert!(r.aborted.is_some());
    assert_eq!(e.mock.mailbox_ids(SUT), vec![id]);
    assert_eq!(e.mock.observations().deletes().count(), 0);
    e.mock.shutdown().await;
}

/// Decryptable but badly signed VIVY messages: discarded with the reason, deleted. The reason
/// must carry the integrity code and the explanation.
#[rstest]
#[case::wrong_ca("kvconnect-mail", "kvprivatekey-open-pem", &["wrong-ca-pem"], "IntegrityCheckResult 05", "no path to a trust anchor")]
#[case::incomplete_chain("kvconnect-mail", "kvprivatekey-open-pem", &["kvvivy-ca-pem"], "IntegrityCheckResult 05", "incomplete path")]
#[case::digest("kvconnect-mail-verification-invalid-signature-digest", "openssl-private-key-pkcs1-pem", &["kvconnect-root-ca-pem", "kvconnect-user-ca-pem"], "IntegrityCheckResult 02", "messageDigest mismatch")]
#[case::issuer("kvconnect-mail-verification-certificate-issuer-not-trusted", "openssl-private-key-pkcs1-pem", &["kvconnect-root-ca-pem", "kvconnect-user-ca-pem"], "IntegrityCheckResult 05", "no path to a trust anchor")]
#[case::not_sender("kvconnect-mail-verification-signature-doesnt-belong-to-sender", "openssl-private-key-pkcs1-pem", &["kvconnect-root-ca-pem", "kvconnect-user-ca-pem"], "IntegrityCheckResult X10", "but the message is From")]
#[case::unencrypted_part("kvconnect-mail-verification-smime-contains-unencrypted-part", "openssl-private-key-pkcs1-pem", &["kvconnect-root-ca-pem", "kvconnect-user-ca-pem"], "IntegrityCheckResult 03", "unsigned part(s)")]
#[tokio::test]
async fn vivy_badly_signed_is_discarded(
    #[case] file: &str,
    #[case] key: &str,
    #[case] trust: &[&str],
    #[case] code: &str,
    #[case] why_text: &str,
) {
    let (e, r, id) = vivy_fetch(file, key, trust).await;
    assert!(r.stored.is_empty(), "{r:?}");
    assert_eq!(r.aborted, None);
    assert!(r.kept_on_server.is_empty());
    let why = rejected(&r, &id);
    assert!(why.starts_with(code), "{file}: {why}");
    assert!(why.contains(why_text), "{file}: {why}");
    assert!(r.warnings.iter().any(|w| w.contains("discarded")));
    assert_eq!(e.mock.observations().deleted_ids(), vec![id]);
    e.mock.shutdown().await;
}

#[tokio::test]
async fn vivy_verification_valid_is_stored() {
    let (e, r, id) = vivy_fetch(
        "kvconnect-mail-verification-valid",
        "openssl-private-key-pkcs1-pem",
        &["kvconnect-root-ca-pem", "kvconnect-user-ca-pem"],
    )
    .await;
    assert_eq!(r.stored.len(), 1, "{r:?}");
    assert_eq!(r.stored[0].message_id, id);
    assert_eq!(r.stored[0].integrity_check_result, vec!["01"]);
    e.mock.shutdown().await;
}
