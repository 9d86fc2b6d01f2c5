//! KOM-LE S/MIME profile checks (`kvc_smime::profile`): a correct message passes every check,
//! and each builder fault breaks exactly the check it is made for.

mod common;

use common::{INNER, fixture};
use kvc_smime::asn1::RecipientEmail;
use kvc_smime::message::{KomLeFaults, KomLeMessage, build_komle_message, open_message_named};
use kvc_smime::profile::{Check, CheckVerdict, ProfileReport, check_message};
use rstest::rstest;

fn build(faults: KomLeFaults) -> Vec<u8> {
    let f = fixture();
    build_komle_message(&KomLeMessage {
        inner: INNER,
        sender_signature: &f.alice.signature,
        sender: (
            f.alice.email.clone(),
            f.alice.encryption.certificate.clone(),
        ),
        recipients: vec![(f.bob.email.clone(), f.bob.encryption.certificate.clone())],
        version: "1.5".into(),
        faults,
    })
    .expect("message builds")
}

/// Bob (a recipient) opens the message.
fn profile_of(msg: &[u8]) -> ProfileReport {
    let key = fixture().bob.encryption.to_key_material("bob.p12");
    check_message(msg, &key, "m.eml").expect("an S/MIME message")
}

fn carol_entry() -> RecipientEmail {
    let f = fixture();
    kvc_smime::cms::recipient_emails_for(&[(
        f.carol.email.clone(),
        f.carol.encryption.certificate.clone(),
    )])
    .remove(0)
}

#[test]
fn a_correct_message_passes_every_check() {
    let report = profile_of(&build(KomLeFaults::default()));
    assert_eq!(report, ProfileReport::default(), "{report:#?}");
    for c in Check::ALL {
        assert_eq!(report.verdict(c), CheckVerdict::Pass, "{c}");
    }
    // open_message_named (what `lint --key` uses) computes the same report.
    let f = fixture();
    let o = open_message_named(
        &build(KomLeFaults::default()),
        &f.bob.encryption.to_key_material("bob.p12"),
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "m.eml",
    )
    .unwrap();
    assert_eq!(o.komle_profile, Some(ProfileReport::default()));
}

fn set(field: &str, value: &str) -> Vec<(String, String)> {
    vec![(field.into(), value.into())]
}

