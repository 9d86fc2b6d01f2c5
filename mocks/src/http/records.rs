//! What an HTTPS server records per request, in one shape for every product: the engine's
//! exchange, the BASIC authentication outcome, and the resource the product's routes reached.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::fmt;

use super::server::HttpExchange;

/// A routed resource as the report names it.
pub trait RouteName {
    /// The resource by name (`mail`, `send`, `certificates`, …).
    fn name(&self) -> &'static str;
    /// What the request was about (an account, a message id, a file), if anything.
    fn subject(&self) -> Option<&str>;
    /// What the product recorded about the call beyond name and subject (the Konnektor: its
    /// context, card handle, outcome, scripted faults), for the report.
    fn detail(&self) -> Option<serde_json::Value> {
        None
    }
}

/// BASIC authentication of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasicAuth {
    /// The resource needs none and none was checked.
    NotRequired,
    /// No (parsable) `Authorization: Basic` header.
    Missing,
    /// Credentials of an account, correct.
    Ok { user: String },
    /// Unknown user or wrong password.
    Failed { user: String },
}

impl BasicAuth {
    /// Whether the client sent credentials (right or wrong).
    pub fn offered_credentials(&self) -> bool {
        matches!(self, BasicAuth::Ok { .. } | BasicAuth::Failed { .. })
    }
}

/// `none`, `missing`, `ok <user>`, `failed <user>` (the user name only, never a password).
impl fmt::Display for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BasicAuth::NotRequired => f.write_str("none"),
            BasicAuth::Missing => f.write_str("missing"),
            BasicAuth::Ok { user } => write!(f, "ok {user}"),
            BasicAuth::Failed { user } => write!(f, "failed {user}"),
        }
    }
}

/// One HTTP request as a server handled it: the engine's exchange (its fields read through
/// `Deref`: `method`, `target`, `status`, `note`, …) with what the product's routes learnt, the
/// resource `R` it reached and the BASIC authentication outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest<R> {
    pub exchange: HttpExchange,
    pub resource: R,
    pub auth: BasicAuth,
}

impl<R> std::ops::Deref for HttpRequest<R> {
    type Target = HttpExchange;

    fn deref(&self) -> &HttpExchange {
        &self.exchange
    }
}

impl<R> HttpRequest<R> {
    /// The same record with its resource mapped (a product's type into a shared one).
    pub fn map_resource<S>(self, f: impl FnOnce(R) -> S) -> HttpRequest<S> {
        HttpRequest {
            exchange: self.exchange,
            resource: f(self.resource),
            auth: self.auth,
        }
    }

    /// One line for evidence: `GET /x -> 200 (auth: ok user) [note]`.
    pub fn summary(&self) -> String {
        let auth = if self.auth == BasicAuth::NotRequired {
            String::new()
        } else {
            format!(" (auth: {})", self.auth)
        };
        let note = self
            .note
            .as_ref()
            .map(|n| format!(" [{n}]"))
            .unwrap_or_default();
        format!(
            "{} {} -> {}{auth}{note}",
            self.method, self.target, self.status
        )
    }
}

/// In reports: the resource by name with its subject, the authentication as text, times in
/// milliseconds.
impl<R: RouteName> Serialize for HttpRequest<R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut r = serializer.serialize_struct("HttpRequest", 13)?;
        r.serialize_field("method", &self.method)?;
        r.serialize_field("target", &self.target)?;
        r.serialize_field("resource", self.resource.name())?;
        match self.resource.subject() {
            Some(subject) => r.serialize_field("subject", subject)?,
            None => r.skip_field("subject")?,
        }
        r.serialize_field("auth", &self.auth.to_string())?;
        match &self.content_type {
            Some(ct) => r.serialize_field("content_type", ct)?,
            None => r.skip_field("content_type")?,
        }
        r.serialize_field("status", &self.status)?;
        r.serialize_field("bytes_in", &self.bytes_in)?;
        r.serialize_field("bytes_out", &self.bytes_out)?;
        r.serialize_field("at_ms", &(self.at.as_millis() as u64))?;
        r.serialize_field("duration_ms", &(self.duration.as_millis() as u64))?;
        match &self.note {
            Some(n) => r.serialize_field("note", n)?,
            None => r.skip_field("note")?,
        }
        match self.resource.detail() {
            Some(d) => r.serialize_field("call", &d)?,
            None => r.skip_field("call")?,
        }
        r.end()
    }
}

/// What one HTTPS product records: its connections and requests (bounded; beyond the bound
/// only a counter grows) and the connections closed at once. The products keep it inside their
/// recorded state; the Routes callbacks push into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRecords<C> {
    pub connections: Vec<super::HttpConnection>,
    pub requests: Vec<HttpRequest<C>>,
    pub rejected_connections: usize,
    pub dropped_records: usize,
}

impl<C> Default for HttpRecords<C> {
    fn default() -> Self {
        HttpRecords {
            connections: Vec::new(),
            requests: Vec::new(),
            rejected_connections: 0,
            dropped_records: 0,
        }
    }
}

/// Records kept per list before only [`HttpRecords::dropped_records`] grows.
pub const MAX_HTTP_RECORDS: usize = 100_000;

impl<C: Clone> HttpRecords<C> {
    pub fn connected(&mut self, c: super::HttpConnection) {
        if self.connections.len() < MAX_HTTP_RECORDS {
            self.connections.push(c);
        } else {
            self.dropped_records += 1;
        }
    }

    pub fn exchanged(&mut self, exchange: HttpExchange, resource: C, auth: BasicAuth) {
        if self.requests.len() < MAX_HTTP_RECORDS {
            self.requests.push(HttpRequest {
                exchange,
                resource,
                auth,
            });
        } else {
            self.dropped_records += 1;
        }
    }

    /// The records as shared evidence, each resource wrapped by `wrap`.
    pub fn evidence(
        &self,
        wrap: impl Fn(C) -> crate::evidence::Resource,
    ) -> crate::evidence::Evidence {
        crate::evidence::Evidence {
            http: Some(crate::evidence::HttpEvidence {
                connections: self.connections.clone(),
                requests: self
                    .requests
                    .iter()
                    .cloned()
                    .map(|r| r.map_resource(&wrap))
                    .collect(),
                rejected_connections: self.rejected_connections,
                dropped_records: self.dropped_records,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}
