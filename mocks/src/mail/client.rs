//! SMTP and POP3 client connections (implicit TLS) for the suite's own clients: the reference
//! practice system now, the suite speaking to a KIM Fachdienst later. Byte-exact writes,
//! bounded reads, dot-unstuffing of multi-line POP3 responses, a recorded transcript.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::net::client::{ClientError, connect_tls};
use crate::net::lineio::{
    LineRead, read_line, read_line_chunk, transcript_text, write_all_timeout,
};
use crate::net::session::{TranscriptLine, push_transcript};

type Conn = BufReader<TlsStream<TcpStream>>;

/// A line-oriented SMTP or POP3 client connection over TLS with bounded reads; records its
/// transcript like the servers do (credentials shown masked).
pub struct MailClient {
    what: &'static str,
    io: Conn,
    transcript: Vec<TranscriptLine>,
}

/// The longest (multi-line) SMTP reply read.
const MAX_REPLY_BYTES: usize = 256 * 1024;

const IO_STEP: Duration = Duration::from_secs(3600); // the overall timeout bounds everything

impl MailClient {
    /// Connects to `addr` over implicit TLS; `what` names the service in errors (`SMTP`).
    pub async fn connect(
        what: &'static str,
        addr: SocketAddr,
        name: &ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<MailClient, ClientError> {
        let stream = connect_tls(what, addr, name, tls).await?;
        Ok(MailClient {
            what,
            io: BufReader::new(stream),
            transcript: Vec::new(),
        })
    }

    /// What was said so far, client lines with credentials masked.
    pub fn transcript(&self) -> &[TranscriptLine] {
        &self.transcript
    }

    fn io_err(&self, stage: &str, source: std::io::Error) -> ClientError {
        ClientError::Io {
            what: self.what,
            stage: stage.to_string(),
            source,
        }
    }

    pub async fn write(&mut self, bytes: &[u8], stage: &str) -> Result<(), ClientError> {
        write_all_timeout(self.io.get_mut(), bytes, IO_STEP)
            .await
            .map_err(|e| self.io_err(stage, e))
    }

    async fn line(&mut self, stage: &str) -> Result<String, ClientError> {
        match read_line(&mut self.io, 64 * 1024).await {
            Ok(LineRead::Line(l)) => {
                let text = transcript_text(&l);
                push_transcript(&mut self.transcript, false, text.clone());
                Ok(text)
            }
            Ok(LineRead::Eof) => Err(self.io_err(
                stage,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ),
            )),
            Ok(_) => Err(ClientError::Protocol {
                what: self.what,
                command: stage.to_string(),
                reply: "(reply line too long)".into(),
            }),
            Err(e) => Err(self.io_err(stage, e)),
        }
    }

    /// Reads a (multi-line) SMTP reply and checks its code.
    pub async fn smtp_expect(&mut self, stage: &str, code: u16) -> Result<String, ClientError> {
        let mut all = String::new();
        loop {
            let l = self.line(stage).await?;
            // A server that never ends its multi-line reply cannot fill the memory.
            if all.len() + l.len() > MAX_REPLY_BYTES {
                return Err(ClientError::Protocol {
                    what: self.what,
                    command: stage.to_string(),
                    reply: format!("(multi-line reply longer than {MAX_REPLY_BYTES} bytes)"),
                });
            }
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
            Err(ClientError::Protocol {
                what: self.what,
                command: stage.to_string(),
                reply: all,
            })
        }
    }

    pub async fn smtp_cmd(&mut self, line: &str, code: u16) -> Result<String, ClientError> {
        self.smtp_cmd_masked(line, line, code).await
    }

    pub async fn smtp_cmd_masked(
        &mut self,
        line: &str,
        shown: &str,
        code: u16,
    ) -> Result<String, ClientError> {
        push_transcript(&mut self.transcript, true, shown.to_string());
        self.write(format!("{line}\r\n").as_bytes(), shown).await?;
        self.smtp_expect(shown, code).await
    }

    pub async fn pop3_expect(&mut self, stage: &str) -> Result<String, ClientError> {
        let l = self.line(stage).await?;
        if l.starts_with("+OK") {
            Ok(l)
        } else {
            Err(ClientError::Protocol {
                what: self.what,
                command: stage.to_string(),
                reply: l,
            })
        }
    }

    pub async fn pop3_cmd(&mut self, line: &str) -> Result<String, ClientError> {
        self.pop3_cmd_masked(line, line).await
    }

    pub async fn pop3_cmd_masked(
        &mut self,
        line: &str,
        shown: &str,
    ) -> Result<String, ClientError> {
        push_transcript(&mut self.transcript, true, shown.to_string());
        self.write(format!("{line}\r\n").as_bytes(), shown).await?;
        self.pop3_expect(shown).await
    }

    /// Reads a dot-terminated multi-line body and undoes the dot-stuffing.
    pub async fn pop3_multiline(&mut self, max: usize) -> Result<Vec<u8>, ClientError> {
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
                return Err(ClientError::Protocol {
                    what: self.what,
                    command: "RETR".into(),
                    reply: format!("response larger than {max} bytes"),
                });
            }
            out.extend_from_slice(piece);
        }
    }
}
