//! POP3 server (RFC 1939, CAPA per RFC 2449), implicit TLS.
//! Hand-rolled: USER/PASS, CAPA, STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP, QUIT.
//! Deletions take effect at QUIT (UPDATE state); a session that ends otherwise deletes nothing.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::mail::maildrop::{
    ClosingReplies, LineConn, LineSession, Proto, Shared, ended, write_failed,
};
use crate::net::lineio::{LineRead, dot_stuff, transcript_text, write_all_timeout};
use crate::net::session::{AuthRecord, SessionEnd, push_transcript};

/// Responses are written in pieces of this size, each within the idle timeout.
const WRITE_CHUNK: usize = 64 * 1024;

pub(crate) async fn run(tcp: TcpStream, peer: SocketAddr, tls: TlsAcceptor, shared: Arc<Shared>) {
    let idx = shared.new_pop3(peer);
    let Some(stream) = shared.accept_tls(Proto::Pop3, idx, tcp, &tls).await else {
        return;
    };
    let mut session = Session {
        conn: LineConn::new(
            BufReader::new(stream),
            shared.clone(),
            &ClosingReplies::POP3,
        ),
        idx,
        user: None,
        maildrop: None,
    };
    let end = ended(session.serve().await);
    session.conn.shutdown().await;
    shared.pop3(idx, |s| s.end = end);
}

struct Entry {
    /// 1-based position in the configured mailbox.
    position: usize,
    data: Arc<[u8]>,
    deleted: bool,
}

struct Session {
    conn: LineConn,
    idx: usize,
    user: Option<String>,
    /// `Some` in the TRANSACTION state.
    maildrop: Option<Vec<Entry>>,
}

type Step<T = ()> = Result<T, SessionEnd>;

impl LineSession for Session {
    fn conn(&mut self) -> &mut LineConn {
        &mut self.conn
    }

    /// A single-line response.
    async fn reply(&mut self, status: &str) -> Step {
        self.record(false, status.to_string());
        self.send(format!("{status}\r\n").as_bytes()).await
    }
}

impl Session {
    fn record(&self, from_client: bool, line: String) {
        self.conn.shared.pop3(self.idx, |s| {
            push_transcript(&mut s.transcript, from_client, line)
        });
    }

    async fn send(&mut self, bytes: &[u8]) -> Step {
        let limit = self.conn.shared.limits.idle_timeout;
        for piece in bytes.chunks(WRITE_CHUNK) {
            write_all_timeout(self.conn.io.get_mut(), piece, limit)
                .await
                .map_err(write_failed)?;
        }
        Ok(())
    }

    async fn reply_multi(&mut self, status: &str, lines: &[String]) -> Step {
        self.record(false, status.to_string());
        for l in lines {
            self.record(false, l.clone());
        }
        self.record(false, ".".into());
        let mut out = format!("{status}\r\n");
        for l in lines {
            out.push_str(l);
            out.push_str("\r\n");
        }
        out.push_str(".\r\n");
        self.send(out.as_bytes()).await
    }

    async fn serve(&mut self) -> Step<Infallible> {
        self.reply("+OK kvc-check mock KV-Connect Client POP3 server ready")
            .await?;
        // After `AUTH <mechanism>` a client may send its response line unasked.
        let mut auth_pending = false;
        loop {
            let line = match self.read().await? {
                LineRead::Line(l) => l,
                _ => {
                    self.record(true, "(line too long)".into());
                    self.error("-ERR line too long").await?;
                    continue;
                }
            };
            let text = transcript_text(&line);
            let mut words = text.split_ascii_whitespace();
            let cmd = words.next().unwrap_or("").to_ascii_uppercase();
            let args: Vec<&str> = words.collect();
            let (shown, pending) = masked_line(&text, auth_pending);
            auth_pending = pending;
            self.record(true, shown);
            self.handle(&cmd, &args).await?;
        }
    }

