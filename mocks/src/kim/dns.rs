//! Service discovery as a KIM Clientmodul does it (KIM-FACTS §1.1): a DNS responder on loopback
//! (UDP and TCP on one port) answering, per service (`kas`, `accmgr`), the PTR of
//! `_<service>._tcp.<domain>` with the instance `<service>._<service>._tcp.<domain>`, and SRV
//! (host and port) and TXT (`path=<base path>`) for both the instance and the service name.
//! The normative record table (gemSpec_FD_KOMLE) is not in the stored material: the layout
//! follows openkim's lookup (PTR, then SRV + TXT); the TXT key `path` is inferred.
//! Every query is recorded with its name, type, transport and how many records answered it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use crate::error::MockError;
use crate::evidence::Evidence;
use crate::net::recorder::Recorder;

/// One discoverable service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsService {
    /// `kas` or `accmgr` (the label in `_<name>._tcp`).
    pub name: String,
    /// SRV target (the TLS certificate's host name, e.g. `localhost`).
    pub host: String,
    pub port: u16,
    /// The API base path, e.g. `/attachments/v2.4`.
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct DnsConfig {
    pub bind: IpAddr,
    /// 0 = ephemeral (UDP and TCP get the same port).
    pub port: u16,
    /// e.g. `kim.telematik-test`.
    pub domain: String,
    pub services: Vec<DnsService>,
    pub ttl: u32,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            domain: "kim.telematik-test".into(),
            services: Vec::new(),
            ttl: 60,
        }
    }
}

/// One query as the responder saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsQuery {
    pub name: String,
    pub record_type: String,
    /// `udp` or `tcp`.
    pub transport: &'static str,
    pub answers: usize,
    /// `NoError`, `NXDomain`, `FormErr`.
    pub rcode: String,
}

struct Shared {
    config: DnsConfig,
    queries: Recorder<Vec<DnsQuery>>,
}

fn name(s: &str) -> Option<Name> {
    Name::from_ascii(if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    })
    .ok()
}

impl Shared {
    /// The records answering `(qname, qtype)`.
    fn answer(&self, qname: &Name, qtype: RecordType) -> Vec<Record> {
        let ttl = self.config.ttl;
        let domain = &self.config.domain;
        let mut out = Vec::new();
        for s in &self.config.services {
            let (Some(service), Some(instance), Some(target)) = (
                name(&format!("_{0}._tcp.{domain}", s.name)),
                name(&format!("{0}._{0}._tcp.{domain}", s.name)),
                name(&s.host),
            ) else {
                continue;
            };
            let want = |t| qtype == t || qtype == RecordType::ANY;
            if qname == &service && want(RecordType::PTR) {
                out.push(Record::from_rdata(
                    qname.clone(),
                    ttl,
                    RData::PTR(PTR(instance.clone())),
                ));
            }
            if qname == &service || qname == &instance {
                if want(RecordType::SRV) {
                    let srv = SRV::new(0, 0, s.port, target.clone());
                    out.push(Record::from_rdata(qname.clone(), ttl, RData::SRV(srv)));
                }
                if want(RecordType::TXT) {
                    let txt = TXT::new(vec![format!("path={}", s.path)]);
                    out.push(Record::from_rdata(qname.clone(), ttl, RData::TXT(txt)));
                }
            }
            if qname == &target && want(RecordType::A) {
                out.push(Record::from_rdata(
                    qname.clone(),
                    ttl,
                    RData::A(A(Ipv4Addr::LOCALHOST)),
                ));
            }
        }
        out
    }

