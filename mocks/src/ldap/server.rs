//! A read-only LDAPv3 server engine over implicit TLS (ldap3_proto codec): simple and anonymous
//! bind, search with base/one/sub scope and RFC 4515 filters (and/or/not, equality, substring,
//! presence, >=, <=, approx as equality; case-insensitive; extensible matches nothing),
//! attribute selection, whoami; every session, bind and search recorded. The tree and who may
//! bind are the product's: it implements [`DirectoryTree`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{LdapFilter, LdapResultCode, LdapSearchScope};
use ldap3_proto::simple::{
    LdapMsg, LdapPartialAttribute, LdapSearchResultEntry, SearchRequest, ServerOps,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::error::MockError;
use crate::net::recorder::Recorder;
use crate::net::session::{SessionEnd, TlsOutcome, handshake};

/// Attributes of an entry: (type, values).
pub type Attributes = Vec<(String, Vec<Vec<u8>>)>;

/// One entry the tree lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapEntry {
    pub dn: String,
    pub attributes: Attributes,
}

/// The product side of a directory: its tree and its credentials.
pub trait DirectoryTree: Send + Sync + 'static {
    /// The DN of the container every listed entry sits directly under.
    fn base_dn(&self) -> &str;
    /// The entries searches can find.
    fn entries(&self) -> Vec<LdapEntry>;
    /// Whether a simple bind with this DN and (non-empty) password succeeds.
    fn bind(&self, dn: &str, password: &str) -> bool;
    /// Anonymous bind (and searching without any bind) allowed.
    fn allow_anonymous(&self) -> bool;
}

/// Limits of one server.
#[derive(Debug, Clone)]
pub struct LdapLimits {
    pub max_connections: usize,
    /// A connection silent for this long is closed.
    pub idle_timeout: Duration,
    /// Largest LDAP message accepted (bytes).
    pub max_message_bytes: usize,
    /// Entries one search returns at most (the server's size limit); more: the first this many
    /// and `sizeLimitExceeded` (4). A client's smaller `sizeLimit` wins.
    pub max_entries: usize,
}

impl Default for LdapLimits {
    fn default() -> Self {
        LdapLimits {
            max_connections: 64,
            idle_timeout: Duration::from_secs(30),
            max_message_bytes: 64 * 1024,
            max_entries: 1000,
        }
    }
}

/// One bind request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BindRecord {
    /// Empty for anonymous.
    pub dn: String,
    pub success: bool,
}

/// One search request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SearchRecord {
    pub base: String,
    pub scope: String,
    /// The filter in RFC 4515 notation (approximately).
    pub filter: String,
    pub attributes: Vec<String>,
    /// Bound DN at the time ("" = anonymous).
    pub bound_as: String,
    pub entries_returned: usize,
    /// LDAP result code (0 = success, 32 = noSuchObject, 50 = insufficientAccessRights).
    pub result_code: u32,
}

/// One LDAPS connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LdapSession {
    pub peer: SocketAddr,
    pub tls: TlsOutcome,
    pub binds: Vec<BindRecord>,
    pub searches: Vec<SearchRecord>,
    /// Other operations (compare, whoami, unsupported), by name.
    pub other_ops: Vec<String>,
    pub end: SessionEnd,
}

/// What the directory server saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryObservations {
    pub sessions: Vec<LdapSession>,
    pub rejected_connections: usize,
}

impl DirectoryObservations {
    pub fn searches(&self) -> impl Iterator<Item = &SearchRecord> {
        self.sessions.iter().flat_map(|s| s.searches.iter())
    }
    pub fn binds(&self) -> impl Iterator<Item = &BindRecord> {
        self.sessions.iter().flat_map(|s| s.binds.iter())
    }
}

const MAX_SESSIONS_RECORDED: usize = 10_000;
const MAX_OPS_RECORDED: usize = 10_000;

struct Shared<T> {
    tree: Arc<T>,
    limits: LdapLimits,
    obs: Recorder<DirectoryObservations>,
}

