//! How the reference PVS composes a KV-Connect message (headers, MIME body, attachments), with
//! its faults applied; deterministic given the message ids.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::*;

/// The per-message values that are random in normal operation; fixed in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIds {
    /// Message-ID without angle brackets, `<uuid>@<host>`.
    pub message_id: String,
    /// RFC 5322 date-time.
    pub date: String,
    pub boundary: String,
    /// 0-based number of the message among those this PVS composed (for
    /// [`PvsFault::SendersystemInconsistent`]).
    pub sequence: usize,
}

impl MessageIds {
    /// Fresh random values: a v4 UUID Message-ID on the sender's domain, the current date.
    pub fn fresh(from: &str, sequence: usize) -> MessageIds {
        let host = from
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('>'))
            .filter(|d| !d.is_empty())
            .unwrap_or("kvc-check.invalid");
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".into());
        MessageIds {
            message_id: format!("{}@{host}", uuid::Uuid::new_v4()),
            date,
            boundary: format!("=_kvc_{}", uuid::Uuid::new_v4().simple()),
            sequence,
        }
    }
}

/// Header field value with RFC 2047 encoding if it is not plain ASCII.
fn header_text(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        s.to_string()
    } else {
        format!("=?utf-8?B?{}?=", B64.encode(s))
    }
}

fn base64_lines(data: &[u8], out: &mut String) {
    let enc = B64.encode(data);
    for chunk in enc.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
}

fn safe_filename(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim().is_empty() {
        "anhang.bin".into()
    } else {
        cleaned
    }
}

/// Composes the message for `req` from sender `from` with `faults` applied, CRLF line ends
/// (unless [`PvsFault::BareLf`]). Deterministic given `ids`.
pub fn compose_message(
    from: &str,
    req: &SendRequest,
    faults: &BTreeSet<PvsFault>,
    ids: &MessageIds,
) -> Vec<u8> {
    let has = |f: PvsFault| faults.contains(&f);
    let (dienstkennung, subject) = match &req.application {
        Application::Arztbrief => (
            if has(PvsFault::DienstkennungWrongCase) {
                WRONG_CASE_ARZTBRIEF.to_string()
            } else {
                ARZTBRIEF_DIENSTKENNUNG.to_string()
            },
            if has(PvsFault::WrongSubject) {
                WRONG_ARZTBRIEF_SUBJECT.to_string()
            } else {
                ARZTBRIEF_SUBJECT.to_string()
            },
        ),
        Application::Unspecified => (
            if has(PvsFault::InventedDienstkennung) {
                INVENTED_DIENSTKENNUNG.to_string()
            } else if has(PvsFault::DienstkennungWrongCase) {
                wrong_case(FALLBACK_DIENSTKENNUNG)
            } else {
                FALLBACK_DIENSTKENNUNG.to_string()
            },
            if has(PvsFault::PersonalDataInSubject) {
                PERSONAL_SUBJECT.to_string()
            } else {
                req.subject
                    .clone()
                    .unwrap_or_else(|| NEUTRAL_SUBJECT.into())
            },
        ),
        Application::Other {
            dienstkennung,
            subject,
        } => (
            if has(PvsFault::DienstkennungWrongCase) {
                wrong_case(dienstkennung)
            } else {
                dienstkennung.clone()
            },
            subject.clone(),
        ),
    };
    let sendersystem = if has(PvsFault::SendersystemWithoutVersion) {
        SENDERSYSTEM
            .split(';')
            .next()
            .unwrap_or(SENDERSYSTEM)
            .to_string()
    } else if has(PvsFault::SendersystemInconsistent) && ids.sequence % 2 == 1 {
        SENDERSYSTEM_OTHER_SPELLING.to_string()
    } else {
        SENDERSYSTEM.to_string()
    };
    let message_id = if has(PvsFault::MessageIdWithoutBrackets) {
        ids.message_id.clone()
    } else {
        format!("<{}>", ids.message_id)
    };

    let mut m = String::new();
    m.push_str(&format!("Date: {}\r\n", ids.date));
    m.push_str(&format!("From: {from}\r\n"));
    m.push_str(&format!("To: {}\r\n", req.to.join(", ")));
    if has(PvsFault::BccHeader) {
        m.push_str(&format!("Bcc: {from}\r\n"));
    }
    m.push_str(&format!("Subject: {}\r\n", header_text(&subject)));
    m.push_str(&format!("Message-ID: {message_id}\r\n"));
    m.push_str("MIME-Version: 1.0\r\n");
    if !has(PvsFault::NoSendersystem) {
        m.push_str(&format!("X-KVC-Sendersystem: {sendersystem}\r\n"));
    }
    if !has(PvsFault::NoDienstkennung) {
        m.push_str(&format!("X-KVC-Dienstkennung: {dienstkennung}\r\n"));
    }
    let b = &ids.boundary;
    m.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n"
    ));
    m.push_str("This is a multi-part message in MIME format.\r\n");
    // text part, line ends normalised to CRLF
    let text: Vec<&str> = req
        .body
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut text = text.join("\r\n");
    if !text.ends_with("\r\n") {
        text.push_str("\r\n");
    }
    m.push_str(&format!(
        "--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n"
    ));
    // 7bit where possible (readable, and dot-stuffing is exercised); base64 for non-ASCII text,
    // over-long lines or a bare CR.
    let plain_ok = text.is_ascii()
        && text.split("\r\n").all(|l| l.len() <= 998)
        && !text.replace("\r\n", "").contains('\r');
    if plain_ok {
        m.push_str("Content-Transfer-Encoding: 7bit\r\n\r\n");
        m.push_str(&text);
    } else {
        m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        base64_lines(text.as_bytes(), &mut m);
    }
    if let Some((name, content)) = &req.attachment {
        let name = safe_filename(name);
        m.push_str(&format!(
            "--{b}\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        base64_lines(content, &mut m);
    }
    m.push_str(&format!("--{b}--\r\n"));
    let bytes = m.into_bytes();
    if has(PvsFault::BareLf) {
        crlf_to_lf(&bytes)
    } else {
        bytes
    }
}

/// Every CRLF as a bare LF (the KVC-Anb023 fault); a lone CR stays.
pub(crate) fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The same Dienstkennung with the case of its second part (the Sendungstyp) changed; the
/// application part and the version keep their spelling.
pub(super) fn wrong_case(value: &str) -> String {
    let parts: Vec<&str> = value.split(';').collect();
    match parts.as_slice() {
        [app, typ, rest @ ..] => {
            let lower = typ.to_lowercase();
            let changed = if lower != *typ {
                lower
            } else {
                typ.to_uppercase()
            };
            let mut out = vec![app.to_string(), changed];
            out.extend(rest.iter().map(|r| r.to_string()));
            out.join(";")
        }
        _ => value.to_lowercase(),
    }
}
