//! gematik's KOM-LE S/MIME sample (vectors/third-party/api-kim/samples/SMIME-Profil).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kvc_smime::cms::{self, EnvelopeKind};
use kvc_smime::keys::{load_certificates, load_private_key, read_password_file};
use rstest::rstest;

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors/third-party/api-kim/samples/SMIME-Profil")
}

fn read(name: &str) -> Vec<u8> {
    let p = sample_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// 2020-01-01, inside the signer certificate's validity (2018-11-16..2023-11-15).
fn at_2020() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800)
}

#[rstest]
#[case(
    "recipientA/hci-enc-2-kim-bsp.p12",
    "recipientA/password.txt",
    "FF22A88FFD24"
)]
#[case(
    "recipientB/hci-enc-3-kim-bsp.p12",
    "recipientB/password.txt",
    "9F52A80078E4"
)]
fn encryptedcms_decrypts_with_both_recipient_keys(
    #[case] p12: &str,
    #[case] pw: &str,
    #[case] serial: &str,
) {
    let pw = read_password_file(&sample_dir().join(pw)).unwrap();
    let key = load_private_key(&sample_dir().join(p12), Some(&pw)).unwrap();
    let cert = key
        .certificate
        .as_ref()
        .expect("p12 carries the certificate");
    assert_eq!(
        kvc_smime::asn1::serial_hex(cert.tbs_certificate().serial_number()),
        serial
    );
    let d = cms::decrypt(&read("inputEmail.txt.04.encryptedcms"), &key, "04").unwrap();
    assert_eq!(d.kind, EnvelopeKind::AuthEnveloped);
    assert_eq!(d.content, read("inputEmail.txt.03.signedwrap"));
    let emails = d.recipient_emails.expect("unauthAttrs recipient-emails");
    let mine = emails
        .iter()
        .find(|e| d.opened_rid.as_ref() == Some(&e.rid))
        .expect("own rid listed");
    assert!(mine.email.ends_with("@komle.de"));
    assert_eq!(emails.len(), 2);
}

#[test]
fn encryptedcms_decrypts_with_pem_key_without_certificate() {
    let key = load_private_key(
        &sample_dir().join("recipientA/hci-enc-2-kim-bsp.prv.pem"),
        None,
    )
    .unwrap();
    assert!(key.certificate.is_none());
    let d = cms::decrypt(&read("inputEmail.txt.04.encryptedcms"), &key, "04").unwrap();
    assert_eq!(d.content, read("inputEmail.txt.03.signedwrap"));
}

#[test]
fn signedcms_verifies_pss_against_embedded_signer() {
    let blob = read("inputEmail.txt.02.signedcms");
    let sd = cms::parse_signed_data(&blob, "02").unwrap();
    let signer = match sd.certificates.as_ref().unwrap().0.iter().next().unwrap() {
        ::cms::cert::CertificateChoices::Certificate(c) => c.clone(),
        _ => panic!("no certificate"),
    };
    let r = cms::verify_signed_data(&blob, None, &[signer], at_2020(), "02").unwrap();
    assert_eq!(r.signature, Ok(()));
    assert_eq!(r.chain, Ok(()));
    assert_eq!(r.signature_algorithm, "rsassaPss");
    assert_eq!(r.content, read("inputEmail.txt.01.rfc822wrap"));
    let signed = r.signed_recipient_emails.expect("signed recipient-emails");
    // Same list as in the unauthenticated attributes of .04
    let key = load_private_key(
        &sample_dir().join("recipientA/hci-enc-2-kim-bsp.prv.pem"),
        None,
    )
    .unwrap();
    let d = cms::decrypt(&read("inputEmail.txt.04.encryptedcms"), &key, "04").unwrap();
    let mut a = signed.clone();
    let mut b = d.recipient_emails.unwrap();
    a.sort_by(|x, y| x.email.cmp(&y.email));
    b.sort_by(|x, y| x.email.cmp(&y.email));
    assert_eq!(a, b);
}

