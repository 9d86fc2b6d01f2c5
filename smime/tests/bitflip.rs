//! Property: random bit flips in a valid KOM-LE message never panic and never yield "valid".
//!
//! The message has a single RecipientInfo (no sender copy): with a second recipient, flips in
//! the *other* recipient's encrypted key are undetectable for this recipient by design of CMS.

mod common;

use std::sync::OnceLock;

use common::{INNER, fixture};
use kvc_smime::message::{
    KomLeFaults, KomLeMessage, build_komle_message, cms_from_message, open_message_named,
};
use proptest::prelude::*;

fn valid_blob() -> &'static Vec<u8> {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        let f = fixture();
        let eml = build_komle_message(&KomLeMessage {
            inner: INNER,
            sender_signature: &f.alice.signature,
            sender: (
                f.alice.email.clone(),
                f.alice.encryption.certificate.clone(),
            ),
            recipients: vec![(f.bob.email.clone(), f.bob.encryption.certificate.clone())],
            version: "1.5".into(),
            faults: KomLeFaults {
                omit_sender_recipient: true,
                ..Default::default()
            },
        })
        .unwrap();
        cms_from_message(&eml, "valid").unwrap()
    })
}

#[test]
fn unflipped_message_is_valid() {
    let f = fixture();
    let key = f.bob.encryption.to_key_material("bob");
    let o = open_message_named(
        valid_blob(),
        &key,
        std::slice::from_ref(&f.pki.root.certificate),
        None,
        "m",
    )
    .unwrap();
    assert!(o.is_valid(), "{o:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn bit_flips_never_panic_and_never_validate(flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4)) {
        let f = fixture();
        let key = f.bob.encryption.to_key_material("bob");
        let orig = valid_blob();
        let mut b = orig.clone();
        let mut positions = Vec::new();
        for (i, bit) in &flips {
            let idx = i.index(b.len());
            positions.push((idx, orig.get(idx.saturating_sub(6)..(idx + 6).min(orig.len())).map(kvc_smime::asn1::hex)));
            b[idx] ^= 1 << bit;
        }
        prop_assume!(b != *orig);
        if let Ok(o) = open_message_named(&b, &key, std::slice::from_ref(&f.pki.root.certificate), None, "flipped") {
            prop_assert!(!o.is_valid(), "flips {:?} at {:?} yielded valid: {:?}", flips, positions, o.integrity_explanations);
        }
    }

    #[test]
    fn flips_in_the_eml_never_panic(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let f = fixture();
        let key = f.bob.encryption.to_key_material("bob");
        let mut eml = b"From: alice@praxis.kim.telematik-test\r\nX-KOM-LE-Version: 1.5\r\nContent-Type: application/pkcs7-mime; smime-type=authenticated-enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
        eml.extend_from_slice(&kvc_smime::mime::encode_base64_lines(valid_blob()));
        let idx = pos.index(eml.len());
        eml[idx] ^= 1 << bit;
        let _ = open_message_named(&eml, &key, &[], None, "flipped.eml");
    }
}
