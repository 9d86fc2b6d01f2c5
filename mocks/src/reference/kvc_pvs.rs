//! The reference practice system (PVS): a small simulator of a system under test in the role
//! `kvc-pvs` that conforms to "Anbindung an KV-Connect" V4.1 (KVC-Anb010 … KVC-Anb170).
//!
//! It sends KV-Connect messages over SMTP with implicit TLS (its own small client on
//! tokio-rustls, byte-exact: what [`ReferencePvs::compose`] returns is what the server captures)
//! and fetches over POP3 with implicit TLS, verifying the server certificate against the
//! configured CA and server name.
//!
//! The REST transport of the same PVS is [`crate::reference::kvc_pvs_rest::RestPvs`]; it shares the
//! message composition and the faults.
//!
//! Named faults ([`PvsFault`]) each break exactly one requirement; they are printed and parsed
//! as the requirement ID (`KVC-Anb170`), so `--fault KVC-Anb170` selects one.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::net::lineio::{
    LineRead, dot_stuff, read_line, read_line_chunk, transcript_text, write_all_timeout,
};
use crate::net::tls::{client_config_trusting, provider};

/// `X-KVC-Sendersystem` of the reference PVS: `<product>;<version>` (KVC-Anb090/100), spelled
/// identically in every message.
pub const SENDERSYSTEM: &str = "kvc-check-reference-pvs;1.0";
/// The spelling the [`PvsFault::SendersystemInconsistent`] fault uses in every second message.
pub const SENDERSYSTEM_OTHER_SPELLING: &str = "KVC-Check-Reference-PVS;1.0";
/// Dienstkennung and Subject of the eArztbrief (registry `src/rules/kvc_applications.yaml`).
pub const ARZTBRIEF_DIENSTKENNUNG: &str = "Arztbrief;VHitG-Versand;V1.0";
pub const ARZTBRIEF_SUBJECT: &str = "Arztbrief";
/// The eNachricht fallback for an application without a specified Dienstkennung (KVC-Anb130).
pub const FALLBACK_DIENSTKENNUNG: &str = "eNachricht;Lieferung;V2.1";
/// Subject of an unspecified-application message when the request gives none (KVC-Anb150).
pub const NEUTRAL_SUBJECT: &str = "Mitteilung";
/// What the faults put in instead (each one requirement).
pub const WRONG_CASE_ARZTBRIEF: &str = "Arztbrief;vhitg-versand;V1.0";
pub const INVENTED_DIENSTKENNUNG: &str = "Praxisnachricht;Lieferung;V1.0";
pub const WRONG_ARZTBRIEF_SUBJECT: &str = "eArztbrief";
pub const PERSONAL_SUBJECT: &str = "Befund Erika Mustermann geb. 12.03.1956";

/// Applications whose messages the PVS knows on receipt (fault KVC-Anb020 skips the rest).
const KNOWN_APPS: &[&str] = &["Arztbrief", "eNachricht"];
const MAX_FETCH_BYTES: usize = 256 * 1024 * 1024;