#[rstest]
#[case::auth_enveloped_data(KomLeFaults { enveloped_data: true, ..Default::default() }, Check::AuthEnvelopedData, "ContentInfo.contentType")]
#[case::originator_info(KomLeFaults { originator_info: true, ..Default::default() }, Check::NoOriginatorInfo, "AuthEnvelopedData.originatorInfo")]
#[case::unauth_attrs(KomLeFaults { omit_unprotected_recipient_emails: true, ..Default::default() }, Check::UnauthAttrs, "AuthEnvelopedData.unauthAttrs")]
#[case::ktri_only(KomLeFaults { kek_recipient_info: true, ..Default::default() }, Check::KeyTransOnly, "AuthEnvelopedData.recipientInfos[")]
#[case::ktri_issuer_serial(KomLeFaults { recipient_info_subject_key_identifier: true, ..Default::default() }, Check::KtriIssuerSerial, "].ktri.rid")]
#[case::sender_recipient_info(KomLeFaults { omit_sender_recipient: true, ..Default::default() }, Check::SenderRecipientInfo, "AuthEnvelopedData.unauthAttrs[recipient-emails]")]
#[case::encrypted_content(KomLeFaults { omit_encrypted_content: true, ..Default::default() }, Check::EncryptedContent, "AuthEnvelopedData.authEncryptedContentInfo.encryptedContent")]
#[case::recipient_emails(KomLeFaults { unprotected_attribute_instead_of_recipient_emails: true, ..Default::default() }, Check::RecipientEmails, "AuthEnvelopedData.unauthAttrs")]
#[case::recipient_email_per_recipient_info(KomLeFaults { extra_recipient_email: Some(carol_entry()), ..Default::default() }, Check::RecipientEmailPerRecipientInfo, "AuthEnvelopedData.unauthAttrs[recipient-emails].values[")]
#[case::recipient_email_issuer_serial(KomLeFaults { recipient_email_subject_key_identifier: true, ..Default::default() }, Check::RecipientEmailIssuerSerial, "].rid")]
#[case::signed_data_entity_unsigned(KomLeFaults { unsigned: true, ..Default::default() }, Check::SignedDataEntity, "header Content-Type")]
#[case::signed_data_entity_crlf(KomLeFaults { crlf_canonicalise_binary_entity: true, ..Default::default() }, Check::SignedDataEntity, "body: ContentInfo")]
#[case::no_crls(KomLeFaults { signed_data_crl: true, ..Default::default() }, Check::NoCrls, "SignedData.crls")]
#[case::signer_certificate_only(KomLeFaults { extra_certificates: vec![fixture().pki.root.certificate.clone()], ..Default::default() }, Check::SignerCertificateOnly, "SignedData.certificates")]
#[case::econtent(KomLeFaults { detached_signature: true, ..Default::default() }, Check::EContent, "SignedData.encapContentInfo.eContent")]
#[case::one_signer_info(KomLeFaults { second_signer_info: true, ..Default::default() }, Check::OneSignerInfo, "SignedData.signerInfos")]
#[case::sid_issuer_serial(KomLeFaults { signer_subject_key_identifier: true, ..Default::default() }, Check::SidIssuerSerial, "SignedData.signerInfos[0].sid")]
#[case::no_unsigned_attrs(KomLeFaults { unsigned_attribute: true, ..Default::default() }, Check::NoUnsignedAttrs, "SignedData.signerInfos[0].unsignedAttrs")]
#[case::signed_recipient_emails_missing(KomLeFaults { omit_signed_recipient_emails: true, ..Default::default() }, Check::SignedRecipientEmails, "SignedData.signerInfos[0].signedAttrs")]
#[case::signed_recipient_emails_differ(KomLeFaults { signed_recipient_emails: Some(vec![carol_entry()]), ..Default::default() }, Check::SignedRecipientEmails, "SignedData.signerInfos[0].signedAttrs[recipient-emails]")]
#[case::outer_from(KomLeFaults { outer_header_overrides: set("From", "mallory@evil.example"), ..Default::default() }, Check::OuterHeaderCopy, "outer header From")]
#[case::outer_date(KomLeFaults { outer_header_overrides: set("Date", "Mon, 23 Nov 2026 11:00:00 +0100"), ..Default::default() }, Check::OuterHeaderCopy, "outer header Date")]
#[case::outer_cc_added(KomLeFaults { outer_header_overrides: set("Cc", "carol@apotheke.kim.telematik-test"), ..Default::default() }, Check::OuterHeaderCopy, "outer header Cc")]
#[case::outer_dienstkennung_missing(KomLeFaults { outer_header_omit: vec!["X-KIM-Dienstkennung".into()], ..Default::default() }, Check::OuterHeaderCopy, "outer header X-KIM-Dienstkennung")]
#[case::outer_message_id(KomLeFaults { outer_header_overrides: set("Message-ID", "<other@praxis.kim.telematik-test>"), ..Default::default() }, Check::OuterMessageId, "outer header Message-ID")]
#[case::outer_message_id_missing(KomLeFaults { outer_header_omit: vec!["Message-ID".into()], ..Default::default() }, Check::OuterMessageId, "outer header Message-ID")]
#[case::outer_subject(KomLeFaults { outer_header_overrides: set("Subject", "Befund"), ..Default::default() }, Check::OuterSubject, "outer header Subject")]
fn each_fault_breaks_exactly_its_check(
    #[case] faults: KomLeFaults,
    #[case] check: Check,
    #[case] path: &str,
) {
    let report = profile_of(&build(faults));
    assert_eq!(report.failed(), vec![check], "{report:#?}");
    let finding = report
        .findings
        .iter()
        .find(|x| x.check == check)
        .unwrap_or_else(|| panic!("no finding of {check}: {report:#?}"));
    assert!(finding.path.contains(path), "{finding:#?}");
    assert!(!finding.field.is_empty() && !finding.observed.is_empty());
    assert_eq!(finding.requirement, check.requirement());
    // Every other check passed or says why it could not be judged.
    for n in &report.not_evaluated {
        assert!(!n.reason.is_empty(), "{n:?}");
        assert_ne!(n.check, check);
    }
}

/// `KomLeFaults::breaking` (what tests elsewhere and mutants use) holds to the same promise
/// for every check.
#[test]
fn breaking_faults_fail_exactly_their_check() {
    let f = fixture();
    let stranger = (
        f.carol.email.clone(),
        f.carol.encryption.certificate.clone(),
    );
    for check in Check::ALL {
        let report = profile_of(&build(KomLeFaults::breaking(check, &stranger)));
        assert_eq!(report.failed(), vec![check], "{report:#?}");
    }
}

/// A check that depends on an earlier one is not judged when that one fails, and says so.
#[test]
fn dependent_checks_are_not_evaluated_with_the_reason() {
    let r = profile_of(&build(KomLeFaults {
        omit_unprotected_recipient_emails: true,
        ..Default::default()
    }));
    let why = r
        .not_evaluated_reason(Check::RecipientEmails)
        .expect("not evaluated");
    assert!(why.contains("KOM-LE-A_2107"), "{why}");
    let r = profile_of(&build(KomLeFaults {
        crlf_canonicalise_binary_entity: true,
        ..Default::default()
    }));
    for c in [Check::NoCrls, Check::SignedRecipientEmails] {
        assert!(
            r.not_evaluated_reason(c)
                .is_some_and(|w| w.contains("KOM-LE-A_2103")),
            "{r:#?}"
        );
    }
    assert_eq!(
        r.verdict(Check::OuterHeaderCopy),
        CheckVerdict::NotEvaluated
    );
    // The outer Subject needs no inner message.
    assert_eq!(r.verdict(Check::OuterSubject), CheckVerdict::Pass);
    let f = r
        .findings
        .iter()
        .find(|f| f.check == Check::SignedDataEntity)
        .unwrap();
    assert!(
        f.observed.contains("turned into CRLF"),
        "the finding explains the line-end damage: {f:#?}"
    );
}

