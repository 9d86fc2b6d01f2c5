//! The mock VZD (LDAPS) with the ldap3 crate and Debian's `ldapsearch` as clients nobody here
//! wrote: a Clientmodul's lookups find the recipient's ENC certificates (from the card test
//! PKI, RSA and ECC) and komLeData/kimData; directory states; binds; every search recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::Duration;

use der::{Decode, Encode};
use kvc_mocks::TlsPki;
use kvc_mocks::kim::practices::MUSTERFRAU;
use kvc_mocks::kim::vzd::{KimAddress, KimVzdMock, KomLeVersion, VZD_BASE_DN, VzdConfig, VzdEntry};
use kvc_smime::card_pki::{Card, CardKeyRole, CardKind, CardPki, CardVariant, telematik_id};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use x509_cert::Certificate;

const STEP: Duration = Duration::from_secs(15);
const RECIPIENT: &str = MUSTERFRAU.mail;
const SECOND: &str = "praxis.beispiel@kim.telematik-test";

fn card() -> &'static Card {
    static C: OnceLock<Card> = OnceLock::new();
    C.get_or_init(|| {
        MUSTERFRAU
            .smcb(&CardPki::generate().unwrap(), CardVariant::Valid)
            .unwrap()
    })
}

fn enc_certificates(card: &Card) -> Vec<Vec<u8>> {
    let enc = card.key(CardKeyRole::Enc).unwrap();
    vec![
        enc.rsa.certificate.to_der().unwrap(),
        enc.ecc.certificate.to_der().unwrap(),
    ]
}

async fn start(
    entries: Vec<VzdEntry>,
    bind_account: Option<(String, String)>,
) -> (TlsPki, KimVzdMock) {
    let pki = TlsPki::generate("localhost").unwrap();
    let config = VzdConfig {
        entries,
        bind_account,
        ..VzdConfig::default()
    };
    let mock = KimVzdMock::start(config, &pki).await.unwrap();
    (pki, mock)
}

fn recipient() -> VzdEntry {
    let card = card();
    VzdEntry::institution(
        &card.holder.telematik_id,
        "Praxis Erika Musterfrau",
        RECIPIENT,
        KomLeVersion::V15Plus,
        enc_certificates(card),
    )
}

async fn connect(pki: &TlsPki, url: &str) -> ldap3::Ldap {
    let settings = LdapConnSettings::new()
        .set_config(pki.client_config().unwrap())
        .set_conn_timeout(STEP);
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url).await.unwrap();
    ldap3::drive!(conn);
    ldap
}