/// One fault of the reference PVS; each breaks exactly one requirement and changes nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PvsFault {
    /// KVC-Anb010: `send` returns Ok, but nothing is sent (no SMTP transaction; on the REST
    /// transport no `POST mails`).
    NotSent,
    /// KVC-Anb020: `fetch_all` skips (neither RETR nor DELE) messages whose Dienstkennung
    /// application it does not know (it knows Arztbrief and eNachricht), after peeking with TOP.
    SkipsUnknownApplications,
    /// KVC-Anb021: accepts any server certificate (no chain, validity or name check).
    AcceptsAnyCertificate,
    /// KVC-Anb023: bare LF instead of CRLF at every line end of the message.
    BareLf,
    /// KVC-Anb090: no X-KVC-Sendersystem field.
    NoSendersystem,
    /// KVC-Anb100: X-KVC-Sendersystem without the version part (`kvc-check-reference-pvs`).
    SendersystemWithoutVersion,
    /// KVC-Anb100 ("KVC-Anb100-consistency"): every second message spells X-KVC-Sendersystem
    /// differently ([`SENDERSYSTEM_OTHER_SPELLING`]); each message alone is well-formed.
    SendersystemInconsistent,
    /// KVC-Anb110: no X-KVC-Dienstkennung field.
    NoDienstkennung,
    /// KVC-Anb120: Dienstkennung in the wrong case (`Arztbrief;vhitg-versand;V1.0`; for the
    /// fallback `eNachricht;lieferung;V2.1`). The application part keeps its case, so a
    /// registry lookup still finds the application and reports the spelling.
    DienstkennungWrongCase,
    /// KVC-Anb130: an unspecified application sends an invented Dienstkennung
    /// (`Praxisnachricht;Lieferung;V1.0`) instead of the eNachricht fallback. Only
    /// [`Application::Unspecified`] messages change.
    InventedDienstkennung,
    /// KVC-Anb140: the Arztbrief goes out with Subject `eArztbrief`. Only
    /// [`Application::Arztbrief`] messages change.
    WrongSubject,
    /// KVC-Anb150: the unspecified application's Subject carries a patient name and a labelled
    /// birth date. Only [`Application::Unspecified`] messages change.
    PersonalDataInSubject,
    /// KVC-Anb160: Message-ID without angle brackets.
    MessageIdWithoutBrackets,
    /// KVC-Anb170: a Bcc header field (with the sender's address; the envelope is unchanged).
    BccHeader,
    /// KVC-Anb022 (REST transport only): badly signed messages (bad signature, untrusted signer,
    /// signer ≠ From) are stored as valid, without a warning, instead of being discarded.
    KeepsBadSignatures,
    /// KVC-Anb080 (REST transport only): the recipient certificate's validity is not checked, so
    /// an expired (or not yet valid) certificate is used for encryption.
    EncryptsToExpiredCertificate,
    /// KVC-Anb010 ("KVC-Anb010-missing-certificate", REST transport only): a recipient without
    /// certificate is skipped; the message is posted encrypted to the others and the own
    /// certificate only, instead of aborting the send.
    IgnoresMissingCertificate,
    /// KVC-Anb010 ("KVC-Anb010-deletes-undecryptable", REST transport only): every message is
    /// deleted on the server right after its GET, before decrypting (like the INS PVS), so an
    /// undecryptable message is lost.
    DeletesUndecryptable,
    /// KVC-Anb010 ("KVC-Anb010-delete-before-fetch", REST transport only): the DELETE of a
    /// message is sent before its GET.
    DeletesBeforeFetch,
    /// KVC-Anb010 ("KVC-Anb010-ignores-send-failure", REST transport only): a `POST mails`
    /// the server refuses (non-2xx) is reported as sent.
    IgnoresSendFailure,
    /// KVC-Anb010 ("KVC-Anb010-ignores-delete-failure", REST transport only): a `DELETE` the
    /// server refuses is not reported (no warning, the receive run counts as successful).
    IgnoresDeleteFailure,
}

