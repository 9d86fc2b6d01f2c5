//! The client mail as the KAS stores it (KIM 1.5 large mails): encrypted with a fresh AES-256
//! key per mail (A_19358-01) in GCM (A_19360-02, GS-A_5016) with a random 12-byte IV written
//! before the ciphertext, the 16-byte tag after it; the hash the KIM-Attachment structure
//! carries is SHA-256 over the plaintext (A_19372-03, A_19644). Key size, tag and hash
//! algorithm are inferred (KIM-FACTS §3: gemSpec_Krypt's text is not in our material).

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit as _};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::{Result, SmimeError};

/// Bytes of the IV in front of the ciphertext.
pub const IV_BYTES: usize = 12;
/// Bytes of the GCM tag after the ciphertext.
pub const TAG_BYTES: usize = 16;

/// A client mail sealed for the KAS.
pub struct SealedMail {
    /// IV, ciphertext, tag: what is uploaded.
    pub data: Vec<u8>,
    pub key: [u8; 32],
    /// SHA-256 of the plaintext.
    pub hash: [u8; 32],
    /// Bytes of the plaintext.
    pub size: usize,
}

impl std::fmt::Debug for SealedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("SealedMail")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of `plain`, as the KIM-Attachment structure's `hash` carries it (before base64).
pub fn hash(plain: &[u8]) -> [u8; 32] {
    Sha256::digest(plain).into()
}

/// Seals `plain` with a fresh key and IV.
pub fn seal(plain: &[u8]) -> Result<SealedMail> {
    let mut rng = rand::rng();
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let mut iv = [0u8; IV_BYTES];
    rng.fill_bytes(&mut iv);
    seal_with(plain, &key, &iv)
}

/// Seals `plain` with the given key and IV (a reference fault reuses them; everything else
/// calls [`seal`]).
pub fn seal_with(plain: &[u8], key: &[u8; 32], iv: &[u8; IV_BYTES]) -> Result<SealedMail> {
    let key = *key;
    let cipher =
        Aes256Gcm::new_from_slice(&key).map_err(|e| SmimeError::build(format!("AES key: {e}")))?;
    let nonce = aes_gcm::Nonce::try_from(&iv[..]).map_err(|_| SmimeError::build("GCM IV"))?;
    let mut data = Vec::with_capacity(IV_BYTES + plain.len() + TAG_BYTES);
    data.extend_from_slice(iv);
    data.extend_from_slice(plain);
    let tag = cipher
        .encrypt_inout_detached(&nonce, &[], data[IV_BYTES..].as_mut().into())
        .map_err(|e| SmimeError::build(format!("AES-GCM: {e}")))?;
    data.extend_from_slice(&tag);
    Ok(SealedMail {
        data,
        key,
        hash: hash(plain),
        size: plain.len(),
    })
}

/// Opens what [`seal`] made with `key`; fails on a wrong key or any changed byte.
pub fn open(data: &[u8], key: &[u8]) -> Result<Vec<u8>> {
    let bad = |m: &str| SmimeError::new(crate::ErrorKind::BadInput, "KAS data", m.to_string());
    if data.len() < IV_BYTES + TAG_BYTES {
        return Err(bad("shorter than IV and tag"));
    }
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| bad("the key is not 32 bytes"))?;
    let nonce = aes_gcm::Nonce::try_from(&data[..IV_BYTES]).map_err(|_| bad("IV"))?;
    let (body, tag) = data[IV_BYTES..].split_at(data.len() - IV_BYTES - TAG_BYTES);
    let tag = aes_gcm::Tag::try_from(tag).map_err(|_| bad("tag"))?;
    let mut plain = body.to_vec();
    cipher
        .decrypt_inout_detached(&nonce, &[], plain.as_mut_slice().into(), &tag)
        .map_err(|_| bad("does not decrypt with this key (or was changed)"))?;
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_mail_opens_with_its_key_only_and_detects_changes() {
        let plain = b"Subject: x\r\n\r\nbody".repeat(100);
        let s = seal(&plain).unwrap();
        assert_eq!(s.size, plain.len());
        assert_eq!(s.data.len(), plain.len() + IV_BYTES + TAG_BYTES);
        assert_eq!(open(&s.data, &s.key).unwrap(), plain);
        assert_eq!(s.hash, hash(&plain));
        let other = seal(&plain).unwrap();
        assert_ne!(other.key, s.key, "a fresh key per mail");
        assert_ne!(
            other.data[..IV_BYTES],
            s.data[..IV_BYTES],
            "a fresh IV per mail"
        );
        assert!(open(&s.data, &other.key).is_err());
        let mut changed = s.data.clone();
        changed[IV_BYTES + 3] ^= 1;
        assert!(open(&changed, &s.key).is_err());
        assert!(open(&s.data[..10], &s.key).is_err());
    }
}
