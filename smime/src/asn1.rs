//! ASN.1 structures that `cms`/`x509-cert` do not provide (or provide with traps).

use cms::cert::IssuerAndSerialNumber;
use der::asn1::{Any, BitString, Ia5String, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::error::{Result, SmimeError};
use crate::oids;

/// `RSASSA-PSS-params` / `RSAES-OAEP-params` shape (all fields explicit-tagged and optional).
/// Own struct because `pkcs1::RsaPssParams` stores the salt length as `u8` and fails on
/// OpenSSL's RSA-3072 default (350).
#[derive(Clone, Debug, Sequence, Default)]
pub struct RsaParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub mgf: Option<AlgorithmIdentifierOwned>,
    /// PSS: saltLength; OAEP: pSourceFunc (kept raw).
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub third: Option<Any>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub trailer: Option<u32>,
}

/// `GCMParameters` (RFC 5084).
#[derive(Clone, Debug, Sequence)]
pub struct GcmParameters {
    pub nonce: OctetString,
    #[asn1(default = "default_icv")]
    pub icv_len: u8,
}
fn default_icv() -> u8 {
    12
}

/// gematik `RecipientEmail ::= SEQUENCE { emailAddress IA5String, rid RecipientIdentifier }`
/// (rid restricted to issuerAndSerialNumber by KOM-LE-A_2117).
#[derive(Clone, Debug, Sequence, PartialEq, Eq)]
pub struct RecipientEmailAsn1 {
    pub email_address: Ia5String,
    pub rid: IssuerAndSerialNumber,
}

/// `RecipientEmail` with the full `RecipientIdentifier` CHOICE as `rid`: reads entries whose rid
/// is a `[0] subjectKeyIdentifier` too, so the profile check can name that break
/// (KOM-LE-A_2117) instead of failing to parse the attribute.
#[derive(Clone, Debug, Sequence, PartialEq, Eq)]
pub struct RecipientEmailAnyRid {
    pub email_address: Ia5String,
    pub rid: cms::enveloped_data::RecipientIdentifier,
}

/// One entry of the recipient-emails attribute, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientEmail {
    /// E-mail address of the recipient.
    pub email: String,
    /// Issuer and serial of that recipient's encryption certificate.
    pub rid: IssuerAndSerialNumber,
}

impl RecipientEmail {
    /// Short description "addr (serial HEX)".
    pub fn describe(&self) -> String {
        format!(
            "{} (serial {})",
            self.email,
            serial_hex(&self.rid.serial_number)
        )
    }
}

/// Encode recipient-emails as an Attribute (one attribute value per recipient, as in gematik's sample).
pub fn recipient_emails_attribute(list: &[RecipientEmail]) -> Result<x509_cert::attr::Attribute> {
    let mut values = Vec::new();
    for r in list {
        let asn = RecipientEmailAsn1 {
            email_address: Ia5String::new(&r.email).map_err(|e| {
                SmimeError::build(format!("e-mail address {:?} is not IA5: {e}", r.email))
            })?,
            rid: r.rid.clone(),
        };
        let der = asn.to_der().map_err(|e| SmimeError::build(e.to_string()))?;
        values.push(Any::from_der(&der).map_err(|e| SmimeError::build(e.to_string()))?);
    }
    let values = SetOfVec::try_from(values).map_err(|e| SmimeError::build(e.to_string()))?;
    Ok(x509_cert::attr::Attribute {
        oid: oids::RECIPIENT_EMAILS,
        values,
    })
}

/// Decode the values of a recipient-emails attribute.
pub fn parse_recipient_emails(attr: &x509_cert::attr::Attribute) -> Result<Vec<RecipientEmail>> {
    let mut out = Vec::new();
    for v in attr.values.iter() {
        let der = v
            .to_der()
            .map_err(|e| SmimeError::bad_input("recipient-emails", e.to_string()))?;
        if let Ok(r) = RecipientEmailAsn1::from_ber(&der) {
            out.push(RecipientEmail {
                email: r.email_address.to_string(),
                rid: r.rid,
            });
        } else {
            return Err(SmimeError::bad_input(
                "recipient-emails",
                "attribute value is not RecipientEmail ::= SEQUENCE { IA5String, IssuerAndSerialNumber }",
            ));
        }
    }
    Ok(out)
}

/// TBSCertificate with public fields (x509-cert 0.3 keeps its fields crate-private).
#[derive(Clone, Debug, Sequence)]
pub struct TbsCert {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub version: u8,
    pub serial: SerialNumber,
    pub signature: AlgorithmIdentifierOwned,
    pub issuer: Name,
    pub validity: ValidityOwned,
    pub subject: Name,
    pub spki: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    pub extensions: Vec<Extension>,
}

/// Validity with public fields.
#[derive(Clone, Debug, Sequence)]
pub struct ValidityOwned {
    pub not_before: Time,
    pub not_after: Time,
}

/// Certificate with public fields.
#[derive(Clone, Debug, Sequence)]
pub struct CertOwned {
    pub tbs: TbsCert,
    pub alg: AlgorithmIdentifierOwned,
    pub signature: BitString,
}

/// `OBJECT IDENTIFIER` helper for use in `AlgorithmIdentifier` without parameters.
pub fn alg(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    }
}

/// `AlgorithmIdentifier` with NULL parameters.
pub fn alg_null(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::null()),
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Serial number as upper-case hex without the DER sign octet.
pub fn serial_hex(s: &SerialNumber) -> String {
    let b = s.as_bytes();
    let b = if b.len() > 1 && b[0] == 0 && b[1] & 0x80 != 0 {
        &b[1..]
    } else {
        b
    };
    hex(b)
}
