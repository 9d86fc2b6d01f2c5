//! The kvc-pvs role: a practice system (PVS) connecting to KV-Connect through the KV-Connect
//! Client (SMTP/POP3) or the REST server interface. `world` stages its mocks and reference
//! system; `expect` holds its families of checks.

pub mod expect;
pub mod world;
