//! The reference Clientmodul's SMTP server toward the client system (implicit TLS): greeting
//! with ESMTP (KOM-LE-A_2007), AUTH PLAIN and LOGIN with the KIM user name (KOM-LE-A_2009,
//! KOM-LE-A_2010), RCPT checked against the VZD (KOM-LE-A_2176), the size limit (KOM-LE-A_2004,
//! `552 5.3.4`), then the send path (`send.rs`).

use std::sync::Arc;

use base64::Engine;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::lines::{Io, line, reply};
use super::send::{self, Addressee, Lookup};
use super::username::CmUserName;
use super::{CmConfig, CmFault};
use crate::net::lineio::read_line_chunk;

/// A_19366-02: the largest client mail without attachments under KIM 1.5 (25 MiB).
const TEXT_LIMIT_BYTES: usize = 25 * 1024 * 1024;

/// Whether a client mail carries attachments: a multipart body with a part that is not text.
fn has_attachments(mail: &[u8]) -> bool {
    let head_end = memchr::memmem::find(mail, b"\r\n\r\n").unwrap_or(mail.len());
    let head = String::from_utf8_lossy(&mail[..head_end]).to_ascii_lowercase();
    head.contains("content-type: multipart/")
        && memchr::memmem::find(&mail[head_end..], b"Content-Disposition: attachment").is_some()
}
/// After this many refused commands the session ends.
const MAX_ERRORS: usize = 20;

struct Session {
    user: Option<(CmUserName, String)>,
    sender: Option<Addressee>,
    recipients: Vec<Addressee>,
    errors: usize,
}

