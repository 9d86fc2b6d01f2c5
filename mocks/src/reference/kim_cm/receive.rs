//! The receive path of the reference Clientmodul: what the client system gets for one message
//! of the Fachdienst mailbox. A KOM-LE message (A_21390: it carries X-KOM-LE-Version) of a
//! supported version is decrypted (DecryptDocument) and its signature verified
//! (VerifyDocument) through the Konnektor; the client mail is delivered with the result
//! headers, the Vermerke and the outer Return-Path/Received (KOM-LE-A_2179, KOM-LE-A_2050,
//! A_21236, A_20628). Failures become error mails (KOM-LE-A_2046/2047, A_21391) or the
//! replaced content plus a DSN to the sender (A_23165).

use std::time::SystemTime;

use super::send::rfc5322_date;
use super::texts;
use super::{CmConfig, CmFault};
use crate::kim::konnektor::client::{KonnektorClient, KonnektorError};

/// What receiving one message gave: the message for the client system and, where the sender
/// must be told, a DSN to send through the MTA (recipient, message).
pub(crate) struct Received {
    pub delivered: Vec<u8>,
    pub dsn: Option<(String, Vec<u8>)>,
}

/// Header fields of `raw` (name, unfolded raw value) and where the body starts.
fn fields(raw: &[u8]) -> (Vec<(String, String)>, usize) {
    let (end, body) = match memchr::memmem::find(raw, b"\r\n\r\n") {
        Some(i) => (i, i + 4),
        None => (raw.len(), raw.len()),
    };
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push_str("\r\n");
                last.1.push_str(line);
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.to_string(), v.trim_start().to_string()));
        }
    }
    (out, body)
}

