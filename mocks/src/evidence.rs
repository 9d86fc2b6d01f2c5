//! One evidence model for every mock: what the servers of a case saw, in the engines' record
//! types (mail sessions, HTTP connections and requests, LDAP sessions with their operations),
//! with each captured message tagged by the service it came through. A mock's `evidence()`
//! fills the families it serves; the runner merges the evidence of all mocks of a case and
//! reads it as it is: nothing is copied into other types, nothing recorded is left out.

use serde::Serialize;

use crate::http::{HttpConnection, HttpRequest, RouteName};
use crate::kim::account_manager::records::AmCall;
use crate::kim::kas::records::KasCall;
use crate::kim::konnektor::records::KonnektorCall;
use crate::kvc::rest::records::{CsrRecord, PostedMail, RestResource};
use crate::ldap::DirectoryObservations;
use crate::mail::{Pop3Session, SmtpSession};
pub use crate::probe::ProbeExchange;

/// The resource an HTTP request reached, by product (a product's routes add a variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A route of the KV-Connect REST server.
    KvcRest(RestResource),
    /// A call to the mock Konnektor (connector.sds or a SOAP operation).
    Konnektor(Box<KonnektorCall>),
    /// A request to the mock KAS.
    Kas(Box<KasCall>),
    /// A request to the mock Account Manager (or AccountLimit / ServiceInformation).
    AccountManager(Box<AmCall>),
}

impl Resource {
    /// The KV-Connect REST resource, if the request went to that server.
    pub fn kvc_rest(&self) -> Option<&RestResource> {
        match self {
            Resource::KvcRest(r) => Some(r),
            Resource::Konnektor(_) | Resource::Kas(_) | Resource::AccountManager(_) => None,
        }
    }

    /// The Konnektor call, if the request went to the mock Konnektor.
    pub fn konnektor(&self) -> Option<&KonnektorCall> {
        match self {
            Resource::Konnektor(c) => Some(c),
            Resource::KvcRest(_) | Resource::Kas(_) | Resource::AccountManager(_) => None,
        }
    }
}

impl RouteName for Resource {
    fn name(&self) -> &'static str {
        match self {
            Resource::KvcRest(r) => r.name(),
            Resource::Konnektor(c) => c.name(),
            Resource::Kas(c) => c.name(),
            Resource::AccountManager(c) => c.name(),
        }
    }

    fn subject(&self) -> Option<&str> {
        match self {
            Resource::KvcRest(r) => r.subject(),
            Resource::Konnektor(c) => c.subject(),
            Resource::Kas(c) => c.subject(),
            Resource::AccountManager(c) => c.subject(),
        }
    }

    fn detail(&self) -> Option<serde_json::Value> {
        match self {
            Resource::Konnektor(c) => c.detail(),
            Resource::KvcRest(_) | Resource::Kas(_) | Resource::AccountManager(_) => None,
        }
    }
}

/// What the HTTPS services of a case saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpEvidence {
    pub connections: Vec<HttpConnection>,
    pub requests: Vec<HttpRequest<Resource>>,
    /// Messages posted for sending (`POST mails`), in order, whatever the status.
    pub posted: Vec<PostedMail>,
    /// Message ids of the mailbox entries served to the SUT, in order (entry n = index n - 1).
    pub mailbox_ids: Vec<String>,
    /// Those of them still on the server now.
    pub remaining_ids: Vec<String>,
    /// Certificate signing requests received.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub csrs: Vec<CsrRecord>,
    /// Connections closed at once because too many were open.
    pub rejected_connections: usize,
    /// Requests or connections not recorded because a record list was full.
    #[serde(skip_serializing_if = "crate::net::session::is_zero")]
    pub dropped_records: usize,
}

impl HttpEvidence {
    /// `DELETE` of a stored mail (any outcome), in order.
    pub fn deletes(&self) -> impl Iterator<Item = &HttpRequest<Resource>> {
        self.mail_requests("DELETE")
    }

    /// `GET` of a stored mail (any outcome), in order.
    pub fn fetches(&self) -> impl Iterator<Item = &HttpRequest<Resource>> {
        self.mail_requests("GET")
    }

