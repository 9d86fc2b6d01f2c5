//! KIM products on the engines: the mock Konnektor (SOAP over HTTPS) and VZD (LDAPS), the
//! Fachdienst's KAS and Account Manager (HTTPS) and service discovery (DNS), the KOM-LE messages
//! its mailbox serves, the two test practices, and the standalone worlds (`mocks serve kim*`).
//! The Fachdienst's MTA and mailbox are the mail engine (`crate::mail`) with KIM's policy.

pub mod account_manager;

/// maxMailSize of every KIM account (AccountManager.yaml `Account.maxMailSize`, AccountLimit.yaml
/// `maxMailSize`: 734003200 bytes; A_19355 checks a client mail against it).
pub const MAX_MAIL_SIZE: usize = 734_003_200;
/// A client mail above this goes through the KAS (A_19357: 15 MiB); a KIM 1.0 Clientmodul
/// refuses it (A_23171).
pub const KAS_THRESHOLD_BYTES: usize = 15 * 1024 * 1024;
pub mod discovery;
pub mod dns;
pub mod kas;
pub mod konnektor;
pub mod practices;
pub mod sender_rules;
pub mod served_messages;
pub mod standalone;
pub mod vzd;
