//! When the suite itself is the client (kim-fd: it plays the Clientmodul against a provider's
//! KAS, Account Manager and MTA), what it sent and got back is evidence like what a mock
//! records: [`ProbeExchange`], collected in a [`ProbeLog`] that joins the case's
//! [`MockSet`](crate::server::MockSet) as one more [`MockServer`](crate::server::MockServer) without services, so the runner
//! merges and reports it like any mock's evidence. No credential is ever recorded: request
//! headers are not kept, and the request line names only method and path.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use crate::net::recorder::Recorder;

/// Response text kept for the report (the checks see the full body through `facts`).
pub const BODY_EXCERPT_CHARS: usize = 600;

/// One exchange of a probe with the SUT: an HTTP request and its response, or one SMTP command
/// and its reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProbeExchange {
    /// The probe step (`kas_size_limit`).
    pub probe: String,
    /// What this exchange tries, stable for the checks (`upload above the maximum`).
    pub label: String,
    /// The SUT's service it went to (`kas`, `account-manager`, `mta`).
    pub service: String,
    /// `PUT /AccountMgmt/v2.4/account/x@y/revokeDeregistration`, `MAIL FROM:<a@b>`.
    pub request: String,
    /// HTTP status or SMTP reply code; 0 = no answer (see `note`).
    pub status: u16,
    /// The TLS session the exchange ran in (protocol, cipher suite, server certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Response header fields (names lower-case), HTTP only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// Response body length as received (bounded by the probe's limit).
    pub body_len: usize,
    /// The start of the body if it is text, for the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_excerpt: Option<String>,
    /// What the probe observed about this exchange beyond status and headers, e.g.
    /// `body_equals_upload: false`, `link_host: kas.example`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
    /// Where the response breaks the interface file of the profile (status not documented,
    /// content type, body against its schema: one sentence each, with the schema path).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// Why there was no answer, or what else went wrong on the way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Milliseconds since the case's probes began, and how long the exchange took.
    pub at_ms: u64,
    pub duration_ms: u64,
    /// A message the SUT delivered in this exchange (kim-cm: a POP3 RETR from the Clientmodul):
    /// linted and judged like a captured one, written to the report as a file of its own.
    #[serde(skip)]
    pub delivered: Option<DeliveredMessage>,
}

/// A message the SUT delivered to the suite (playing the client system) and to whom.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveredMessage {
    pub to: Vec<String>,
    pub data: Arc<Vec<u8>>,
}

impl ProbeExchange {
    /// The value of response header `name` (lower-case), if present once or more (first).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn fact(&self, name: &str) -> Option<&str> {
        self.facts.get(name).map(String::as_str)
    }

    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// One line for evidence texts: `label: request → status`.
    pub fn summary(&self) -> String {
        let answer = match (self.status, &self.note) {
            (0, Some(n)) => format!("no answer ({n})"),
            (0, None) => "no answer".to_string(),
            (s, _) => s.to_string(),
        };
        format!("{}: {} → {answer}", self.label, self.request)
    }
}

/// The exchanges of one case's probes.
#[derive(Clone)]
pub struct ProbeLog {
    inner: Arc<Recorder<Vec<ProbeExchange>>>,
}

impl Default for ProbeLog {
    fn default() -> Self {
        ProbeLog {
            inner: Arc::new(Recorder::new(Vec::new())),
        }
    }
}

impl std::fmt::Debug for ProbeLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeLog")
            .field("exchanges", &self.inner.lock().len())
            .finish()
    }
}

impl ProbeLog {
    pub fn new() -> ProbeLog {
        ProbeLog::default()
    }

    /// Records an exchange; the index lets it be completed later ([`ProbeLog::update`]).
    pub fn push(&self, exchange: ProbeExchange) -> usize {
        self.inner.record(|v| {
            v.push(exchange);
            v.len() - 1
        })
    }

    /// Replaces the exchange recorded at `index` (a request recorded before its answer came,
    /// completed with it: a stalled SUT leaves the request in the evidence).
    pub fn update(&self, index: usize, exchange: ProbeExchange) {
        self.inner.record(|v| {
            if let Some(e) = v.get_mut(index) {
                *e = exchange;
            }
        });
    }

    pub fn exchanges(&self) -> Vec<ProbeExchange> {
        self.inner.lock().clone()
    }

    /// Sees a new value after every exchange recorded.
    pub fn changed(&self) -> watch::Receiver<u64> {
        self.inner.subscribe()
    }
}
