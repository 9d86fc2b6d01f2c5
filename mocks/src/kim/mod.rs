//! KIM products on the engines: the mock Konnektor (SOAP over HTTPS) and VZD (LDAPS), the
//! Fachdienst's KAS and Account Manager (HTTPS) and service discovery (DNS), the KOM-LE messages
//! its mailbox serves, the two test practices, and the standalone worlds (`mocks serve kim*`).
//! The Fachdienst's MTA and mailbox are the mail engine (`crate::mail`) with KIM's policy.

pub mod account_manager;
pub mod discovery;
pub mod dns;
pub mod kas;
pub mod konnektor;
pub mod practices;
pub mod sender_rules;
pub mod served_messages;
pub mod standalone;
pub mod vzd;
