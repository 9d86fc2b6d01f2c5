//! SMTP server: implicit TLS, ESMTP (RFC 5321), AUTH PLAIN/LOGIN
//! (RFC 4954/4616), DATA with dot-unstuffing, BDAT (RFC 3030). Commands are parsed by
//! smtp-proto; the state machine, limits and capture are ours.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN, Request};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::mail::maildrop::{
    ClosingReplies, LineConn, LineSession, Proto, Shared, Slot, SmtpFaults, SmtpStage, ended,
    write_failed,
};
use crate::mail::records::CapturedMessage;
use crate::net::lineio::{LineRead, read_line_chunk, transcript_text, write_all_timeout};
use crate::net::session::{AuthRecord, SessionEnd, push_transcript};

/// Chunk size for reading DATA (a longer line is read in several chunks; not buffered whole).
const DATA_CHUNK: usize = 64 * 1024;
/// Recipients per transaction (RFC 5321 §4.5.3.1.8 requires at least 100).
const MAX_RCPTS: usize = 1000;
/// At least this much oversized DATA is read and discarded before the connection is dropped.
const MIN_DISCARD: usize = 256 * 1024 * 1024;

pub(crate) async fn run(tcp: TcpStream, peer: SocketAddr, tls: TlsAcceptor, shared: Arc<Shared>) {
    let idx = shared.new_smtp(peer);
    let Some(stream) = shared.accept_tls(Proto::Smtp, idx, tcp, &tls).await else {
        return;
    };
    let mut session = Session {
        conn: LineConn::new(
            BufReader::with_capacity(DATA_CHUNK, stream),
            shared.clone(),
            &ClosingReplies::SMTP,
        ),
        idx,
        peer,
        greeted: false,
        user: None,
        mail_from: None,
        rcpts: Vec::new(),
        bdat: None,
    };
    let end = ended(session.serve().await);
    session.conn.shutdown().await;
    shared.smtp(idx, |s| s.end = end);
}

/// BDAT transaction in progress.
struct Bdat {
    data: Vec<u8>,
    too_large: bool,
}

struct Session {
    conn: LineConn,
    idx: usize,
    peer: SocketAddr,
    greeted: bool,
    user: Option<String>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
    bdat: Option<Bdat>,
}

type Step<T = ()> = Result<T, SessionEnd>;

impl LineSession for Session {
    fn conn(&mut self) -> &mut LineConn {
        &mut self.conn
    }

    /// Sends a reply (lines separated by CRLF, without the final CRLF).
    async fn reply(&mut self, text: &str) -> Step {
        for l in text.split("\r\n") {
            self.record(false, l.to_string());
        }
        let bytes = format!("{text}\r\n");
        let limit = self.conn.shared.limits.idle_timeout;
        write_all_timeout(self.conn.io.get_mut(), bytes.as_bytes(), limit)
            .await
            .map_err(write_failed)
    }
}

impl Session {
    fn record(&self, from_client: bool, line: String) {
        self.conn.shared.smtp(self.idx, |s| {
            push_transcript(&mut s.transcript, from_client, line)
        });
    }

    /// Reads an AUTH continuation line; `None` if it was too long (already answered).
    async fn read_auth_response(&mut self) -> Step<Option<String>> {
        match self.read().await? {
            LineRead::Line(l) => {
                let text = transcript_text(&l);
                self.record(
                    true,
                    if text == "*" {
                        text.clone()
                    } else {
                        "***".into()
                    },
                );
                Ok(Some(text))
            }
            _ => {
                self.record(true, "*** (line too long)".into());
                self.error("500 5.5.2 Line too long").await?;
                Ok(None)
            }
        }
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
        self.bdat = None;
    }

    fn faults(&self) -> SmtpFaults {
        self.conn.shared.lock().smtp_faults.clone()
    }

    /// The scripted reply for `stage`, if one is set: sent, and 421 closes the session.
    async fn scripted(&mut self, stage: SmtpStage) -> Step<bool> {
        let Some((at, code)) = self.faults().reply else {
            return Ok(false);
        };
        if at != stage {
            return Ok(false);
        }
        self.reply(&SmtpFaults::reply_text(code)).await?;
        if code == 421 {
            return Err(SessionEnd::ProtocolError(format!(
                "scripted 421 at {stage:?}"
            )));
        }
        Ok(true)
    }