    fn mail_requests<'a>(
        &'a self,
        method: &'a str,
    ) -> impl Iterator<Item = &'a HttpRequest<Resource>> + 'a {
        self.requests.iter().filter(move |r| {
            r.method == method && matches!(r.resource.kvc_rest(), Some(RestResource::Mail { .. }))
        })
    }

    fn extend(&mut self, other: HttpEvidence) {
        self.connections.extend(other.connections);
        self.requests.extend(other.requests);
        self.posted.extend(other.posted);
        self.mailbox_ids.extend(other.mailbox_ids);
        self.remaining_ids.extend(other.remaining_ids);
        self.csrs.extend(other.csrs);
        self.rejected_connections += other.rejected_connections;
        self.dropped_records += other.dropped_records;
    }
}

/// What the mocks of a case saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub smtp: Vec<SmtpSession>,
    pub pop3: Vec<Pop3Session>,
    /// HTTPS services (the KV-Connect REST server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpEvidence>,
    /// LDAPS services (directories): sessions with their binds and searches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ldap: Option<DirectoryObservations>,
    /// SMTP/POP3 connections closed at once because too many were open.
    #[serde(skip_serializing_if = "crate::net::session::is_zero")]
    pub rejected_connections: usize,
    /// What the suite itself sent to the SUT as a client, and what came back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeExchange>,
}

/// The service a captured message came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// SMTP DATA at a mail server.
    Smtp,
    /// `POST mails` that the REST server accepted.
    Rest,
    /// Delivered by the SUT to the suite as the client system (kim-cm: POP3 RETR).
    Delivered,
}

/// A message the SUT handed over, wherever it was captured.
#[derive(Debug, Clone, Copy)]
pub struct Captured<'a> {
    pub via: Via,
    /// SMTP: the MAIL FROM path; REST: the authenticated account.
    pub mail_from: &'a str,
    /// SMTP: the RCPT TO paths; REST: the accounts it was delivered to.
    pub rcpt_to: &'a [String],
    pub data: &'a [u8],
}

impl Evidence {
    /// Adds what another mock of the same case saw.
    pub fn merge(&mut self, other: Evidence) {
        self.smtp.extend(other.smtp);
        self.pop3.extend(other.pop3);
        self.rejected_connections += other.rejected_connections;
        self.probes.extend(other.probes);
        match (&mut self.http, other.http) {
            (Some(mine), Some(theirs)) => mine.extend(theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
        match (&mut self.ldap, other.ldap) {
            (Some(mine), Some(theirs)) => {
                mine.sessions.extend(theirs.sessions);
                mine.rejected_connections += theirs.rejected_connections;
            }
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }

    /// Every message the SUT handed over: SMTP DATA, then `POST mails` the server accepted, then
    /// what it delivered to the suite's probes.
    pub fn messages(&self) -> impl Iterator<Item = Captured<'_>> {
        let smtp = self
            .smtp
            .iter()
            .flat_map(|s| s.messages.iter())
            .map(|m| Captured {
                via: Via::Smtp,
                mail_from: &m.mail_from,
                rcpt_to: &m.rcpt_to,
                data: &m.data,
            });
        let posted = self
            .http
            .iter()
            .flat_map(|h| h.posted.iter())
            .filter(|p| (200..300).contains(&p.status))
            .map(|p| Captured {
                via: Via::Rest,
                mail_from: &p.user,
                rcpt_to: &p.delivered_to,
                data: &p.data,
            });
        let delivered = self
            .probes
            .iter()
            .filter_map(|p| p.delivered.as_ref())
            .map(|d| Captured {
                via: Via::Delivered,
                mail_from: "",
                rcpt_to: &d.to,
                data: &d.data,
            });
        smtp.chain(posted).chain(delivered)
    }

    pub fn message_count(&self) -> usize {
        self.messages().count()
    }

    /// The evidence line for mail connections closed at once, if any.
    pub fn rejected_note(&self) -> Option<String> {
        (self.rejected_connections > 0).then(|| {
            format!(
                "{} connection(s) closed at once by the mock (too many open at the same time)",
                self.rejected_connections
            )
        })
    }
}
