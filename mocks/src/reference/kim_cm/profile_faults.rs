//! The reference Clientmodul's faults of the KOM-LE S/MIME profile (KOM-LE-A_2103 .. 2127):
//! the recipient-emails it hands the Konnektor, and what it does to the SignedData and the
//! AuthEnvelopedData the Konnektor returns before the next step. The edits are those the lint
//! vectors use (`kvc_smime::message::KomLeFaults`), one profile check each.

use der::Encode;
use kvc_smime::asn1::RecipientEmail;
use kvc_smime::message::{EnvelopeParties, KomLeFaults, edit_auth_enveloped, edit_signed_data};
use x509_cert::Certificate;

use super::send::Addressee;
use super::{CmConfig, CmFault};

/// The recipient-emails attributes (DER) for SignDocument and for EncryptDocument.
pub(crate) struct RecipientEmailsDer {
    pub signed: Vec<u8>,
    pub unprotected: Vec<u8>,
}

fn attribute_der(list: &[RecipientEmail]) -> Result<Vec<u8>, String> {
    kvc_smime::asn1::recipient_emails_attribute(list)
        .map_err(|e| e.to_string())?
        .to_der()
        .map_err(|e| e.to_string())
}

/// One RecipientEmail per certificate the message is encrypted for (KOM-LE-A_2114), the same
/// list signed and unprotected (KOM-LE-A_2127), unless a fault says otherwise.
pub(crate) fn recipient_emails(
    config: &CmConfig,
    all: &[Addressee],
    sender: &Addressee,
) -> Result<RecipientEmailsDer, String> {
    let pairs: Vec<(String, Certificate)> = all
        .iter()
        .map(|a| (a.address.clone(), a.certificate.clone()))
        .collect();
    let mut list = kvc_smime::cms::recipient_emails_for(&pairs);
    if config.has(CmFault::ExtraRecipientEmail)
        && let Some(first) = list.first().cloned()
    {
        list.push(RecipientEmail {
            email: format!("kopie.{}", first.email),
            rid: first.rid,
        });
    }
    let signed: Vec<RecipientEmail> = if config.has(CmFault::SignedRecipientEmailsDiffer) {
        list.iter()
            .filter(|e| !e.email.eq_ignore_ascii_case(&sender.address))
            .cloned()
            .collect()
    } else {
        list.clone()
    };
    Ok(RecipientEmailsDer {
        signed: attribute_der(&signed)?,
        unprotected: attribute_der(&list)?,
    })
}

/// The SignedData (ContentInfo DER) as the Clientmodul puts it into the signed-data entity.
pub(crate) fn signed_data(
    config: &CmConfig,
    signed: Vec<u8>,
    first_recipient: &Certificate,
) -> Result<Vec<u8>, String> {
    let f = KomLeFaults {
        signed_data_crl: config.has(CmFault::CrlInSignedData),
        extra_certificates: if config.has(CmFault::ExtraCertificate) {
            vec![first_recipient.clone()]
        } else {
            Vec::new()
        },
        detached_signature: config.has(CmFault::DetachedSignature),
        second_signer_info: config.has(CmFault::SecondSignerInfo),
        signer_subject_key_identifier: config.has(CmFault::SignerBySki),
        unsigned_attribute: config.has(CmFault::UnsignedAttribute),
        ..KomLeFaults::default()
    };
    let edited = f.signed_data_crl
        || !f.extra_certificates.is_empty()
        || f.detached_signature
        || f.second_signer_info
        || f.signer_subject_key_identifier
        || f.unsigned_attribute;
    let mut signed = if edited {
        edit_signed_data(&signed, (None, None), &f).map_err(|e| e.to_string())?
    } else {
        signed
    };
    if config.has(CmFault::SignedEntityCrlf) {
        signed = kvc_smime::message::bare_cr_to_crlf(&signed);
    }
    Ok(signed)
}

/// The AuthEnvelopedData (ContentInfo DER) as the Clientmodul puts it into the outer message.
pub(crate) fn envelope(
    config: &CmConfig,
    envelope: Vec<u8>,
    sender: &Addressee,
    first_recipient: &Certificate,
) -> Result<Vec<u8>, String> {
    let f = KomLeFaults {
        originator_info: config.has(CmFault::OriginatorInfo),
        omit_unprotected_recipient_emails: config.has(CmFault::NoUnauthAttrs),
        kek_recipient_info: config.has(CmFault::KekRecipientInfo),
        recipient_info_subject_key_identifier: config.has(CmFault::RecipientInfoBySki),
        omit_encrypted_content: config.has(CmFault::NoEncryptedContent),
        unprotected_attribute_instead_of_recipient_emails: config
            .has(CmFault::RecipientEmailsOtherAttribute),
        recipient_email_subject_key_identifier: config.has(CmFault::RecipientEmailBySki),
        ..KomLeFaults::default()
    };
    let edited = f.originator_info
        || f.omit_unprotected_recipient_emails
        || f.kek_recipient_info
        || f.recipient_info_subject_key_identifier
        || f.omit_encrypted_content
        || f.unprotected_attribute_instead_of_recipient_emails
        || f.recipient_email_subject_key_identifier;
    if !edited {
        return Ok(envelope);
    }
    let me = (sender.address.clone(), sender.certificate.clone());
    edit_auth_enveloped(
        &envelope,
        EnvelopeParties {
            originator: &sender.certificate,
            first_recipient: Some(first_recipient),
            sender: Some(&me),
        },
        &f,
    )
    .map_err(|e| e.to_string())
}
