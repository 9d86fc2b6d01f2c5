//! PKCS#12 (RFC 7292) reading and writing.
//!
//! Own implementation because `p12-keystore`/`pkcs12` pin a `cms` prerelease that conflicts with
//! the one this crate uses. Reads: MAC SHA-1/SHA-256 (PKCS#12 KDF), shrouded key bags with
//! PBES2 (PBKDF2 + AES-CBC) or legacy pbeWithSHAAnd3-KeyTripleDES-CBC, certificate bags in plain
//! data or encrypted with PBES2, 3DES or RC2 (40/128 bit; gematik's sample files use RC2-40).
//! Writes: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) key bag, plain certificate bags,
//! HMAC-SHA256 MAC — the OpenSSL 3 default profile, readable without `-legacy`.

use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use cms::content_info::ContentInfo;
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use crate::ber;
use crate::error::{ErrorKind, Result, SmimeError};
use crate::oids;

#[derive(Clone, Debug, Sequence)]
struct Pfx {
    version: u8,
    auth_safe: ContentInfo,
    mac_data: Option<MacData>,
}

#[derive(Clone, Debug, Sequence)]
struct MacData {
    mac: DigestInfo,
    mac_salt: OctetString,
    #[asn1(default = "one")]
    iterations: u32,
}
fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct SafeBag {
    bag_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    bag_value: Any,
    bag_attributes: Option<SetOfVec<Attribute>>,
}

