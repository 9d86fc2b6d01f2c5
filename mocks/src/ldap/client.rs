//! An LDAPS client (implicit TLS, LDAPv3, anonymous simple bind) on the `ldap3_proto` codec, as
//! a KIM Clientmodul reads the VZD: subtree searches with a filter, an attribute list and a size
//! limit; every step bounded by the timeout given at connect.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapFilter, LdapMsg, LdapOp, LdapResultCode,
    LdapSearchRequest, LdapSearchScope,
};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::Framed;

/// Largest LDAP message read (one search result entry with its certificates).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Largest sum of attribute values one search keeps.
pub const MAX_SEARCH_BYTES: usize = 64 * 1024 * 1024;

/// One entry a search returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapEntry {
    pub dn: String,
    /// Attribute descriptions as the server wrote them (options such as `;binary` included).
    pub attributes: BTreeMap<String, Vec<Vec<u8>>>,
}

impl LdapEntry {
    /// The values of `attr`: its description matched case-insensitively; without options in
    /// `attr` (no `;`), an attribute that differs only by its options (e.g.
    /// `userCertificate;binary` for `userCertificate`) counts when no exact match exists.
    pub fn values(&self, attr: &str) -> &[Vec<u8>] {
        if let Some((_, v)) = self
            .attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        {
            return v;
        }
        if !attr.contains(';')
            && let Some((_, v)) = self.attributes.iter().find(|(k, _)| {
                k.split(';')
                    .next()
                    .is_some_and(|base| base.eq_ignore_ascii_case(attr))
            })
        {
            return v;
        }
        &[]
    }

