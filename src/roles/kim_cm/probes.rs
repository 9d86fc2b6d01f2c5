//! The kim-cm probes: the suite as the client system of a Clientmodul. Each probe is a fixed
//! SMTP or POP3 dialogue with the Clientmodul, every command and reply recorded as a
//! [`ProbeExchange`] (service `clientmodul-smtp` / `clientmodul-pop3`, labelled with what the
//! dialogue tries); a message the Clientmodul delivers over POP3 joins the evidence as a
//! delivered message, linted like a captured one. POP3 replies are recorded as status 200
//! (`+OK`) or 550 (`-ERR`), the line itself in the excerpt. A probe does not judge.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use base64::Engine;
use kvc_mocks::kim::konnektor::KnownContext;
use kvc_mocks::mail::client::MailClient;
use kvc_mocks::net::client::{ClientError, client_tls_config, server_name};
use kvc_mocks::probe::{BODY_EXCERPT_CHARS, DeliveredMessage, ProbeExchange, ProbeLog};
use kvc_mocks::reference::kim_cm::ReferenceCm;

use super::world::UNKNOWN_RECIPIENT;
use crate::runner::observe::{BoxFuture, CaseProber};

pub const SEND_AUTH_PLAIN: &str = "send_auth_plain";
pub const SEND_AUTH_LOGIN: &str = "send_auth_login";
pub const SEND_UNKNOWN_RECIPIENT: &str = "send_unknown_recipient";
pub const SEND_FOREIGN_HEADERS: &str = "send_foreign_headers";
pub const SEND_WITHOUT_DIENSTKENNUNG: &str = "send_without_dienstkennung";
pub const FETCH: &str = "fetch";
pub const FETCH_INCOMPLETE_USER: &str = "fetch_incomplete_user";
pub const SEND_LARGE: &str = "send_large";
pub const SEND_LARGE_TWICE: &str = "send_large_twice";
pub const SEND_LARGE_TO_SELF_AND_FETCH: &str = "send_large_to_self_and_fetch";
pub const ROUND_TRIP_30MB: &str = "round_trip_30mb";
pub const SEND_15MIB: &str = "send_15mib";
pub const SEND_OVER_15MIB: &str = "send_over_15mib";
pub const SEND_TEXT_OVER_25MIB: &str = "send_text_over_25mib";
pub const SEND_TO_PEER_AND_SELF: &str = "send_to_peer_and_self";
pub const SEND_20MB: &str = "send_20mb";
pub const SEND_OVER_MAX_MAIL_SIZE: &str = "send_over_max_mail_size";

/// Every probe a kim-cm case may name (`- probe: <name>`).
pub const NAMES: &[&str] = &[
    SEND_AUTH_PLAIN,
    SEND_AUTH_LOGIN,
    SEND_UNKNOWN_RECIPIENT,
    SEND_FOREIGN_HEADERS,
    SEND_WITHOUT_DIENSTKENNUNG,
    FETCH,
    FETCH_INCOMPLETE_USER,
    SEND_LARGE,
    SEND_LARGE_TWICE,
    SEND_LARGE_TO_SELF_AND_FETCH,
    ROUND_TRIP_30MB,
    SEND_15MIB,
    SEND_OVER_15MIB,
    SEND_TEXT_OVER_25MIB,
    SEND_TO_PEER_AND_SELF,
    SEND_20MB,
    SEND_OVER_MAX_MAIL_SIZE,
];

const MIB: usize = 1024 * 1024;

/// A client mail above the KAS threshold of 15 MiB (A_19357), and the 30 MB one of the
/// round trip (A_19374).
pub const LARGE_MAIL_BYTES: usize = 16 * 1024 * 1024;
pub const ROUND_TRIP_MAIL_BYTES: usize = 30 * 1000 * 1000;
/// The large mail of A_19356 (to a recipient whose KIM version may not take it).
pub const VERSION_CHECK_MAIL_BYTES: usize = 20 * 1000 * 1000;
/// The label of the exchange that records what the recipient found (`send_large`).
pub const RECIPIENT_VIEW: &str = "recipient's view";

