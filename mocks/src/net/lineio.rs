//! Bounded line I/O shared by the SMTP and POP3 servers and the reference PVS's clients.

use std::io;
use std::time::Duration;

use memchr::memchr;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// After a too-long line, at most this many further bytes are skipped looking for its end;
/// a peer that sends more without a line break is flooding.
pub(crate) const DISCARD_CAP: usize = 1 << 20;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// A complete line including its LF (and CR, if sent).
    Line(Vec<u8>),
    /// The line was longer than the limit; it was consumed up to and including its LF.
    TooLong,
    /// A line longer than the limit plus [`DISCARD_CAP`] without a line break.
    Flood,
    /// End of stream (a partial last line without LF is dropped).
    Eof,
}

/// Reads one line of at most `max` bytes (LF included). Memory use is bounded by `max`.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> io::Result<LineRead> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(LineRead::Eof);
        }
        let room = max.saturating_sub(line.len());
        match memchr(b'\n', buf) {
            Some(pos) if pos < room => {
                line.extend_from_slice(&buf[..=pos]);
                r.consume(pos + 1);
                return Ok(LineRead::Line(line));
            }
            _ if buf.len() < room => {
                let n = buf.len();
                line.extend_from_slice(buf);
                r.consume(n);
            }
            _ => {
                r.consume(room);
                return skip_rest_of_line(r).await;
            }
        }
    }
}

async fn skip_rest_of_line<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<LineRead> {
    let mut skipped = 0usize;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(LineRead::Eof);
        }
        if let Some(pos) = memchr(b'\n', buf) {
            r.consume(pos + 1);
            return Ok(LineRead::TooLong);
        }
        let n = buf.len();
        r.consume(n);
        skipped += n;
        if skipped > DISCARD_CAP {
            return Ok(LineRead::Flood);
        }
    }
}

/// A chunk of a possibly long line: up to `max` bytes, ending at the first LF if one comes first.
/// Returns an empty vector at end of stream.
pub(crate) async fn read_line_chunk<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    out.clear();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(());
        }
        let room = max.saturating_sub(out.len());
        match memchr(b'\n', buf) {
            Some(pos) if pos < room => {
                out.extend_from_slice(&buf[..=pos]);
                r.consume(pos + 1);
                return Ok(());
            }
            _ => {
                let n = buf.len().min(room);
                out.extend_from_slice(&buf[..n]);
                r.consume(n);
                if out.len() >= max {
                    return Ok(());
                }
            }
        }
    }
}

/// Writes and flushes `bytes`, failing with `TimedOut` if the peer does not take them in time.
pub(crate) async fn write_all_timeout<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    limit: Duration,
) -> io::Result<()> {
    let fut = async {
        w.write_all(bytes).await?;
        w.flush().await
    };
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("peer did not read {} bytes within {limit:?}", bytes.len()),
        )),
    }
}

/// Line text for a transcript: without the line break, invalid UTF-8 replaced.
pub(crate) fn transcript_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

/// Dot-stuffs `data` for SMTP DATA / POP3 multi-line responses and appends the terminator:
/// a `.` at the start of any line (after any LF) is doubled; if `data` does not end with a
/// line break, CRLF is added before `.CRLF`.
pub(crate) fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 8);
    let mut at_line_start = true;
    for chunk in data.split_inclusive(|&b| b == b'\n') {
        if at_line_start && chunk.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(chunk);
        at_line_start = chunk.last() == Some(&b'\n');
    }
    if !data.is_empty() && !data.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_bounded() {
        let data = b"short\r\nxxxxxxxxxxxxxxxxxxxx\r\nend\r\n".to_vec();
        let mut r = tokio::io::BufReader::with_capacity(4, &data[..]);
        assert_eq!(
            read_line(&mut r, 10).await.unwrap(),
            LineRead::Line(b"short\r\n".to_vec())
        );
        assert_eq!(read_line(&mut r, 10).await.unwrap(), LineRead::TooLong);
        assert_eq!(
            read_line(&mut r, 10).await.unwrap(),
            LineRead::Line(b"end\r\n".to_vec())
        );
        assert_eq!(read_line(&mut r, 10).await.unwrap(), LineRead::Eof);
    }

    #[tokio::test]
    async fn flood_without_line_break() {
        let data = vec![b'x'; DISCARD_CAP + 100];
        let mut r = tokio::io::BufReader::new(&data[..]);
        assert_eq!(read_line(&mut r, 10).await.unwrap(), LineRead::Flood);
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n"), b"..a\r\nb\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\n.b"), b"a\n..b\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }
}