fn b64(s: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// One client-system session.
pub(crate) async fn serve(tcp: TcpStream, acceptor: TlsAcceptor, config: Arc<CmConfig>) {
    let Ok(Ok(tls)) = tokio::time::timeout(config.idle_timeout, acceptor.accept(tcp)).await else {
        return;
    };
    let mut io = BufReader::new(tls);
    let _ = session(&mut io, &config).await;
    let _ = io.get_mut().shutdown().await;
}

async fn session(io: &mut Io, config: &CmConfig) -> std::io::Result<()> {
    let greeting = if config.has(CmFault::GreetingWithoutEsmtp) {
        "220 localhost KOM-LE-Clientmodul ready"
    } else {
        "220 localhost ESMTP KOM-LE-Clientmodul (kvc-check reference)"
    };
    reply(io, config, greeting).await?;
    let mut s = Session {
        user: None,
        sender: None,
        recipients: Vec::new(),
        errors: 0,
    };
    while let Some(l) = line(io, config).await {
        let (verb, arg) = match l.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (l.to_ascii_uppercase(), String::new()),
        };
        let answer = match verb.as_str() {
            "EHLO" => {
                let auth = if config.has(CmFault::NoAuthLogin) {
                    "AUTH PLAIN"
                } else {
                    "AUTH PLAIN LOGIN"
                };
                format!(
                    "250-localhost\r\n250-{auth}\r\n250-SIZE {}\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME",
                    config.max_client_mail_bytes
                )
            }
            "HELO" => "250 localhost".into(),
            "NOOP" => "250 2.0.0 OK".into(),
            "RSET" => {
                s.sender = None;
                s.recipients.clear();
                "250 2.0.0 OK".into()
            }
            "QUIT" => {
                reply(io, config, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            "AUTH" => auth(io, config, &mut s, &arg).await?,
            "MAIL" => mail(config, &mut s, &arg).await,
            "RCPT" => rcpt(config, &mut s, &arg).await,
            "DATA" => data(io, config, &mut s).await?,
            _ => "502 5.5.2 command not implemented".into(),
        };
        if answer.starts_with('5') {
            s.errors += 1;
        }
        reply(io, config, &answer).await?;
        if s.errors >= MAX_ERRORS {
            reply(io, config, "421 4.7.0 too many errors").await?;
            return Ok(());
        }
    }
    Ok(())
}

async fn auth(
    io: &mut Io,
    config: &CmConfig,
    s: &mut Session,
    arg: &str,
) -> std::io::Result<String> {
    if s.user.is_some() {
        return Ok("503 5.5.1 already authenticated".into());
    }
    let (mechanism, initial) = match arg.split_once(' ') {
        Some((m, i)) => (m.to_ascii_uppercase(), Some(i.to_string())),
        None => (arg.to_ascii_uppercase(), None),
    };
    let credentials = match mechanism.as_str() {
        "PLAIN" => {
            let token = match initial {
                Some(t) => t,
                None => {
                    reply(io, config, "334 ").await?;
                    line(io, config).await.unwrap_or_default()
                }
            };
            b64(&token).and_then(|t| {
                let mut parts = t.split('\0');
                let (_authz, user, pass) = (parts.next()?, parts.next()?, parts.next()?);
                Some((user.to_string(), pass.to_string()))
            })
        }
        "LOGIN" if !config.has(CmFault::NoAuthLogin) => {
            let user = match initial {
                Some(u) => b64(&u),
                None => {
                    reply(io, config, "334 VXNlcm5hbWU6").await?;
                    line(io, config).await.and_then(|l| b64(&l))
                }
            };
            reply(io, config, "334 UGFzc3dvcmQ6").await?;
            let pass = line(io, config).await.and_then(|l| b64(&l));
            user.zip(pass)
        }
        _ => return Ok("504 5.5.4 mechanism not supported (PLAIN, LOGIN)".into()),
    };
    let Some((name, password)) = credentials else {
        return Ok("501 5.5.2 cannot decode the credentials".into());
    };
    let user = match CmUserName::parse(&name) {
        Ok(u) => u,
        Err(e) => return Ok(format!("535 5.7.8 {e}")),
    };
    // The credentials are the Fachdienst account's: the MTA named in the user name decides.
    let check = async {
        let mut mta = send::connect_mta(config, &user).await?;
        mta.smtp_expect("greeting", 220)
            .await
            .map_err(|e| e.to_string())?;
        mta.smtp_cmd("EHLO kvc-check-cm", 250)
            .await
            .map_err(|e| e.to_string())?;
        let r = send::auth_plain(&mut mta, &user.address, &password).await;
        let _ = mta.smtp_cmd("QUIT", 221).await;
        r
    };
    Ok(
        match tokio::time::timeout(config.backend_timeout, check).await {
            Ok(Ok(())) => {
                s.user = Some((user, password));
                "235 2.7.0 authenticated".into()
            }
            Ok(Err(e)) if e.contains("535") => {
                "535 5.7.8 the Fachdienst refused the credentials".into()
            }
            Ok(Err(e)) => format!("454 4.7.0 Fachdienst MTA not usable: {e}"),
            Err(_) => "421 4.4.2 Fachdienst MTA did not answer in time".into(),
        },
    )
}

fn path_of(arg: &str, keyword: &str) -> Option<String> {
    let rest = arg.get(..keyword.len())?;
    if !rest.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let start = rest.find('<')?;
    let end = rest[start..].find('>')? + start;
    Some(rest[start + 1..end].trim().to_string())
}

/// The `SIZE=` parameter of a MAIL FROM (RFC 1870), if any.
fn announced_size(arg: &str) -> Option<u64> {
    let params = &arg[arg.find('>')? + 1..];
    params.split_whitespace().find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.eq_ignore_ascii_case("SIZE")
            .then(|| v.parse().ok())
            .flatten()
    })
}

async fn mail(config: &CmConfig, s: &mut Session, arg: &str) -> String {
    if s.user.is_none() {
        return "530 5.7.0 authentication required".into();
    }
    let Some(from) = path_of(arg, "FROM:") else {
        return "501 5.5.4 syntax: MAIL FROM:<address>".into();
    };
    // A_19355: a size announced above maxMailSize is refused before any data (RFC 1870).
    if let Some(size) = announced_size(arg)
        && size > config.max_client_mail_bytes as u64
    {
        return if config.has(CmFault::SizeRefusedWithoutX34) {
            "552 5.2.3 message too large".into()
        } else {
            format!(
                "552 5.3.4 message size {size} exceeds maxMailSize ({} bytes)",
                config.max_client_mail_bytes
            )
        };
    }
    // A_23169: the sender needs a valid encryption certificate in the VZD.
    match send::lookup(config, &from).await {
        Lookup::Found(a) => {
            s.sender = Some(*a);
            s.recipients.clear();
            "250 2.1.0 sender OK".into()
        }
        Lookup::NoCertificate(why) => format!("550 5.7.1 {why}"),
        Lookup::Failed(why) => format!("451 4.4.3 VZD: {why}"),
    }
}