pub const SMTP_SERVICE: &str = "clientmodul-smtp";
pub const POP3_SERVICE: &str = "clientmodul-pop3";
use kvc_mocks::kim::MAX_MAIL_SIZE;
/// The request of the exchange `send_over_max_mail_size` records last: where the mail over
/// maxMailSize was refused (the reply to MAIL FROM with SIZE, else the one at the end of DATA).
pub const SIZE_REFUSAL: &str = "refusal of the mail over maxMailSize";
/// The label of the end of DATA exchange (the Clientmodul's verdict on the client mail).
pub const END_OF_DATA: &str = "end of DATA";
/// A foreign From the client mail of `send_foreign_headers` carries.
pub const FOREIGN_FROM: &str = "jemand.anderes@praxis.example";
/// A Cc that is no RCPT TO in `send_foreign_headers`.
pub const UNCHECKED_CC: &str = "kollege@praxis.example";

/// Where the Clientmodul listens and who the client system is.
#[derive(Debug, Clone)]
pub struct CmTarget {
    /// The name the Clientmodul's server certificate carries, and the CA it chains to.
    pub cm_name: String,
    pub cm_ca_pem: String,
    /// Where the case's Fachdienst runs (the host in the user names).
    pub fd_host: String,
    pub smtp: std::net::SocketAddr,
    pub pop3: std::net::SocketAddr,
    /// The client system's KIM address and Fachdienst password.
    pub me: String,
    pub password: String,
    /// The other practice's address (a recipient with an encryption certificate).
    pub peer: String,
    /// Ports of the Fachdienst MTA and mailbox the user names point at.
    pub mta_port: u16,
    pub mailbox_port: u16,
    pub context: KnownContext,
    /// The CA of the world's services (Fachdienst, KAS).
    pub fd_ca_pem: String,
    /// The peer's Fachdienst password and card key: the suite reads what reached the peer as
    /// the peer would (`send_large`).
    pub peer_password: String,
    pub peer_key: Option<kvc_smime::PrivateKeyMaterial>,
}

impl CmTarget {
    /// `<addr>#<host>:<port>#<Mandant>#<ClientSystem>#<Workplace>` (KOM-LE-A_2010).
    pub fn user_name(&self, port: u16) -> String {
        format!(
            "{}#{}:{port}#{}#{}#{}",
            self.me,
            self.fd_host,
            self.context.mandant_id,
            self.context.client_system_id,
            self.context.workplace_id
        )
    }
}

pub struct CmProber {
    pub target: CmTarget,
    pub log: ProbeLog,
    /// The reference Clientmodul of this case, stopped with it.
    pub _reference: Option<ReferenceCm>,
}