    async fn serve(&mut self) -> Step<Infallible> {
        if let Some(d) = self.faults().greeting_delay {
            tokio::time::sleep(d).await;
        }
        let greeting = format!(
            "220 {} ESMTP {}",
            self.conn.shared.hostname, self.conn.shared.banner
        );
        self.reply(&greeting).await?;
        loop {
            let line = match self.read().await? {
                LineRead::Line(l) => l,
                _ => {
                    self.record(true, "(line too long)".into());
                    self.error("500 5.5.2 Line too long").await?;
                    continue;
                }
            };
            self.record(true, masked_command(&line));
            match Request::parse(&mut line.iter()) {
                Ok(req) => self.handle(req.into_owned()).await?,
                Err(e) => {
                    let text = match e {
                        smtp_proto::Error::UnknownCommand
                        | smtp_proto::Error::NeedsMoreData { .. } => {
                            "500 5.5.2 Syntax error, command unrecognized".to_string()
                        }
                        smtp_proto::Error::UnsupportedParameter { param } => {
                            format!("555 5.5.4 Unsupported parameter {param}")
                        }
                        smtp_proto::Error::InvalidSenderAddress => {
                            "501 5.1.7 Invalid sender address".into()
                        }
                        smtp_proto::Error::InvalidRecipientAddress => {
                            "501 5.1.3 Invalid recipient address".into()
                        }
                        smtp_proto::Error::SyntaxError { syntax } => {
                            format!("501 5.5.2 Syntax: {syntax}")
                        }
                        smtp_proto::Error::InvalidParameter { param } => {
                            format!("501 5.5.4 Invalid parameter {param}")
                        }
                        other => format!("500 5.5.2 Syntax error ({other:?})"),
                    };
                    self.error(&text).await?;
                }
            }
        }
    }