impl PvsFault {
    pub fn all() -> &'static [PvsFault] {
        use PvsFault::*;
        &[
            NotSent,
            SkipsUnknownApplications,
            AcceptsAnyCertificate,
            BareLf,
            NoSendersystem,
            SendersystemWithoutVersion,
            SendersystemInconsistent,
            NoDienstkennung,
            DienstkennungWrongCase,
            InventedDienstkennung,
            WrongSubject,
            PersonalDataInSubject,
            MessageIdWithoutBrackets,
            BccHeader,
            KeepsBadSignatures,
            EncryptsToExpiredCertificate,
            IgnoresMissingCertificate,
            DeletesUndecryptable,
            DeletesBeforeFetch,
            IgnoresSendFailure,
            IgnoresDeleteFailure,
        ]
    }

    /// Whether the fault acts on the REST transport ([`crate::reference::kvc_pvs_rest::RestPvs`])
    /// only; on the SMTP/POP3 transport ([`ReferencePvs`]) it changes nothing.
    pub fn rest_only(&self) -> bool {
        matches!(
            self,
            PvsFault::KeepsBadSignatures
                | PvsFault::EncryptsToExpiredCertificate
                | PvsFault::IgnoresMissingCertificate
                | PvsFault::DeletesUndecryptable
                | PvsFault::DeletesBeforeFetch
                | PvsFault::IgnoresSendFailure
                | PvsFault::IgnoresDeleteFailure
        )
    }

    /// The requirement this fault breaks.
    pub fn requirement(&self) -> &'static str {
        match self {
            PvsFault::SendersystemInconsistent => "KVC-Anb100",
            PvsFault::IgnoresMissingCertificate
            | PvsFault::DeletesUndecryptable
            | PvsFault::DeletesBeforeFetch
            | PvsFault::IgnoresSendFailure
            | PvsFault::IgnoresDeleteFailure => "KVC-Anb010",
            other => other.id(),
        }
    }

    /// The name it is printed and parsed as: the requirement ID, with a suffix where one
    /// requirement has several faults (`KVC-Anb100-consistency`).
    pub fn id(&self) -> &'static str {
        match self {
            PvsFault::NotSent => "KVC-Anb010",
            PvsFault::SkipsUnknownApplications => "KVC-Anb020",
            PvsFault::AcceptsAnyCertificate => "KVC-Anb021",
            PvsFault::BareLf => "KVC-Anb023",
            PvsFault::NoSendersystem => "KVC-Anb090",
            PvsFault::SendersystemWithoutVersion => "KVC-Anb100",
            PvsFault::SendersystemInconsistent => "KVC-Anb100-consistency",
            PvsFault::NoDienstkennung => "KVC-Anb110",
            PvsFault::DienstkennungWrongCase => "KVC-Anb120",
            PvsFault::InventedDienstkennung => "KVC-Anb130",
            PvsFault::WrongSubject => "KVC-Anb140",
            PvsFault::PersonalDataInSubject => "KVC-Anb150",
            PvsFault::MessageIdWithoutBrackets => "KVC-Anb160",
            PvsFault::BccHeader => "KVC-Anb170",
            PvsFault::KeepsBadSignatures => "KVC-Anb022",
            PvsFault::EncryptsToExpiredCertificate => "KVC-Anb080",
            PvsFault::IgnoresMissingCertificate => "KVC-Anb010-missing-certificate",
            PvsFault::DeletesUndecryptable => "KVC-Anb010-deletes-undecryptable",
            PvsFault::DeletesBeforeFetch => "KVC-Anb010-delete-before-fetch",
            PvsFault::IgnoresSendFailure => "KVC-Anb010-ignores-send-failure",
            PvsFault::IgnoresDeleteFailure => "KVC-Anb010-ignores-delete-failure",
        }
    }

    /// One line saying what the fault does.
    pub fn description(&self) -> &'static str {
        match self {
            PvsFault::NotSent => "send reports success but nothing reaches the SMTP transport",
            PvsFault::SkipsUnknownApplications => {
                "fetch skips messages of applications the PVS does not know"
            }
            PvsFault::AcceptsAnyCertificate => "accepts any server certificate",
            PvsFault::BareLf => "bare LF line ends in the message",
            PvsFault::NoSendersystem => "no X-KVC-Sendersystem",
            PvsFault::SendersystemWithoutVersion => "X-KVC-Sendersystem without version part",
            PvsFault::SendersystemInconsistent => {
                "X-KVC-Sendersystem spelled differently in every second message"
            }
            PvsFault::NoDienstkennung => "no X-KVC-Dienstkennung",
            PvsFault::DienstkennungWrongCase => "X-KVC-Dienstkennung in the wrong case",
            PvsFault::InventedDienstkennung => {
                "unspecified application with an invented Dienstkennung instead of the fallback"
            }
            PvsFault::WrongSubject => "wrong Subject for the Arztbrief",
            PvsFault::PersonalDataInSubject => {
                "patient name and birth date in the Subject of an unspecified application"
            }
            PvsFault::MessageIdWithoutBrackets => "Message-ID without angle brackets",
            PvsFault::BccHeader => "a Bcc header field",
            PvsFault::KeepsBadSignatures => {
                "REST: badly signed messages are stored as valid, without a warning"
            }
            PvsFault::EncryptsToExpiredCertificate => {
                "REST: encrypts to a recipient certificate without checking its validity"
            }
            PvsFault::IgnoresMissingCertificate => {
                "REST: a recipient without certificate is skipped instead of aborting the send"
            }
            PvsFault::DeletesUndecryptable => {
                "REST: deletes every message right after fetching it, before decrypting"
            }
            PvsFault::DeletesBeforeFetch => "REST: deletes a message before fetching it",
            PvsFault::IgnoresSendFailure => {
                "REST: reports a message as sent although the server refused it"
            }
            PvsFault::IgnoresDeleteFailure => {
                "REST: says nothing when the server refuses to delete a message"
            }
        }
    }
}

