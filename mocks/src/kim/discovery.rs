//! The client side of KIM service discovery (KIM-FACTS §1.1): ask a DNS server for the SRV and
//! TXT records of `_<service>._tcp.<domain>` and get host, port and API base path (TXT
//! `path=`), as a Clientmodul finds its KAS and Account Manager. Blocking (std UDP) with a
//! timeout: it runs once, before anything else talks to the provider.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};

/// Where discovery says a service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub host: String,
    pub port: u16,
    /// The TXT record's `path=` value, if any (e.g. `/attachments/v2.4`).
    pub path: Option<String>,
}

fn ask(
    dns: SocketAddr,
    name: &Name,
    kind: RecordType,
    timeout: Duration,
) -> Result<Message, String> {
    let socket = UdpSocket::bind(if dns.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })
        .map_err(|e| format!("DNS socket: {e}"))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| format!("DNS socket: {e}"))?;
    let id = (uuid::Uuid::new_v4().as_u128() & 0xffff) as u16;
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name.clone(), kind));
    let bytes = query.to_vec().map_err(|e| format!("DNS query: {e}"))?;
    socket
        .send_to(&bytes, dns)
        .map_err(|e| format!("DNS query to {dns}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, from) = socket
            .recv_from(&mut buf)
            .map_err(|e| format!("no DNS answer from {dns} for {name} {kind}: {e}"))?;
        if from != dns {
            continue;
        }
        let answer =
            Message::from_vec(&buf[..n]).map_err(|e| format!("DNS answer from {dns}: {e}"))?;
        if answer.metadata.id == id {
            return Ok(answer);
        }
    }
}

/// SRV (and TXT) of `_<service>._tcp.<domain>` at the DNS server `dns`.
pub fn discover(
    dns: SocketAddr,
    domain: &str,
    service: &str,
    timeout: Duration,
) -> Result<Discovered, String> {
    let shown = format!("_{service}._tcp.{}", domain.trim_end_matches('.'));
    let name = Name::from_ascii(format!("{shown}.")).map_err(|e| format!("{shown}: {e}"))?;
    let srv = ask(dns, &name, RecordType::SRV, timeout)?;
    let (host, port) = srv
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::SRV(s) => Some((
                s.target.to_ascii().trim_end_matches('.').to_string(),
                s.port,
            )),
            _ => None,
        })
        .ok_or_else(|| format!("{shown}: no SRV record ({:?})", srv.metadata.response_code))?;
    let txt = ask(dns, &name, RecordType::TXT, timeout)?;
    let path = txt.answers.iter().find_map(|r| match &r.data {
        RData::TXT(t) => t.txt_data.iter().find_map(|part| {
            std::str::from_utf8(part)
                .ok()
                .and_then(|p| p.strip_prefix("path="))
                .map(str::to_string)
        }),
        _ => None,
    });
    Ok(Discovered { host, port, path })
}