impl<T> Shared<T> {
    fn update<R>(&self, f: impl FnOnce(&mut DirectoryObservations) -> R) -> R {
        self.obs.record(f)
    }
    fn session(&self, idx: Option<usize>, f: impl FnOnce(&mut LdapSession)) {
        if let Some(i) = idx {
            self.update(|o| {
                if let Some(s) = o.sessions.get_mut(i) {
                    f(s)
                }
            });
        }
    }
}

/// A running LDAPS server.
pub struct LdapServer<T> {
    shared: Arc<Shared<T>>,
    /// The service name the runner knows it by (`directory`, `vzd`).
    service: &'static str,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl<T> std::fmt::Debug for LdapServer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl<T: DirectoryTree> LdapServer<T> {
    /// Binds `bind:port` (0 = ephemeral) and serves `tree` over TLS with `tls` as the service
    /// named `service` (`what` names it in errors).
    pub async fn listen(
        service: &'static str,
        what: &'static str,
        bind: IpAddr,
        port: u16,
        tls: TlsAcceptor,
        tree: Arc<T>,
        limits: LdapLimits,
    ) -> Result<LdapServer<T>, MockError> {
        if limits.max_connections == 0 {
            return Err(MockError::Config(
                "max_connections must be at least 1".into(),
            ));
        }
        let addr = SocketAddr::new(bind, port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MockError::Bind { what, addr, source })?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            tree,
            limits,
            obs: Recorder::new(DirectoryObservations::default()),
        });
        let task = tokio::spawn(accept_loop(listener, tls, shared.clone()));
        Ok(LdapServer {
            shared,
            service,
            addr,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sees a new value after every change of the records.
    pub fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.obs.subscribe()
    }

    pub fn observations(&self) -> DirectoryObservations {
        self.shared.obs.snapshot(|o| o)
    }

    /// Waits until `done` holds or `timeout` passed; returns the snapshot.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&DirectoryObservations) -> bool,
    ) -> DirectoryObservations {
        self.shared.obs.wait_until(timeout, |o| o, done).await
    }

    pub async fn shutdown(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

impl<T: DirectoryTree> crate::server::MockServer for LdapServer<T> {
    fn services(&self) -> Vec<crate::server::ServiceEndpoint> {
        vec![crate::server::ServiceEndpoint {
            name: self.service,
            kind: crate::server::ServiceKind::Ldaps,
            addr: self.addr,
        }]
    }

    fn evidence(&self) -> crate::evidence::Evidence {
        crate::evidence::Evidence {
            ldap: Some(self.observations()),
            ..Default::default()
        }
    }

    fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        LdapServer::changed(self)
    }

    fn shutdown(self: Box<Self>) -> crate::server::BoxFuture<'static, ()> {
        Box::pin(LdapServer::shutdown(*self))
    }
}

