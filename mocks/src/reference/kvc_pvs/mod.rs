//! The reference practice system (PVS): a small simulator of a system under test in the role
//! `kvc-pvs` that conforms to "Anbindung an KV-Connect" V4.1 (KVC-Anb010 … KVC-Anb170).
//!
//! It sends KV-Connect messages over SMTP with implicit TLS (its own small client on
//! tokio-rustls, byte-exact: what [`ReferencePvs::compose`] returns is what the server captures)
//! and fetches over POP3 with implicit TLS, verifying the server certificate against the
//! configured CA and server name.
//!
//! The REST transport of the same PVS is [`rest::RestPvs`]; it shares the
//! message composition and the faults.
//!
//! Named faults ([`PvsFault`]) each break exactly one requirement; they are printed and parsed
//! as the requirement ID (`KVC-Anb170`), so `--fault KVC-Anb170` selects one.

mod compose;
mod faults;
pub mod rest;
mod rest_xml;

pub use compose::{MessageIds, compose_message};
pub use faults::PvsFault;
pub use rest::{RestFetchReport, RestPvs, RestPvsConfig, StoredMessage};

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::mail::client::MailClient;
use crate::net::client::{ClientError, client_tls_config, server_name};
use crate::net::lineio::dot_stuff;

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
    /// Connecting, the TLS handshake (e.g. the server certificate was refused: no credentials
    /// were sent) or the line protocol failed in a client.
    #[error(transparent)]
    Client(#[from] ClientError),
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

impl PvsError {
    /// The server answered something the client cannot use.
    pub(crate) fn protocol(
        what: &'static str,
        command: impl Into<String>,
        reply: impl Into<String>,
    ) -> PvsError {
        PvsError::Client(ClientError::Protocol {
            what,
            command: command.into(),
            reply: reply.into(),
        })
    }
}

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

    async fn connect(&self, what: &'static str, addr: SocketAddr) -> Result<MailClient, PvsError> {
        let tls = client_tls_config(
            self.has(PvsFault::AcceptsAnyCertificate),
            &self.config.ca_pem,
        )?;
        let name = server_name(&self.config.server_name)?;
        Ok(MailClient::connect(what, addr, &name, tls).await?)
    }

    async fn smtp_send(&self, to: &[String], message: &[u8]) -> Result<(), PvsError> {
        let mut c = self.connect("SMTP", self.config.smtp).await?;
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
        let mut c = self.connect("POP3", self.config.pop3).await?;
        c.pop3_expect("greeting").await?;
        c.pop3_cmd(&format!("USER {}", self.config.user)).await?;
        c.pop3_cmd_masked(&format!("PASS {}", self.config.password), "PASS")
            .await?;
        let stat = c.pop3_cmd("STAT").await?;
        let n: usize = stat
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| PvsError::protocol("POP3", "STAT", stat.clone()))?;
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

#[cfg(test)]
mod tests {
    use super::compose::wrong_case;
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
