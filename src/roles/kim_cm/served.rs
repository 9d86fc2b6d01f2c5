//! What the Fachdienst mailbox of the client system's account holds for a case
//! (`setup.kim.mailbox`): messages from the peer, built on the card test PKI as a sending
//! Clientmodul would. The KAS variants put their client mail on the case's KAS first, uploaded
//! over HTTPS as the peer, and carry the KIM-Attachment structure that points to it (with a
//! wrong key or hash where the variant asks for one).

use std::time::{Duration, SystemTime};

use base64::Engine;
use kvc_mocks::kim::served_messages::{self, KomLeVariant, Party};
use kvc_mocks::reference::kim_cm::kas::{KasLink, upload};

use super::setup::Served;
use super::world::CmAccount;
use crate::rules::kim::KOM_LE_VERSION;

/// A client mail on the KAS above the 15 MiB of A_19357 (`kas-large`), and the small one of
/// the other KAS variants.
pub const SERVED_LARGE_BYTES: usize = 16 * 1024 * 1024;
const SERVED_SMALL_BYTES: usize = 64 * 1024;
/// The text of every served client mail; a Clientmodul that delivers one the receiver should
/// not get is caught by it.
pub const SERVED_TEXT: &str = "anbei der Befund";

/// Where the KAS variants upload, and as whom.
pub struct KasTarget<'a> {
    pub link: &'a KasLink,
    pub ca_pem: &'a str,
    pub timeout: Duration,
}

/// The client mail a KAS variant uploads: a text part and an attachment of `size` bytes in all.
fn kas_client_mail(from: &str, to: &str, message_id: &str, size: usize) -> Vec<u8> {
    let head = format!(
        "Date: Mon, 07 Dec 2026 09:00:00 +0100\r\nFrom: <{from}>\r\nTo: <{to}>\r\n\
         Subject: Arztbrief kvc-check (KAS)\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n\
         X-KIM-Dienstkennung: KIM-Mail;Default;V1.0\r\nX-KIM-Sendersystem: kvc-check;1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"kvc-kas\"\r\n\r\n\
         --kvc-kas\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag,\r\n{SERVED_TEXT}.\r\n\
         --kvc-kas\r\nContent-Type: application/octet-stream; name=\"befund.bin\"\r\n\
         Content-Disposition: attachment; filename=\"befund.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    let tail = "--kvc-kas--\r\n";
    let mut out = head.into_bytes();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    while out.len() + line.len() + tail.len() <= size {
        out.extend_from_slice(line);
    }
    out.extend_from_slice(tail.as_bytes());
    out
}

/// Uploads the client mail of a KAS variant as the peer; the KIM-Attachment structure (JSON)
/// and the client mail's size.
async fn on_kas(
    served: Served,
    peer: &CmAccount,
    me: &CmAccount,
    message_id: &str,
    kas: &KasTarget<'_>,
) -> Result<(String, usize), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let size = if served == Served::KasLarge {
        SERVED_LARGE_BYTES
    } else {
        SERVED_SMALL_BYTES
    };
    let mail = kas_client_mail(peer.practice.mail, me.practice.mail, message_id, size);
    let sealed = kvc_smime::kas::seal(&mail).map_err(|e| format!("sealing for the KAS: {e}"))?;
    let expires = time::OffsetDateTime::from(SystemTime::now() + Duration::from_secs(86_400))
        .format(&time::format_description::well_known::Rfc2822)
        .map_err(|e| e.to_string())?;
    let link = upload(
        kas.link,
        kas.ca_pem,
        peer.practice.mail,
        &peer.password,
        &format!("<{message_id}>"),
        &[me.practice.mail.to_string()],
        &expires,
        &sealed.data,
        kas.timeout,
        false,
    )
    .await
    .map_err(|f| format!("uploading to the case's KAS: {} {}", f.status, f.message))?;
    // A key or hash other than the data's, where the variant asks for one (A_19371, A_19372).
    let key = match served {
        Served::KasUndecryptable => [0x5a; 32],
        _ => sealed.key,
    };
    let hash = match served {
        Served::KasOtherHash => kvc_smime::kas::hash(b"other mail data"),
        _ => sealed.hash,
    };
    let structure = serde_json::json!({
        "link": link,
        "k": b64.encode(key),
        "hash": b64.encode(hash),
        "size": sealed.size,
    });
    Ok((structure.to_string(), sealed.size))
}

/// The client system's mailbox at the Fachdienst: each served message as the MTA would have
/// delivered it (Return-Path and Received on top).
pub async fn mailbox(
    list: &[Served],
    me: &CmAccount,
    peer: &CmAccount,
    kas: &KasTarget<'_>,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let message_id = format!("kvc-check-served-{}-{}@kim.telematik-test", i + 1, s.name());
        let mut kas_size = None;
        let variant = match s {
            Served::Valid | Served::UnsupportedVersion => KomLeVariant::Valid,
            Served::TamperedSignature => KomLeVariant::TamperedSignature,
            Served::WrongRecipient => KomLeVariant::WrongRecipient,
            Served::NotKomLe | Served::KomLeHeaderNotSmime => KomLeVariant::NotKomLe,
            Served::TwoAttachmentStructures => KomLeVariant::TwoAttachmentStructures {
                attachment_json: serde_json::json!({
                    "link": "https://localhost:9/attachments/v2.4/attachment/kvc-check-none",
                    "k": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    "hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    "size": 1,
                })
                .to_string(),
            },
            Served::KasValid
            | Served::KasUndecryptable
            | Served::KasOtherHash
            | Served::KasLarge => {
                let (attachment_json, size) = on_kas(*s, peer, me, &message_id, kas).await?;
                kas_size = Some(size);
                KomLeVariant::KasReduced { attachment_json }
            }
        };
        let mut raw = served_messages::build(
            &variant,
            Party {
                mail: peer.practice.mail,
                card: &peer.card,
            },
            Party {
                mail: me.practice.mail,
                card: &me.card,
            },
            &message_id,
        )
        .map_err(|e| format!("building the served message `{}`: {e}", s.name()))?;
        if *s == Served::KomLeHeaderNotSmime {
            let mut with = format!("{KOM_LE_VERSION}: 1.0\r\n").into_bytes();
            with.extend_from_slice(&raw);
            raw = with;
        }
        if *s == Served::UnsupportedVersion {
            let text = String::from_utf8_lossy(&raw).replacen(
                &format!("{KOM_LE_VERSION}: 1.0"),
                &format!("{KOM_LE_VERSION}: 9.9"),
                1,
            );
            raw = text.into_bytes();
        }
        if let Some(size) = kas_size {
            // A_23467: the sending Clientmodul names the size outside.
            let mut with = format!("X-KIM-KAS-Size: {size}\r\n").into_bytes();
            with.extend_from_slice(&raw);
            raw = with;
        }
        let mut delivered = format!(
            "Return-Path: <{}>\r\nReceived: from kvc-check-mta.kim.telematik-test by fachdienst.kim.telematik-test with ESMTPSA id served-{}; Mon, 07 Dec 2026 09:00:05 +0100\r\n",
            peer.practice.mail,
            i + 1
        )
        .into_bytes();
        delivered.extend_from_slice(&raw);
        out.push((me.practice.mail.to_string(), delivered));
    }
    Ok(out)
}