/// A key that is not among the recipients still gets the envelope judged.
#[test]
fn the_envelope_is_checked_without_decrypting() {
    let f = fixture();
    let msg = build(KomLeFaults {
        originator_info: true,
        ..Default::default()
    });
    let key = f.carol.encryption.to_key_material("carol.p12");
    let r = check_message(&msg, &key, "m.eml").unwrap();
    assert_eq!(r.failed(), vec![Check::NoOriginatorInfo], "{r:#?}");
    assert_eq!(r.verdict(Check::NoCrls), CheckVerdict::NotEvaluated);
    let o = kvc_smime::message::key_not_available(&msg, &key, "m.eml").expect("01 outcome");
    assert_eq!(
        o.komle_profile.map(|p| p.failed()),
        Some(vec![Check::NoOriginatorInfo])
    );
}

/// Written differently but equal in meaning: a warning, not a failure.
#[test]
fn the_same_addresses_and_instant_written_differently_are_warnings() {
    let f = fixture();
    let r = profile_of(&build(KomLeFaults {
        outer_header_overrides: vec![
            (
                "From".into(),
                format!("Alice Arzt <{}>", f.alice.email.to_uppercase()),
            ),
            (
                "Date".into(),
                "Mon, 23 Nov 2026 09:00:00 +0000 (UTC)".into(),
            ),
        ],
        ..Default::default()
    }));
    assert!(r.failed().is_empty(), "{r:#?}");
    let warnings: Vec<&str> = r.findings.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(warnings, ["Date", "From"], "{r:#?}");
    let r = profile_of(&build(KomLeFaults {
        outer_header_overrides: set("Date", "Tue, 23 Nov 2026 10:00:00 +0100"),
        ..Default::default()
    }));
    let date = &r.findings[0];
    assert!(
        date.observed
            .contains("day of week `Tue` is wrong, 2026-11-23 is a Mon"),
        "{date:#?}"
    );
}

/// Kinds of input: no CMS at all is an error; a bare CMS blob has no header to compare.
#[test]
fn bare_cms_and_non_smime_input() {
    let f = fixture();
    let key = f.bob.encryption.to_key_material("bob.p12");
    assert!(check_message(b"From: a@b\r\n\r\nplain\r\n", &key, "plain.eml").is_err());
    let msg = build(KomLeFaults::default());
    let blob = kvc_smime::message::cms_from_message(&msg, "m.eml").unwrap();
    let r = check_message(&blob, &key, "m.p7m").unwrap();
    assert!(r.failed().is_empty(), "{r:#?}");
    assert_eq!(r.verdict(Check::OuterSubject), CheckVerdict::NotEvaluated);
    assert_eq!(r.verdict(Check::SenderRecipientInfo), CheckVerdict::Pass);
}

/// Builder faults combine: one message can break several checks at once.
#[test]
fn several_faults_fail_several_checks() {
    let r = profile_of(&build(KomLeFaults {
        originator_info: true,
        unsigned_attribute: true,
        outer_header_overrides: set("Subject", "Befund"),
        ..Default::default()
    }));
    assert_eq!(
        r.failed(),
        vec![
            Check::NoOriginatorInfo,
            Check::NoUnsignedAttrs,
            Check::OuterSubject
        ]
    );
}

mod no_panic {
    use kvc_smime::profile::{check_envelope, check_headers, check_signed_data};
    use proptest::prelude::*;

    fn header_block() -> impl Strategy<Value = Vec<u8>> {
        let field = prop::sample::select(vec![
            "Date",
            "From",
            "Sender",
            "Reply-To",
            "To",
            "Cc",
            "Bcc",
            "Message-ID",
            "Subject",
            "X-KIM-Dienstkennung",
        ]);
        prop::collection::vec((field, "[ -~\t]{0,60}"), 0..12).prop_map(|fs| {
            let mut out = Vec::new();
            for (n, v) in fs {
                out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
            out
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any pair of header blocks: a verdict for every copied field, never a panic.
        #[test]
        fn headers(outer in header_block(), inner in header_block()) {
            let mut msg = inner.clone();
            msg.extend_from_slice(b"\r\nbody\r\n");
            let r = check_headers(&outer, &msg);
            for f in &r.findings {
                prop_assert!(!f.path.is_empty() && !f.expected.is_empty());
            }
        }

        /// Any bytes as envelope or SignedData: a report, never a panic.
        #[test]
        fn cms(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = check_envelope(&bytes, &["a@b".to_string()]);
            let _ = check_signed_data(&bytes, Some(&bytes));
        }
    }
}
