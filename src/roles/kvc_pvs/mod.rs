//! The kvc-pvs role: a practice system (PVS) connecting to KV-Connect through the KV-Connect
//! Client (SMTP/POP3) or the REST server interface.

pub mod expect;
pub mod plan;
