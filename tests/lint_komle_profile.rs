//! `lint --key` on KOM-LE messages runs the S/MIME profile checks of gemSMIME_KOMLE
//! (`kvc_smime::profile`, issue 12 item 2): each break is a finding of its own rule under its
//! own requirement, located by field and ASN.1 path, in every output format.

mod common;

use std::sync::OnceLock;

use kvc_check::lint::{FileResult, LintOptions, ProfileChoice, SmimeKeys, lint_bytes};
use kvc_check::report::{LintFormat, render_lint};
use kvc_check::rules::{Location, RequirementVerdict};
use kvc_smime::message::{KomLeFaults, KomLeMessage, build_komle_message};
use kvc_smime::pki::{CertVariant, Identity, TestPki};
use kvc_smime::profile::Check;

struct World {
    pki: TestPki,
    alice: Identity,
    bob: Identity,
    carol: Identity,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let pki = TestPki::generate().expect("pki");
        let id = |email: &str| pki.identity(email, CertVariant::Valid).expect("identity");
        World {
            alice: id("alice@praxis.kim.telematik-test"),
            bob: id("bob@klinik.kim.telematik-test"),
            carol: id("carol@apotheke.kim.telematik-test"),
            pki,
        }
    })
}

const INNER: &[u8] =
    b"From: alice@praxis.kim.telematik-test\r\nTo: bob@klinik.kim.telematik-test\r\n\
Subject: Befund\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <1@praxis.kim.telematik-test>\r\nX-KIM-Dienstkennung: KIM-Mail;Default;V1.0\r\n\
X-KIM-Sendersystem: Test;1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBefund\r\n";

fn build(faults: KomLeFaults) -> Vec<u8> {
    let w = world();
    build_komle_message(&KomLeMessage {
        inner: INNER,
        sender_signature: &w.alice.signature,
        sender: (
            w.alice.email.clone(),
            w.alice.encryption.certificate.clone(),
        ),
        recipients: vec![(w.bob.email.clone(), w.bob.encryption.certificate.clone())],
        version: "1.0".into(),
        faults,
    })
    .expect("message")
}

/// `lint --key bob.p12 --trust root.pem` as a library call.
fn lint(name: &str, msg: &[u8]) -> FileResult {
    let w = world();
    let opts = LintOptions {
        smime: Some(SmimeKeys {
            key: w.bob.encryption.to_key_material("bob.p12"),
            trust: vec![w.pki.root.certificate.clone()],
            at: None,
        }),
        ..common::options(ProfileChoice::Auto)
    };
    lint_bytes(name, msg, &opts)
}

fn verdict(r: &FileResult, id: &str) -> Option<RequirementVerdict> {
    r.requirements
        .iter()
        .find(|q| q.requirement == id)
        .map(|q| q.verdict)
}

fn profile_requirements() -> Vec<&'static str> {
    kvc_check::lint::profile_checks()
        .map(|c| c.base_requirement())
        .collect()
}

#[test]
fn a_correct_message_passes_every_profile_requirement() {
    let r = lint("komle.eml", &build(KomLeFaults::default()));
    for id in profile_requirements() {
        assert_eq!(
            verdict(&r, id),
            Some(RequirementVerdict::Pass),
            "{id}: {r:#?}"
        );
    }
    assert!(
        !r.findings.iter().any(|f| f.rule.starts_with("smime/")),
        "{:#?}",
        r.findings
    );
    assert_eq!(r.smime.as_ref().unwrap()["decryption_result"], "00");
}