    /// The response bytes to a request (None: not even a header to answer).
    fn respond(&self, request: &[u8], transport: &'static str) -> Option<Vec<u8>> {
        let query = match Message::from_vec(request) {
            Ok(m) => m,
            Err(_) => {
                if request.len() < 2 {
                    return None;
                }
                let id = u16::from_be_bytes([request[0], request[1]]);
                self.queries.record(|q| {
                    q.push(DnsQuery {
                        name: String::new(),
                        record_type: String::new(),
                        transport,
                        answers: 0,
                        rcode: "FormErr".into(),
                    })
                });
                return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                    .to_vec()
                    .ok();
            }
        };
        let mut response = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.add_queries(query.queries.clone());
        let mut records = Vec::new();
        for q in &query.queries {
            records.extend(self.answer(q.name(), q.query_type()));
        }
        let rcode = if records.is_empty() {
            ResponseCode::NXDomain
        } else {
            ResponseCode::NoError
        };
        response.metadata.response_code = rcode;
        let count = records.len();
        response.add_answers(records);
        self.queries.record(|log| {
            for q in &query.queries {
                log.push(DnsQuery {
                    name: q.name().to_ascii(),
                    record_type: q.query_type().to_string(),
                    transport,
                    answers: count,
                    rcode: format!("{rcode:?}"),
                });
            }
        });
        response.to_vec().ok()
    }
}

/// The running responder (service `dns`).
pub struct DnsMock {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for DnsMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsMock")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl DnsMock {
    pub async fn start(config: DnsConfig) -> Result<DnsMock, MockError> {
        let want = SocketAddr::new(config.bind, config.port);
        // TCP and UDP on one port: an ephemeral TCP port may be taken for UDP (or the other way
        // round) by another socket, so an ephemeral pair is retried a few times.
        let mut attempt = 0;
        let (tcp, udp, addr) = loop {
            attempt += 1;
            let tcp = TcpListener::bind(want)
                .await
                .map_err(|source| MockError::Bind {
                    what: "DNS (TCP)",
                    addr: want,
                    source,
                })?;
            let addr = tcp.local_addr()?;
            match UdpSocket::bind(addr).await {
                Ok(udp) => break (tcp, udp, addr),
                Err(_) if config.port == 0 && attempt < 20 => continue,
                Err(source) => {
                    return Err(MockError::Bind {
                        what: "DNS (UDP)",
                        addr,
                        source,
                    });
                }
            }
        };
        let shared = Arc::new(Shared {
            config,
            queries: Recorder::new(Vec::new()),
        });
        let s = shared.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                if let Some(reply) = s.respond(&buf[..n], "udp") {
                    let _ = udp.send_to(&reply, peer).await;
                }
            }
        });
        let s = shared.clone();
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = tcp.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    // RFC 1035 §4.2.2: two-byte length, then the message; several per connection.
                    let idle = std::time::Duration::from_secs(10);
                    loop {
                        let mut len = [0u8; 2];
                        match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
                            Ok(Ok(_)) => {}
                            _ => return,
                        }
                        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
                        match tokio::time::timeout(idle, stream.read_exact(&mut msg)).await {
                            Ok(Ok(_)) => {}
                            _ => return,
                        }
                        let Some(reply) = s.respond(&msg, "tcp") else {
                            return;
                        };
                        let Ok(n) = u16::try_from(reply.len()) else {
                            return;
                        };
                        let mut framed = n.to_be_bytes().to_vec();
                        framed.extend_from_slice(&reply);
                        if stream.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(DnsMock {
            shared,
            addr,
            tasks: vec![udp_task, tcp_task],
        })
    }

    /// UDP and TCP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn queries(&self) -> Vec<DnsQuery> {
        self.shared.queries.snapshot(|q| q)
    }

    pub async fn shutdown(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for DnsMock {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl crate::server::MockServer for DnsMock {
    fn services(&self) -> Vec<crate::server::ServiceEndpoint> {
        vec![crate::server::ServiceEndpoint {
            name: "dns",
            kind: crate::server::ServiceKind::Dns,
            addr: self.addr,
        }]
    }

    /// DNS queries are not part of the shared evidence families yet: they are read with
    /// [`DnsMock::queries`].
    fn evidence(&self) -> Evidence {
        Evidence::default()
    }

    fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.queries.subscribe()
    }

    fn shutdown(self: Box<Self>) -> crate::server::BoxFuture<'static, ()> {
        Box::pin(DnsMock::shutdown(*self))
    }
}
