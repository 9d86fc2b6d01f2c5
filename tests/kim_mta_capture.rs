//! What a KIM Clientmodul hands the Fachdienst MTA is opened by the suite with the recipients'
//! card keys and linted outer and inner with the KIM rules (issue 15 item 1): Python smtplib
//! plays the Clientmodul and sends KOM-LE messages built on the card PKI through the mock MTA;
//! the captures are opened by [`CardKeyring`] and linted by `lint_bytes` as `kvc-check lint
//! --key` would.
//!
//! Needs `python3` (smtplib is in its standard library).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use kvc_check::lint::{FileResult, LintOptions, ProfileChoice, lint_bytes};
use kvc_check::roles::common::card_opening::CardKeyring;
use kvc_check::runner::observe::{Captured, Via};
use kvc_mocks::TlsPki;
use kvc_mocks::kim::practices::{MUSTERFRAU, ROSENSTRAUCH};
use kvc_mocks::kim::served_messages::{self, KomLeVariant, Party};
use kvc_mocks::mail::{Account, MailServer, MailServerConfig};
use kvc_smime::card_pki::{CardPki, CardVariant};

const SENDER: &str = ROSENSTRAUCH.mail;
const RECIPIENT: &str = MUSTERFRAU.mail;
const PASSWORD: &str = "Kim-Geheim-1";

/// Sends the file argv[5] from the authenticated sender to RECIPIENT.
const PY_SEND: &str = r#"
import smtplib, ssl, sys
ca, port, user, pw, path = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
s = smtplib.SMTP_SSL("localhost", int(port), context=ctx, timeout=20)
s.login(user, pw)
s.sendmail(user, ["praxis.musterfrau@kim.telematik-test"], open(path, "rb").read())
s.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_komle_messages_are_opened_with_the_recipients_cards_and_linted() {
    let pki = CardPki::generate().unwrap();
    let sender = ROSENSTRAUCH.smcb(&pki, CardVariant::Valid).unwrap();
    let recipient = MUSTERFRAU.smcb(&pki, CardVariant::Valid).unwrap();
    let variants = [
        KomLeVariant::Valid,
        KomLeVariant::TamperedSignature,
        KomLeVariant::WrongRecipient,
        KomLeVariant::NotKomLe,
    ];
    let messages: Vec<Vec<u8>> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            served_messages::build(
                v,
                Party {
                    mail: SENDER,
                    card: &sender,
                },
                Party {
                    mail: RECIPIENT,
                    card: &recipient,
                },
                &format!("cm-{i}@kim.telematik-test"),
            )
            .unwrap()
        })
        .collect();

    let tls = TlsPki::generate("localhost").unwrap();
    let mta = MailServer::start(
        MailServerConfig {
            accounts: vec![
                Account::new(SENDER, PASSWORD),
                Account::new(RECIPIENT, PASSWORD),
            ],
            sender_must_match_auth: true,
            deliver_to_accounts: true,
            ..MailServerConfig::default()
        },
        &tls,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    tls.write_ca(&ca).unwrap();
    let port = mta.smtp_addr().port().to_string();
    for (i, m) in messages.iter().enumerate() {
        let file = dir.path().join(format!("{i}.eml"));
        std::fs::write(&file, m).unwrap();
        let out = tokio::process::Command::new("python3")
            .args([
                "-c",
                PY_SEND,
                ca.to_str().unwrap(),
                &port,
                SENDER,
                PASSWORD,
                file.to_str().unwrap(),
            ])
            .kill_on_drop(true)
            .output()
            .await
            .expect("python3 is needed (CI installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let obs = mta
        .wait_for_messages(variants.len(), Duration::from_secs(20))
        .await;
    let captured: Vec<_> = obs.messages().collect();
    assert_eq!(captured.len(), variants.len());

    // The keyring holds both mailboxes' cards, as a KIM world does.
    let keyring = CardKeyring::new(
        vec![
            (SENDER.to_string(), sender.clone()),
            (RECIPIENT.to_string(), recipient.clone()),
        ],
        pki.trust_anchors(),
    );
    let mut results: Vec<(Option<String>, Vec<String>, FileResult)> = Vec::new();
    for (i, m) in captured.iter().enumerate() {
        assert_eq!(m.data, messages[i], "captured byte for byte");
        let view = Captured {
            via: Via::Smtp,
            mail_from: &m.mail_from,
            rcpt_to: &m.rcpt_to,
            data: &m.data,
        };
        let opening = keyring.open(&view);
        let (who, by, keys) = match opening {
            Some(o) => (Some(o.recipient), o.decryptable_by, Some(o.keys)),
            None => (None, Vec::new(), None),
        };
        let opts = LintOptions {
            smime: keys,
            ..common::options(ProfileChoice::Auto)
        };
        results.push((who, by, lint_bytes(&format!("{i}.eml"), &m.data, &opts)));
    }
    let smime = |r: &FileResult, field: &str| {
        r.smime
            .as_ref()
            .map(|s| s[field].clone())
            .unwrap_or_default()
    };
    let errors = |r: &FileResult| -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.severity == kvc_check::rules::Severity::Error)
            .map(|f| format!("{} {}", f.requirement, f.rule))
            .collect()
    };

    // Valid: opened with the recipient's card, integrity good, no error outer or inner.
    let (who, by, valid) = &results[0];
    assert_eq!(who.as_deref(), Some(RECIPIENT));
    assert_eq!(by, &vec![SENDER.to_string(), RECIPIENT.to_string()]);
    assert_eq!(smime(valid, "decryption_result"), "00", "{valid:#?}");
    assert_eq!(
        smime(valid, "integrity_check_result"),
        serde_json::json!(["01"])
    );
    assert!(errors(valid).is_empty(), "{:#?}", valid.findings);
    assert!(
        valid
            .requirements
            .iter()
            .any(|r| r.requirement.starts_with("A_") || r.requirement.starts_with("KOM-LE")),
        "KIM requirements were evaluated: {:#?}",
        valid.requirements
    );

    // Tampered: opens, but the signature check says 02 and the lint fails.
    let (_, _, tampered) = &results[1];
    assert_eq!(smime(tampered, "decryption_result"), "00");
    assert!(
        smime(tampered, "integrity_check_result")
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "02"),
        "{tampered:#?}"
    );
    assert!(!errors(tampered).is_empty(), "{tampered:#?}");

    // Encrypted to the sender only: the recipient's card does not open it (01), and the
    // keyring knows whose would.
    let (who, by, wrong) = &results[2];
    assert_eq!(who.as_deref(), Some(RECIPIENT));
    assert_eq!(by, &vec![SENDER.to_string()]);
    assert_eq!(smime(wrong, "decryption_result"), "01", "{wrong:#?}");

    // Not KOM-LE: nothing to open; the header rules still ran.
    let (who, _, plain) = &results[3];
    assert_eq!(who, &None);
    assert!(plain.smime.is_none());
    assert!(!plain.requirements.is_empty());
}
