//! KIM products on the engines: the mock Konnektor (SOAP over HTTPS) and the mock VZD (LDAPS);
//! the KAS, Account Manager and the Fachdienst's MTA follow (issue 15).

pub mod konnektor;
pub mod standalone;
pub mod vzd;
