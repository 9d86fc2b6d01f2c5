//! The line I/O the reference Clientmodul's SMTP and POP3 servers share: one reply line, one
//! command line, both bounded by the idle timeout.

use tokio::io::BufReader;
use tokio::net::TcpStream;

use super::CmConfig;
use crate::net::lineio::{LineRead, read_line, write_all_timeout};

/// Longest command line read.
const MAX_LINE: usize = 4096;

pub(super) type Io = BufReader<tokio_rustls::server::TlsStream<TcpStream>>;

/// Writes `text` and CRLF.
pub(super) async fn reply(io: &mut Io, config: &CmConfig, text: &str) -> std::io::Result<()> {
    write_all_timeout(
        io.get_mut(),
        format!("{text}\r\n").as_bytes(),
        config.idle_timeout,
    )
    .await
}

/// The next command line without its line break; empty for an overlong one, `None` when the
/// client is gone or silent.
pub(super) async fn line(io: &mut Io, config: &CmConfig) -> Option<String> {
    match tokio::time::timeout(config.idle_timeout, read_line(io, MAX_LINE)).await {
        Ok(Ok(LineRead::Line(l))) => Some(
            String::from_utf8_lossy(&l)
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        Ok(Ok(LineRead::TooLong)) => Some(String::new()),
        _ => None,
    }
}
