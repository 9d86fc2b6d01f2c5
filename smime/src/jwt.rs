//! JWTs signed with a card's C.AUT key (the Account Manager's bearer tokens, CM A_19457-02,
//! KOM-LE-A_2187): the signer certificate travels in `x5c`, must chain to the card CAs, and its
//! key verifies the JWS. RSA keys sign PS256 (jsonwebtoken verifies); brainpoolP256r1 keys sign
//! ECDSA over SHA-256, announced as `BP256R1` or, loosely, `ES256` (verified with `bp256`:
//! jsonwebtoken has no brainpool). The time claims are checked as KIM 1.5.3 has them: `iat` and
//! `exp` (or the older `nbf`), a lifetime of at most `max_lifetime`.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use der::Decode;
use x509_cert::Certificate;

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a compact JWS: {0}")]
    Malformed(String),
    #[error("no x5c certificate in the header")]
    NoCertificate,
    #[error("x5c certificate not trusted: {0}")]
    Untrusted(String),
    #[error("alg `{alg}` does not fit the certificate's {key} key")]
    AlgorithmMismatch { alg: String, key: &'static str },
    #[error("signature does not verify with the x5c certificate")]
    BadSignature,
    #[error("not valid yet (nbf/iat {0} s in the future)")]
    NotYetValid(u64),
    #[error("expired {0} s ago")]
    Expired(u64),
    #[error("claim `{0}` missing or not a number")]
    MissingClaim(&'static str),
    #[error("lifetime {0} s exceeds the maximum of {1} s")]
    LifetimeTooLong(u64, u64),
}

/// A token that passed.
#[derive(Debug, Clone)]
pub struct CardJwt {
    pub alg: String,
    pub claims: serde_json::Value,
    pub signer: Certificate,
    /// The TelematikID of the signer certificate's admission, if any.
    pub telematik_id: Option<String>,
}

fn part(segment: &str, what: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| JwtError::Malformed(format!("{what} is not base64url: {e}")))
}

fn secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Checks a verifier leaves out on purpose: only the reference Fachdienst's named faults set
/// these (KOM-LE-A_2187); every real check uses [`verify_card_jwt`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Omissions {
    /// The JWS signature is not verified.
    pub signature: bool,
    /// `nbf` / `iat` in the future are accepted.
    pub not_before: bool,
}

/// Verifies `token` against the card CAs in `trust` at `now`, allowing `leeway` of clock skew.
pub fn verify_card_jwt(
    token: &str,
    trust: &[Certificate],
    now: SystemTime,
    max_lifetime: Duration,
    leeway: Duration,
) -> Result<CardJwt, JwtError> {
    verify_card_jwt_omitting(
        token,
        trust,
        now,
        max_lifetime,
        leeway,
        Omissions::default(),
    )
}

/// [`verify_card_jwt`] without the checks named in `omit`.
pub fn verify_card_jwt_omitting(
    token: &str,
    trust: &[Certificate],
    now: SystemTime,
    max_lifetime: Duration,
    leeway: Duration,
    omit: Omissions,
) -> Result<CardJwt, JwtError> {
    let mut segments = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(JwtError::Malformed(
            "three dot-separated parts expected".into(),
        ));
    };
    let header: serde_json::Value = serde_json::from_slice(&part(h, "header")?)
        .map_err(|e| JwtError::Malformed(format!("header is not JSON: {e}")))?;
    let claims: serde_json::Value = serde_json::from_slice(&part(p, "payload")?)
        .map_err(|e| JwtError::Malformed(format!("payload is not JSON: {e}")))?;
    let alg = header["alg"].as_str().unwrap_or("").to_string();
    let x5c = header["x5c"][0].as_str().ok_or(JwtError::NoCertificate)?;
    let der = STANDARD
        .decode(x5c)
        .map_err(|e| JwtError::Malformed(format!("x5c is not base64: {e}")))?;
    let cert = Certificate::from_der(&der)
        .map_err(|e| JwtError::Malformed(format!("x5c is not a certificate: {e}")))?;
    crate::cms::validate_chain(&cert, &[], trust, now)
        .map_err(|p| JwtError::Untrusted(p.explain()))?;
    let message = format!("{h}.{p}");
    let brainpool = cert
        .tbs_certificate()
        .subject_public_key_info()
        .algorithm
        .parameters
        .as_ref()
        .and_then(|a| a.decode_as::<der::asn1::ObjectIdentifier>().ok())
        == Some(crate::oids::BRAINPOOL_P256R1);
    let ok = match (alg.as_str(), brainpool) {
        ("PS256", false) => {
            let key = crate::cms::cert_public_key(&cert)
                .map_err(|e| JwtError::Untrusted(e.to_string()))?;
            use rsa::traits::PublicKeyParts;
            let decoding = jsonwebtoken::DecodingKey::from_rsa_raw_components(
                &key.n().to_be_bytes_trimmed_vartime(),
                &key.e().to_be_bytes_trimmed_vartime(),
            );
            jsonwebtoken::crypto::verify(
                s,
                message.as_bytes(),
                &decoding,
                jsonwebtoken::Algorithm::PS256,
            )
            .unwrap_or(false)
        }
        ("BP256R1" | "ES256", true) => {
            verify_brainpool(&cert, message.as_bytes(), &part(s, "signature")?)
        }
        (_, bp) => {
            return Err(JwtError::AlgorithmMismatch {
                alg,
                key: if bp { "brainpoolP256r1" } else { "RSA" },
            });
        }
    };
    if !ok && !omit.signature {
        return Err(JwtError::BadSignature);
    }
    let now_s = secs(now);
    let leeway_s = leeway.as_secs() as i64;
    let claim = |name| claims[name].as_i64();
    let exp = claim("exp").ok_or(JwtError::MissingClaim("exp"))?;
    let start = claim("iat")
        .or_else(|| claim("nbf"))
        .ok_or(JwtError::MissingClaim("iat"))?;
    for t in [claim("nbf"), claim("iat")].into_iter().flatten() {
        if t > now_s + leeway_s && !omit.not_before {
            return Err(JwtError::NotYetValid((t - now_s) as u64));
        }
    }
    if exp <= now_s - leeway_s {
        return Err(JwtError::Expired((now_s - exp) as u64));
    }
    let lifetime = (exp - start).max(0) as u64;
    if lifetime > max_lifetime.as_secs() {
        return Err(JwtError::LifetimeTooLong(lifetime, max_lifetime.as_secs()));
    }
    let telematik_id = crate::card_pki::telematik_id(&cert).ok().flatten();
    Ok(CardJwt {
        alg,
        claims,
        signer: cert,
        telematik_id,
    })
}