    /// The first value of `attr` as text (lossy UTF-8).
    pub fn first_str(&self, attr: &str) -> Option<String> {
        self.values(attr)
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// An anonymous LDAPS connection.
pub struct LdapsClient {
    url: String,
    timeout: Duration,
    framed: Framed<TlsStream<TcpStream>, LdapCodec>,
    next_id: i32,
}

impl std::fmt::Debug for LdapsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapsClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `ldaps://host[:port][/…]`: (host without brackets, port).
fn split_ldaps_url(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case("ldaps://"))
        .map(|_| &url[8..])
        .ok_or_else(|| format!("`{url}` is not an ldaps:// URL"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{url}`: unclosed `[` in the host"))?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(format!("`{url}`: junk after the IPv6 address")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    let port = match port {
        None => 636,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("`{url}`: port `{p}` is not a number 0-65535"))?,
    };
    Ok((host.to_string(), port))
}

impl LdapsClient {
    /// Connects to `url` (`ldaps://host:port`, as `KimVzdMock::url()` gives it), checks the
    /// server certificate against `ca_pem` and the host, and binds anonymously.
    pub async fn connect(
        url: &str,
        ca_pem: &str,
        timeout: Duration,
    ) -> Result<LdapsClient, String> {
        let (host, port) = split_ldaps_url(url)?;
        let tls = crate::net::tls::client_config_trusting(ca_pem)
            .map_err(|e| format!("LDAPS {url}: TLS client configuration: {e}"))?;
        let name = ServerName::try_from(host.clone())
            .map_err(|e| format!("LDAPS {url}: `{host}` is not a valid server name: {e}"))?;
        let work = async {
            let addrs: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, port)],
                Err(_) => tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map_err(|e| format!("LDAPS {url}: cannot resolve `{host}`: {e}"))?
                    .collect(),
            };
            let mut last = format!("LDAPS {url}: `{host}` resolves to no address");
            let mut tcp = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(s) => {
                        tcp = Some(s);
                        break;
                    }
                    Err(e) => last = format!("LDAPS {url}: connect to {addr}: {e}"),
                }
            }
            let tcp = tcp.ok_or(last)?;
            let _ = tcp.set_nodelay(true);
            let stream = TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("LDAPS {url}: TLS handshake: {e}"))?;
            Ok::<_, String>(stream)
        };
        let stream = tokio::time::timeout(timeout, work).await.map_err(|_| {
            format!(
                "LDAPS {url}: no TLS connection within {} ms",
                timeout.as_millis()
            )
        })??;
        let mut client = LdapsClient {
            url: url.to_string(),
            timeout,
            framed: Framed::new(stream, LdapCodec::new(Some(MAX_MESSAGE_BYTES), None)),
            next_id: 1,
        };
        client.bind_anonymous().await?;
        Ok(client)
    }

    /// The URL connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn msgid(&mut self) -> i32 {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        id
    }

    /// The next message, within the timeout.
    async fn receive(&mut self, step: &str) -> Result<LdapMsg, String> {
        let url = &self.url;
        match tokio::time::timeout(self.timeout, self.framed.next()).await {
            Err(_) => Err(format!(
                "LDAPS {url}: {step}: no answer within {} ms",
                self.timeout.as_millis()
            )),
            Ok(None) => Err(format!(
                "LDAPS {url}: {step}: the server closed the connection"
            )),
            Ok(Some(Err(e))) => Err(format!("LDAPS {url}: {step}: {e}")),
            Ok(Some(Ok(m))) => Ok(m),
        }
    }

    async fn send(&mut self, msg: LdapMsg, step: &str) -> Result<(), String> {
        let url = self.url.clone();
        match tokio::time::timeout(self.timeout, self.framed.send(msg)).await {
            Err(_) => Err(format!(
                "LDAPS {url}: {step}: request not sent within {} ms",
                self.timeout.as_millis()
            )),
            Ok(Err(e)) => Err(format!("LDAPS {url}: {step}: {e}")),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// An unsolicited notification (message ID 0, e.g. Notice of Disconnection) as an error.
    fn unsolicited(&self, step: &str, msg: &LdapMsg) -> String {
        let what = match &msg.op {
            LdapOp::ExtendedResponse(r) => {
                format!("{:?}: {}", r.res.code, r.res.message)
            }
            other => format!("{other:?}"),
        };
        format!(
            "LDAPS {}: {step}: unsolicited notification from the server ({what})",
            self.url
        )
    }

    async fn bind_anonymous(&mut self) -> Result<(), String> {
        let id = self.msgid();
        let step = "anonymous bind";
        self.send(
            LdapMsg::new(
                id,
                LdapOp::BindRequest(LdapBindRequest {
                    version: 3,
                    dn: String::new(),
                    cred: LdapBindCred::Simple(String::new()),
                }),
            ),
            step,
        )
        .await?;
        loop {
            let msg = self.receive(step).await?;
            if msg.msgid == 0 {
                return Err(self.unsolicited(step, &msg));
            }
            if msg.msgid != id {
                continue;
            }
            return match msg.op {
                LdapOp::BindResponse(r) if r.res.code == LdapResultCode::Success => Ok(()),
                LdapOp::BindResponse(r) => Err(format!(
                    "LDAPS {}: {step} refused: {:?} ({})",
                    self.url, r.res.code, r.res.message
                )),
                other => Err(format!(
                    "LDAPS {}: {step}: unexpected answer {other:?}",
                    self.url
                )),
            };
        }
    }

    /// Subtree search under `base` with `filter`, returning `attributes` (empty: all user
    /// attributes), at most `size_limit` entries (0: the server's limit). A result code other
    /// than success (sizeLimitExceeded included) is an error naming code and message.
    pub async fn search(
        &mut self,
        base: &str,
        filter: LdapFilter,
        attributes: &[&str],
        size_limit: i32,
    ) -> Result<Vec<LdapEntry>, String> {
        let id = self.msgid();
        let step = format!("search under `{base}`");
        let time_limit = i32::try_from(self.timeout.as_secs().max(1)).unwrap_or(i32::MAX);
        self.send(
            LdapMsg::new(
                id,
                LdapOp::SearchRequest(LdapSearchRequest {
                    base: base.to_string(),
                    scope: LdapSearchScope::Subtree,
                    aliases: LdapDerefAliases::Never,
                    sizelimit: size_limit.max(0),
                    timelimit: time_limit,
                    typesonly: false,
                    filter,
                    attrs: attributes.iter().map(|a| a.to_string()).collect(),
                }),
            ),
            &step,
        )
        .await?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut entries = Vec::new();
        let mut kept = 0usize;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.receive(&step))
                .await
                .map_err(|_| {
                    format!(
                        "LDAPS {}: {step}: not done within {} ms",
                        self.url,
                        self.timeout.as_millis()
                    )
                })??;
            if msg.msgid == 0 {
                return Err(self.unsolicited(&step, &msg));
            }
            if msg.msgid != id {
                continue;
            }
            match msg.op {
                LdapOp::SearchResultEntry(e) => {
                    let mut attributes: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
                    for a in e.attributes {
                        kept += a.vals.iter().map(Vec::len).sum::<usize>();
                        attributes.entry(a.atype).or_default().extend(a.vals);
                    }
                    if kept > MAX_SEARCH_BYTES {
                        return Err(format!(
                            "LDAPS {}: {step}: the result exceeds {MAX_SEARCH_BYTES} bytes",
                            self.url
                        ));
                    }
                    entries.push(LdapEntry {
                        dn: e.dn,
                        attributes,
                    });
                }
                LdapOp::SearchResultReference(_) => {}
                LdapOp::SearchResultDone(r) if r.code == LdapResultCode::Success => {
                    return Ok(entries);
                }
                LdapOp::SearchResultDone(r) => {
                    return Err(format!(
                        "LDAPS {}: {step}: result {:?} ({}) after {} entries: {}",
                        self.url,
                        r.code,
                        result_code_number(&r.code),
                        entries.len(),
                        r.message
                    ));
                }
                other => {
                    return Err(format!(
                        "LDAPS {}: {step}: unexpected answer {other:?}",
                        self.url
                    ));
                }
            }
        }
    }

    /// Entries whose `mail` equals any of `mails` (`(|(mail=a)(mail=b))`, or `(mail=a)` for
    /// one); no search at all for none.
    pub async fn search_mail(
        &mut self,
        base: &str,
        mails: &[&str],
        attributes: &[&str],
    ) -> Result<Vec<LdapEntry>, String> {
        let mut terms: Vec<LdapFilter> = mails
            .iter()
            .map(|m| LdapFilter::Equality("mail".to_string(), m.to_string()))
            .collect();
        let filter = match terms.len() {
            0 => return Ok(Vec::new()),
            1 => terms.remove(0),
            _ => LdapFilter::Or(terms),
        };
        self.search(base, filter, attributes, 0).await
    }

    /// Sends an UnbindRequest and closes the connection (errors ignored: nothing is left to
    /// do about them).
    pub async fn unbind(mut self) {
        let id = self.msgid();
        let _ = self
            .send(LdapMsg::new(id, LdapOp::UnbindRequest), "unbind")
            .await;
        let mut stream = self.framed.into_inner();
        let _ = tokio::time::timeout(
            self.timeout,
            tokio::io::AsyncWriteExt::shutdown(&mut stream),
        )
        .await;
    }
}

