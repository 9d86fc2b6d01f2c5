//! What the REST server records: connections with their TLS outcome, requests with the
//! resource and authentication they reached, posted mails and CSRs.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// Which resource a request addressed (after routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestResource {
    /// `GET server/version` (R1).
    Version,
    /// `GET login/{username}` (R2).
    Login { username: String },
    /// `GET accounts/{uid}` (R3).
    Account { uid: String },
    /// `GET accounts/{uid}/headers` or `headers(short)` (R4).
    Headers { uid: String, short: bool },
    /// `GET accounts/{uid}/mails` (R5).
    AllMails { uid: String },
    /// `GET` / `DELETE accounts/{uid}/mails/{messageId}` (R6/R7); `message_id` normalised
    /// (percent-decoded, without angle brackets).
    Mail { uid: String, message_id: String },
    /// `POST mails` (R8).
    Send,
    /// `POST csr` (R9).
    CsrSubmit,
    /// `GET csr/{id}` (R10).
    CsrStatus { id: String },
    /// `GET certificates?uid=|email=` (R11).
    Certificates {
        uid: Option<String>,
        email: Option<String>,
    },
    /// `DELETE accounts/{uid}/certificate` (R12).
    AccountCertificate { uid: String },
    /// `POST accounts/{uid}/password` (R13).
    Password { uid: String },
    /// `GET vzd/accounts.json.zip|accounts.xml.zip` (R14).
    AddressBook { file: String },
    /// Nothing matched (404/405).
    Unknown,
    /// Rejected before routing (429 / 408 / 413 on the header).
    NotRouted,
}

impl RestResource {
    /// The routed resource by name: `mail`, `headers`, `send`, `certificates`, `login`, ….
    pub fn name(&self) -> &'static str {
        match self {
            RestResource::Version => "version",
            RestResource::Login { .. } => "login",
            RestResource::Account { .. } => "account",
            RestResource::Headers { .. } => "headers",
            RestResource::AllMails { .. } => "mails",
            RestResource::Mail { .. } => "mail",
            RestResource::Send => "send",
            RestResource::CsrSubmit => "csr",
            RestResource::CsrStatus { .. } => "csr-status",
            RestResource::Certificates { .. } => "certificates",
            RestResource::AccountCertificate { .. } => "account-certificate",
            RestResource::Password { .. } => "password",
            RestResource::AddressBook { .. } => "address-book",
            RestResource::Unknown => "unknown",
            RestResource::NotRouted => "not-routed",
        }
    }

    /// What the request was about: the message id (`mail`), the looked-up address or uid
    /// (`certificates`), the account or file otherwise.
    pub fn subject(&self) -> Option<&str> {
        match self {
            RestResource::Login { username } => Some(username),
            RestResource::Account { uid }
            | RestResource::Headers { uid, .. }
            | RestResource::AllMails { uid }
            | RestResource::AccountCertificate { uid }
            | RestResource::Password { uid } => Some(uid),
            RestResource::Mail { message_id, .. } => Some(message_id),
            RestResource::CsrStatus { id } => Some(id),
            RestResource::Certificates { uid, email } => email.as_deref().or(uid.as_deref()),
            RestResource::AddressBook { file } => Some(file),
            RestResource::Version
            | RestResource::Send
            | RestResource::CsrSubmit
            | RestResource::Unknown
            | RestResource::NotRouted => None,
        }
    }
}

/// BASIC authentication of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestAuth {
    /// The resource needs none and none was checked.
    NotRequired,
    /// No (parsable) `Authorization: Basic` header.
    Missing,
    /// Credentials of an account, correct.
    Ok { user: String },
    /// Unknown user or wrong password.
    Failed { user: String },
}

impl RestAuth {
    /// Whether the client sent credentials (right or wrong).
    pub fn offered_credentials(&self) -> bool {
        matches!(self, RestAuth::Ok { .. } | RestAuth::Failed { .. })
    }
}

/// `none`, `missing`, `ok <user>`, `failed <user>` (the user name only, never a password).
impl fmt::Display for RestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestAuth::NotRequired => f.write_str("none"),
            RestAuth::Missing => f.write_str("missing"),
            RestAuth::Ok { user } => write!(f, "ok {user}"),
            RestAuth::Failed { user } => write!(f, "failed {user}"),
        }
    }
}

