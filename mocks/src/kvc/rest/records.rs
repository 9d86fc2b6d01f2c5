//! What the REST server records: connections with their TLS outcome, requests with the
//! resource and authentication they reached, posted mails and CSRs.

use serde::Serialize;

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

impl crate::http::RouteName for RestResource {
    /// The routed resource by name: `mail`, `headers`, `send`, `certificates`, `login`, ….
    fn name(&self) -> &'static str {
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
    fn subject(&self) -> Option<&str> {
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

/// BASIC authentication of one request (the HTTP engine's record).
pub use crate::http::BasicAuth as RestAuth;

/// One HTTP request, as the mock handled it.
pub type RestRequest = crate::http::HttpRequest<RestResource>;

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
