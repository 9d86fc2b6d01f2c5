//! Any bytes through the S/MIME layer: BER reader, CMS ContentInfo/SignedData/EnvelopedData
//! parsing, decryption attempt, signature verification, PKCS#12, the whole-message opener and
//! the KOM-LE profile checks.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use kvc_smime::keys::PrivateKeyMaterial;
use libfuzzer_sys::fuzz_target;

fn key() -> &'static PrivateKeyMaterial {
    static K: OnceLock<PrivateKeyMaterial> = OnceLock::new();
    K.get_or_init(|| {
        let pki = kvc_smime::pki::TestPki::generate().expect("test PKI");
        let id = pki
            .issue(&kvc_smime::pki::EndEntitySpec::new(
                "fuzz@kim.telematik-test",
                kvc_smime::pki::KeyPurpose::Encryption,
            ))
            .expect("certificate");
        id.to_key_material("fuzz key")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = kvc_smime::ber::normalize(data);
    let _ = kvc_smime::ber::octet_string_bytes(data);
    let _ = kvc_smime::cms::content_info(data, "fuzz");
    let _ = kvc_smime::cms::verify_signed_data(data, None, &[], SystemTime::UNIX_EPOCH, "fuzz");
    let _ = kvc_smime::cms::verify_signed_data(
        data,
        Some(b"detached"),
        &[],
        SystemTime::UNIX_EPOCH,
        "fuzz",
    );
    let _ = kvc_smime::cms::decrypt(data, key(), "fuzz");
    let _ = kvc_smime::pkcs12::parse(data, "fuzz", "fuzz");
    let _ = kvc_smime::keys::parse_certificates(data, "fuzz");
    let _ = kvc_smime::message::open_message_named(data, key(), &[], None, "fuzz");
    let _ = kvc_smime::message::verify_message(data, &[], None, "fuzz");
    // The KOM-LE profile checks on every layer (open_message_named runs them on what it
    // decrypts; these reach the layers without a decryption).
    let _ = kvc_smime::profile::check_message(data, key(), "fuzz");
    let _ = kvc_smime::profile::check_envelope(data, &["fuzz@kim.telematik-test".to_string()]);
    let _ = kvc_smime::profile::check_signed_data(data, Some(data));
    let _ = kvc_smime::profile::check_headers(data, data);
});