    async fn handle(&mut self, cmd: &str, args: &[&str]) -> Step {
        match cmd {
            "CAPA" => {
                let caps: Vec<String> = [
                    "USER",
                    "UIDL",
                    "TOP",
                    "RESP-CODES",
                    "IMPLEMENTATION kvc-check-mock",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                return self.reply_multi("+OK capability list follows", &caps).await;
            }
            "NOOP" if self.maildrop.is_some() => return self.reply("+OK").await,
            "QUIT" => return self.quit().await,
            "AUTH" | "STLS" | "APOP" => {
                return self.reply("-ERR not supported, use USER/PASS").await;
            }
            _ => {}
        }
        if self.maildrop.is_none() {
            return match cmd {
                "USER" => match args {
                    [name] => {
                        self.user = Some(name.to_string());
                        self.reply("+OK send PASS").await
                    }
                    _ => self.error("-ERR usage: USER name").await,
                },
                "PASS" => self.pass(args).await,
                "STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" | "NOOP" => {
                    self.error("-ERR [AUTH] not authenticated, USER/PASS first")
                        .await
                }
                _ => self.error("-ERR unknown command").await,
            };
        }
        match cmd {
            "STAT" => {
                let (n, size) = self
                    .live()
                    .fold((0, 0), |(n, s), (_, e)| (n + 1, s + e.data.len()));
                self.reply(&format!("+OK {n} {size}")).await
            }
            "LIST" | "UIDL" => {
                let uidl = cmd == "UIDL";
                let show = |i: usize, e: &Entry| {
                    if uidl {
                        format!("{i} kvc-mock-{}", e.position)
                    } else {
                        format!("{i} {}", e.data.len())
                    }
                };
                match args {
                    [] => {
                        let lines: Vec<String> = self.live().map(|(i, e)| show(i, e)).collect();
                        self.reply_multi("+OK", &lines).await
                    }
                    [n] => match self.entry(n) {
                        Some((i, e)) => {
                            let text = format!("+OK {}", show(i, e));
                            self.reply(&text).await
                        }
                        None => self.error("-ERR no such message").await,
                    },
                    _ => self.error("-ERR usage: LIST [msg]").await,
                }
            }
            "RETR" => {
                let found = match args {
                    [n] => self.entry(n).map(|(_, e)| (e.position, e.data.clone())),
                    _ => None,
                };
                let Some((position, data)) = found else {
                    return self.error("-ERR no such message").await;
                };
                let status = format!("+OK {} octets", data.len());
                self.record(false, status.clone());
                self.record(
                    false,
                    format!("({} octets of mailbox message {position})", data.len()),
                );
                self.conn
                    .shared
                    .pop3(self.idx, |s| s.retrieved.push(position));
                let mut out = format!("{status}\r\n").into_bytes();
                out.extend_from_slice(&dot_stuff(&data));
                self.send(&out).await
            }
            "TOP" => {
                let found = match args {
                    [n, k] => match k.parse::<usize>() {
                        Ok(k) => self.entry(n).map(|(_, e)| (e.position, e.data.clone(), k)),
                        Err(_) => None,
                    },
                    _ => None,
                };
                let Some((position, data, k)) = found else {
                    return self.error("-ERR usage: TOP msg n (existing message)").await;
                };
                let part = top(&data, k);
                self.record(false, "+OK".into());
                self.record(
                    false,
                    format!(
                        "({} octets: header and {k} body line(s) of mailbox message {position})",
                        part.len()
                    ),
                );
                self.conn.shared.pop3(self.idx, |s| s.topped.push(position));
                let mut out = b"+OK\r\n".to_vec();
                out.extend_from_slice(&dot_stuff(part));
                self.send(&out).await
            }
            "DELE" => {
                let n = match args {
                    [n] => self.number(n),
                    _ => None,
                };
                let Some(i) = n else {
                    return self.error("-ERR no such message").await;
                };
                if let Some(e) = self.maildrop.as_mut().and_then(|m| m.get_mut(i - 1)) {
                    if e.deleted {
                        return self
                            .error(&format!("-ERR message {i} already deleted"))
                            .await;
                    }
                    e.deleted = true;
                }
                self.reply(&format!("+OK message {i} deleted")).await
            }
            "RSET" => {
                if let Some(m) = self.maildrop.as_mut() {
                    for e in m.iter_mut() {
                        e.deleted = false;
                    }
                }
                self.reply("+OK").await
            }
            "USER" | "PASS" => self.error("-ERR already authenticated").await,
            _ => self.error("-ERR unknown command").await,
        }
    }

    /// Not-deleted messages with their 1-based session numbers.
    fn live(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.maildrop
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, e)| !e.deleted)
            .map(|(i, e)| (i + 1, e))
    }

    /// A valid, not deleted message number.
    fn number(&self, arg: &str) -> Option<usize> {
        let n: usize = arg.parse().ok()?;
        let e = self.maildrop.as_ref()?.get(n.checked_sub(1)?)?;
        (!e.deleted).then_some(n)
    }

    fn entry(&self, arg: &str) -> Option<(usize, &Entry)> {
        let n = self.number(arg)?;
        Some((n, self.maildrop.as_ref()?.get(n - 1)?))
    }

    async fn pass(&mut self, args: &[&str]) -> Step {
        let Some(user) = self.user.take() else {
            return self.error("-ERR USER first").await;
        };
        // RFC 1939 allows spaces in the password: everything after "PASS ".
        let password = args.join(" ");
        let success = self.conn.shared.check_login(&user, &password);
        self.conn.shared.pop3(self.idx, |s| {
            s.auth.push(AuthRecord {
                mechanism: "USER".into(),
                user: user.clone(),
                success,
            })
        });
        if !success {
            return self
                .error("-ERR [AUTH] invalid user name or password")
                .await;
        }
        let drop: Vec<Entry> = self
            .conn
            .shared
            .lock()
            .mailbox
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.visible_to(&user))
            .filter_map(|(i, slot)| {
                slot.data.as_ref().map(|data| Entry {
                    position: i + 1,
                    data: data.clone(),
                    deleted: false,
                })
            })
            .collect();
        let size: usize = drop.iter().map(|e| e.data.len()).sum();
        let text = format!("+OK maildrop has {} message(s) ({size} octets)", drop.len());
        self.maildrop = Some(drop);
        self.reply(&text).await
    }

    async fn quit(&mut self) -> Step {
        let deleted: Vec<usize> = self
            .maildrop
            .iter()
            .flatten()
            .filter(|e| e.deleted)
            .map(|e| e.position)
            .collect();
        if !deleted.is_empty() {
            self.conn.shared.update(|s| {
                for &p in &deleted {
                    if let Some(slot) = s.mailbox.get_mut(p - 1) {
                        slot.data = None;
                    }
                }
                if let Some(sess) = s.obs.pop3.get_mut(self.idx) {
                    sess.deleted = deleted.clone();
                }
            });
        }
        let text = format!("+OK bye ({} message(s) deleted)", deleted.len());
        let _ = self.reply(&text).await;
        Err(SessionEnd::Quit)
    }
}

