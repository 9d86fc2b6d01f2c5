//! Mock servers (real protocol servers on loopback) and reference systems under test.
//!
//! - [`tls`]: a throwaway test PKI (rcgen, ECDSA P-256) for the mock servers' TLS.
//! - [`kvc_client`]: the mock KV-Connect Client: an SMTP server (implicit TLS, like port 465)
//!   that captures what the system under test sends, and a POP3 server (implicit TLS, like 995)
//!   that serves a configured mailbox and records what was fetched and deleted.
//! - [`kvc_rest`]: the mock KV-Connect REST server (HTTPS, BASIC auth, `/kvconnect/rest`).
//! - [`kvc_directory`]: the mock KV-Connect address directory (LDAPS, read-only).
//! - [`kvc_messages`]: messages the mocks serve (built like the reference-system sample) and
//!   broken variants.
//! - [`reference_pvs`]: the reference practice system (PVS) that conforms to "Anbindung an
//!   KV-Connect" V4.1, with named faults that each break exactly one requirement.
//! - [`reference_pvs_rest`]: the same PVS on the KV-Connect REST server interface (HTTPS,
//!   BASIC), doing the S/MIME itself: certificate lookup, sign+encrypt, fetch, decrypt, verify.
//!
//! The contract with the runner is `docs/MOCKS-API.md`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod accept;
pub mod error;
pub mod kvc_client;
pub mod kvc_directory;
pub mod kvc_messages;
pub mod kvc_rest;
mod lineio;
mod observe;
mod pop3_server;
pub mod reference_pvs;
pub mod reference_pvs_rest;
mod smtp_server;
pub mod tls;

pub use error::MockError;
pub use kvc_client::{
    Account, AuthRecord, CapturedMessage, KvcClientConfig, KvcClientMock, Observations,
    Pop3Session, SessionEnd, SmtpSession, TlsOutcome, TranscriptLine, serve_kvc_client,
};
pub use kvc_rest::{
    KvcRestAccount, KvcRestConfig, KvcRestFaults, KvcRestLimits, KvcRestMock, KvcRestObservations,
    KvcRestProfile, RecipientCertFault, RestAuth, RestRequest, RestResource, serve_kvc_rest,
};
pub use reference_pvs::{
    Application, MessageIds, PvsConfig, PvsError, PvsFault, ReferencePvs, SendRequest,
    compose_message,
};
pub use reference_pvs_rest::{RestFetchReport, RestPvs, RestPvsConfig, StoredMessage};
pub use tls::{ServerCertKind, TlsPki};