    async fn handle(&mut self, req: Request<String>) -> Step {
        match req {
            Request::Ehlo { .. } => {
                if self.scripted(SmtpStage::Ehlo).await? {
                    return Ok(());
                }
                self.greeted = true;
                self.reset_transaction();
                let text = format!(
                    "250-{}\r\n250-AUTH PLAIN LOGIN\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP",
                    self.conn.shared.hostname, self.conn.shared.limits.max_message_bytes
                );
                self.reply(&text).await
            }
            Request::Helo { .. } => {
                self.greeted = true;
                self.reset_transaction();
                let text = format!("250 {}", self.conn.shared.hostname);
                self.reply(&text).await
            }
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response).await,
            Request::Mail { from } => {
                if self.user.is_none() {
                    return self.error("530 5.7.0 Authentication required").await;
                }
                if self.mail_from.is_some() {
                    return self.error("503 5.5.1 Nested MAIL command").await;
                }
                if from.size > self.conn.shared.limits.max_message_bytes {
                    return self
                        .reply("552 5.3.4 Message size exceeds fixed maximum message size")
                        .await;
                }
                if self.scripted(SmtpStage::MailFrom).await? {
                    return Ok(());
                }
                if self.conn.shared.sender_must_match_auth
                    && !self
                        .user
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&from.address))
                {
                    let text = "550 5.7.1 Sender address does not match the authenticated user";
                    return self.error(text).await;
                }
                self.mail_from = Some(from.address);
                self.reply("250 2.1.0 Ok").await
            }
            Request::Rcpt { to } => {
                if self.mail_from.is_none() {
                    return self.error("503 5.5.1 Need MAIL before RCPT").await;
                }
                if self.rcpts.len() >= MAX_RCPTS {
                    return self.reply("452 4.5.3 Too many recipients").await;
                }
                if self.scripted(SmtpStage::RcptTo).await? {
                    return Ok(());
                }
                self.rcpts.push(to.address);
                self.reply("250 2.1.5 Ok").await
            }
            Request::Data => {
                if self.rcpts.is_empty() || self.bdat.is_some() {
                    return self.error("503 5.5.1 Need RCPT before DATA").await;
                }
                if self.scripted(SmtpStage::Data).await? {
                    return Ok(());
                }
                self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
                self.data().await
            }
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last).await,
            Request::Rset => {
                self.reset_transaction();
                self.reply("250 2.0.0 Ok").await
            }
            Request::Noop { .. } => self.reply("250 2.0.0 Ok").await,
            Request::Vrfy { .. } => self.reply("252 2.5.0 Cannot VRFY user").await,
            Request::Help { .. } => {
                self.reply("214 2.0.0 kvc-check mock KV-Connect Client")
                    .await
            }
            Request::Quit => {
                self.reply("221 2.0.0 Bye").await?;
                Err(SessionEnd::Quit)
            }
            Request::StartTls => self.error("503 5.5.1 TLS already active").await,
            other => {
                let text = format!("502 5.5.1 {} not implemented", other.name());
                self.error(&text).await
            }
        }
    }

    async fn auth(&mut self, mechanism: u64, initial: String) -> Step {
        if !self.greeted {
            return self.error("503 5.5.1 EHLO first").await;
        }
        if self.scripted(SmtpStage::Auth).await? {
            return Ok(());
        }
        if self.user.is_some() {
            return self.error("503 5.5.1 Already authenticated").await;
        }
        if self.mail_from.is_some() {
            return self
                .error("503 5.5.1 AUTH not permitted during a mail transaction")
                .await;
        }
        let (mech, creds) = if mechanism == AUTH_PLAIN {
            let response = if initial.is_empty() {
                self.reply("334 ").await?;
                match self.read_auth_response().await? {
                    Some(r) => r,
                    None => return Ok(()),
                }
            } else {
                initial
            };
            if response == "*" {
                return self.error("501 5.7.0 Authentication cancelled").await;
            }
            ("PLAIN", decode_plain(&response))
        } else if mechanism == AUTH_LOGIN {
            let user = if initial.is_empty() {
                self.reply("334 VXNlcm5hbWU6").await?;
                match self.read_auth_response().await? {
                    Some(r) => r,
                    None => return Ok(()),
                }
            } else {
                initial
            };
            if user == "*" {
                return self.error("501 5.7.0 Authentication cancelled").await;
            }
            self.reply("334 UGFzc3dvcmQ6").await?;
            let Some(password) = self.read_auth_response().await? else {
                return Ok(());
            };
            if password == "*" {
                return self.error("501 5.7.0 Authentication cancelled").await;
            }
            (
                "LOGIN",
                decode_b64_text(&user).zip(decode_b64_text(&password)),
            )
        } else {
            return self
                .error("504 5.5.4 Unrecognized authentication type (PLAIN, LOGIN)")
                .await;
        };
        let Some((user, password)) = creds else {
            return self
                .error("501 5.5.2 Cannot decode the authentication response")
                .await;
        };
        let success = self.conn.shared.check_login(&user, &password);
        self.conn.shared.smtp(self.idx, |s| {
            s.auth.push(AuthRecord {
                mechanism: mech.into(),
                user: user.clone(),
                success,
            })
        });
        if success {
            self.user = Some(user);
            self.reply("235 2.7.0 Authentication successful").await
        } else {
            self.error("535 5.7.8 Authentication credentials invalid")
                .await
        }
    }

    fn discard_cap(&self) -> usize {
        self.conn
            .shared
            .limits
            .max_message_bytes
            .saturating_mul(4)
            .max(MIN_DISCARD)
    }

    async fn too_large(&mut self) -> Step {
        let _ = self
            .reply("552 5.3.4 Message size exceeds fixed maximum message size")
            .await;
        Err(SessionEnd::TooLarge)
    }

    /// Reads DATA up to the end-of-data line, dot-unstuffing; bounded memory.
    async fn data(&mut self) -> Step {
        let max = self.conn.shared.limits.max_message_bytes;
        let idle = self.conn.shared.limits.idle_timeout;
        let cap = self.discard_cap();
        let mut data = Vec::new();
        let mut chunk = Vec::with_capacity(DATA_CHUNK);
        let mut at_line_start = true;
        let mut too_large = false;
        let mut total = 0usize;
        let drop_after = self.faults().drop_in_data_after;
        loop {
            if drop_after.is_some_and(|n| total >= n) {
                return Err(SessionEnd::ProtocolError(format!(
                    "scripted: connection dropped after {total} bytes of DATA"
                )));
            }
            match tokio::time::timeout(
                idle,
                read_line_chunk(&mut self.conn.io, DATA_CHUNK, &mut chunk),
            )
            .await
            {
                Err(_) => {
                    let _ = self
                        .reply("421 4.4.2 Idle timeout during DATA, closing connection")
                        .await;
                    return Err(SessionEnd::IdleTimeout);
                }
                Ok(Err(_)) => return Err(SessionEnd::PeerClosed),
                Ok(Ok(())) => {}
            }
            if chunk.is_empty() {
                return Err(SessionEnd::PeerClosed);
            }
            let line_start = at_line_start;
            at_line_start = chunk.ends_with(b"\n");
            let mut piece = &chunk[..];
            if line_start {
                // The end-of-data line; a bare-LF ".\n" is accepted too so that a client with
                // bare LF line ends does not hang until the idle timeout.
                if piece == b".\r\n" || piece == b".\n" {
                    break;
                }
                if piece.first() == Some(&b'.') {
                    piece = &piece[1..];
                }
            }
            total = total.saturating_add(piece.len());
            if !too_large {
                if data.len() + piece.len() > max {
                    too_large = true;
                    data = Vec::new();
                } else {
                    data.extend_from_slice(piece);
                }
            }
            if too_large && total > cap {
                return self.too_large().await;
            }
        }
        if too_large {
            return self.too_large().await;
        }
        self.capture(data).await
    }

    async fn capture(&mut self, data: Vec<u8>) -> Step {
        if self.scripted(SmtpStage::DataEnd).await? {
            self.reset_transaction();
            return Ok(());
        }
        if let Some(check) = &self.conn.shared.message_check
            && let Err(reply) = (check.0)(self.mail_from.as_deref().unwrap_or(""), &data)
        {
            self.reset_transaction();
            return self.reply(&reply).await;
        }
        let max = self.conn.shared.limits.max_stored_bytes;
        let deliveries = self.deliveries(&data);
        let len = data.len() + deliveries.iter().map(|d| d.1.len()).sum::<usize>();
        let kept = self.conn.shared.update(|s| {
            let fits = s.stored_bytes.saturating_add(len) <= max;
            if fits {
                s.stored_bytes += len;
                s.mailbox
                    .extend(deliveries.into_iter().map(|(owner, data)| Slot {
                        owner: Some(owner),
                        data: Some(data.into()),
                    }));
            }
            fits
        });
        if !kept {
            self.reset_transaction();
            let text =
                format!("452 4.3.1 Insufficient system storage (the mock keeps {max} bytes)");
            return self.reply(&text).await;
        }
        let message = CapturedMessage {
            mail_from: self.mail_from.take().unwrap_or_default(),
            rcpt_to: std::mem::take(&mut self.rcpts),
            data,
        };
        self.bdat = None;
        let mut n = 0;
        self.conn.shared.smtp(self.idx, |s| {
            s.messages.push(message);
            n = s.messages.len();
        });
        let text = format!("250 2.0.0 Ok: queued as {}.{n}", self.idx + 1);
        self.reply(&text).await
    }

    /// The copies of an accepted message for the recipients that are accounts of this server
    /// (when it delivers), each with the trace fields an MTA prepends on final delivery.
    fn deliveries(&self, data: &[u8]) -> Vec<(String, Vec<u8>)> {
        let shared = &self.conn.shared;
        if !shared.deliver_to_accounts {
            return Vec::new();
        }
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let mut owners: Vec<String> = Vec::new();
        for rcpt in &self.rcpts {
            if let Some(a) = shared.local_account(rcpt)
                && !owners.contains(&a.user)
            {
                owners.push(a.user.clone());
            }
        }
        owners
            .into_iter()
            .map(|owner| {
                let trace = format!(
                    "Return-Path: <{}>\r\nReceived: from [{}] by {} with ESMTPSA id {}\r\n\tfor <{owner}>; {date}\r\n",
                    self.mail_from.as_deref().unwrap_or(""),
                    self.peer.ip(),
                    shared.hostname,
                    self.idx + 1,
                );
                let mut copy = trace.into_bytes();
                copy.extend_from_slice(data);
                (owner, copy)
            })
            .collect()
    }

    /// BDAT: the chunk is always read (RFC 3030 §2), even when the command is refused.
    async fn bdat(&mut self, size: usize, is_last: bool) -> Step {
        let max = self.conn.shared.limits.max_message_bytes;
        let refused = self.rcpts.is_empty();
        if !refused && self.bdat.is_none() {
            self.bdat = Some(Bdat {
                data: Vec::new(),
                too_large: false,
            });
        }
        let mut keep = match self.bdat.as_mut() {
            Some(b) if !refused && !b.too_large && b.data.len().saturating_add(size) <= max => {
                Some(std::mem::take(&mut b.data))
            }
            Some(b) if !refused => {
                b.too_large = true;
                b.data = Vec::new();
                None
            }
            _ => None,
        };
        if size > self.discard_cap() {
            return self.too_large().await;
        }
        let idle = self.conn.shared.limits.idle_timeout;
        let mut left = size;
        let mut buf = vec![0u8; DATA_CHUNK.min(size.max(1))];
        while left > 0 {
            let want = left.min(buf.len());
            let n = match tokio::time::timeout(idle, self.conn.io.read(&mut buf[..want])).await {
                Err(_) => return Err(SessionEnd::IdleTimeout),
                Ok(Err(_)) | Ok(Ok(0)) => return Err(SessionEnd::PeerClosed),
                Ok(Ok(n)) => n,
            };
            if let Some(k) = keep.as_mut() {
                k.extend_from_slice(&buf[..n]);
            }
            left -= n;
        }
        if refused {
            return self.error("503 5.5.1 Need RCPT before BDAT").await;
        }
        let too_large = match (self.bdat.as_mut(), keep) {
            (Some(b), Some(k)) => {
                b.data = k;
                false
            }
            _ => true,
        };
        if too_large {
            return self.too_large().await;
        }
        if is_last {
            let data = self.bdat.take().map(|b| b.data).unwrap_or_default();
            self.capture(data).await
        } else {
            let text = format!("250 2.0.0 {size} octets received");
            self.reply(&text).await
        }
    }
}