fn get<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Return-Path and Received of the outer message, as the delivered one carries them on top
/// (A_21236, A_20628).
fn trace_fields(config: &CmConfig, outer: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in outer {
        let copy = (n.eq_ignore_ascii_case("Return-Path") && !config.has(CmFault::NoReturnPath))
            || (n.eq_ignore_ascii_case("Received") && !config.has(CmFault::NoReceived));
        if copy {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
    }
    out
}

const COPIED: [&str; 7] = [
    "Date",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Message-ID",
];

/// An error mail (KOM-LE-A_2046, A_21391): multipart/mixed with the error text and the
/// original as message/rfc822, originator and recipient fields copied, a fixed subject.
fn error_mail(outer_raw: &[u8], subject: &str, extra: &[(String, String)], text: &str) -> Vec<u8> {
    let (outer, _) = fields(outer_raw);
    let boundary = format!("kvc-check-cm-{}", uuid::Uuid::new_v4().simple());
    let mut m = String::new();
    for (n, v) in &outer {
        if n.eq_ignore_ascii_case("Return-Path")
            || n.eq_ignore_ascii_case("Received")
            || COPIED.iter().any(|c| c.eq_ignore_ascii_case(n))
        {
            m.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    m.push_str(&format!("Subject: {subject}\r\n"));
    for (n, v) in extra {
        m.push_str(&format!("{n}: {v}\r\n"));
    }
    m.push_str(&format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
    ));
    let mut out = m.into_bytes();
    out.extend_from_slice(outer_raw);
    if !outer_raw.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// The Vermerk block appended to the text of a delivered message (KOM-LE-A_2179, KOM-LE-A_2050).
fn vermerk(config: &CmConfig) -> String {
    let mut v = format!("\r\n{}\r\n", texts::VERMERK_SEPARATOR);
    if !config.has(CmFault::NoDecryptedVermerk) {
        v.push_str(texts::VERMERK_DECRYPTED);
        v.push_str("\r\n");
    }
    v.push_str(texts::VERMERK_SIGNATURE_VALID);
    v.push_str("\r\n");
    v
}

/// `body` with `addition` at the end of its first text/plain part (the whole body when the
/// message is not multipart).
fn append_to_text(content_type: &str, body: &[u8], addition: &str) -> Vec<u8> {
    let lower = content_type.to_ascii_lowercase();
    let boundary = lower.find("boundary=").map(|i| {
        content_type[i + 9..]
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .to_string()
    });
    let mut out = body.to_vec();
    match boundary.filter(|b| !b.is_empty() && lower.starts_with("multipart/")) {
        None => {
            if !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(addition.as_bytes());
        }
        Some(b) => {
            let delimiter = format!("\r\n--{b}");
            let text_start = memchr::memmem::find(body, b"text/plain").unwrap_or(0);
            if let Some(end) = memchr::memmem::find(&body[text_start..], delimiter.as_bytes()) {
                let at = text_start + end;
                out = body[..at].to_vec();
                out.extend_from_slice(addition.trim_end_matches("\r\n").as_bytes());
                out.extend_from_slice(&body[at..]);
            }
        }
    }
    out
}

/// The DSN that tells the sender of an integrity failure (A_23165): unsigned, unencrypted,
/// multipart/report (RFC 3464) with the result header.
fn integrity_dsn(me: &str, sender: &str, original: &[(String, String)], code: &str) -> Vec<u8> {
    let boundary = format!("kvc-check-dsn-{}", uuid::Uuid::new_v4().simple());
    let subject = get(original, "Subject").unwrap_or("");
    let message_id = get(original, "Message-ID").unwrap_or("");
    format!(
        "From: <{me}>\r\nTo: <{sender}>\r\nDate: {}\r\nMessage-ID: <{}@kvc-check-cm.kim.telematik-test>\r\nSubject: Sicherheitsverletzung beim Empfang: {subject}\r\nX-KIM-IntegrityCheckResult: {code}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDie Integritätsprüfung Ihrer Nachricht {message_id} an {me} ist fehlgeschlagen (X-KIM-IntegrityCheckResult {code}).\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; kvc-check-cm.kim.telematik-test\r\n\r\nFinal-Recipient: rfc822; {me}\r\nAction: failed\r\nStatus: 5.7.0\r\n--{boundary}--\r\n",
        rfc5322_date(SystemTime::now()),
        uuid::Uuid::new_v4()
    )
    .into_bytes()
}

fn decryption_failed(config: &CmConfig, raw: &[u8], result_id: &str) -> Received {
    let (code, text) = texts::decryption_error(result_id);
    let mut extra = Vec::new();
    if !config.has(CmFault::NoFehlermeldung) {
        extra.push(("X-KIM-Fehlermeldung".to_string(), code.to_string()));
    }
    if !config.has(CmFault::NoDecryptionResult) {
        extra.push(("X-KIM-DecryptionResult".to_string(), result_id.to_string()));
    }
    let mut delivered = error_mail(raw, texts::SUBJECT_NOT_DECRYPTED, &extra, text);
    if config.has(CmFault::ErrorMailWithoutOriginal) {
        delivered = plain_error_mail(raw, texts::SUBJECT_NOT_DECRYPTED, &extra, text);
    }
    Received {
        delivered,
        dsn: None,
    }
}

/// The error mail of the KOM-LE-A_2046 fault: the text alone, the original not attached.
fn plain_error_mail(
    outer_raw: &[u8],
    subject: &str,
    extra: &[(String, String)],
    text: &str,
) -> Vec<u8> {
    let (outer, _) = fields(outer_raw);
    let mut m = String::new();
    for (n, v) in &outer {
        if COPIED.iter().any(|c| c.eq_ignore_ascii_case(n)) {
            m.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    m.push_str(&format!("Subject: {subject}\r\n"));
    for (n, v) in extra {
        m.push_str(&format!("{n}: {v}\r\n"));
    }
    m.push_str(&format!(
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    ));
    m.into_bytes()
}

/// Receives one message of `me`'s Fachdienst mailbox.
pub(crate) async fn receive(
    config: &CmConfig,
    konnektor: Result<&(KonnektorClient, String), &KonnektorError>,
    me: &str,
    raw: &[u8],
) -> Received {
    let (outer, _) = fields(raw);
    let Some(version) = get(&outer, "X-KOM-LE-Version").map(str::trim) else {
        if config.has(CmFault::TreatsPlainAsKomLe) {
            return decryption_failed(config, raw, "02");
        }
        // A_21390: no X-KOM-LE-Version, no KOM-LE message: delivered as it came.
        return Received {
            delivered: raw.to_vec(),
            dsn: None,
        };
    };
    if !["1.0", "1.5"].contains(&version) && !config.has(CmFault::UnsupportedVersionDelivered) {
        let extra = vec![(
            "X-KIM-Fehlermeldung".to_string(),
            texts::FEHLERMELDUNG_UNSUPPORTED_VERSION.to_string(),
        )];
        return Received {
            delivered: error_mail(
                raw,
                texts::SUBJECT_UNSUPPORTED_VERSION,
                &extra,
                texts::TEXT_UNSUPPORTED_VERSION,
            ),
            dsn: None,
        };
    }
    let Ok((konnektor, handle)) = konnektor else {
        return decryption_failed(config, raw, "03");
    };
    let Ok(envelope) = kvc_smime::message::cms_from_message(raw, "KOM-LE message") else {
        if config.has(CmFault::ProcessesNonProfile) {
            return Received {
                delivered: raw.to_vec(),
                dsn: None,
            };
        }
        // KOM-LE-A_2042: outside the S/MIME profile: not processed, reported as wrong format.
        return decryption_failed(config, raw, "02");
    };
    let plain = match konnektor.decrypt_document(handle, &envelope).await {
        Ok(p) => p,
        Err(KonnektorError::Unreachable(_)) => return decryption_failed(config, raw, "03"),
        Err(_) => return decryption_failed(config, raw, "01"),
    };
    // The plaintext is the signed-data entity: a MIME header and the binary SignedData.
    let (_, body_at) = fields(&plain);
    let signed = &plain[body_at.min(plain.len())..];
    let inner = kvc_smime::cms::signed_content(signed, "SignedData")
        .ok()
        .flatten()
        .map(|wrapped| {
            let (_, at) = fields(&wrapped);
            wrapped[at.min(wrapped.len())..].to_vec()
        });
    let Some(inner) = inner else {
        return decryption_failed(config, raw, "02");
    };
    let integrity = match konnektor.verify_document(signed).await {
        Ok(v) => match v.code {
            Some(code) => texts::integrity_result(code),
            None if v.high_level_result == "VALID" => "01",
            None => "02",
        },
        Err(KonnektorError::Fault { code, .. }) => texts::integrity_result(code),
        Err(_) => "06",
    };
    // A KIM 1.5 message whose client mail is on the KAS (A_19369..A_19374).
    let inner = if ok_integrity(integrity) {
        match fetch_from_kas(config, me, raw, &inner).await {
            Kas::NotThere => inner,
            Kas::Fetched(_) if config.has(CmFault::DeliversReduced) => inner,
            Kas::Fetched(mail) => mail,
            Kas::Failed(received) => return received,
        }
    } else {
        inner
    };
    let (inner_fields, inner_body) = fields(&inner);
    let mut delivered = trace_fields(config, &outer);
    delivered.extend_from_slice(b"X-KIM-DecryptionResult: 00\r\n");
    let ok = ok_integrity(integrity);
    if !(ok && config.has(CmFault::NoIntegrityResult)) {
        delivered
            .extend_from_slice(format!("X-KIM-IntegrityCheckResult: {integrity}\r\n").as_bytes());
    }
    if ok || config.has(CmFault::DeliversTampered) {
        let content_type = get(&inner_fields, "Content-Type").unwrap_or("text/plain");
        for (n, v) in &inner_fields {
            delivered.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        delivered.extend_from_slice(b"\r\n");
        let body = &inner[inner_body.min(inner.len())..];
        if ok {
            delivered.extend_from_slice(&append_to_text(content_type, body, &vermerk(config)));
        } else {
            delivered.extend_from_slice(body);
        }
        return Received {
            delivered,
            dsn: None,
        };
    }
    // A_23165: the content is replaced; the sender learns of it by an unsigned DSN.
    replaced(
        config,
        me,
        &outer,
        &inner_fields,
        integrity,
        texts::INTEGRITY_REPLACEMENT,
    )
}

/// A message whose content is not delivered (A_23165, A_19372): the trace and result fields,
/// the client mail's addressing fields, `text` instead of its content; the sender is told by
/// an unsigned DSN carrying the same X-KIM-IntegrityCheckResult.
fn replaced(
    config: &CmConfig,
    me: &str,
    outer: &[(String, String)],
    inner_fields: &[(String, String)],
    integrity: &str,
    text: &str,
) -> Received {
    let mut delivered = trace_fields(config, outer);
    delivered.extend_from_slice(b"X-KIM-DecryptionResult: 00\r\n");
    delivered.extend_from_slice(format!("X-KIM-IntegrityCheckResult: {integrity}\r\n").as_bytes());
    for (n, v) in inner_fields {
        let keep = [
            "Date",
            "From",
            "Sender",
            "Reply-To",
            "To",
            "Cc",
            "Message-ID",
            "Subject",
        ]
        .iter()
        .any(|c| c.eq_ignore_ascii_case(n))
            || n.to_ascii_lowercase().starts_with("x-kim-");
        if keep && !n.eq_ignore_ascii_case("X-KIM-IntegrityCheckResult") {
            delivered.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
    }
    delivered.extend_from_slice(
        format!(
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
        )
        .as_bytes(),
    );
    let sender = get(inner_fields, "From")
        .map(|f| match (f.rfind('<'), f.rfind('>')) {
            (Some(a), Some(b)) if a < b => f[a + 1..b].to_string(),
            _ => f.trim().to_string(),
        })
        .unwrap_or_default();
    let dsn = (!sender.is_empty()).then(|| {
        (
            sender.clone(),
            integrity_dsn(me, &sender, inner_fields, integrity),
        )
    });
    Received { delivered, dsn }
}

fn ok_integrity(code: &str) -> bool {
    code == "01" || code == "07"
}

/// What the KAS part of a received message gave.
enum Kas {
    /// No KIM-Attachment structure: the client mail is inside.
    NotThere,
    /// The client mail, downloaded, decrypted and its hash checked.
    Fetched(Vec<u8>),
    /// What the client system gets instead.
    Failed(Received),
}

/// A_19369..A_19374: download, decrypt and check the client mail a KIM-Attachment structure
/// points to.
async fn fetch_from_kas(config: &CmConfig, me: &str, raw: &[u8], inner: &[u8]) -> Kas {
    use base64::Engine;
    let structures = super::kas::attachment_structures(inner);
    let error = |subject: &str, code: &str, text: &str| {
        let extra = vec![("X-KIM-Fehlermeldung".to_string(), code.to_string())];
        Kas::Failed(Received {
            delivered: error_mail(raw, subject, &extra, text),
            dsn: None,
        })
    };
    let s = match structures.as_slice() {
        [] => return Kas::NotThere,
        [one] => one,
        [first, ..] if config.has(CmFault::ProcessesAmbiguous) => first,
        _ => {
            return Kas::Failed(Received {
                delivered: error_mail(
                    raw,
                    texts::SUBJECT_KAS_AMBIGUOUS,
                    &[],
                    texts::TEXT_KAS_AMBIGUOUS,
                ),
                dsn: None,
            });
        }
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let (outer, _) = fields(raw);
    // A_23512: a client mail above 15 MiB only for an account whose komLeData says `1.5+`.
    let size = s["size"]
        .as_u64()
        .or_else(|| get(&outer, "X-KIM-KAS-Size").and_then(|v| v.trim().parse::<u64>().ok()));
    if size.is_some_and(|n| n > config.kas_threshold_bytes as u64)
        && !config.has(CmFault::ReceivesLargeWithoutConsent)
        && let super::send::Lookup::Found(own) = super::send::lookup(config, me).await
        && own.version != "1.5+"
    {
        return error(
            texts::SUBJECT_LARGE_NOT_ENABLED,
            texts::FEHLERMELDUNG_LARGE_NOT_ENABLED,
            texts::SUBJECT_LARGE_NOT_ENABLED,
        );
    }
    let Some(link) = s["link"].as_str() else {
        return error(
            texts::SUBJECT_KAS_DOWNLOAD,
            texts::FEHLERMELDUNG_KAS_DOWNLOAD,
            "Die KIM-Attachment-Struktur nennt keinen link.",
        );
    };
    let data = match super::kas::download(&config.ca_pem, link, me, config.backend_timeout).await {
        Ok(d) => d,
        Err(f) if f.status != 429 && config.has(CmFault::DownloadFailureUnreported) => {
            return Kas::NotThere;
        }
        Err(f) if f.status == 429 && !config.has(CmFault::LimitAs4006) => {
            return error(
                texts::SUBJECT_KAS_DOWNLOAD,
                texts::FEHLERMELDUNG_KAS_LIMIT,
                &format!("Der Anhang {s} konnte nicht abgerufen werden."),
            );
        }
        Err(f) => {
            return error(
                texts::SUBJECT_KAS_DOWNLOAD,
                texts::FEHLERMELDUNG_KAS_DOWNLOAD,
                &format!(
                    "Die E-Mail-Daten konnten nicht heruntergeladen werden: {}",
                    f.message
                ),
            );
        }
    };
    let plain = match s["k"]
        .as_str()
        .and_then(|k| b64.decode(k).ok())
        .and_then(|key| kvc_smime::kas::open(&data, &key).ok())
    {
        Some(p) => p,
        None if config.has(CmFault::KasDecryptFailureUnreported) => return Kas::NotThere,
        None => {
            return error(
                texts::SUBJECT_KAS_DECRYPT,
                texts::FEHLERMELDUNG_KAS_DECRYPT,
                texts::SUBJECT_KAS_DECRYPT,
            );
        }
    };
    let hash = s["hash"].as_str().and_then(|h| b64.decode(h).ok());
    if hash.as_deref() != Some(&kvc_smime::kas::hash(&plain)[..])
        && !config.has(CmFault::DeliversMismatchedData)
    {
        // A_19372: the content is replaced, the Vermerk names the checksum, the sender is told.
        let (inner_fields, _) = fields(inner);
        let text = format!(
            "{}\r\n\r\n{}",
            texts::HASH_MISMATCH_REPLACEMENT,
            texts::VERMERK_HASH_MISMATCH
        );
        return Kas::Failed(replaced(
            config,
            me,
            &outer,
            &inner_fields,
            texts::FEHLERMELDUNG_KAS_HASH,
            &text,
        ));
    }
    Kas::Fetched(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vermerk_goes_to_the_end_of_the_first_text_part() {
        let body = b"--b\r\nContent-Type: text/plain\r\n\r\nHallo\r\n--b\r\nContent-Type: application/pdf\r\n\r\nxx\r\n--b--\r\n";
        let out = append_to_text("multipart/mixed; boundary=\"b\"", body, "\r\nV\r\n");
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Hallo\r\nV\r\n--b\r\nContent-Type: application/pdf"),
            "{text}"
        );
        let single = append_to_text("text/plain", b"Hallo", "\r\nV\r\n");
        assert_eq!(single, b"Hallo\r\n\r\nV\r\n");
    }
}