impl CaseProber for CmProber {
    fn probe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let ctx = Ctx {
                target: &self.target,
                log: &self.log,
                probe: name,
                started: Instant::now(),
            };
            let t = &self.target;
            match name {
                SEND_AUTH_PLAIN => {
                    ctx.send(
                        "send (AUTH PLAIN)",
                        Auth::Plain,
                        &[&t.peer],
                        &ctx.mail(&[], true),
                    )
                    .await
                }
                SEND_AUTH_LOGIN => {
                    ctx.send(
                        "send (AUTH LOGIN)",
                        Auth::Login,
                        &[&t.peer],
                        &ctx.mail(&[], true),
                    )
                    .await
                }
                SEND_UNKNOWN_RECIPIENT => {
                    ctx.send(
                        "send to a known and an unknown recipient",
                        Auth::Plain,
                        &[&t.peer, UNKNOWN_RECIPIENT],
                        &ctx.mail(&[], true),
                    )
                    .await
                }
                SEND_FOREIGN_HEADERS => {
                    let mail = ctx.mail(
                        &[
                            ("From", format!("\"Jemand Anderes\" <{FOREIGN_FROM}>")),
                            ("To", format!("<{}>, <{UNKNOWN_RECIPIENT}>", t.peer)),
                            ("Cc", format!("<{UNCHECKED_CC}>")),
                        ],
                        true,
                    );
                    ctx.send(
                        "send with foreign header addresses",
                        Auth::Plain,
                        &[&t.peer],
                        &mail,
                    )
                    .await
                }
                SEND_WITHOUT_DIENSTKENNUNG => {
                    ctx.send(
                        "send without X-KIM-Dienstkennung",
                        Auth::Plain,
                        &[&t.peer],
                        &ctx.mail(&[], false),
                    )
                    .await
                }
                FETCH => ctx.fetch("fetch", &t.user_name(t.mailbox_port), true).await,
                SEND_15MIB | SEND_OVER_15MIB => {
                    // Just under and just over 15 MiB (KOM-LE-A_2004, A_23171), after a small
                    // mail as the control.
                    ctx.send("small mail", Auth::Plain, &[&t.peer], &ctx.mail(&[], true))
                        .await?;
                    let size = if name == SEND_15MIB {
                        15 * MIB - 64 * 1024
                    } else {
                        15 * MIB + 64 * 1024
                    };
                    let mail = ctx.sized_mail(&t.peer, size, false);
                    ctx.send("mail at the limit", Auth::Plain, &[&t.peer], &mail)
                        .await
                }
                SEND_TEXT_OVER_25MIB => {
                    ctx.send("small mail", Auth::Plain, &[&t.peer], &ctx.mail(&[], true))
                        .await?;
                    let mail = ctx.sized_mail(&t.peer, 25 * MIB + 64 * 1024, true);
                    ctx.send("text mail over 25 MiB", Auth::Plain, &[&t.peer], &mail)
                        .await
                }
                SEND_LARGE | SEND_LARGE_TWICE => {
                    let times = if name == SEND_LARGE { 1 } else { 2 };
                    for n in 1..=times {
                        let mail = ctx.large_mail(&t.peer, LARGE_MAIL_BYTES, n);
                        let label = format!("large mail {n}");
                        ctx.send(&label, Auth::Plain, &[&t.peer], &mail).await?;
                    }
                    ctx.recipient_view().await
                }
                SEND_LARGE_TO_SELF_AND_FETCH | ROUND_TRIP_30MB => {
                    let size = if name == ROUND_TRIP_30MB {
                        ROUND_TRIP_MAIL_BYTES
                    } else {
                        LARGE_MAIL_BYTES
                    };
                    let mail = ctx.large_mail(&t.me, size, 1);
                    ctx.send("large mail to self", Auth::Plain, &[&t.me], &mail)
                        .await?;
                    ctx.fetch("fetch", &t.user_name(t.mailbox_port), true)
                        .await?;
                    ctx.mark_intact(&mail);
                    Ok(())
                }
                SEND_TO_PEER_AND_SELF => {
                    ctx.send(
                        "send to the peer and self",
                        Auth::Plain,
                        &[&t.peer, &t.me],
                        &ctx.mail(&[], true),
                    )
                    .await
                }
                SEND_20MB => {
                    // 20 MB to the peer alone, then to the peer and self (A_19356: recipients
                    // below KIM 1.5 are removed, the others still get it).
                    let mail = ctx.large_mail(&t.peer, VERSION_CHECK_MAIL_BYTES, 1);
                    ctx.send("20 MB mail to the peer", Auth::Plain, &[&t.peer], &mail)
                        .await?;
                    let mail = ctx.large_mail(&t.peer, VERSION_CHECK_MAIL_BYTES, 2);
                    ctx.send(
                        "20 MB mail to the peer and self",
                        Auth::Plain,
                        &[&t.peer, &t.me],
                        &mail,
                    )
                    .await
                }
                SEND_OVER_MAX_MAIL_SIZE => {
                    // A small mail as the control; then one byte over maxMailSize, announced
                    // with SIZE (RFC 1870) and, if the announcement is accepted, sent: the
                    // bytes are generated while they are written, never held.
                    ctx.send("small mail", Auth::Plain, &[&t.peer], &ctx.mail(&[], true))
                        .await?;
                    let label = "mail over maxMailSize";
                    let size = MAX_MAIL_SIZE + 1;
                    ctx.dialogue(
                        label,
                        Auth::Plain,
                        &[&t.peer],
                        &format!(" SIZE={size}"),
                        Body::Generated {
                            header: ctx.mail(&[], true),
                            size,
                        },
                    )
                    .await?;
                    ctx.record_refusal(label);
                    Ok(())
                }
                FETCH_INCOMPLETE_USER => {
                    ctx.fetch("incomplete user name", &t.me, false).await?;
                    ctx.fetch("complete user name", &t.user_name(t.mailbox_port), false)
                        .await
                }
                other => Err(format!("unknown probe `{other}`")),
            }?;
            let n = self
                .log
                .exchanges()
                .iter()
                .filter(|e| e.probe == name)
                .count();
            Ok(format!("{n} exchange(s) with the Clientmodul"))
        })
    }
}