/// Commands of RFC 1939, RFC 2449, RFC 5034 and RFC 2595.
const COMMANDS: &[&str] = &[
    "USER", "PASS", "APOP", "AUTH", "CAPA", "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET",
    "NOOP", "QUIT", "STLS",
];

/// A client line for the transcript with credentials masked (`PASS`, the `APOP` digest, an
/// `AUTH` initial response, and a line that follows `AUTH <mechanism>` and is no command),
/// and whether the next line may be such an AUTH response.
fn masked_line(text: &str, auth_pending: bool) -> (String, bool) {
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let cmd = words
        .first()
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    if auth_pending && !COMMANDS.contains(&cmd.as_str()) {
        let shown = if text.trim() == "*" { "*" } else { "***" };
        return (shown.into(), false);
    }
    match (cmd.as_str(), words.as_slice()) {
        ("PASS", _) => ("PASS ***".into(), false),
        ("APOP", [c, user, ..]) => (format!("{c} {user} ***"), false),
        ("APOP", [c]) => ((*c).to_string(), false),
        ("AUTH", [c, mech, _, ..]) => (format!("{c} {mech} ***"), false),
        ("AUTH", [_, _]) => (text.to_string(), true),
        _ => (text.to_string(), false),
    }
}

/// The header, the empty line and the first `k` body lines of `data` (for TOP).
fn top(data: &[u8], k: usize) -> &[u8] {
    let mut pos = 0;
    // header: up to and including the first empty line
    let mut header_end = data.len();
    for line in data.split_inclusive(|&b| b == b'\n') {
        pos += line.len();
        if line == b"\r\n" || line == b"\n" {
            header_end = pos;
            break;
        }
    }
    let mut end = header_end;
    for line in data[header_end..].split_inclusive(|&b| b == b'\n').take(k) {
        end += line.len();
    }
    &data[..end]
}

#[cfg(test)]
mod tests {
    use super::{masked_line, top};

    #[rstest::rstest]
    #[case::pass("PASS geheim 123", false, "PASS ***", false)]
    #[case::pass_lower("pass geheim", false, "PASS ***", false)]
    #[case::apop(
        "APOP praxis c4c9334bac560ecc979e58001b3e22fb",
        false,
        "APOP praxis ***",
        false
    )]
    #[case::auth_initial("AUTH PLAIN AHByYXhpcwBnZWhlaW0=", false, "AUTH PLAIN ***", false)]
    #[case::auth_tab("auth\tplain\tAHByYXhpcwBnZWhlaW0=", false, "auth plain ***", false)]
    #[case::auth_then_response("AUTH PLAIN", false, "AUTH PLAIN", true)]
    #[case::response("AHByYXhpcwBnZWhlaW0=", true, "***", false)]
    #[case::cancel("*", true, "*", false)]
    #[case::command_after_auth("USER praxis", true, "USER praxis", false)]
    #[case::other("RETR 1", false, "RETR 1", false)]
    fn credentials_are_masked(
        #[case] line: &str,
        #[case] pending: bool,
        #[case] shown: &str,
        #[case] next_pending: bool,
    ) {
        assert_eq!(
            masked_line(line, pending),
            (shown.to_string(), next_pending)
        );
    }

    #[test]
    fn top_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(top(m, 0), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(top(m, 2), b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(top(m, 9), &m[..]);
        assert_eq!(top(b"A: 1\r\n", 1), b"A: 1\r\n");
    }
}