#[derive(Clone, Debug, Sequence)]
struct CertBag {
    cert_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    cert_value: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct EncryptedPrivateKeyInfo {
    algorithm: AlgorithmIdentifierOwned,
    data: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct Pbe1Params {
    salt: OctetString,
    iterations: u32,
}

/// Contents of a PKCS#12 file.
#[derive(Clone, Debug)]
pub struct Pkcs12Contents {
    /// PKCS#8 `PrivateKeyInfo` DER of each key found.
    pub keys: Vec<Vec<u8>>,
    /// Certificates found (end-entity first when the file says which one belongs to the key).
    pub certificates: Vec<Certificate>,
}

fn bmp_password(password: &str) -> Vec<u8> {
    let mut out: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    out.extend_from_slice(&[0, 0]);
    out
}

/// PKCS#12 key derivation (RFC 7292 appendix B.2) for SHA-1 or SHA-256 (block size 64).
fn kdf<D: Digest>(
    password: &[u8],
    salt: &[u8],
    id: u8,
    iterations: u32,
    out_len: usize,
) -> Vec<u8> {
    const V: usize = 64;
    let u = <D as Digest>::output_size();
    let fill = |src: &[u8]| -> Vec<u8> {
        if src.is_empty() {
            return Vec::new();
        }
        let n = V * src.len().div_ceil(V);
        (0..n).map(|i| src[i % src.len()]).collect()
    };
    let d = vec![id; V];
    let mut i_buf = fill(salt);
    i_buf.extend(fill(password));
    let mut out = Vec::with_capacity(out_len + u);
    while out.len() < out_len {
        let mut a = D::new()
            .chain_update(&d)
            .chain_update(&i_buf)
            .finalize()
            .to_vec();
        for _ in 1..iterations.max(1) {
            a = D::digest(&a).to_vec();
        }
        let b: Vec<u8> = (0..V).map(|k| a[k % u]).collect();
        for chunk in i_buf.chunks_mut(V) {
            let mut carry = 1u16;
            for k in (0..V).rev() {
                let s = chunk[k] as u16 + b[k] as u16 + carry;
                chunk[k] = s as u8;
                carry = s >> 8;
            }
        }
        out.extend_from_slice(&a);
    }
    out.truncate(out_len);
    out
}

fn any_octets(any: &Any, input: &str) -> Result<Vec<u8>> {
    let der = any
        .to_der()
        .map_err(|e| SmimeError::bad_input(input, format!("PKCS#12 content: {e}")))?;
    ber::octet_string_bytes(&der).map_err(|e| e.with_input(input))
}

fn wrong_password(input: &str) -> SmimeError {
    SmimeError::new(
        ErrorKind::WrongPassword,
        input,
        "the PKCS#12 password is wrong (integrity MAC does not match)",
    )
}

fn pbe_decrypt(
    alg: &AlgorithmIdentifierOwned,
    data: &[u8],
    password: &str,
    input: &str,
) -> Result<Vec<u8>> {
    let bad_pw = || {
        SmimeError::new(
            ErrorKind::WrongPassword,
            input,
            "decryption with the given password failed (wrong PKCS#12 password)",
        )
    };
    if alg.oid == oids::PBES2 {
        let der = alg
            .to_der()
            .map_err(|e| SmimeError::bad_input(input, e.to_string()))?;
        let scheme = pkcs5::EncryptionScheme::try_from(der.as_slice())
            .map_err(|e| SmimeError::unsupported(input, format!("PBES2 parameters: {e}")))?;
        return scheme
            .decrypt(password.as_bytes(), data)
            .map_err(|_| bad_pw());
    }
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| SmimeError::bad_input(input, "PBE algorithm without parameters"))?;
    let params = Pbe1Params::from_ber(
        &params
            .to_der()
            .map_err(|e| SmimeError::bad_input(input, e.to_string()))?,
    )
    .map_err(|e| SmimeError::bad_input(input, format!("PBE parameters: {e}")))?;
    let pw = bmp_password(password);
    let salt = params.salt.as_bytes();
    let it = params.iterations;
    if it > 10_000_000 {
        return Err(SmimeError::bad_input(
            input,
            "PBE iteration count absurdly high",
        ));
    }
    if alg.oid == oids::PBE_SHA1_3DES {
        let key = kdf::<Sha1>(&pw, salt, 1, it, 24);
        let iv = kdf::<Sha1>(&pw, salt, 2, it, 8);
        let dec = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(|e| SmimeError::build(e.to_string()))?;
        return dec.decrypt_padded_vec::<Pkcs7>(data).map_err(|_| bad_pw());
    }
    if alg.oid == oids::PBE_SHA1_RC2_40 || alg.oid == oids::PBE_SHA1_RC2_128 {
        let bytes = if alg.oid == oids::PBE_SHA1_RC2_40 {
            5
        } else {
            16
        };
        let key = kdf::<Sha1>(&pw, salt, 1, it, bytes);
        let iv = kdf::<Sha1>(&pw, salt, 2, it, 8);
        let cipher = rc2::Rc2::new_with_eff_key_len(&key, bytes * 8);
        let dec = <cbc::Decryptor<rc2::Rc2> as cbc::cipher::InnerIvInit>::inner_iv_slice_init(
            cipher, &iv,
        )
        .map_err(|e| SmimeError::build(e.to_string()))?;
        return dec.decrypt_padded_vec::<Pkcs7>(data).map_err(|_| bad_pw());
    }
    Err(SmimeError::unsupported(
        input,
        format!("PKCS#12 encryption algorithm {}", alg.oid),
    ))
}

/// Parse a PKCS#12 file. `input` names it in errors.
pub fn parse(bytes: &[u8], password: &str, input: &str) -> Result<Pkcs12Contents> {
    let pfx = Pfx::from_ber(bytes)
        .map_err(|e| SmimeError::bad_input(input, format!("not a PKCS#12 file: {e}")))?;
    if pfx.auth_safe.content_type != oids::ID_DATA {
        return Err(SmimeError::unsupported(
            input,
            "PKCS#12 with public-key integrity mode is not supported",
        ));
    }
    let auth_safe = any_octets(&pfx.auth_safe.content, input)?;
    if let Some(mac) = &pfx.mac_data {
        let pw = bmp_password(password);
        let salt = mac.mac_salt.as_bytes();
        let expected = mac.mac.digest.as_bytes();
        let ok = if mac.mac.algorithm.oid == oids::SHA1 {
            let key = kdf::<Sha1>(&pw, salt, 3, mac.iterations, 20);
            let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(&key)
                .map_err(|e| SmimeError::build(e.to_string()))?;
            m.update(&auth_safe);
            m.verify_slice(expected).is_ok()
        } else if mac.mac.algorithm.oid == oids::SHA256 {
            let key = kdf::<Sha256>(&pw, salt, 3, mac.iterations, 32);
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
                .map_err(|e| SmimeError::build(e.to_string()))?;
            m.update(&auth_safe);
            m.verify_slice(expected).is_ok()
        } else {
            return Err(SmimeError::unsupported(
                input,
                format!("PKCS#12 MAC digest {}", mac.mac.algorithm.oid),
            ));
        };
        if !ok {
            return Err(wrong_password(input));
        }
    }
    let safes = Vec::<ContentInfo>::from_ber(&auth_safe)
        .map_err(|e| SmimeError::bad_input(input, format!("PKCS#12 AuthenticatedSafe: {e}")))?;
    let mut out = Pkcs12Contents {
        keys: Vec::new(),
        certificates: Vec::new(),
    };
    for ci in safes {
        let contents = if ci.content_type == oids::ID_DATA {
            any_octets(&ci.content, input)?
        } else if ci.content_type == oids::ID_ENCRYPTED_DATA {
            let der = ci
                .content
                .to_der()
                .map_err(|e| SmimeError::bad_input(input, e.to_string()))?;
            let ed = cms::encrypted_data::EncryptedData::from_ber(&der)
                .map_err(|e| SmimeError::bad_input(input, format!("PKCS#12 EncryptedData: {e}")))?;
            let ct = ed
                .enc_content_info
                .encrypted_content
                .as_ref()
                .map(|o| o.as_bytes().to_vec())
                .unwrap_or_default();
            pbe_decrypt(&ed.enc_content_info.content_enc_alg, &ct, password, input)?
        } else {
            continue;
        };
        let bags = Vec::<SafeBag>::from_ber(&contents)
            .map_err(|e| SmimeError::bad_input(input, format!("PKCS#12 SafeContents: {e}")))?;
        for bag in bags {
            let value = bag
                .bag_value
                .to_der()
                .map_err(|e| SmimeError::bad_input(input, e.to_string()))?;
            if bag.bag_id == oids::PKCS12_SHROUDED_KEY_BAG {
                let epki = EncryptedPrivateKeyInfo::from_ber(&value)
                    .map_err(|e| SmimeError::bad_input(input, format!("shrouded key bag: {e}")))?;
                out.keys.push(pbe_decrypt(
                    &epki.algorithm,
                    epki.data.as_bytes(),
                    password,
                    input,
                )?);
            } else if bag.bag_id == oids::PKCS12_KEY_BAG {
                out.keys.push(value);
            } else if bag.bag_id == oids::PKCS12_CERT_BAG {
                let cb = CertBag::from_ber(&value)
                    .map_err(|e| SmimeError::bad_input(input, format!("certificate bag: {e}")))?;
                if cb.cert_id == oids::X509_CERTIFICATE {
                    let cert = Certificate::from_der(cb.cert_value.as_bytes()).map_err(|e| {
                        SmimeError::bad_input(input, format!("certificate in PKCS#12: {e}"))
                    })?;
                    out.certificates.push(cert);
                }
            }
        }
    }
    if out.keys.is_empty() && out.certificates.is_empty() {
        return Err(SmimeError::bad_input(
            input,
            "PKCS#12 file contains neither key nor certificate",
        ));
    }
    Ok(out)
}

/// Write a PKCS#12 file with one private key (PKCS#8 DER) and its certificate chain
/// (end-entity first). Key bag: PBES2 PBKDF2-HMAC-SHA256 (2048 iterations) + AES-256-CBC;
/// MAC: HMAC-SHA256 with the PKCS#12 KDF.
pub fn build(
    pkcs8_der: &[u8],
    chain: &[Certificate],
    password: &str,
    friendly_name: &str,
) -> Result<Vec<u8>> {
    build_with(pkcs8_der, chain, Some(password), friendly_name)
}

/// Like [`build`], but not protected at all: the key in a plain key bag and no MAC (what
/// `openssl pkcs12 -export -keypbe NONE -certpbe NONE -nomac` writes), as a KIM Account Manager
/// returns from createCert when no `certPassword` was given.
pub fn build_unprotected(
    pkcs8_der: &[u8],
    chain: &[Certificate],
    friendly_name: &str,
) -> Result<Vec<u8>> {
    build_with(pkcs8_der, chain, None, friendly_name)
}

fn build_with(
    pkcs8_der: &[u8],
    chain: &[Certificate],
    password: Option<&str>,
    friendly_name: &str,
) -> Result<Vec<u8>> {
    use rand::Rng;
    let b = |e: der::Error| SmimeError::build(format!("PKCS#12: {e}"));
    let mut rng = rand::rng();
    let (key_bag_id, key_bag_value) = match password {
        Some(password) => {
            let mut salt = [0u8; 16];
            rng.fill_bytes(&mut salt);
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut iv);
            let params =
                pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, &salt, iv)
                    .map_err(|e| SmimeError::build(e.to_string()))?;
            let scheme = pkcs5::EncryptionScheme::from(params);
            let encrypted = scheme
                .encrypt(password.as_bytes(), pkcs8_der)
                .map_err(|e| SmimeError::build(e.to_string()))?;
            let alg =
                AlgorithmIdentifierOwned::from_der(&scheme.to_der().map_err(b)?).map_err(b)?;
            let epki = EncryptedPrivateKeyInfo {
                algorithm: alg,
                data: OctetString::new(encrypted).map_err(b)?,
            };
            (
                oids::PKCS12_SHROUDED_KEY_BAG,
                Any::encode_from(&epki).map_err(b)?,
            )
        }
        None => (oids::PKCS12_KEY_BAG, Any::from_der(pkcs8_der).map_err(b)?),
    };
    let local_key_id = chain
        .first()
        .map(|c| c.to_der().map(|d| Sha1::digest(&d).to_vec()))
        .transpose()
        .map_err(b)?
        .unwrap_or_else(|| vec![1]);
    let attrs = |with_name: bool| -> Result<SetOfVec<Attribute>> {
        let mut v = vec![Attribute {
            oid: oids::LOCAL_KEY_ID,
            values: SetOfVec::try_from(vec![
                Any::encode_from(&OctetString::new(local_key_id.clone()).map_err(b)?).map_err(b)?,
            ])
            .map_err(b)?,
        }];
        if with_name {
            let bmp = der::asn1::BmpString::from_utf8(friendly_name).map_err(b)?;
            v.push(Attribute {
                oid: oids::FRIENDLY_NAME,
                values: SetOfVec::try_from(vec![Any::encode_from(&bmp).map_err(b)?]).map_err(b)?,
            });
        }
        SetOfVec::try_from(v).map_err(b)
    };
    let key_bag = SafeBag {
        bag_id: key_bag_id,
        bag_value: key_bag_value,
        bag_attributes: Some(attrs(true)?),
    };
    let mut cert_bags = Vec::new();
    for (i, c) in chain.iter().enumerate() {
        let cb = CertBag {
            cert_id: oids::X509_CERTIFICATE,
            cert_value: OctetString::new(c.to_der().map_err(b)?).map_err(b)?,
        };
        cert_bags.push(SafeBag {
            bag_id: oids::PKCS12_CERT_BAG,
            bag_value: Any::encode_from(&cb).map_err(b)?,
            bag_attributes: if i == 0 { Some(attrs(true)?) } else { None },
        });
    }
    let data_ci = |bags: Vec<SafeBag>| -> Result<ContentInfo> {
        let der = bags.to_der().map_err(b)?;
        Ok(ContentInfo {
            content_type: oids::ID_DATA,
            content: Any::encode_from(&OctetString::new(der).map_err(b)?).map_err(b)?,
        })
    };
    let auth_safe = vec![data_ci(cert_bags)?, data_ci(vec![key_bag])?]
        .to_der()
        .map_err(b)?;
    let mac_data = match password {
        Some(password) => {
            let mut mac_salt = [0u8; 16];
            rng.fill_bytes(&mut mac_salt);
            let iterations = 2048;
            let key = kdf::<Sha256>(&bmp_password(password), &mac_salt, 3, iterations, 32);
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
                .map_err(|e| SmimeError::build(e.to_string()))?;
            m.update(&auth_safe);
            let digest = m.finalize().into_bytes().to_vec();
            Some(MacData {
                mac: DigestInfo {
                    algorithm: crate::asn1::alg_null(oids::SHA256),
                    digest: OctetString::new(digest).map_err(b)?,
                },
                mac_salt: OctetString::new(mac_salt.to_vec()).map_err(b)?,
                iterations,
            })
        }
        None => None,
    };
    let pfx = Pfx {
        version: 3,
        auth_safe: ContentInfo {
            content_type: oids::ID_DATA,
            content: Any::encode_from(&OctetString::new(auth_safe).map_err(b)?).map_err(b)?,
        },
        mac_data,
    };
    pfx.to_der().map_err(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unprotected_container_has_a_plain_key_bag_and_no_mac() {
        // An Ed25519 PKCS#8 PrivateKeyInfo (RFC 8410): the container does not care which key.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&[7u8; 32]);
        let p12 = build_unprotected(&der, &[], "x").unwrap();
        let pfx = Pfx::from_der(&p12).unwrap();
        assert!(pfx.mac_data.is_none());
        let read = parse(&p12, "", "unprotected.p12").unwrap();
        assert_eq!(read.keys, vec![der.clone()]);
        // The protected form needs its password; the unprotected one opens with any.
        let protected = build(&der, &[], "geheim", "x").unwrap();
        assert!(parse(&protected, "falsch", "protected.p12").is_err());
        assert_eq!(
            parse(&protected, "geheim", "protected.p12").unwrap().keys,
            vec![der]
        );
    }

    #[test]
    fn kdf_matches_known_vector() {
        // RFC 7292 style vector (from OpenSSL's test suite / BouncyCastle PKCS12 tests):
        // password "smeg", salt 0A58CF64530D823F, id 1, iterations 1, 24 bytes, SHA-1.
        let pw = bmp_password("smeg");
        let salt = [0x0A, 0x58, 0xCF, 0x64, 0x53, 0x0D, 0x82, 0x3F];
        let key = kdf::<Sha1>(&pw, &salt, 1, 1, 24);
        assert_eq!(
            crate::asn1::hex(&key),
            "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3"
        );
    }
}