/// Every check's own fault (`KomLeFaults::breaking`) fails exactly that check's requirement
/// among the profile requirements, with a finding of the check's rule located by its path.
#[test]
fn each_profile_break_fails_its_own_requirement() {
    let w = world();
    let stranger = (
        w.carol.email.clone(),
        w.carol.encryption.certificate.clone(),
    );
    for check in kvc_check::lint::profile_checks() {
        let r = lint("komle.eml", &build(KomLeFaults::breaking(check, &stranger)));
        let id = check.base_requirement();
        assert_eq!(
            verdict(&r, id),
            Some(RequirementVerdict::Fail),
            "{check}: {r:#?}"
        );
        for other in profile_requirements().into_iter().filter(|o| *o != id) {
            assert_ne!(
                verdict(&r, other),
                Some(RequirementVerdict::Fail),
                "{check} also fails {other}: {:#?}",
                r.findings
            );
        }
        let f = r
            .findings
            .iter()
            .find(|f| f.rule == check.rule())
            .unwrap_or_else(|| panic!("no finding of {check}: {:#?}", r.findings));
        assert_eq!(f.requirement, id);
        let Location::Structure { field, path } = &f.location else {
            panic!("{check}: location {:?}", f.location)
        };
        assert!(!field.is_empty() && !path.is_empty());
        assert!(f.message.contains("expected: "), "{}", f.message);
    }
    // The outer Subject stays with kim/outer-subject (no key needed), not doubled.
    let r = lint(
        "komle.eml",
        &build(KomLeFaults::breaking(Check::OuterSubject, &stranger)),
    );
    let rules: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.requirement == "KOM-LE-A_2102")
        .map(|f| f.rule)
        .collect();
    assert_eq!(rules, ["kim/outer-subject"]);
}

/// A message without encryptedContent cannot be decrypted; with the key it is still judged:
/// X-KIM-DecryptionResult 02 and the envelope's profile findings (not an input error).
#[test]
fn an_envelope_without_encrypted_content_is_a_verdict() {
    let w = world();
    let stranger = (
        w.carol.email.clone(),
        w.carol.encryption.certificate.clone(),
    );
    let r = lint(
        "komle.eml",
        &build(KomLeFaults::breaking(Check::EncryptedContent, &stranger)),
    );
    assert_eq!(r.error, None);
    assert_eq!(r.smime.as_ref().unwrap()["decryption_result"], "02");
    assert_eq!(verdict(&r, "KOM-LE-A_2112"), Some(RequirementVerdict::Fail));
    assert_eq!(verdict(&r, "KOM-LE-A_2118"), Some(RequirementVerdict::Skip));
}

/// The rendered findings of one failing message (several breaks at once), in the text view;
/// the JSON, SARIF and JUnit views carry the same field and path.
#[test]
fn rendered_findings_of_a_failing_message() {
    let msg = build(KomLeFaults {
        originator_info: true,
        signed_data_crl: true,
        unsigned_attribute: true,
        outer_header_overrides: vec![("Cc".into(), "carol@apotheke.kim.telematik-test".into())],
        ..Default::default()
    });
    let mut r = lint("komle-profile-breaks.eml", &msg);
    // Only the profile checks' part of the result (the rest is the header rules' business).
    let profile = profile_requirements();
    r.findings.retain(|f| profile.contains(&f.requirement));
    r.requirements.retain(|q| profile.contains(&q.requirement));
    r.diagnostics.clear();
    r.smime = None;
    let text = render_lint(std::slice::from_ref(&r), LintFormat::Text).unwrap();
    insta::assert_snapshot!(anstream::adapter::strip_str(&text).to_string());

    let json: serde_json::Value =
        serde_json::from_str(&render_lint(std::slice::from_ref(&r), LintFormat::Json).unwrap())
            .unwrap();
    let crls = json[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "smime/no-crls")
        .unwrap();
    assert_eq!(crls["location"]["kind"], "structure");
    assert_eq!(crls["location"]["path"], "SignedData.crls");
    assert_eq!(crls["location"]["field"], "crls");

    let sarif = render_lint(std::slice::from_ref(&r), LintFormat::Sarif).unwrap();
    let typed: serde_sarif::sarif::Sarif = serde_json::from_str(&sarif).expect("valid SARIF");
    assert_eq!(typed.runs.len(), 1);
    let sarif: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let result = results
        .iter()
        .find(|x| x["ruleId"] == "smime/no-crls")
        .unwrap();
    assert!(result["ruleIndex"].is_u64(), "{result:#}");
    assert_eq!(
        result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "SignedData.crls"
    );
    let junit = render_lint(std::slice::from_ref(&r), LintFormat::Junit).unwrap();
    assert!(junit.contains("SignedData.crls (smime/no-crls)"), "{junit}");
}