enum Auth {
    Plain,
    Login,
}

/// What a dialogue sends after DATA: a message, or a client mail of `size` bytes whose text is
/// generated while it is written (too large to hold in memory).
enum Body<'b> {
    Bytes(&'b [u8]),
    Generated { header: Vec<u8>, size: usize },
}

/// A block of 76-character lines that never start with a dot (no dot-stuffing needed).
const FILLER_LINE: &[u8; 78] =
    b"S0lNIGt2Yy1jaGVjayBtYXhNYWlsU2l6ZSBwcm9iZSAtIGZpbGxlciB0ZXh0IGZvciBBXzE5MzU1\r\n";

fn filler_block() -> Vec<u8> {
    FILLER_LINE.repeat(840)
}

impl Body<'_> {
    /// Writes the body and the terminating `.` line; the number of message bytes written.
    async fn write_to(&self, c: &mut MailClient) -> Result<usize, String> {
        match self {
            Body::Bytes(message) => {
                let mut data = dot_stuff(message);
                data.extend_from_slice(b".\r\n");
                c.write(&data, "DATA").await.map_err(|e| e.to_string())?;
                Ok(message.len())
            }
            Body::Generated { header, size } => {
                let mut head = dot_stuff(header);
                if !head.ends_with(b"\r\n") {
                    head.extend_from_slice(b"\r\n");
                }
                c.write(&head, "DATA").await.map_err(|e| e.to_string())?;
                // Whole blocks, then whole lines until the size is reached.
                let block = filler_block();
                let line = &block[..FILLER_LINE.len()];
                let mut written = head.len();
                while written < *size {
                    let piece = if written + block.len() <= *size {
                        &block[..]
                    } else {
                        line
                    };
                    c.write(piece, "DATA").await.map_err(|e| e.to_string())?;
                    written += piece.len();
                }
                c.write(b".\r\n", "DATA").await.map_err(|e| e.to_string())?;
                Ok(written)
            }
        }
    }
}

struct Ctx<'a> {
    target: &'a CmTarget,
    log: &'a ProbeLog,
    probe: &'a str,
    started: Instant,
}