async fn search(ldap: &mut ldap3::Ldap, filter: &str, attrs: Vec<&str>) -> Vec<SearchEntry> {
    let (entries, _) = ldap
        .search(VZD_BASE_DN, Scope::Subtree, filter, attrs)
        .await
        .unwrap()
        .success()
        .unwrap();
    entries.into_iter().map(SearchEntry::construct).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clientmodul_lookup_finds_the_enc_certificates_and_the_kim_version() {
    let mut second = VzdEntry::institution(
        "1-2-KVCCHECK-Beispiel01",
        "Praxis Beispiel",
        SECOND,
        KomLeVersion::Missing,
        Vec::new(),
    );
    second.addresses.push(KimAddress {
        mail: "praxis.beispiel2@kim.telematik-test".into(),
        version: KomLeVersion::V10,
    });
    let (pki, mock) = start(vec![recipient(), second], None).await;
    tokio::time::timeout(STEP, async {
        let mut ldap = connect(&pki, &mock.url()).await;
        // Exact mail (openkim's SEARCH_MAIL_TEMPLATE), certificate and version only.
        let found = search(
            &mut ldap,
            &format!("(mail={RECIPIENT})"),
            vec![
                "userCertificate;binary",
                "komLeData",
                "kimData",
                "telematikID",
            ],
        )
        .await;
        assert_eq!(found.len(), 1);
        let e = &found[0];
        assert!(
            e.dn.starts_with("uid=") && e.dn.ends_with(",dc=data,dc=vzd"),
            "{}",
            e.dn
        );
        assert_eq!(e.attrs["komLeData"], [format!("1.5+,{RECIPIENT}")]);
        assert_eq!(e.attrs["kimData"], [format!("{RECIPIENT},1.5+")]);
        assert!(
            !e.attrs.contains_key("mail"),
            "attribute selection: {:?}",
            e.attrs
        );
        let certs = &e.bin_attrs["userCertificate;binary"];
        assert_eq!(certs.len(), 2, "RSA and ECC ENC certificate");
        for der in certs {
            let cert = Certificate::from_der(der).unwrap();
            assert_eq!(
                telematik_id(&cert).unwrap(),
                Some(e.attrs["telematikID"][0].clone()),
                "the certificate's admission names the entry's TelematikID"
            );
        }
        // Several recipients at once; an entry without komLeData for an address.
        let found = search(
            &mut ldap,
            &format!("(|(mail={RECIPIENT})(mail={SECOND}))"),
            vec!["mail", "komLeData", "userCertificate;binary"],
        )
        .await;
        assert_eq!(found.len(), 2);
        let second = found
            .iter()
            .find(|e| e.attrs["mail"].contains(&SECOND.to_string()))
            .unwrap();
        assert_eq!(second.attrs["mail"].len(), 2);
        assert_eq!(
            second.attrs["komLeData"],
            ["1.0,praxis.beispiel2@kim.telematik-test".to_string()],
            "no komLeData value for the address without one"
        );
        assert!(!second.bin_attrs.contains_key("userCertificate;binary"));
        // Nobody there.
        assert!(
            search(&mut ldap, "(mail=niemand@kim.telematik-test)", vec!["mail"])
                .await
                .is_empty()
        );
    })
    .await
    .expect("in time");
    let obs = mock.observations();
    let searches: Vec<_> = obs.searches().collect();
    assert_eq!(searches.len(), 3);
    assert_eq!(searches[0].filter, format!("(mail={RECIPIENT})"));
    assert_eq!(searches[0].entries_returned, 1);
    assert_eq!(searches[1].entries_returned, 2);
    assert_eq!(searches[2].entries_returned, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_bind_with_the_configured_account_only() {
    let account = ("cn=clientmodul,dc=vzd".to_string(), "geheim".to_string());
    let (pki, mock) = start(vec![recipient()], Some(account.clone())).await;
    tokio::time::timeout(STEP, async {
        let mut ldap = connect(&pki, &mock.url()).await;
        let ok = ldap.simple_bind(&account.0, &account.1).await.unwrap();
        assert_eq!(ok.rc, 0);
        let wrong = ldap.simple_bind(&account.0, "falsch").await.unwrap();
        assert_eq!(wrong.rc, 49);
    })
    .await
    .expect("in time");
    let binds: Vec<_> = mock.observations().binds().cloned().collect();
    assert_eq!(binds.len(), 2);
    assert!(binds[0].success && !binds[1].success);
    // The password is never recorded.
    assert!(!format!("{:?}", mock.observations()).contains("geheim"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldapsearch_finds_the_recipient() {
    assert!(
        std::process::Command::new("ldapsearch")
            .arg("-VV")
            .output()
            .is_ok(),
        "ldapsearch (Debian package ldap-utils) is needed for this interop test; .ci/run installs it"
    );
    let (pki, mock) = start(vec![recipient()], None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    pki.write_ca(&ca).unwrap();
    let out = tokio::time::timeout(
        STEP,
        tokio::process::Command::new("ldapsearch")
            .env("LDAPTLS_CACERT", &ca)
            .args([
                "-x",
                "-LLL",
                "-H",
                &mock.url(),
                "-b",
                VZD_BASE_DN,
                &format!("(mail={RECIPIENT})"),
                "komLeData",
                "telematikID",
                "userCertificate;binary",
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("in time")
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("komLeData: 1.5+,{RECIPIENT}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("telematikID: {}", card().holder.telematik_id)),
        "{text}"
    );
    assert_eq!(
        text.matches("userCertificate;binary:: ").count(),
        2,
        "{text}"
    );
}

/// Python's ldap3 (a client nobody here wrote) over LDAPS, trusting only the mock's CA: an OR
/// filter over two addresses, attribute selection, and the certificate bytes as stored.
const PY_LDAP3: &str = r#"
import json, ssl, sys
import ldap3
ca, port, base, mail, other = sys.argv[1:6]
tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca)
server = ldap3.Server("127.0.0.1", port=int(port), use_ssl=True, tls=tls)
conn = ldap3.Connection(server, auto_bind=True)
conn.search(base, f"(|(mail={mail})(mail={other}))", attributes=["mail", "komLeData", "telematikID", "userCertificate;binary"])
out = []
for e in conn.entries:
    a = e.entry_attributes_as_dict
    out.append({"mail": a["mail"], "komLeData": a.get("komLeData", []), "telematikID": a["telematikID"],
                "certs": [c.hex() for c in a.get("userCertificate;binary", [])]})
json.dump(out, sys.stdout)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_ldap3_finds_the_recipient_among_two() {
    let (pki, mock) = start(vec![recipient()], None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    pki.write_ca(&ca).unwrap();
    let port = mock.addr().port().to_string();
    let out = tokio::time::timeout(
        STEP,
        tokio::process::Command::new("python3")
            .args([
                "-c",
                PY_LDAP3,
                ca.to_str().unwrap(),
                &port,
                VZD_BASE_DN,
                RECIPIENT,
                SECOND,
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("in time")
    .expect("python3 is needed for this interop test");
    assert!(
        out.status.success(),
        "python3 ldap3 (pip package ldap3; .ci/run installs it) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        found.as_array().unwrap().len(),
        1,
        "only the recipient exists: {found}"
    );
    assert_eq!(found[0]["mail"], serde_json::json!([RECIPIENT]));
    assert_eq!(
        found[0]["komLeData"],
        serde_json::json!([format!("1.5+,{RECIPIENT}")])
    );
    let certs: Vec<String> = enc_certificates(card())
        .iter()
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert_eq!(
        found[0]["certs"],
        serde_json::json!(certs),
        "certificates byte for byte"
    );
    // ldap3 also reads the root DSE at bind; the lookup itself is recorded with its filter.
    let obs = mock.observations();
    let lookup = obs
        .sessions
        .iter()
        .flat_map(|s| s.searches.iter())
        .find(|s| s.base == VZD_BASE_DN)
        .expect("the lookup is recorded");
    assert!(
        lookup.filter.contains(RECIPIENT) && lookup.filter.contains(SECOND),
        "{}",
        lookup.filter
    );
    assert_eq!(lookup.entries_returned, 1);
}

/// Each directory state a case can select, as a Clientmodul's lookup sees it.
#[rstest::rstest]
#[case::listed_1_0(VzdStateKind::Listed(KomLeVersion::V10), 1, Some("1.0"), 2)]
#[case::listed_1_5(VzdStateKind::Listed(KomLeVersion::V15), 1, Some("1.5"), 2)]
#[case::listed_1_5_plus(VzdStateKind::Listed(KomLeVersion::V15Plus), 1, Some("1.5+"), 2)]
#[case::version_missing(VzdStateKind::Listed(KomLeVersion::Missing), 1, None, 2)]
#[case::without_enc_certificate(VzdStateKind::WithoutEnc, 1, Some("1.5"), 0)]
#[case::conflicting_telematik_ids(VzdStateKind::Conflicting, 1, Some("1.5"), 3)]
#[case::expired_certificate(VzdStateKind::Expired, 1, Some("1.5"), 1)]
#[case::absent(VzdStateKind::Absent, 0, None, 0)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_states_a_case_selects(
    #[case] kind: VzdStateKind,
    #[case] found: usize,
    #[case] version: Option<&str>,
    #[case] certificates: usize,
) {
    use kvc_mocks::kim::vzd::VzdState;
    let c = card();
    let other = |variant| {
        let pki = CardPki::generate().unwrap();
        let card = pki.card(CardKind::SmcB, &c.holder, variant).unwrap();
        card.key(CardKeyRole::Enc)
            .unwrap()
            .rsa
            .certificate
            .to_der()
            .unwrap()
    };
    let state = match kind {
        VzdStateKind::Listed(v) => VzdState::Listed(v),
        VzdStateKind::WithoutEnc => VzdState::WithoutEncCertificate,
        VzdStateKind::Conflicting => VzdState::ConflictingTelematikIds {
            other_certificate: other(CardVariant::WrongTelematikId),
        },
        VzdStateKind::Expired => VzdState::ExpiredCertificate {
            certificate: other(CardVariant::ExpiredEnc),
        },
        VzdStateKind::Absent => VzdState::Absent,
    };
    // A second, unrelated entry is always there: a lookup must not find it.
    let mut entries = state.entries(
        &c.holder.telematik_id,
        "Praxis Erika Musterfrau",
        RECIPIENT,
        enc_certificates(c),
    );
    entries.push(VzdEntry::institution(
        "1-2-KVCCHECK-Beispiel01",
        "Praxis Beispiel",
        SECOND,
        KomLeVersion::V15,
        Vec::new(),
    ));
    let (pki, mock) = start(entries, None).await;
    let mut ldap = connect(&pki, &mock.url()).await;
    let got = search(
        &mut ldap,
        &format!("(mail={RECIPIENT})"),
        vec!["komLeData", "userCertificate;binary", "telematikID"],
    )
    .await;
    assert_eq!(got.len(), found);
    if let Some(e) = got.first() {
        let v = e.attrs.get("komLeData").cloned().unwrap_or_default();
        assert_eq!(
            v,
            version
                .map(|v| vec![format!("{v},{RECIPIENT}")])
                .unwrap_or_default()
        );
        let certs = e
            .bin_attrs
            .get("userCertificate;binary")
            .map(Vec::len)
            .unwrap_or(0);
        assert_eq!(certs, certificates);
        if kind == VzdStateKind::Conflicting {
            let ids: std::collections::BTreeSet<_> = e.bin_attrs["userCertificate;binary"]
                .iter()
                .map(|d| telematik_id(&Certificate::from_der(d).unwrap()).unwrap())
                .collect();
            assert_eq!(
                ids.len(),
                2,
                "two TelematikIDs among the certificates: {ids:?}"
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VzdStateKind {
    Listed(KomLeVersion),
    WithoutEnc,
    Conflicting,
    Expired,
    Absent,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limits_cut_long_answers_with_code_4() {
    let entries: Vec<VzdEntry> = (0..5)
        .map(|i| {
            VzdEntry::institution(
                &format!("1-2-KVCCHECK-{i:02}"),
                "Praxis",
                &format!("praxis{i}@kim.telematik-test"),
                KomLeVersion::V15,
                Vec::new(),
            )
        })
        .collect();
    let pki = TlsPki::generate("localhost").unwrap();
    let limits = kvc_mocks::ldap::LdapLimits {
        max_entries: 3,
        ..Default::default()
    };
    let mock = KimVzdMock::start(
        VzdConfig {
            entries,
            limits,
            ..VzdConfig::default()
        },
        &pki,
    )
    .await
    .unwrap();
    let mut ldap = connect(&pki, &mock.url()).await;
    // Server limit 3.
    let r = ldap
        .search(VZD_BASE_DN, Scope::Subtree, "(mail=*)", vec!["mail"])
        .await
        .unwrap();
    assert_eq!(r.1.rc, 4, "sizeLimitExceeded");
    assert_eq!(r.0.len(), 3);
    // The client's smaller limit wins; within the limit the search succeeds.
    let r = ldap
        .with_search_options(ldap3::SearchOptions::new().sizelimit(2))
        .search(VZD_BASE_DN, Scope::Subtree, "(mail=*)", vec!["mail"])
        .await
        .unwrap();
    assert_eq!((r.1.rc, r.0.len()), (4, 2));
    let r = ldap
        .search(
            VZD_BASE_DN,
            Scope::Subtree,
            "(mail=praxis1@kim.telematik-test)",
            vec!["mail"],
        )
        .await
        .unwrap();
    assert_eq!((r.1.rc, r.0.len()), (0, 1), "control: one entry, success");
    let searches: Vec<u32> = mock
        .observations()
        .sessions
        .iter()
        .flat_map(|s| s.searches.iter().map(|r| r.result_code))
        .collect();
    assert_eq!(searches, vec![4, 4, 0]);
}