impl<T> Drop for LdapServer<T> {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

async fn accept_loop<T: DirectoryTree>(
    listener: TcpListener,
    tls: TlsAcceptor,
    shared: Arc<Shared<T>>,
) {
    let max = shared.limits.max_connections;
    let rejected = || shared.update(|o| o.rejected_connections += 1);
    // The directory leaves TCP_NODELAY at its default.
    crate::net::accept::accept_loop(listener, max, false, rejected, |tcp, peer| {
        let tls = tls.clone();
        let shared = shared.clone();
        async move { session(tcp, peer, tls, &shared).await }
    })
    .await
}

async fn session<T: DirectoryTree>(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: TlsAcceptor,
    shared: &Shared<T>,
) {
    let idle = shared.limits.idle_timeout;
    let idx = shared.update(|o| {
        if o.sessions.len() >= MAX_SESSIONS_RECORDED {
            return None;
        }
        o.sessions.push(LdapSession {
            peer,
            tls: TlsOutcome::NotAttempted,
            binds: Vec::new(),
            searches: Vec::new(),
            other_ops: Vec::new(),
            end: SessionEnd::Open,
        });
        Some(o.sessions.len() - 1)
    });
    let stream = match handshake(tcp, &tls, idle).await {
        Ok((s, outcome)) => {
            shared.session(idx, |s| s.tls = outcome);
            s
        }
        Err((outcome, end)) => {
            shared.session(idx, |s| {
                s.tls = outcome;
                s.end = end;
            });
            return;
        }
    };
    let (r, w) = tokio::io::split(stream);
    let codec = || LdapCodec::new(Some(shared.limits.max_message_bytes), None);
    let mut reqs = FramedRead::new(r, codec());
    let mut resp = FramedWrite::new(w, codec());
    let mut bound_as = String::new();
    let end = loop {
        let msg = match tokio::time::timeout(idle, reqs.next()).await {
            Err(_) => break SessionEnd::IdleTimeout,
            Ok(None) => break SessionEnd::PeerClosed,
            Ok(Some(Err(e))) => break SessionEnd::ProtocolError(e.to_string()),
            Ok(Some(Ok(m))) => m,
        };
        // The simple request type drops the client's size limit: read it from the raw message.
        let client_size_limit = match &msg.op {
            ldap3_proto::proto::LdapOp::SearchRequest(r) => {
                usize::try_from(r.sizelimit).unwrap_or(0)
            }
            _ => 0,
        };
        let op = match ServerOps::try_from(msg) {
            Ok(op) => op,
            Err(_) => {
                let _ = resp
                    .send(ldap3_proto::simple::DisconnectionNotice::gen_response(
                        LdapResultCode::ProtocolError,
                        "unsupported operation",
                    ))
                    .await;
                break SessionEnd::ProtocolError("unsupported LDAP operation".into());
            }
        };
        let replies: Vec<LdapMsg> = match op {
            ServerOps::SimpleBind(b) => {
                let anonymous = b.dn.is_empty() && b.pw.is_empty();
                let ok = if anonymous {
                    shared.tree.allow_anonymous()
                } else {
                    !b.pw.is_empty() && shared.tree.bind(&b.dn, &b.pw)
                };
                shared.session(idx, |s| {
                    if s.binds.len() < MAX_OPS_RECORDED {
                        s.binds.push(BindRecord {
                            dn: b.dn.clone(),
                            success: ok,
                        })
                    }
                });
                if ok {
                    bound_as = b.dn.clone();
                    vec![b.gen_success()]
                } else {
                    vec![b.gen_invalid_cred()]
                }
            }
            ServerOps::Search(sr) => {
                let limit = match client_size_limit {
                    0 => shared.limits.max_entries,
                    n => n.min(shared.limits.max_entries),
                };
                let (replies, rec) = search(&*shared.tree, &sr, &bound_as, limit);
                shared.session(idx, |s| {
                    if s.searches.len() < MAX_OPS_RECORDED {
                        s.searches.push(rec)
                    }
                });
                replies
            }
            ServerOps::Unbind(_) => break SessionEnd::Quit,
            ServerOps::Abandon { .. } => continue,
            ServerOps::Compare(c) => {
                shared.session(idx, |s| s.other_ops.push("compare".into()));
                vec![c.gen_error(
                    LdapResultCode::UnwillingToPerform,
                    "compare is not supported by the mock".into(),
                )]
            }
            ServerOps::Whoami(w) => {
                shared.session(idx, |s| s.other_ops.push("whoami".into()));
                vec![w.gen_success(&format!("dn: {bound_as}"))]
            }
        };
        let mut failed = false;
        for m in replies {
            if resp.send(m).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed {
            break SessionEnd::PeerClosed;
        }
    };
    shared.session(idx, |s| s.end = end);
}

/// DN comparison: case-insensitive, spaces around `,` and `=` ignored.
pub fn dn_eq(a: &str, b: &str) -> bool {
    norm_dn(a) == norm_dn(b)
}

pub fn norm_dn(s: &str) -> String {
    s.split(',')
        .map(|rdn| {
            rdn.split('=')
                .map(|p| p.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join("=")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Attribute type without options (`userCertificate;binary` -> `usercertificate`).
fn attr_base(a: &str) -> String {
    a.split(';').next().unwrap_or(a).trim().to_ascii_lowercase()
}

fn values_of<'a>(attrs: &'a [(String, Vec<Vec<u8>>)], name: &str) -> Vec<&'a [u8]> {
    let want = attr_base(name);
    attrs
        .iter()
        .filter(|(n, _)| attr_base(n) == want)
        .flat_map(|(_, v)| v.iter().map(Vec::as_slice))
        .collect()
}

fn lower(v: &[u8]) -> String {
    String::from_utf8_lossy(v).to_lowercase()
}

fn matches(f: &LdapFilter, attrs: &[(String, Vec<Vec<u8>>)]) -> bool {
    match f {
        LdapFilter::And(fs) => fs.iter().all(|f| matches(f, attrs)),
        LdapFilter::Or(fs) => fs.iter().any(|f| matches(f, attrs)),
        LdapFilter::Not(f) => !matches(f, attrs),
        LdapFilter::Equality(a, v) | LdapFilter::Approx(a, v) => {
            let v = v.to_lowercase();
            values_of(attrs, a).iter().any(|x| lower(x) == v)
        }
        LdapFilter::Present(a) => !values_of(attrs, a).is_empty(),
        LdapFilter::GreaterOrEqual(a, v) => {
            let v = v.to_lowercase();
            values_of(attrs, a).iter().any(|x| lower(x) >= v)
        }
        LdapFilter::LessOrEqual(a, v) => {
            let v = v.to_lowercase();
            values_of(attrs, a).iter().any(|x| lower(x) <= v)
        }
        LdapFilter::Substring(a, sub) => values_of(attrs, a).iter().any(|x| {
            let x = lower(x);
            let mut rest: &str = &x;
            if let Some(i) = &sub.initial {
                let i = i.to_lowercase();
                match rest.strip_prefix(i.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
            }
            for any in &sub.any {
                let any = any.to_lowercase();
                match rest.find(any.as_str()) {
                    Some(p) => rest = &rest[p + any.len()..],
                    None => return false,
                }
            }
            match &sub.final_ {
                Some(f) => rest.ends_with(f.to_lowercase().as_str()),
                None => true,
            }
        }),
        LdapFilter::Extensible(_) => false,
    }
}

fn filter_string(f: &LdapFilter) -> String {
    match f {
        LdapFilter::And(fs) => format!("(&{})", fs.iter().map(filter_string).collect::<String>()),
        LdapFilter::Or(fs) => format!("(|{})", fs.iter().map(filter_string).collect::<String>()),
        LdapFilter::Not(f) => format!("(!{})", filter_string(f)),
        LdapFilter::Equality(a, v) => format!("({a}={v})"),
        LdapFilter::Approx(a, v) => format!("({a}~={v})"),
        LdapFilter::Present(a) => format!("({a}=*)"),
        LdapFilter::GreaterOrEqual(a, v) => format!("({a}>={v})"),
        LdapFilter::LessOrEqual(a, v) => format!("({a}<={v})"),
        LdapFilter::Substring(a, s) => format!(
            "({a}={}*{}{})",
            s.initial.clone().unwrap_or_default(),
            s.any.iter().map(|x| format!("{x}*")).collect::<String>(),
            s.final_.clone().unwrap_or_default()
        ),
        LdapFilter::Extensible(_) => "(extensible)".into(),
    }
}

/// Selects the requested attributes (empty or `*` = all; `1.1` = none).
fn select(attrs: Vec<(String, Vec<Vec<u8>>)>, requested: &[String]) -> Vec<LdapPartialAttribute> {
    let all = requested.is_empty() || requested.iter().any(|r| r == "*");
    let none = requested.len() == 1 && requested[0] == "1.1";
    attrs
        .into_iter()
        .filter(|(n, _)| !none && (all || requested.iter().any(|r| attr_base(r) == attr_base(n))))
        .map(|(atype, vals)| LdapPartialAttribute { atype, vals })
        .collect()
}

fn search<T: DirectoryTree + ?Sized>(
    tree: &T,
    sr: &SearchRequest,
    bound_as: &str,
    limit: usize,
) -> (Vec<LdapMsg>, SearchRecord) {
    let scope = match sr.scope {
        LdapSearchScope::Base => "base",
        LdapSearchScope::OneLevel => "one",
        LdapSearchScope::Subtree => "sub",
        LdapSearchScope::Children => "children",
    };
    let mut rec = SearchRecord {
        base: sr.base.clone(),
        scope: scope.into(),
        filter: filter_string(&sr.filter),
        attributes: sr.attrs.clone(),
        bound_as: bound_as.to_string(),
        entries_returned: 0,
        result_code: 0,
    };
    if bound_as.is_empty() && !tree.allow_anonymous() {
        rec.result_code = 50;
        return (
            vec![sr.gen_error(
                LdapResultCode::InsufficentAccessRights,
                "anonymous access is disabled".into(),
            )],
            rec,
        );
    }
    let base_n = norm_dn(&sr.base);
    let base_dn = tree.base_dn();
    let dir_n = norm_dn(base_dn);
    let listed = tree.entries();
    let mut out = Vec::new();
    if base_n == dir_n || (dir_n.ends_with(&format!(",{base_n}")) && !base_n.is_empty()) {
        let above = base_n != dir_n;
        if matches!(sr.scope, LdapSearchScope::Base) {
            if !above {
                let ou = base_dn
                    .split(',')
                    .next()
                    .and_then(|r| r.split_once('='))
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default();
                let attrs = vec![
                    (
                        "objectClass".to_string(),
                        vec![b"top".to_vec(), b"organizationalUnit".to_vec()],
                    ),
                    ("ou".to_string(), vec![ou.into_bytes()]),
                ];
                if matches(&sr.filter, &attrs) {
                    out.push(sr.gen_result_entry(LdapSearchResultEntry {
                        dn: base_dn.to_string(),
                        attributes: select(attrs, &sr.attrs),
                    }));
                }
            }
        } else if !(above && matches!(sr.scope, LdapSearchScope::OneLevel)) {
            for e in listed {
                if matches(&sr.filter, &e.attributes) {
                    out.push(sr.gen_result_entry(LdapSearchResultEntry {
                        dn: e.dn,
                        attributes: select(e.attributes, &sr.attrs),
                    }));
                }
            }
        }
    } else if let Some(e) = listed.into_iter().find(|e| norm_dn(&e.dn) == base_n) {
        if matches!(sr.scope, LdapSearchScope::Base | LdapSearchScope::Subtree)
            && matches(&sr.filter, &e.attributes)
        {
            out.push(sr.gen_result_entry(LdapSearchResultEntry {
                dn: e.dn,
                attributes: select(e.attributes, &sr.attrs),
            }));
        }
    } else {
        rec.result_code = 32;
        return (
            vec![sr.gen_error(
                LdapResultCode::NoSuchObject,
                format!("no such object: {}", sr.base),
            )],
            rec,
        );
    }
    if out.len() > limit {
        out.truncate(limit);
        rec.entries_returned = out.len();
        rec.result_code = 4;
        out.push(sr.gen_error(
            LdapResultCode::SizeLimitExceeded,
            format!("size limit of {limit} entries exceeded"),
        ));
        return (out, rec);
    }
    rec.entries_returned = out.len();
    out.push(sr.gen_success());
    (out, rec)
}

#[cfg(test)]
mod filter_tests {
    //! Filter evaluation against generated entries: the laws a correct evaluator obeys
    //! (negation, De Morgan, and/or identities), equality and substrings against values built
    //! from the entry itself, case-insensitivity, and the text form of what was evaluated.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use ldap3_proto::proto::LdapSubstringFilter;
    use proptest::prelude::*;

    type Attrs = Vec<(String, Vec<Vec<u8>>)>;

    const NAMES: [&str; 4] = ["mail", "telematikID", "komLeData", "userCertificate;binary"];

    fn attrs() -> impl Strategy<Value = Attrs> {
        proptest::collection::vec(
            (
                proptest::sample::select(NAMES.to_vec()),
                proptest::collection::vec("[a-zA-Z0-9.@,-]{0,12}", 0..3),
            ),
            0..5,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(n, vals)| {
                    (
                        n.to_string(),
                        vals.into_iter().map(String::into_bytes).collect(),
                    )
                })
                .collect()
        })
    }

    fn leaf() -> impl Strategy<Value = LdapFilter> {
        let name = || {
            proptest::sample::select(vec!["mail", "telematikid", "komLeData", "usercertificate"])
        };
        let value = || "[a-zA-Z0-9.@,-]{0,8}";
        prop_oneof![
            (name(), value()).prop_map(|(a, v)| LdapFilter::Equality(a.into(), v)),
            name().prop_map(|a| LdapFilter::Present(a.into())),
            (
                name(),
                proptest::option::of(value()),
                proptest::collection::vec(value(), 0..2),
                proptest::option::of(value())
            )
                .prop_map(|(a, initial, any, final_)| LdapFilter::Substring(
                    a.into(),
                    LdapSubstringFilter {
                        initial,
                        any,
                        final_
                    }
                )),
            (name(), value()).prop_map(|(a, v)| LdapFilter::GreaterOrEqual(a.into(), v)),
            (name(), value()).prop_map(|(a, v)| LdapFilter::LessOrEqual(a.into(), v)),
        ]
    }

    fn filter() -> impl Strategy<Value = LdapFilter> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(LdapFilter::And),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(LdapFilter::Or),
                inner.prop_map(|f| LdapFilter::Not(Box::new(f))),
            ]
        })
    }

    proptest! {
        #[test]
        fn negation_and_de_morgan_hold(f in filter(), g in filter(), a in attrs()) {
            let not = |f: &LdapFilter| LdapFilter::Not(Box::new(f.clone()));
            prop_assert_eq!(matches(&not(&f), &a), !matches(&f, &a));
            let and = LdapFilter::And(vec![f.clone(), g.clone()]);
            let or_of_nots = LdapFilter::Or(vec![not(&f), not(&g)]);
            prop_assert_eq!(matches(&not(&and), &a), matches(&or_of_nots, &a));
            prop_assert!(matches(&LdapFilter::Or(vec![f.clone(), not(&f)]), &a));
            prop_assert!(!matches(&LdapFilter::And(vec![f.clone(), not(&f)]), &a));
            // The empty AND is true, the empty OR false (RFC 4526).
            prop_assert!(matches(&LdapFilter::And(vec![]), &a));
            prop_assert!(!matches(&LdapFilter::Or(vec![]), &a));
            let text = filter_string(&f);
            prop_assert!(text.starts_with('(') && text.ends_with(')'), "{}", text);
        }

        #[test]
        fn every_value_of_an_entry_matches_itself(a in attrs(), pick in any::<prop::sample::Index>(), cut in 0usize..12) {
            let values: Vec<(String, String)> = a
                .iter()
                .flat_map(|(n, vs)| vs.iter().map(move |v| (n.clone(), String::from_utf8(v.clone()).unwrap())))
                .collect();
            prop_assume!(!values.is_empty());
            let (name, value) = pick.get(&values).clone();
            // Attribute options are ignored and values compared case-insensitively.
            let base = name.split(';').next().unwrap().to_ascii_uppercase();
            prop_assert!(matches(&LdapFilter::Equality(base.clone(), value.to_uppercase()), &a));
            prop_assert!(matches(&LdapFilter::Present(base.clone()), &a));
            let cut = cut.min(value.len());
            let sub = LdapSubstringFilter {
                initial: Some(value[..cut].to_string()),
                any: vec![],
                final_: Some(value[cut..].to_string()),
            };
            prop_assert!(matches(&LdapFilter::Substring(base.clone(), sub), &a));
            prop_assert!(matches(&LdapFilter::GreaterOrEqual(base.clone(), value.clone()), &a));
            prop_assert!(matches(&LdapFilter::LessOrEqual(base, value), &a));
        }

        #[test]
        fn an_attribute_the_entry_lacks_never_matches(a in attrs(), v in "[a-z]{0,6}") {
            prop_assert!(!matches(&LdapFilter::Present("displayName".into()), &a));
            prop_assert!(!matches(&LdapFilter::Equality("displayName".into(), v), &a));
        }
    }
}