/// A compact JWS over `claims`, signed PS256 with a card's C.AUT RSA key, its certificate in
/// `x5c`: what a Clientmodul sends the Account Manager (CM A_19457-02).
pub fn sign_card_jwt(
    key: &crate::pki::CertifiedKey,
    claims: &serde_json::Value,
) -> crate::error::Result<String> {
    use der::Encode;
    use sha2::Digest;
    let der = key
        .certificate
        .to_der()
        .map_err(|e| crate::error::SmimeError::build(format!("x5c certificate: {e}")))?;
    let header = serde_json::json!({"alg": "PS256", "typ": "JWT", "x5c": [STANDARD.encode(der)]});
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let hash = sha2::Sha256::digest(message.as_bytes());
    let signature = key
        .key
        .sign_with_rng(
            &mut rand::rng(),
            rsa::pss::Pss::<sha2::Sha256>::new_with_salt(32),
            &hash,
        )
        .map_err(|e| crate::error::SmimeError::build(format!("JWT signature: {e}")))?;
    Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// ECDSA brainpoolP256r1 with SHA-256; the JWS signature is r‖s (64 bytes).
fn verify_brainpool(cert: &Certificate, message: &[u8], signature: &[u8]) -> bool {
    use ecdsa::signature::Verifier;
    let spki = cert.tbs_certificate().subject_public_key_info();
    let Some(point) = spki.subject_public_key.as_bytes() else {
        return false;
    };
    let Ok(key) = ecdsa::VerifyingKey::<bp256::BrainpoolP256r1>::from_sec1_bytes(point) else {
        return false;
    };
    let Ok(sig) = bp256::r1::ecdsa::Signature::from_slice(signature) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card_pki::{CardKeyRole, CardKind, CardPki, CardVariant, Holder};

    #[test]
    fn a_signed_card_token_verifies_and_a_forged_one_only_without_the_signature_check() {
        let pki = CardPki::generate().unwrap();
        let holder = Holder::practice(
            "80276001011699901340",
            "5-SMC-B-Testkarte-883110000095957",
            "Ida",
            "Rosenstrauch",
        );
        let card = pki
            .card(CardKind::SmcB, &holder, CardVariant::Valid)
            .unwrap();
        let aut = &card.key(CardKeyRole::Aut).unwrap().rsa;
        let now = SystemTime::now();
        let iat = secs(now);
        let token = sign_card_jwt(aut, &serde_json::json!({"iat": iat, "exp": iat + 300})).unwrap();
        let hour = Duration::from_secs(3600);
        let ok = verify_card_jwt(&token, &pki.trust_anchors(), now, hour, Duration::ZERO).unwrap();
        assert_eq!(ok.alg, "PS256");
        assert_eq!(
            ok.telematik_id.as_deref(),
            Some("5-SMC-B-Testkarte-883110000095957")
        );
        // Another payload under the same signature.
        let (head, rest) = token.split_once('.').unwrap();
        let sig = rest.split_once('.').unwrap().1;
        let forged = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(serde_json::json!({"iat": iat, "exp": iat + 301}).to_string())
        );
        let refused = verify_card_jwt(&forged, &pki.trust_anchors(), now, hour, Duration::ZERO);
        assert_eq!(refused.unwrap_err(), JwtError::BadSignature);
        let omit = Omissions {
            signature: true,
            not_before: false,
        };
        assert!(
            verify_card_jwt_omitting(
                &forged,
                &pki.trust_anchors(),
                now,
                hour,
                Duration::ZERO,
                omit
            )
            .is_ok()
        );
    }
}
