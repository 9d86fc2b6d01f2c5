//! S/MIME (CMS) and test PKI for kvc-check.
//!
//! Work in progress; see the module docs.

pub mod asn1;
pub mod ber;
pub mod cms;
pub mod error;
pub mod keys;
pub mod message;
pub mod mime;
pub mod oids;
pub mod pkcs12;
pub mod pki;

pub use error::{ErrorKind, Result, SmimeError};

/// Parse a verification time: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[Z]` (UTC) or `@UNIXSECONDS`.
pub fn parse_time(s: &str) -> Result<std::time::SystemTime> {
    let bad = || {
        SmimeError::bad_input(
            "--at",
            format!("{s:?} is not a time (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)"),
        )
    };
    let t = s.trim();
    if let Some(secs) = t.strip_prefix('@') {
        let secs: u64 = secs.parse().map_err(|_| bad())?;
        return Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
    }
    let t = t.trim_end_matches('Z');
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm),
        None => (t, "00:00:00"),
    };
    let d: Vec<&str> = date.split('-').collect();
    let tm: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || tm.len() < 2 || tm.len() > 3 {
        return Err(bad());
    }
    let num = |x: &str| x.parse::<u16>().map_err(|_| bad());
    let dt = der::DateTime::new(
        num(d[0])?,
        num(d[1])? as u8,
        num(d[2])? as u8,
        num(tm[0])? as u8,
        num(tm[1])? as u8,
        tm.get(2).map(|x| num(x)).transpose()?.unwrap_or(0) as u8,
    )
    .map_err(|_| bad())?;
    Ok(dt.to_system_time())
}
