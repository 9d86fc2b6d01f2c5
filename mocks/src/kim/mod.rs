//! KIM products on the engines: the mock Konnektor (SOAP over HTTPS), the mock VZD (LDAPS) and
//! the mock KAS (HTTPS); the Account Manager and the Fachdienst's MTA follow (issue 15).

pub mod account_manager;
pub mod dns;
pub mod kas;
pub mod konnektor;
pub mod served_messages;
pub mod standalone;
pub mod vzd;