impl fmt::Display for PvsFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for PvsFault {
    type Err = PvsError;

    /// Parses the ID (case-insensitive), e.g. "KVC-Anb170" or "KVC-Anb100-consistency".
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        PvsFault::all()
            .iter()
            .find(|f| f.id().eq_ignore_ascii_case(s))
            .copied()
            .ok_or_else(|| {
                let known: Vec<&str> = PvsFault::all().iter().map(|f| f.id()).collect();
                PvsError::UnknownFault(format!(
                    "`{s}` is not a fault of the reference PVS; known: {}",
                    known.join(", ")
                ))
            })
    }
}

/// The KV-Connect application a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Application {
    /// eArztbrief: Dienstkennung `Arztbrief;VHitG-Versand;V1.0`, Subject `Arztbrief`.
    Arztbrief,
    /// An application without specified Dienstkennung: the eNachricht fallback
    /// `eNachricht;Lieferung;V2.1`, Subject from the request or [`NEUTRAL_SUBJECT`].
    Unspecified,
    /// Any other application with its specified Dienstkennung and Subject, sent as given.
    Other {
        dienstkennung: String,
        subject: String,
    },
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub to: Vec<String>,
    pub application: Application,
    /// Used for [`Application::Unspecified`] only (the other applications specify it).
    pub subject: Option<String>,
    pub body: String,
    /// File name and content of an optional attachment.
    pub attachment: Option<(String, Vec<u8>)>,
}

/// Where and as whom the reference PVS talks to the KV-Connect Client.
#[derive(Debug, Clone)]
pub struct PvsConfig {
    pub smtp: SocketAddr,
    pub pop3: SocketAddr,
    /// The name the server certificate must be valid for (e.g. "localhost").
    pub server_name: String,
    /// The CA (PEM) the server certificate must chain to.
    pub ca_pem: String,
    pub user: String,
    pub password: String,
    /// Header From and MAIL FROM.
    pub from: String,
    pub faults: BTreeSet<PvsFault>,
    /// Bound for one whole `send` or `fetch_all`.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PvsError {
    #[error("{0}")]
    UnknownFault(String),
    #[error("reference PVS configuration: {0}")]
    Config(String),
    #[error("cannot connect to {what} at {addr}: {source}")]
    Connect {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The TLS handshake failed, e.g. because the server certificate was refused; no
    /// credentials were sent.
    #[error("TLS handshake with {what} at {addr} (server name {server_name}) failed: {reason}")]
    Tls {
        what: &'static str,
        addr: SocketAddr,
        server_name: String,
        reason: String,
    },
    #[error("{what}: unexpected reply to {command}: {reply}")]
    Protocol {
        what: &'static str,
        command: String,
        reply: String,
    },
    #[error("{what}: I/O error during {stage}: {source}")]
    Io {
        what: &'static str,
        stage: String,
        source: std::io::Error,
    },
    /// A REST request was answered with a status that ends the operation (REST transport).
    #[error("REST: {request} answered HTTP {status}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Http {
        request: String,
        status: u16,
        detail: String,
    },
    /// A recipient certificate is missing, unreadable or not valid; nothing was sent (REST
    /// transport, KVC-Anb010 / KVC-Anb080).
    #[error("REST: recipient {recipient}: {reason}; the message was not sent")]
    RecipientCertificate { recipient: String, reason: String },
    #[error("{what}: {operation} did not finish within {after:?}")]
    Timeout {
        what: &'static str,
        operation: &'static str,
        after: Duration,
    },
}

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
    } else {
        bytes
    }
}