#[test]
fn signedcms_chain_fails_outside_validity_and_with_foreign_anchor() {
    let blob = read("inputEmail.txt.02.signedcms");
    let anchor =
        load_certificates(&sample_dir().join("recipientA/GEM.RCA2-TEST-ONLY.pem")).unwrap();
    let r = cms::verify_signed_data(&blob, None, &anchor, at_2020(), "02").unwrap();
    assert_eq!(r.signature, Ok(()));
    assert!(
        matches!(r.chain, Err(cms::ChainProblem::Untrusted(_))),
        "{:?}",
        r.chain
    );
    let sd = cms::parse_signed_data(&blob, "02").unwrap();
    let signer = match sd.certificates.as_ref().unwrap().0.iter().next().unwrap() {
        ::cms::cert::CertificateChoices::Certificate(c) => c.clone(),
        _ => panic!(),
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let r = cms::verify_signed_data(&blob, None, &[signer], now, "02").unwrap();
    assert!(
        matches!(r.chain, Err(cms::ChainProblem::Expired(_))),
        "{:?}",
        r.chain
    );
}

#[test]
fn encryptedwrap_is_decrypted_and_the_corrupt_signedwrap_explained() {
    use kvc_smime::message::{Profile, open_message_named};
    let pw = read_password_file(&sample_dir().join("recipientB/password.txt")).unwrap();
    let key = load_private_key(
        &sample_dir().join("recipientB/hci-enc-3-kim-bsp.p12"),
        Some(&pw),
    )
    .unwrap();
    let anchors =
        load_certificates(&sample_dir().join("recipientA/GEM.RCA2-TEST-ONLY.pem")).unwrap();
    let o = open_message_named(
        &read("inputEmail.txt.05.encryptedwrap"),
        &key,
        &anchors,
        Some(at_2020()),
        ".05",
    )
    .unwrap();
    assert_eq!(o.profile, Profile::KomLe);
    assert_eq!(o.decryption_result, "00");
    assert_eq!(
        o.decrypted_content.as_deref(),
        Some(&read("inputEmail.txt.03.signedwrap")[..])
    );
    assert_eq!(o.integrity_check_result, vec!["04"]);
    let why = &o.integrity_explanations[0].explanation;
    assert!(
        why.contains("turned into CRLF, 42 bytes were inserted"),
        "{why}"
    );
    assert!(
        why.contains("declares 3138 bytes, the body has 3180"),
        "{why}"
    );
    assert!(why.contains("restores the declared length"), "{why}");
    assert!(why.contains("its signature verifies"), "{why}");
    assert!(o.findings.iter().any(|f| f.requirement == "A_23165"));
}

/// The KOM-LE profile checks on gematik's sample, as the sample actually is (each finding is
/// explained in `vectors/kim/README.md`, "gematik's S/MIME sample and the profile checks"):
/// - the whole message (.05 with recipient B's key): the envelope passes every check; the
///   decrypted signed-data entity does not parse (KOM-LE-A_2103) because its binary body went
///   through line-end conversion (42 LF inserted, KIM-FACTS §2.3), so the SignedData and
///   header-copy checks cannot be judged; the outer Subject passes;
/// - layer by layer on the undamaged intermediate files: the SignedData (.02) passes every
///   check, its signed recipient-emails equal the envelope's (.04); the outer header (.05)
///   against the inner message (.01) differs only in the Date: the same instant, but the inner
///   `Wed` is the wrong day of week for 20 Jun 2020 (a Saturday) and the outer adds `(CEST)`,
///   a warning of KOM-LE-A_2098-03.
#[test]
fn profile_checks_on_gematiks_sample() {
    use kvc_smime::message::open_message_named;
    use kvc_smime::profile::{
        Check, CheckVerdict, check_envelope, check_headers, check_signed_data,
    };
    let pw = read_password_file(&sample_dir().join("recipientB/password.txt")).unwrap();
    let key = load_private_key(
        &sample_dir().join("recipientB/hci-enc-3-kim-bsp.p12"),
        Some(&pw),
    )
    .unwrap();
    let msg = read("inputEmail.txt.05.encryptedwrap");
    let o = open_message_named(&msg, &key, &[], Some(at_2020()), ".05").unwrap();
    let p = o.komle_profile.expect("KOM-LE: the profile checks ran");
    assert_eq!(p.failed(), vec![Check::SignedDataEntity], "{p:#?}");
    assert_eq!(p.findings.len(), 1, "{p:#?}");
    let f = &p.findings[0];
    assert_eq!(f.requirement, "KOM-LE-A_2103");
    assert!(
        f.path
            .ends_with("(decrypted MIME entity) body: ContentInfo"),
        "{f:#?}"
    );
    assert!(
        f.observed.contains("declares 3138 bytes, 42 more arrived"),
        "{f:#?}"
    );
    for c in [
        Check::NoCrls,
        Check::SignerCertificateOnly,
        Check::SignedRecipientEmails,
        Check::OuterHeaderCopy,
        Check::OuterMessageId,
    ] {
        assert_eq!(p.verdict(c), CheckVerdict::NotEvaluated, "{c}");
    }
    for c in [
        Check::AuthEnvelopedData,
        Check::UnauthAttrs,
        Check::KeyTransOnly,
        Check::KtriIssuerSerial,
        Check::SenderRecipientInfo,
        Check::RecipientEmails,
        Check::RecipientEmailPerRecipientInfo,
        Check::RecipientEmailIssuerSerial,
        Check::OuterSubject,
    ] {
        assert_eq!(p.verdict(c), CheckVerdict::Pass, "{c}");
    }

    // Layer by layer.
    let envelope = read("inputEmail.txt.04.encryptedcms");
    let e = check_envelope(&envelope, &["mustersender@komle.de".to_string()]);
    assert!(e.findings.is_empty(), "{e:#?}");
    let s = check_signed_data(&read("inputEmail.txt.02.signedcms"), Some(&envelope));
    assert!(s.findings.is_empty(), "{s:#?}");
    assert_eq!(s.verdict(Check::SignedRecipientEmails), CheckVerdict::Pass);
    let wrap = read("inputEmail.txt.01.rfc822wrap");
    let inner = &wrap[b"Content-Type: message/rfc822\r\n\r\n".len()..];
    let outer = &msg[..msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 2];
    let h = check_headers(outer, inner);
    assert!(h.failed().is_empty(), "{h:#?}");
    assert_eq!(h.findings.len(), 1, "{h:#?}");
    let date = &h.findings[0];
    assert_eq!(
        (date.check, date.field.as_str()),
        (Check::OuterHeaderCopy, "Date")
    );
    assert!(
        date.observed
            .contains("the inner day of week `Wed` is wrong, 2020-06-20 is a Sat"),
        "{date:#?}"
    );
}