/// One HTTP request, as the mock handled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestRequest {
    pub peer: SocketAddr,
    pub method: String,
    /// Path and query as received.
    pub target: String,
    pub resource: RestResource,
    pub auth: RestAuth,
    /// Request `Content-Type`, if any.
    pub content_type: Option<String>,
    pub status: u16,
    /// Body bytes read (for 413: what was read before giving up).
    pub bytes_in: usize,
    pub bytes_out: usize,
    /// When the request arrived, since the mock started.
    pub at: Duration,
    /// Time to the response (including a scripted delay).
    pub duration: Duration,
    /// Why this status (rejections, faults, checks), if there is something to say.
    pub note: Option<String>,
}

/// In reports: the resource by name with its subject, the authentication as text, times in
/// milliseconds.
impl Serialize for RestRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut r = serializer.serialize_struct("RestRequest", 12)?;
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
        r.end()
    }
}

impl RestRequest {
    /// One line for evidence: `GET /x -> 200 (auth: ok user) [note]`.
    pub fn summary(&self) -> String {
        format!(
            "{} {} -> {}{}{}",
            self.method,
            self.target,
            self.status,
            if self.auth == RestAuth::NotRequired {
                String::new()
            } else {
                format!(" (auth: {})", self.auth)
            },
            self.note
                .as_ref()
                .map(|n| format!(" [{n}]"))
                .unwrap_or_default()
        )
    }
}

/// One TCP connection and its TLS handshake.
pub type RestConnection = crate::http::HttpConnection;

/// A `POST mails` body the mock received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostedMail {
    /// Authenticated account.
    pub user: String,
    pub content_type: Option<String>,
    /// The body exactly as received.
    #[serde(skip)]
    pub data: Vec<u8>,
    pub status: u16,
    /// Usernames whose mailbox got it (matched by `To`/`Cc` address).
    pub delivered_to: Vec<String>,
    /// Addresses of `To`/`Cc` that are no account of the mock.
    pub unknown_recipients: Vec<String>,
    /// Id under which it was accepted (`Location: <base>/mails/{id}`).
    pub id: String,
}

/// A `POST csr` the mock received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsrRecord {
    pub id: String,
    pub user: String,
    pub pem: String,
    /// Status entries handed out so far, oldest first.
    pub statuses: Vec<u16>,
}

/// What the mock saw, as a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KvcRestObservations {
    pub requests: Vec<RestRequest>,
    pub connections: Vec<RestConnection>,
    /// Connections closed at once because `max_connections` were open.
    pub rejected_connections: usize,
    pub posted: Vec<PostedMail>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub csrs: Vec<CsrRecord>,
    /// Requests/connections not recorded because a list was full.
    #[serde(skip_serializing_if = "crate::net::session::is_zero")]
    pub dropped_records: usize,
}

impl KvcRestObservations {
    /// `DELETE accounts/{uid}/mails/{id}` requests (any outcome), in order.
    pub fn deletes(&self) -> impl Iterator<Item = &RestRequest> {
        self.requests
            .iter()
            .filter(|r| r.method == "DELETE" && matches!(r.resource, RestResource::Mail { .. }))
    }

    /// `GET accounts/{uid}/mails/{id}` requests (any outcome), in order.
    pub fn fetches(&self) -> impl Iterator<Item = &RestRequest> {
        self.requests
            .iter()
            .filter(|r| r.method == "GET" && matches!(r.resource, RestResource::Mail { .. }))
    }

    /// Header listings (`headers`, `headers(short)`).
    pub fn header_listings(&self) -> impl Iterator<Item = &RestRequest> {
        self.requests
            .iter()
            .filter(|r| matches!(r.resource, RestResource::Headers { .. }))
    }

    /// Certificate lookups (`certificates?...`).
    pub fn certificate_lookups(&self) -> impl Iterator<Item = &RestRequest> {
        self.requests
            .iter()
            .filter(|r| matches!(r.resource, RestResource::Certificates { .. }))
    }

    /// Bodies of `POST mails`, in order (including those answered with a fault status).
    pub fn posted_mails(&self) -> impl Iterator<Item = &PostedMail> {
        self.posted.iter()
    }

    /// Requests answered with `status`.
    pub fn with_status(&self, status: u16) -> impl Iterator<Item = &RestRequest> {
        self.requests.iter().filter(move |r| r.status == status)
    }

    /// The message ids deleted successfully (2xx), in order.
    pub fn deleted_ids(&self) -> Vec<String> {
        self.deletes()
            .filter(|r| (200..300).contains(&r.status))
            .filter_map(|r| match &r.resource {
                RestResource::Mail { message_id, .. } => Some(message_id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether any request of the client carried credentials (authenticated or not).
    pub fn credentials_offered(&self) -> bool {
        self.requests
            .iter()
            .any(|r| matches!(r.auth, RestAuth::Ok { .. } | RestAuth::Failed { .. }))
    }
}