/// The same Dienstkennung with the case of its second part (the Sendungstyp) changed; the
/// application part and the version keep their spelling.
fn wrong_case(value: &str) -> String {
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

/// A verifier that accepts every certificate (fault KVC-Anb021); handshake signatures are still
/// checked so that the connection itself works.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The PVS's TLS client configuration (ring provider): the server certificate must chain to
/// `ca_pem` (and match the server name at connect time), or, with `accept_any` (fault
/// KVC-Anb021), any certificate is accepted.
pub(crate) fn pvs_tls_config(
    accept_any: bool,
    ca_pem: &str,
) -> Result<Arc<rustls::ClientConfig>, PvsError> {
    if accept_any {
        let p = provider();
        let config = rustls::ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| PvsError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(p)))
            .with_no_client_auth();
        return Ok(Arc::new(config));
    }
    client_config_trusting(ca_pem).map_err(|e| PvsError::Config(e.to_string()))
}

type Conn = BufReader<TlsStream<TcpStream>>;

/// The reference PVS.
#[derive(Debug)]
pub struct ReferencePvs {
    config: PvsConfig,
    sequence: AtomicUsize,
}

impl ReferencePvs {
    pub fn new(config: PvsConfig) -> ReferencePvs {
        ReferencePvs {
            config,
            sequence: AtomicUsize::new(0),
        }
    }

    pub fn config(&self) -> &PvsConfig {
        &self.config
    }

    fn has(&self, f: PvsFault) -> bool {
        self.config.faults.contains(&f)
    }

    /// The next message for `req`, with fresh Message-ID and Date (counts toward the sequence).
    pub fn compose(&self, req: &SendRequest) -> Vec<u8> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        compose_message(
            &self.config.from,
            req,
            &self.config.faults,
            &MessageIds::fresh(&self.config.from, n),
        )
    }

    /// Sends one message over SMTPS (AUTH PLAIN, MAIL, RCPT per recipient, DATA).
    pub async fn send(&self, req: &SendRequest) -> Result<(), PvsError> {
        self.send_message(req).await.map(|_| ())
    }

    /// Like [`ReferencePvs::send`], returning the message bytes (exactly what the server
    /// captures, without dot-stuffing).
    pub async fn send_message(&self, req: &SendRequest) -> Result<Vec<u8>, PvsError> {
        if req.to.is_empty() {
            return Err(PvsError::Config(
                "a message needs at least one recipient".into(),
            ));
        }
        let message = self.compose(req);
        if self.has(PvsFault::NotSent) {
            return Ok(message);
        }
        let after = self.config.timeout;
        match tokio::time::timeout(after, self.smtp_send(&req.to, &message)).await {
            Ok(r) => r.map(|()| message),
            Err(_) => Err(PvsError::Timeout {
                what: "SMTP",
                operation: "sending the message",
                after,
            }),
        }
    }

    /// Fetches every message over POP3S (RETR + DELE each, then QUIT), in mailbox order.
    pub async fn fetch_all(&self) -> Result<Vec<Vec<u8>>, PvsError> {
        let after = self.config.timeout;
        match tokio::time::timeout(after, self.pop3_fetch_all()).await {
            Ok(r) => r,
            Err(_) => Err(PvsError::Timeout {
                what: "POP3",
                operation: "fetching the mailbox",
                after,
            }),
        }
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, PvsError> {
        pvs_tls_config(
            self.has(PvsFault::AcceptsAnyCertificate),
            &self.config.ca_pem,
        )
    }

    async fn connect(&self, what: &'static str, addr: SocketAddr) -> Result<Conn, PvsError> {
        let tls = TlsConnector::from(self.tls_config()?);
        let name = ServerName::try_from(self.config.server_name.clone()).map_err(|e| {
            PvsError::Config(format!(
                "server name `{}` is not valid: {e}",
                self.config.server_name
            ))
        })?;
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| PvsError::Connect { what, addr, source })?;
        let _ = tcp.set_nodelay(true);
        let stream = tls.connect(name, tcp).await.map_err(|e| PvsError::Tls {
            what,
            addr,
            server_name: self.config.server_name.clone(),
            reason: e.to_string(),
        })?;
        Ok(BufReader::new(stream))
    }

    async fn smtp_send(&self, to: &[String], message: &[u8]) -> Result<(), PvsError> {
        let mut c = Wire::new("SMTP", self.connect("SMTP", self.config.smtp).await?);
        c.smtp_expect("greeting", 220).await?;
        c.smtp_cmd("EHLO kvc-check-reference-pvs", 250).await?;
        let auth = B64.encode(format!("\0{}\0{}", self.config.user, self.config.password));
        c.smtp_cmd_masked(&format!("AUTH PLAIN {auth}"), "AUTH PLAIN", 235)
            .await?;
        c.smtp_cmd(
            &format!("MAIL FROM:<{}>", bare_address(&self.config.from)),
            250,
        )
        .await?;
        for r in to {
            c.smtp_cmd(&format!("RCPT TO:<{}>", bare_address(r)), 250)
                .await?;
        }
        c.smtp_cmd("DATA", 354).await?;
        c.write(&dot_stuff(message), "DATA content").await?;
        c.smtp_expect("end of DATA", 250).await?;
        // The message is accepted; a failing QUIT does not undo that.
        let _ = c.smtp_cmd("QUIT", 221).await;
        Ok(())
    }

    async fn pop3_fetch_all(&self) -> Result<Vec<Vec<u8>>, PvsError> {
        let mut c = Wire::new("POP3", self.connect("POP3", self.config.pop3).await?);
        c.pop3_expect("greeting").await?;
        c.pop3_cmd(&format!("USER {}", self.config.user)).await?;
        c.pop3_cmd_masked(&format!("PASS {}", self.config.password), "PASS")
            .await?;
        let stat = c.pop3_cmd("STAT").await?;
        let n: usize = stat
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| PvsError::Protocol {
                what: "POP3",
                command: "STAT".into(),
                reply: stat.clone(),
            })?;
        let mut out = Vec::with_capacity(n);
        for i in 1..=n {
            if self.has(PvsFault::SkipsUnknownApplications) {
                c.pop3_cmd(&format!("TOP {i} 0")).await?;
                let header = c.pop3_multiline(MAX_FETCH_BYTES).await?;
                if !knows_application(&header) {
                    continue;
                }
            }
            c.pop3_cmd(&format!("RETR {i}")).await?;
            out.push(c.pop3_multiline(MAX_FETCH_BYTES).await?);
            c.pop3_cmd(&format!("DELE {i}")).await?;
        }
        c.pop3_cmd("QUIT").await?;
        Ok(out)
    }
}