async fn rcpt(config: &CmConfig, s: &mut Session, arg: &str) -> String {
    if s.sender.is_none() {
        return "503 5.5.1 MAIL FROM first".into();
    }
    let Some(to) = path_of(arg, "TO:") else {
        return "501 5.5.4 syntax: RCPT TO:<address>".into();
    };
    match send::lookup(config, &to).await {
        Lookup::Found(a) => {
            s.recipients.push(*a);
            "250 2.1.5 recipient OK".into()
        }
        // KOM-LE-A_2176: no encryption certificate, no recipient.
        Lookup::NoCertificate(_) if config.has(CmFault::AcceptsUnknownRecipient) => {
            "250 2.1.5 recipient OK".into()
        }
        Lookup::NoCertificate(why) => format!("550 5.1.1 {why}"),
        Lookup::Failed(why) => format!("451 4.4.3 VZD: {why}"),
    }
}

/// Reads the client mail (dot-unstuffed); `None` when it exceeds `max` (the rest is read and
/// dropped) or the client went away.
async fn read_mail(io: &mut Io, config: &CmConfig, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut chunk = Vec::with_capacity(64 * 1024);
    let (mut at_line_start, mut too_large) = (true, false);
    loop {
        match tokio::time::timeout(
            config.idle_timeout,
            read_line_chunk(io, 64 * 1024, &mut chunk),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "client stalled in DATA",
                ));
            }
        }
        if chunk.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "client closed the connection in DATA",
            ));
        }
        let line_start = at_line_start;
        at_line_start = chunk.ends_with(b"\n");
        let mut piece = &chunk[..];
        if line_start {
            if piece == b".\r\n" || piece == b".\n" {
                return Ok((!too_large).then_some(out));
            }
            if piece.first() == Some(&b'.') {
                piece = &piece[1..];
            }
        }
        if out.len() + piece.len() > max {
            too_large = true;
            out = Vec::new();
        }
        if !too_large {
            out.extend_from_slice(piece);
        }
    }
}

async fn data(io: &mut Io, config: &CmConfig, s: &mut Session) -> std::io::Result<String> {
    let (Some((user, password)), Some(sender)) = (s.user.clone(), s.sender.clone()) else {
        return Ok("503 5.5.1 MAIL FROM and RCPT TO first".into());
    };
    if s.recipients.is_empty() {
        return Ok("554 5.5.1 no valid recipients".into());
    }
    reply(io, config, "354 end data with <CR><LF>.<CR><LF>").await?;
    let recipients = std::mem::take(&mut s.recipients);
    s.sender = None;
    let Some(mail) = read_mail(io, config, config.max_client_mail_bytes).await? else {
        return Ok(format!(
            "552 5.3.4 message exceeds the maximum of {} bytes",
            config.max_client_mail_bytes
        ));
    };
    if config.has(CmFault::LargeMailWithoutKas) && mail.len() > config.kas_threshold_bytes {
        return Ok("552 5.3.4 message too large".into());
    }
    // A_19366: with the KAS, a client mail without attachments may still not exceed 25 MiB.
    if config.kas.is_some()
        && mail.len() > TEXT_LIMIT_BYTES
        && !has_attachments(&mail)
        && !config.has(CmFault::NoTextLimit)
    {
        return Ok(format!(
            "552 5.3.4 a message without attachments may not exceed {TEXT_LIMIT_BYTES} bytes"
        ));
    }
    Ok(
        match send::send(config, &user, &password, &sender, &recipients, &mail).await {
            Ok(()) => "250 2.0.0 message signed, encrypted and handed to the Fachdienst".into(),
            Err(r) => r.0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::announced_size;

    #[test]
    fn the_size_parameter_is_read_after_the_path() {
        assert_eq!(
            announced_size("FROM:<a@b> SIZE=734003201"),
            Some(734_003_201)
        );
        assert_eq!(announced_size("FROM:<a@b> BODY=8BITMIME size=12"), Some(12));
        assert_eq!(announced_size("FROM:<a@b>"), None);
        assert_eq!(announced_size("FROM:<a@b> SIZE=x"), None);
        assert_eq!(announced_size("FROM:a@b SIZE=1"), None);
    }
}
