//! S/MIME (CMS) and test PKI for kvc-check.
//!
//! Work in progress; see the module docs.

pub mod asn1;
pub mod ber;
pub mod cms;
pub mod error;
pub mod keys;
pub mod oids;
pub mod pkcs12;
pub mod pki;

pub use error::{ErrorKind, Result, SmimeError};