/// `Name <a@b>` -> `a@b`.
pub(crate) fn bare_address(s: &str) -> &str {
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s.trim(),
    }
}

/// Whether the header's X-KVC-Dienstkennung names an application the PVS knows.
fn knows_application(header: &[u8]) -> bool {
    let text = String::from_utf8_lossy(header);
    for line in text.lines() {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("X-KVC-Dienstkennung")
        {
            return knows_dienstkennung(value);
        }
    }
    false
}

/// Whether an X-KVC-Dienstkennung value names an application the PVS knows.
pub(crate) fn knows_dienstkennung(value: &str) -> bool {
    let part1 = value.trim().split(';').next().unwrap_or("");
    KNOWN_APPS.contains(&part1)
}

/// A line-oriented client connection with bounded reads.
struct Wire {
    what: &'static str,
    io: Conn,
}

const IO_STEP: Duration = Duration::from_secs(3600); // the overall timeout bounds everything

impl Wire {
    fn new(what: &'static str, io: Conn) -> Wire {
        Wire { what, io }
    }

    fn io_err(&self, stage: &str, source: std::io::Error) -> PvsError {
        PvsError::Io {
            what: self.what,
            stage: stage.to_string(),
            source,
        }
    }

    async fn write(&mut self, bytes: &[u8], stage: &str) -> Result<(), PvsError> {
        write_all_timeout(self.io.get_mut(), bytes, IO_STEP)
            .await
            .map_err(|e| self.io_err(stage, e))
    }

