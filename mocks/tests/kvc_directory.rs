//! The mock KV-Connect directory (LDAPS) with the ldap3 crate as client (a client nobody here
//! wrote), and with Debian's `ldapsearch` when it is installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kvc_mocks::kvc::directory::{KV_DIRECTORY_BASE_DN, KvcDirectoryConfig, KvcDirectoryMock};
use kvc_mocks::kvc::rest::{KvcRestAccount, KvcRestProfile};
use kvc_mocks::net::session::TlsOutcome;
use kvc_mocks::{ServerCertKind, TlsPki};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

const STEP: Duration = Duration::from_secs(15);

fn accounts() -> (Vec<KvcRestAccount>, Vec<u8>) {
    let ck = kvc_smime::pki::TestPki::generate()
        .unwrap()
        .issue(&kvc_smime::pki::EndEntitySpec::new(
            "arzt.2@kv-safenet.de",
            kvc_smime::pki::KeyPurpose::Both,
        ))
        .unwrap();
    let pem = ck.certificate_pem().unwrap();
    let der = der::Encode::to_der(&ck.certificate).unwrap();
    let mut a = KvcRestAccount::new("arzt.2", "Geheim34").with_certificate(pem);
    a.surname = "Mustermann".into();
    a.locality = "Köln".into();
    // praxis.1 has no certificate: it can bind but is not listed.
    (vec![KvcRestAccount::new("praxis.1", "Geheim12"), a], der)
}

async fn start(cert: ServerCertKind) -> (TlsPki, KvcDirectoryMock, Vec<u8>) {
    let pki = TlsPki::generate("localhost").unwrap();
    let (accts, der) = accounts();
    let config = KvcDirectoryConfig {
        cert,
        ..KvcDirectoryConfig::from_accounts(&accts, &KvcRestProfile::default())
    };
    let mock = KvcDirectoryMock::start(config, &pki).await.unwrap();
    (pki, mock, der)
}

async fn connect(pki: &TlsPki, url: &str) -> ldap3::result::Result<ldap3::Ldap> {
    let settings = LdapConnSettings::new()
        .set_config(pki.client_config().unwrap())
        .set_conn_timeout(STEP);
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url).await?;
    ldap3::drive!(conn);
    Ok(ldap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap3_finds_an_accounts_certificate_anonymously_and_with_simple_bind() {
    let (pki, mock, der) = start(ServerCertKind::Valid).await;
    tokio::time::timeout(STEP, async {
        let mut ldap = connect(&pki, &mock.url()).await.unwrap();
        // Anonymous: search by mail (the way a PVS looks up a recipient).
        let (entries, _) = ldap
            .search(
                KV_DIRECTORY_BASE_DN,
                Scope::Subtree,
                "(mail=arzt.2@kv-safenet.de)",
                vec!["mail", "userCertificate;binary", "cn"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        assert_eq!(entries.len(), 1);
        let e = SearchEntry::construct(entries.into_iter().next().unwrap());
        assert_eq!(e.dn, "cn=arzt.2,ou=users,dc=kv-safenet,dc=de");
        assert_eq!(e.attrs["mail"], vec!["arzt.2@kv-safenet.de".to_string()]);
        assert_eq!(e.bin_attrs["userCertificate;binary"], vec![der.clone()]);
        // MEDYS filter forms: (sn=<x>*), (&(sn=<x>*)(l=<y>*)).
        let (entries, _) = ldap
            .search(
                KV_DIRECTORY_BASE_DN,
                Scope::Subtree,
                "(&(sn=muster*)(l=kö*))",
                vec!["sn", "givenName", "street", "postalCode", "l"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        assert_eq!(entries.len(), 1);
        // An account without certificate is not listed.
        let (entries, _) = ldap
            .search(
                KV_DIRECTORY_BASE_DN,
                Scope::Subtree,
                "(cn=praxis.1)",
                vec!["*"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        assert!(entries.is_empty());
        // Simple bind as cn=<username>,ou=users,dc=kv-safenet,dc=de (even without certificate).
        ldap.simple_bind("cn=praxis.1,ou=users,dc=kv-safenet,dc=de", "Geheim12")
            .await
            .unwrap()
            .success()
            .unwrap();
        let r = ldap
            .simple_bind("cn=praxis.1,ou=users,dc=kv-safenet,dc=de", "falsch")
            .await
            .unwrap();
        assert_eq!(r.rc, 49);
        let r = ldap
            .search(
                "ou=other,dc=example",
                Scope::Subtree,
                "(objectClass=*)",
                vec!["*"],
            )
            .await
            .unwrap();
        assert_eq!(r.1.rc, 32);
        ldap.unbind().await.unwrap();
    })
    .await
    .expect("in time");
    let obs = mock
        .wait_until(STEP, |o| {
            o.sessions
                .iter()
                .all(|s| s.end != kvc_mocks::SessionEnd::Open)
        })
        .await;
    let s: Vec<_> = obs.searches().collect();
    assert_eq!(s.len(), 4);
    assert_eq!(s[0].filter, "(mail=arzt.2@kv-safenet.de)");
    assert_eq!(s[0].entries_returned, 1);
    assert_eq!(s[0].bound_as, "");
    let b: Vec<_> = obs.binds().map(|b| b.success).collect();
    assert_eq!(b, vec![true, false]);
    assert_eq!(obs.sessions[0].end, kvc_mocks::SessionEnd::Quit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_directory_certificate_is_refused_and_recorded() {
    let (pki, mock, _) = start(ServerCertKind::UntrustedCa).await;
    let r = tokio::time::timeout(STEP, connect(&pki, &mock.url()))
        .await
        .expect("in time");
    assert!(r.is_err());
    let obs = mock
        .wait_until(STEP, |o| {
            o.sessions
                .iter()
                .any(|s| s.end != kvc_mocks::SessionEnd::Open)
        })
        .await;
    assert!(matches!(
        obs.sessions[0].tls,
        TlsOutcome::HandshakeFailed(_)
    ));
    assert!(obs.binds().next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldapsearch_finds_the_certificate() {
    assert!(
        std::process::Command::new("ldapsearch")
            .arg("-VV")
            .output()
            .is_ok(),
        "ldapsearch (Debian package ldap-utils) is needed for this interop test; .ci/run installs it"
    );
    let (pki, mock, _) = start(ServerCertKind::Valid).await;
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
                // libldap canonicalises `localhost` via reverse DNS (here: the machine name);
                // the certificate also names 127.0.0.1.
                &format!("ldaps://127.0.0.1:{}", mock.addr().port()),
                "-b",
                KV_DIRECTORY_BASE_DN,
                "(mail=arzt.2@kv-safenet.de)",
                "userCertificate;binary",
                "mail",
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
        "{} / mock saw {:?}",
        String::from_utf8_lossy(&out.stderr),
        mock.observations()
    );
    assert!(text.contains("userCertificate;binary:: MII"), "{text}");
}