/// The command line for the transcript, with an AUTH initial response masked.
fn masked_command(line: &[u8]) -> String {
    let text = transcript_text(line);
    // Any whitespace separates (a tab is no reason to show the credentials).
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    match words.as_slice() {
        [cmd, mech, _, ..] if cmd.eq_ignore_ascii_case("AUTH") => format!("{cmd} {mech} ***"),
        _ => text,
    }
}

fn decode_b64_text(s: &str) -> Option<String> {
    let bytes = B64.decode(s.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// RFC 4616: `[authzid] NUL authcid NUL passwd`; "=" is an empty initial response.
fn decode_plain(s: &str) -> Option<(String, String)> {
    let text = decode_b64_text(if s == "=" { "" } else { s })?;
    let mut parts = text.split('\0');
    let _authzid = parts.next()?;
    let user = parts.next()?;
    let password = parts.next()?;
    if parts.next().is_some() || user.is_empty() {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decoding() {
        let enc = B64.encode("\0user\0pw");
        assert_eq!(decode_plain(&enc), Some(("user".into(), "pw".into())));
        let enc = B64.encode("authz\0user\0pw");
        assert_eq!(decode_plain(&enc), Some(("user".into(), "pw".into())));
        assert_eq!(decode_plain("!!"), None);
        assert_eq!(decode_plain(&B64.encode("nouser")), None);
    }

    #[test]
    fn auth_lines_are_masked() {
        assert_eq!(masked_command(b"AUTH PLAIN AGEAYg==\r\n"), "AUTH PLAIN ***");
        assert_eq!(masked_command(b"AUTH LOGIN\r\n"), "AUTH LOGIN");
        assert_eq!(
            masked_command(b"auth\tPLAIN\tAGEAYg==\r\n"),
            "auth PLAIN ***"
        );
        assert_eq!(masked_command(b"AUTH  LOGIN  YQ==\r\n"), "AUTH LOGIN ***");
        assert_eq!(masked_command(b"MAIL FROM:<a@b>\r\n"), "MAIL FROM:<a@b>");
    }
}