    async fn line(&mut self, stage: &str) -> Result<String, PvsError> {
        match read_line(&mut self.io, 64 * 1024).await {
            Ok(LineRead::Line(l)) => Ok(transcript_text(&l)),
            Ok(LineRead::Eof) => Err(self.io_err(
                stage,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ),
            )),
            Ok(_) => Err(PvsError::Protocol {
                what: self.what,
                command: stage.to_string(),
                reply: "(reply line too long)".into(),
            }),
            Err(e) => Err(self.io_err(stage, e)),
        }
    }

    /// Reads a (multi-line) SMTP reply and checks its code.
    async fn smtp_expect(&mut self, stage: &str, code: u16) -> Result<String, PvsError> {
        let mut all = String::new();
        loop {
            let l = self.line(stage).await?;
            all.push_str(&l);
            if l.as_bytes().get(3) == Some(&b'-') {
                all.push('\n');
                continue;
            }
            break;
        }
        if all.get(..3) == Some(code.to_string().as_str()) {
            Ok(all)
        } else {
            Err(PvsError::Protocol {
                what: self.what,
                command: stage.to_string(),
                reply: all,
            })
        }
    }

    async fn smtp_cmd(&mut self, line: &str, code: u16) -> Result<String, PvsError> {
        self.smtp_cmd_masked(line, line, code).await
    }

    async fn smtp_cmd_masked(
        &mut self,
        line: &str,
        shown: &str,
        code: u16,
    ) -> Result<String, PvsError> {
        self.write(format!("{line}\r\n").as_bytes(), shown).await?;
        self.smtp_expect(shown, code).await
    }

    async fn pop3_expect(&mut self, stage: &str) -> Result<String, PvsError> {
        let l = self.line(stage).await?;
        if l.starts_with("+OK") {
            Ok(l)
        } else {
            Err(PvsError::Protocol {
                what: self.what,
                command: stage.to_string(),
                reply: l,
            })
        }
    }

    async fn pop3_cmd(&mut self, line: &str) -> Result<String, PvsError> {
        self.pop3_cmd_masked(line, line).await
    }

    async fn pop3_cmd_masked(&mut self, line: &str, shown: &str) -> Result<String, PvsError> {
        self.write(format!("{line}\r\n").as_bytes(), shown).await?;
        self.pop3_expect(shown).await
    }

    /// Reads a dot-terminated multi-line body and undoes the dot-stuffing.
    async fn pop3_multiline(&mut self, max: usize) -> Result<Vec<u8>, PvsError> {
        let mut out = Vec::new();
        let mut chunk = Vec::with_capacity(64 * 1024);
        let mut at_line_start = true;
        loop {
            read_line_chunk(&mut self.io, 64 * 1024, &mut chunk)
                .await
                .map_err(|e| self.io_err("multi-line response", e))?;
            if chunk.is_empty() {
                return Err(self.io_err(
                    "multi-line response",
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "server closed the connection inside a multi-line response",
                    ),
                ));
            }
            let line_start = at_line_start;
            at_line_start = chunk.ends_with(b"\n");
            let mut piece = &chunk[..];
            if line_start {
                if piece == b".\r\n" {
                    return Ok(out);
                }
                if piece.first() == Some(&b'.') {
                    piece = &piece[1..];
                }
            }
            if out.len() + piece.len() > max {
                return Err(PvsError::Protocol {
                    what: self.what,
                    command: "RETR".into(),
                    reply: format!("response larger than {max} bytes"),
                });
            }
            out.extend_from_slice(piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_print_as_ids() {
        for f in PvsFault::all() {
            assert_eq!(f.to_string().parse::<PvsFault>().unwrap(), *f);
            assert!(f.requirement().starts_with("KVC-Anb"));
        }
        assert_eq!(
            "kvc-anb170".parse::<PvsFault>().unwrap(),
            PvsFault::BccHeader
        );
        let err = "KVC-Anb999".parse::<PvsFault>().unwrap_err().to_string();
        assert!(
            err.contains("KVC-Anb999") && err.contains("KVC-Anb170"),
            "{err}"
        );
        assert_eq!(
            PvsFault::SendersystemInconsistent.requirement(),
            "KVC-Anb100"
        );
    }

    #[test]
    fn wrong_case_keeps_the_application_part() {
        assert_eq!(wrong_case(ARZTBRIEF_DIENSTKENNUNG), WRONG_CASE_ARZTBRIEF);
        assert_eq!(
            wrong_case(FALLBACK_DIENSTKENNUNG),
            "eNachricht;lieferung;V2.1"
        );
    }

    #[test]
    fn application_lookup() {
        assert!(knows_application(
            b"Subject: x\r\nX-KVC-Dienstkennung: Arztbrief;VHitG-Versand;V1.0\r\n\r\n"
        ));
        assert!(!knows_application(
            b"x-kvc-dienstkennung: LDT-Befund;Lieferung;V1.0\r\n\r\n"
        ));
        assert!(!knows_application(b"Subject: x\r\n\r\n"));
    }
}
