//! The reference Clientmodul's POP3 server toward the client system (implicit TLS). USER takes
//! the KIM user name (A_21518: an incomplete one is refused); PASS opens the account's
//! Fachdienst mailbox (POP3S, host and port from the user name), fetches every message and
//! runs the receive path (`receive.rs`) on each; the client system then reads the results.
//! DELE is passed on to the Fachdienst at QUIT; DSNs go out through the MTA.

use std::sync::Arc;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::lines::{Io, line, reply};
use super::receive::{self, Received};
use super::send;
use super::username::CmUserName;
use super::{CmConfig, CmFault};
use crate::kim::konnektor::client::{KonnektorClient, KonnektorContext};
use crate::mail::client::MailClient;
use crate::net::lineio::{dot_stuff, write_all_timeout};

/// Largest message fetched from the Fachdienst mailbox.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

pub(crate) async fn serve(tcp: TcpStream, acceptor: TlsAcceptor, config: Arc<CmConfig>) {
    let Ok(Ok(tls)) = tokio::time::timeout(config.idle_timeout, acceptor.accept(tcp)).await else {
        return;
    };
    let mut io = BufReader::new(tls);
    let _ = session(&mut io, &config).await;
    let _ = io.get_mut().shutdown().await;
}

/// The user name of a POP3 login, or why it is refused.
fn user_name(config: &CmConfig, name: &str) -> Result<CmUserName, String> {
    match CmUserName::parse(name) {
        Ok(u) => Ok(u),
        Err(_) if config.has(CmFault::AcceptsIncompletePop3User) && name.contains('@') => {
            let address = name.split('#').next().unwrap_or(name).to_string();
            let (host, port) = config
                .default_mailbox
                .clone()
                .ok_or_else(|| "no default mailbox configured".to_string())?;
            Ok(CmUserName {
                address,
                host,
                port,
                mandant_id: config.konnektor_context.mandant_id.clone(),
                client_system_id: config.konnektor_context.client_system_id.clone(),
                workplace_id: config.konnektor_context.workplace_id.clone(),
                user_id: None,
            })
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The Fachdienst mailbox of one logged-in user, fetched and received.
struct Mailbox {
    fd: MailClient,
    messages: Vec<Vec<u8>>,
    deleted: Vec<bool>,
}

async fn open(config: &CmConfig, user: &CmUserName, password: &str) -> Result<Mailbox, String> {
    let mut fd = send::connect_mta(config, user).await?;
    fd.pop3_expect("greeting")
        .await
        .map_err(|e| e.to_string())?;
    fd.pop3_cmd(&format!("USER {}", user.address))
        .await
        .map_err(|e| e.to_string())?;
    fd.pop3_cmd_masked(&format!("PASS {password}"), "PASS ****")
        .await
        .map_err(|_| "-ERR [AUTH] the Fachdienst refused the credentials".to_string())?;
    let stat = fd.pop3_cmd("STAT").await.map_err(|e| e.to_string())?;
    let count: usize = stat
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unreadable STAT answer `{stat}`"))?;
    let konnektor = async {
        let k = KonnektorClient::connect(
            &config.konnektor_sds_url,
            &config.ca_pem,
            None,
            KonnektorContext {
                mandant_id: user.mandant_id.clone(),
                client_system_id: user.client_system_id.clone(),
                workplace_id: user.workplace_id.clone(),
            },
            config.backend_timeout,
        )
        .await?;
        let handle = k.smcb_handles().await?.into_iter().next().ok_or_else(|| {
            crate::kim::konnektor::client::KonnektorError::Malformed("no SMC-B inserted".into())
        })?;
        Ok((k, handle))
    }
    .await;
    let mut messages = Vec::with_capacity(count);
    for n in 1..=count {
        fd.pop3_cmd(&format!("RETR {n}"))
            .await
            .map_err(|e| e.to_string())?;
        let raw = fd
            .pop3_multiline(MAX_MESSAGE)
            .await
            .map_err(|e| e.to_string())?;
        let Received { delivered, dsn } =
            receive::receive(config, konnektor.as_ref(), &user.address, &raw).await;
        if let (Some((to, dsn)), Some((host, port))) = (dsn, config.dsn_mta.clone()) {
            // The sender is told even if the MTA refuses: the delivery to the client goes on.
            let mta = CmUserName {
                host,
                port,
                ..user.clone()
            };
            let _ = send::submit(config, &mta, password, &user.address, &[to], &dsn).await;
        }
        messages.push(delivered);
    }
    Ok(Mailbox {
        fd,
        deleted: vec![false; messages.len()],
        messages,
    })
}

fn number(arg: &str, mailbox: &Mailbox) -> Option<usize> {
    arg.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= 1 && *n <= mailbox.messages.len() && !mailbox.deleted[*n - 1])
}

async fn session(io: &mut Io, config: &CmConfig) -> std::io::Result<()> {
    reply(
        io,
        config,
        "+OK KOM-LE-Clientmodul POP3 (kvc-check reference)",
    )
    .await?;
    let mut user: Option<CmUserName> = None;
    let mut mailbox: Option<Mailbox> = None;
    while let Some(l) = line(io, config).await {
        let (verb, arg) = match l.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.to_string()),
            None => (l.to_ascii_uppercase(), String::new()),
        };
        match (verb.as_str(), &mut mailbox) {
            ("CAPA", _) => {
                reply(io, config, "+OK\r\nUSER\r\nUIDL\r\n.").await?;
            }
            ("USER", None) => match user_name(config, arg.trim()) {
                Ok(u) => {
                    user = Some(u);
                    reply(io, config, "+OK send PASS").await?;
                }
                Err(e) => reply(io, config, &format!("-ERR [AUTH] {e}")).await?,
            },
            ("PASS", None) => {
                let Some(u) = user.as_ref() else {
                    reply(io, config, "-ERR USER first").await?;
                    continue;
                };
                let opened =
                    tokio::time::timeout(config.backend_timeout * 4, open(config, u, &arg)).await;
                match opened {
                    Ok(Ok(m)) => {
                        let n = m.messages.len();
                        mailbox = Some(m);
                        reply(io, config, &format!("+OK {n} message(s)")).await?;
                    }
                    Ok(Err(e)) if e.starts_with("-ERR") => reply(io, config, &e).await?,
                    Ok(Err(e)) => reply(io, config, &format!("-ERR [SYS/TEMP] {e}")).await?,
                    Err(_) => {
                        reply(
                            io,
                            config,
                            "-ERR [SYS/TEMP] the Fachdienst did not answer in time",
                        )
                        .await?
                    }
                }
            }
            ("STAT", Some(m)) => {
                let live: Vec<&Vec<u8>> = m
                    .messages
                    .iter()
                    .zip(&m.deleted)
                    .filter(|(_, d)| !**d)
                    .map(|(x, _)| x)
                    .collect();
                let size: usize = live.iter().map(|x| x.len()).sum();
                reply(io, config, &format!("+OK {} {size}", live.len())).await?;
            }
            ("LIST", Some(m)) | ("UIDL", Some(m)) => {
                let uidl = verb == "UIDL";
                let item = |i: usize, x: &Vec<u8>| {
                    if uidl {
                        format!("{} cm-{}", i + 1, i + 1)
                    } else {
                        format!("{} {}", i + 1, x.len())
                    }
                };
                if arg.trim().is_empty() {
                    let mut text = String::from("+OK");
                    for (i, x) in m.messages.iter().enumerate() {
                        if !m.deleted[i] {
                            text.push_str(&format!("\r\n{}", item(i, x)));
                        }
                    }
                    text.push_str("\r\n.");
                    reply(io, config, &text).await?;
                } else if let Some(n) = number(&arg, m) {
                    reply(
                        io,
                        config,
                        &format!("+OK {}", item(n - 1, &m.messages[n - 1])),
                    )
                    .await?;
                } else {
                    reply(io, config, "-ERR no such message").await?;
                }
            }
            ("RETR", Some(m)) => match number(&arg, m) {
                Some(n) => {
                    let body = dot_stuff(&m.messages[n - 1]);
                    reply(
                        io,
                        config,
                        &format!("+OK {} octets", m.messages[n - 1].len()),
                    )
                    .await?;
                    write_all_timeout(io.get_mut(), &body, config.idle_timeout).await?;
                }
                None => reply(io, config, "-ERR no such message").await?,
            },
            ("DELE", Some(m)) => match number(&arg, m) {
                Some(n) => {
                    m.deleted[n - 1] = true;
                    reply(io, config, "+OK deleted").await?;
                }
                None => reply(io, config, "-ERR no such message").await?,
            },
            ("RSET", Some(m)) => {
                m.deleted.iter_mut().for_each(|d| *d = false);
                reply(io, config, "+OK").await?;
            }
            ("NOOP", Some(_)) => reply(io, config, "+OK").await?,
            ("QUIT", m) => {
                if let Some(m) = m {
                    for (i, d) in m.deleted.iter().enumerate() {
                        if *d {
                            let _ = m.fd.pop3_cmd(&format!("DELE {}", i + 1)).await;
                        }
                    }
                    let _ = m.fd.pop3_cmd("QUIT").await;
                }
                reply(io, config, "+OK bye").await?;
                return Ok(());
            }
            _ => reply(io, config, "-ERR command not valid in this state").await?,
        }
    }
    Ok(())
}
