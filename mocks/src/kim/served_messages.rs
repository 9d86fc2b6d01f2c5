//! KOM-LE messages a mock Fachdienst mailbox serves to a Clientmodul under test, built with the
//! KOM-LE builder of `kvc-smime` on the card test PKI, one variant per thing a receiving
//! Clientmodul must handle (KIM-FACTS §2.2, §1.2).

use kvc_smime::card_pki::{Card, CardKeyRole};
use kvc_smime::message::{KomLeFaults, KomLeMessage, build_komle_message};

use crate::error::MockError;

/// What a served message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KomLeVariant {
    /// Signed by the sender's C.SIG, encrypted to the recipient's and the sender's C.ENC.
    Valid,
    /// The signed content changed after signing (integrity check result 02).
    TamperedSignature,
    /// Encrypted to the sender only: the recipient's card cannot open it.
    WrongRecipient,
    /// A plain mail without the KOM-LE envelope (no X-KOM-LE-Version).
    NotKomLe,
    /// KIM 1.5 with the client mail on the KAS: one `x-kas` part with the KIM-Attachment
    /// structure (A_19359-07), e.g. a link to the mock KAS.
    KasReduced { attachment_json: String },
    /// Two `x-kas` parts (A_19369: must not be processed).
    TwoAttachmentStructures { attachment_json: String },
}

impl KomLeVariant {
    /// The variant's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            KomLeVariant::Valid => "valid",
            KomLeVariant::TamperedSignature => "tampered-signature",
            KomLeVariant::WrongRecipient => "wrong-recipient",
            KomLeVariant::NotKomLe => "not-kom-le",
            KomLeVariant::KasReduced { .. } => "kas-reduced",
            KomLeVariant::TwoAttachmentStructures { .. } => "two-attachment-structures",
        }
    }
}

/// One side of a served message: its KIM address and card.
#[derive(Debug, Clone, Copy)]
pub struct Party<'a> {
    pub mail: &'a str,
    pub card: &'a Card,
}

fn x_kas_part(json: &str) -> String {
    format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: x-kas\r\n\r\n{json}\r\n"
    )
}

/// The client mail inside (CRLF, 7-bit).
fn client_mail(from: &str, to: &str, message_id: &str, variant: &KomLeVariant) -> String {
    let head = format!(
        "Date: Mon, 07 Dec 2026 09:00:00 +0100\r\nFrom: <{from}>\r\nTo: <{to}>\r\n\
         Subject: Arztbrief kvc-check\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n\
         X-KIM-Dienstkennung: KIM-Mail;Default;V1.0\r\nX-KIM-Sendersystem: kvc-check;1.0\r\n"
    );
    match variant {
        KomLeVariant::KasReduced { attachment_json } => {
            format!("{head}{}", x_kas_part(attachment_json))
        }
        KomLeVariant::TwoAttachmentStructures { attachment_json } => format!(
            "{head}Content-Type: multipart/mixed; boundary=\"kvc-b\"\r\n\r\n--kvc-b\r\n{}--kvc-b\r\n{}--kvc-b--\r\n",
            x_kas_part(attachment_json),
            x_kas_part(attachment_json)
        ),
        _ => format!(
            "{head}Content-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag,\r\nanbei der Befund.\r\n"
        ),
    }
}

/// A served message of `variant` from `sender` to `recipient`, `message_id` without brackets.
pub fn build(
    variant: &KomLeVariant,
    sender: Party<'_>,
    recipient: Party<'_>,
    message_id: &str,
) -> Result<Vec<u8>, MockError> {
    let inner = client_mail(sender.mail, recipient.mail, message_id, variant);
    if *variant == KomLeVariant::NotKomLe {
        return Ok(inner.into_bytes());
    }
    let key = |card: &Card, role| {
        card.key(role)
            .map(|k| k.rsa.clone())
            .ok_or_else(|| MockError::Pki(format!("card without {role:?} key")))
    };
    let signer = key(sender.card, CardKeyRole::Sig)?;
    let sender_enc = key(sender.card, CardKeyRole::Enc)?.certificate;
    let recipient_enc = key(recipient.card, CardKeyRole::Enc)?.certificate;
    let recipients = if *variant == KomLeVariant::WrongRecipient {
        Vec::new()
    } else {
        vec![(recipient.mail.to_string(), recipient_enc)]
    };
    let kas = matches!(
        variant,
        KomLeVariant::KasReduced { .. } | KomLeVariant::TwoAttachmentStructures { .. }
    );
    let message = KomLeMessage {
        inner: inner.as_bytes(),
        sender_signature: &signer,
        sender: (sender.mail.to_string(), sender_enc),
        recipients,
        version: if kas { "1.5" } else { "1.0" }.to_string(),
        faults: KomLeFaults {
            tamper_signed_content: *variant == KomLeVariant::TamperedSignature,
            ..KomLeFaults::default()
        },
    };
    build_komle_message(&message).map_err(|e| MockError::Pki(format!("KOM-LE message: {e}")))
}
