//! Mock servers (real protocol servers on loopback) and reference systems under test.
//!
//! Engines know protocols, products configure them:
//! - [`net`]: accept loop and session limit, recorder, bounded line IO, the TLS test PKI
//!   (rcgen, ECDSA P-256), what every session records and the recorded TLS handshake.
//! - [`mail`]: SMTP server (implicit TLS) that captures what a client sends and POP3 server
//!   (implicit TLS) that serves a maildrop, behind one handle.
//! - [`kvc`]: the KV-Connect products: the KV-Connect Client mock (the mail servers with
//!   KV-Connect's account), the REST server (HTTPS, BASIC auth, `/kvconnect/rest`), its address
//!   directory (LDAPS, read-only), and the messages they serve.
//! - [`reference`]: the reference practice system (PVS) that conforms to "Anbindung an
//!   KV-Connect" V4.1, over SMTP/POP3 and over REST, with named faults that each break exactly
//!   one requirement.
//!
//! Every mock server shows the runner one face ([`server::MockServer`]): its services by name,
//! what it saw as shared [`evidence::Evidence`], a change signal and a stop.
//!
//! The contract with the runner is `docs/MOCKS-API.md`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod error;
pub mod evidence;
pub mod http;
pub mod kim;
pub mod kvc;
pub mod ldap;
pub mod mail;
pub mod net;
pub mod probe;
pub mod reference;
pub mod server;

pub use error::MockError;
pub use evidence::{Captured, Evidence, HttpEvidence, Resource, Via};
pub use kvc::client::{KvcClientConfig, KvcClientMock};
pub use kvc::rest::{
    KvcRestAccount, KvcRestConfig, KvcRestFaults, KvcRestLimits, KvcRestMock, KvcRestObservations,
    KvcRestProfile, RecipientCertFault, RestAuth, RestRequest, RestResource,
};
pub use kvc::standalone::{serve_kvc_client, serve_kvc_rest};
pub use mail::{
    Account, CapturedMessage, MailServer, MailServerConfig, Observations, Pop3Session, SmtpSession,
};
pub use net::session::{AuthRecord, SessionEnd, TlsOutcome, TranscriptLine};
pub use net::tls::{ServerCertKind, TlsPki};
pub use reference::kvc_pvs::rest::{RestFetchReport, RestPvs, RestPvsConfig, StoredMessage};
pub use reference::kvc_pvs::{
    Application, MessageIds, PvsConfig, PvsError, PvsFault, ReferencePvs, SendRequest,
    compose_message,
};
pub use server::{MockServer, MockSet, ServiceEndpoint, ServiceKind};