/// The RFC 4511 number of a result code (`LdapResultCode` is a fieldless `repr(i64)` enum
/// with the RFC's numbers as discriminants).
fn result_code_number(code: &LdapResultCode) -> i64 {
    code.clone() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        assert_eq!(
            split_ldaps_url("ldaps://127.0.0.1:1636").ok(),
            Some(("127.0.0.1".into(), 1636))
        );
        assert_eq!(
            split_ldaps_url("LDAPS://vzd.example/dc=data").ok(),
            Some(("vzd.example".into(), 636))
        );
        assert_eq!(
            split_ldaps_url("ldaps://[::1]:9").ok(),
            Some(("::1".into(), 9))
        );
        assert!(split_ldaps_url("ldap://127.0.0.1:389").is_err());
        assert!(split_ldaps_url("ldaps://:1").is_err());
    }

    #[test]
    fn values_match_case_insensitively_and_by_base_name() {
        let mut attributes = BTreeMap::new();
        attributes.insert("mail".to_string(), vec![b"a@b".to_vec()]);
        attributes.insert("userCertificate;binary".to_string(), vec![vec![1, 2]]);
        let e = LdapEntry {
            dn: "uid=x".into(),
            attributes,
        };
        assert_eq!(e.first_str("MAIL").as_deref(), Some("a@b"));
        assert_eq!(e.values("usercertificate;BINARY"), &[vec![1u8, 2]]);
        assert_eq!(e.values("userCertificate"), &[vec![1u8, 2]]);
        assert!(e.values("cn").is_empty());
        assert_eq!(e.first_str("cn"), None);
    }
}