impl Ctx<'_> {
    fn record(&self, service: &str, label: &str, request: &str, reply: &str, status: u16) -> usize {
        self.log.push(ProbeExchange {
            probe: self.probe.to_string(),
            label: label.to_string(),
            service: service.to_string(),
            request: request.to_string(),
            status,
            body_excerpt: (!reply.is_empty())
                .then(|| reply.chars().take(BODY_EXCERPT_CHARS).collect()),
            at_ms: self.started.elapsed().as_millis() as u64,
            ..ProbeExchange::default()
        })
    }

    fn smtp(&self, label: &str, request: &str, reply: &str) {
        let status = reply
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .unwrap_or(0);
        self.record(SMTP_SERVICE, label, request, reply, status);
    }

    fn note(&self, service: &str, label: &str, request: &str, note: String) {
        self.log.push(ProbeExchange {
            probe: self.probe.to_string(),
            label: label.to_string(),
            service: service.to_string(),
            request: request.to_string(),
            note: Some(note),
            at_ms: self.started.elapsed().as_millis() as u64,
            ..ProbeExchange::default()
        });
    }

    /// Records where the dialogue `label` was refused: its first command answered 4xx/5xx
    /// (fact `refused_at`), or its last reply when nothing was refused.
    fn record_refusal(&self, label: &str) {
        let own: Vec<ProbeExchange> = self
            .log
            .exchanges()
            .into_iter()
            .filter(|e| e.probe == self.probe && e.label == label && e.note.is_none())
            .collect();
        let refused = own.iter().find(|e| e.status >= 400);
        let Some(e) = refused.or(own.last()) else {
            self.note(
                SMTP_SERVICE,
                label,
                SIZE_REFUSAL,
                "the dialogue recorded no reply".into(),
            );
            return;
        };
        let mut summary = e.clone();
        summary.request = SIZE_REFUSAL.to_string();
        summary.facts.insert(
            "refused_at".into(),
            if refused.is_some() {
                e.request.clone()
            } else {
                "nowhere".into()
            },
        );
        summary.at_ms = self.started.elapsed().as_millis() as u64;
        self.log.push(summary);
    }

    /// A client mail from the client system to the peer; `overrides` replace header fields.
    fn mail(&self, overrides: &[(&str, String)], dienstkennung: bool) -> Vec<u8> {
        let t = self.target;
        let date = time::OffsetDateTime::from(SystemTime::now())
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let mut fields: Vec<(String, String)> = vec![
            ("Date".into(), date),
            ("From".into(), format!("<{}>", t.me)),
            ("To".into(), format!("<{}>", t.peer)),
            ("Subject".into(), format!("kvc-check {}", self.probe)),
            (
                "Message-ID".into(),
                format!("<{}@kvc-check.kim.telematik-test>", uuid::Uuid::new_v4()),
            ),
            ("MIME-Version".into(), "1.0".into()),
            ("X-KIM-Sendersystem".into(), "kvc-check;1.0".into()),
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
        ];
        if dienstkennung {
            fields.push((
                "X-KIM-Dienstkennung".into(),
                "Arztbrief;VHitG-Versand;V1.2".into(),
            ));
        }
        for (n, v) in overrides {
            match fields.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(n)) {
                Some(slot) => slot.1 = v.clone(),
                None => fields.push((n.to_string(), v.clone())),
            }
        }
        let mut out = String::new();
        for (n, v) in fields {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\nGuten Tag,\r\nanbei der Befund von kvc-check.\r\n");
        out.into_bytes()
    }

    /// A client mail of about `size` bytes to `to`: a text part and a base64 attachment of
    /// pseudo-random bytes (the same for a given `n`, different between `n`).
    fn large_mail(&self, to: &str, size: usize, n: u64) -> Vec<u8> {
        use base64::Engine;
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ n;
        let raw: Vec<u8> = (0..size * 3 / 4)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let mut body = String::with_capacity(b64.len() + b64.len() / 76 * 2 + 512);
        body.push_str("--kvc-large\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag,\r\nanbei die Bilder.\r\n--kvc-large\r\nContent-Type: application/octet-stream; name=\"bilder.bin\"\r\nContent-Disposition: attachment; filename=\"bilder.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        for chunk in b64.as_bytes().chunks(76) {
            body.push_str(std::str::from_utf8(chunk).unwrap_or(""));
            body.push_str("\r\n");
        }
        body.push_str("--kvc-large--\r\n");
        let mut mail = self.mail(
            &[
                ("To", format!("<{to}>")),
                (
                    "Content-Type",
                    "multipart/mixed; boundary=\"kvc-large\"".to_string(),
                ),
            ],
            true,
        );
        // Replace the standard body with the large one.
        if let Some(i) = memchr::memmem::find(&mail, b"\r\n\r\n") {
            mail.truncate(i + 4);
        }
        mail.extend_from_slice(body.as_bytes());
        mail
    }

    /// A client mail of exactly `size` bytes: a text part only (`text_only`), or a text part
    /// and an attachment (as [`Ctx::large_mail`]).
    fn sized_mail(&self, to: &str, size: usize, text_only: bool) -> Vec<u8> {
        let mut mail = if text_only {
            let mut m = self.mail(&[("To", format!("<{to}>"))], true);
            let line =
                b"Befundtext Befundtext Befundtext Befundtext Befundtext Befundtext 0123\r\n";
            while m.len() + line.len() <= size {
                m.extend_from_slice(line);
            }
            m
        } else {
            self.large_mail(to, size * 9 / 10, 7)
        };
        // Pad or cut to the exact size inside the last line's room.
        mail.truncate(size.min(mail.len()));
        while mail.len() < size {
            mail.push(if mail.len() + 2 == size {
                b'\r'
            } else if mail.len() + 1 == size {
                b'\n'
            } else {
                b'x'
            });
        }
        mail
    }

    /// Whether the last delivered message holds the attachment part of `sent` byte for byte
    /// (A_19374; the text part before it gets the Vermerke, so the body as a whole differs).
    fn mark_intact(&self, sent: &[u8]) {
        let marker = b"\r\n--kvc-large\r\nContent-Type: application/octet-stream";
        let body = memchr::memmem::find(sent, marker).map_or(sent, |i| &sent[i..]);
        let exchanges = self.log.exchanges();
        let Some((index, e)) = exchanges
            .iter()
            .enumerate()
            .rev()
            .find(|(_, e)| e.probe == self.probe && e.delivered.is_some())
        else {
            return;
        };
        let intact = e
            .delivered
            .as_ref()
            .is_some_and(|d| memchr::memmem::find(&d.data, body).is_some());
        let mut e = e.clone();
        e.facts
            .insert("sent_attachment_intact".into(), intact.to_string());
        e.facts
            .insert("sent_attachment_bytes".into(), body.len().to_string());
        self.log.update(index, e);
    }

    /// What reached the peer, read as the peer reads it: every message in the peer's
    /// Fachdienst mailbox opened with the peer's card key, its KIM-Attachment structure
    /// followed to the KAS, the data decrypted with `k` and hashed (A_19357..A_19365). One
    /// exchange per message, with what was found as facts (no key is recorded).
    async fn recipient_view(&self) -> Result<(), String> {
        let t = self.target;
        let Some(key) = &t.peer_key else {
            self.note(
                POP3_SERVICE,
                RECIPIENT_VIEW,
                "open",
                "no key of the peer".into(),
            );
            return Ok(());
        };
        let tls = client_tls_config(false, &t.fd_ca_pem).map_err(|e| e.to_string())?;
        let name = server_name(&t.fd_host).map_err(|e| e.to_string())?;
        let addr = tokio::net::lookup_host((t.fd_host.as_str(), t.mailbox_port))
            .await
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("the Fachdienst host resolves to no address")?;
        let mut c = match MailClient::connect("Fachdienst", addr, &name, tls).await {
            Ok(c) => c,
            Err(e) => {
                self.note(POP3_SERVICE, RECIPIENT_VIEW, "connect", e.to_string());
                return Ok(());
            }
        };
        let login = async {
            c.pop3_expect("greeting").await?;
            c.pop3_cmd(&format!("USER {}", t.peer)).await?;
            c.pop3_cmd_masked(&format!("PASS {}", t.peer_password), "PASS ****")
                .await?;
            c.pop3_cmd("STAT").await
        };
        let stat = match login.await {
            Ok(s) => s,
            Err(e) => {
                self.note(POP3_SERVICE, RECIPIENT_VIEW, "login", e.to_string());
                return Ok(());
            }
        };
        let count: usize = stat
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        for n in 1..=count {
            let raw = match c.pop3_cmd(&format!("RETR {n}")).await {
                Ok(_) => c
                    .pop3_multiline(256 * 1024 * 1024)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let mut e = ProbeExchange {
                probe: self.probe.to_string(),
                label: RECIPIENT_VIEW.into(),
                service: "fachdienst-pop3".into(),
                request: format!("message {n} of {}", t.peer),
                at_ms: self.started.elapsed().as_millis() as u64,
                ..ProbeExchange::default()
            };
            match raw {
                Ok(raw) => {
                    e.status = 200;
                    e.body_len = raw.len();
                    let facts = super::kas_view::inspect(&raw, key, &t.peer, &t.fd_ca_pem).await;
                    e.facts.extend(facts);
                }
                Err(err) => e.note = Some(err),
            }
            self.log.push(e);
        }
        let _ = c.pop3_cmd("QUIT").await;
        Ok(())
    }

    async fn connect(&self, addr: std::net::SocketAddr) -> Result<MailClient, String> {
        let tls = client_tls_config(false, &self.target.cm_ca_pem).map_err(|e| e.to_string())?;
        let name = server_name(&self.target.cm_name).map_err(|e| e.to_string())?;
        MailClient::connect("Clientmodul", addr, &name, tls)
            .await
            .map_err(|e| e.to_string())
    }

    /// One SMTP transaction with the Clientmodul; every step recorded under `label`. A refused
    /// command ends it (QUIT), a dead connection is recorded as a note.
    async fn send(
        &self,
        label: &str,
        auth: Auth,
        rcpt: &[&str],
        message: &[u8],
    ) -> Result<(), String> {
        self.dialogue(label, auth, rcpt, "", Body::Bytes(message))
            .await
    }

    /// [`Ctx::send`] with MAIL FROM parameters (` SIZE=…`) and a body that may be generated.
    async fn dialogue(
        &self,
        label: &str,
        auth: Auth,
        rcpt: &[&str],
        mail_params: &str,
        body: Body<'_>,
    ) -> Result<(), String> {
        let mut c = match self.connect(self.target.smtp).await {
            Ok(c) => c,
            Err(e) => {
                self.note(SMTP_SERVICE, label, "connect", e);
                return Ok(());
            }
        };
        let greeting = answer(c.smtp_expect("greeting", 220).await);
        self.smtp(label, "greeting", &greeting.clone().unwrap_or_default());
        if !greeting.as_deref().is_ok_and(|g| g.starts_with("220")) {
            return Ok(());
        }
        let user = self.target.user_name(self.target.mta_port);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut steps: Vec<(String, String, &[u16])> = vec![(
            "EHLO kvc-check.test".into(),
            "EHLO kvc-check.test".into(),
            &[250],
        )];
        match auth {
            Auth::Plain => steps.push((
                format!(
                    "AUTH PLAIN {}",
                    b64(&format!("\0{user}\0{}", self.target.password))
                ),
                "AUTH PLAIN ****".into(),
                &[235],
            )),
            Auth::Login => {
                steps.push(("AUTH LOGIN".into(), "AUTH LOGIN".into(), &[334]));
                steps.push((b64(&user), format!("(user name {user})"), &[334]));
                steps.push((b64(&self.target.password), "(password ****)".into(), &[235]));
            }
        }
        steps.push((
            format!("MAIL FROM:<{}>{mail_params}", self.target.me),
            format!("MAIL FROM:<{}>{mail_params}", self.target.me),
            &[250],
        ));
        let mut accepted = 0usize;
        for r in rcpt {
            steps.push((format!("RCPT TO:<{r}>"), format!("RCPT TO:<{r}>"), &[]));
        }
        for (line, shown, ok) in steps {
            let reply = match command(&mut c, &line, &shown).await {
                Ok(r) => r,
                Err(e) => {
                    self.note(SMTP_SERVICE, label, &shown, e);
                    return Ok(());
                }
            };
            self.smtp(label, &shown, &reply);
            let code: u16 = reply.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            if ok.is_empty() {
                // RCPT TO: a refusal of one recipient is an answer, the transaction goes on.
                accepted += usize::from(code == 250);
            } else if !ok.contains(&code) {
                let _ = command(&mut c, "QUIT", "QUIT").await;
                return Ok(());
            }
        }
        if accepted == 0 {
            let _ = command(&mut c, "QUIT", "QUIT").await;
            return Ok(());
        }
        let reply = match command(&mut c, "DATA", "DATA").await {
            Ok(r) => r,
            Err(e) => {
                self.note(SMTP_SERVICE, label, "DATA", e);
                return Ok(());
            }
        };
        self.smtp(label, "DATA", &reply);
        if !reply.starts_with("354") {
            return Ok(());
        }
        let index = self.record(SMTP_SERVICE, label, END_OF_DATA, "", 0);
        let written = match body.write_to(&mut c).await {
            Ok(n) => n,
            Err(e) => {
                self.note(SMTP_SERVICE, label, "message", e);
                return Ok(());
            }
        };
        let reply = answer(c.smtp_expect(END_OF_DATA, 250).await);
        let mut exchange = self.log.exchanges().get(index).cloned().unwrap_or_default();
        match reply {
            Ok(r) => {
                exchange.status = r.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                exchange.body_excerpt = Some(r.chars().take(BODY_EXCERPT_CHARS).collect());
            }
            Err(e) => exchange.note = Some(e),
        }
        exchange
            .facts
            .insert("message_bytes".into(), written.to_string());
        self.log.update(index, exchange);
        let _ = command(&mut c, "QUIT", "QUIT").await;
        Ok(())
    }

    fn pop3(&self, label: &str, request: &str, reply: Result<String, String>) -> bool {
        match reply {
            Ok(r) => {
                let ok = r.starts_with("+OK");
                self.record(POP3_SERVICE, label, request, &r, if ok { 200 } else { 550 });
                ok
            }
            Err(e) => {
                self.note(POP3_SERVICE, label, request, e);
                false
            }
        }
    }

    /// One POP3 session with the Clientmodul as `user`; with `retrieve`, every message is
    /// fetched and recorded as delivered.
    async fn fetch(&self, label: &str, user: &str, retrieve: bool) -> Result<(), String> {
        let mut c = match self.connect(self.target.pop3).await {
            Ok(c) => c,
            Err(e) => {
                self.note(POP3_SERVICE, label, "connect", e);
                return Ok(());
            }
        };
        if !self.pop3(label, "greeting", answer(c.pop3_expect("greeting").await)) {
            return Ok(());
        }
        let shown_user = format!("USER {user}");
        let mut logged_in = self.pop3(label, &shown_user, answer(c.pop3_cmd(&shown_user).await));
        if logged_in {
            let pass = c
                .pop3_cmd_masked(&format!("PASS {}", self.target.password), "PASS ****")
                .await;
            logged_in = self.pop3(label, "PASS ****", answer(pass));
        }
        // One exchange for the login as a whole: refused at USER or at PASS is the same.
        self.record(
            POP3_SERVICE,
            label,
            "login",
            if logged_in { "+OK" } else { "-ERR" },
            if logged_in { 200 } else { 550 },
        );
        if !logged_in {
            let _ = c.pop3_cmd("QUIT").await;
            return Ok(());
        }
        let stat = answer(c.pop3_cmd("STAT").await);
        let count: usize = stat
            .as_ref()
            .ok()
            .and_then(|s| s.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        self.pop3(label, "STAT", stat);
        if retrieve {
            for n in 1..=count {
                let request = format!("RETR {n}");
                if !self.pop3(label, &request, answer(c.pop3_cmd(&request).await)) {
                    continue;
                }
                match c.pop3_multiline(64 * 1024 * 1024).await {
                    Ok(data) => {
                        let mut e = ProbeExchange {
                            probe: self.probe.to_string(),
                            label: label.to_string(),
                            service: POP3_SERVICE.into(),
                            request: format!("message {n}"),
                            status: 200,
                            body_len: data.len(),
                            at_ms: self.started.elapsed().as_millis() as u64,
                            ..ProbeExchange::default()
                        };
                        e.delivered = Some(DeliveredMessage {
                            to: vec![self.target.me.clone()],
                            data: Arc::new(data),
                        });
                        self.log.push(e);
                    }
                    Err(err) => self.note(POP3_SERVICE, label, &request, err.to_string()),
                }
            }
        }
        let quit = answer(c.pop3_cmd("QUIT").await);
        self.pop3(label, "QUIT", quit);
        Ok(())
    }
}

/// A reply whatever its code (a refusal is an answer); `Err` only when the connection failed.
fn answer(r: Result<String, ClientError>) -> Result<String, String> {
    match r {
        Ok(r) => Ok(r),
        Err(ClientError::Protocol { reply, .. }) => Ok(reply),
        Err(e) => Err(e.to_string()),
    }
}

async fn command(c: &mut MailClient, line: &str, shown: &str) -> Result<String, String> {
    answer(c.smtp_cmd_masked(line, shown, 0).await)
}

fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut at_start = true;
    for &b in data {
        if at_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}
