//! S/MIME (CMS) and test PKI for kvc-check: build, decrypt and verify KOM-LE (KIM) and
//! KV-Connect messages, interoperable with `openssl cms` and gematik's sample.
//!
//! # Layers
//! - [`pki`]: throw-away test PKI ([`pki::TestPki`]): root CA, untrusted CA, RSA-2048
//!   signature/encryption certificates with e-mail SAN, variants expired / not yet valid /
//!   untrusted issuer / wrong key usage; PEM and password-protected PKCS#12 output.
//! - [`keys`]: [`keys::load_private_key`] (PEM PKCS#8/PKCS#1/encrypted, DER, PKCS#12) and
//!   [`keys::load_certificates`] (PEM/DER); errors name the file.
//! - [`files`]: bounded reads of inputs and owner-only (0600) writes of keys and passwords.
//! - [`cms`]: [`cms::decrypt`] (EnvelopedData AES-CBC, AuthEnvelopedData AES-GCM; RSA-OAEP or
//!   PKCS#1 v1.5 key transport), [`cms::verify_signed_data`] (PKCS#1 v1.5 and RSASSA-PSS with
//!   its parameters, messageDigest, certificate path at a given time), builders [`cms::sign`]
//!   and [`cms::envelope`].
//! - [`message`]: whole messages. [`message::open_message`] decrypts and verifies and maps the
//!   result to the KIM codes; [`message::build_komle_message`] / [`message::build_kvconnect_message`]
//!   produce valid messages or, with [`message::KomLeFaults`], deliberately broken ones.
//! - [`profile`]: the KOM-LE S/MIME profile checks (gemSMIME_KOMLE: envelope, SignedData,
//!   outer vs inner header), each finding with its requirement ID, field and ASN.1 path;
//!   [`profile::check_message`] runs them on a captured message with the recipient's key.
//!
//! # BER
//! Real agents (gematik's sample, `openssl cms -stream`) send BER: indefinite lengths and
//! chunked OCTET STRINGs. This crate decodes with `der` 0.8 in BER mode (`from_ber`) and does
//! **not** normalise to DER first; the one place `der` keeps raw chunks (the `eContent` `Any`
//! of a SignedData) is flattened by [`ber`]. Signed attributes are verified on their DER
//! re-encoding (RFC 5652 requires DER there).
//!
//! # Using it from `lint` (the function the CLI wires)
//! ```no_run
//! use std::path::Path;
//! use kvc_smime::keys::{load_certificates, load_private_key};
//! use kvc_smime::message::{Severity, open_message_named};
//!
//! # fn main() -> Result<(), kvc_smime::SmimeError> {
//! let key = load_private_key(Path::new("bob.p12"), Some("password"))?;
//! let trust = load_certificates(Path::new("root-ca.pem"))?;
//! let at = Some(kvc_smime::parse_time("2020-01-01")?);
//! let raw = std::fs::read("msg.eml").unwrap();
//! let outcome = open_message_named(&raw, &key, &trust, at, "msg.eml")?; // Err => exit 2
//! println!("X-KIM-DecryptionResult: {}", outcome.decryption_result); // "00"
//! println!("X-KIM-IntegrityCheckResult: {:?}", outcome.integrity_check_result); // ["01"]
//! for f in &outcome.findings {
//!     let _is_error = f.severity == Severity::Error; // f.requirement: "KOM-LE-A_2047", ...
//! }
//! if let Some(inner) = &outcome.inner_message {
//!     // run the header rules on the inner message
//!     let _ = inner;
//! }
//! # Ok(())
//! # }
//! ```

pub mod admission;
pub mod asn1;
pub mod ber;
pub mod card_pki;
pub mod cms;
pub mod error;
pub mod files;
pub mod jwt;
pub mod kas;
pub mod keys;
pub mod message;
pub mod mime;
pub mod oids;
pub mod pkcs12;
pub mod pki;
pub mod profile;

pub use error::{ErrorKind, Result, SmimeError};
pub use keys::{PrivateKeyMaterial, load_certificates, load_private_key, read_password_file};
pub use message::{
    CodeExplanation, Profile, Severity, SmimeFinding, SmimeOutcome, key_not_available,
    open_message, open_message_named,
};
/// Re-exported so callers need no direct `x509-cert` dependency.
pub use x509_cert::Certificate;

/// Parse a verification time: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[Z]` (UTC) or `@UNIXSECONDS`.
pub fn parse_time(s: &str) -> Result<std::time::SystemTime> {
    let bad = || {
        SmimeError::bad_input(
            "--at",
            format!("{s:?} is not a time (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)"),
        )
    };
    let t = s.trim();
    if let Some(secs) = t.strip_prefix('@') {
        let secs: u64 = secs.parse().map_err(|_| bad())?;
        return Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
    }
    let t = t.trim_end_matches('Z');
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm),
        None => (t, "00:00:00"),
    };
    let d: Vec<&str> = date.split('-').collect();
    let tm: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || tm.len() < 2 || tm.len() > 3 {
        return Err(bad());
    }
    let num = |x: &str| x.parse::<u16>().map_err(|_| bad());
    let dt = der::DateTime::new(
        num(d[0])?,
        num(d[1])? as u8,
        num(d[2])? as u8,
        num(tm[0])? as u8,
        num(tm[1])? as u8,
        tm.get(2).map(|x| num(x)).transpose()?.unwrap_or(0) as u8,
    )
    .map_err(|_| bad())?;
    Ok(dt.to_system_time())
}
