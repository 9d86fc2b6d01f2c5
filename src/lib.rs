//! kvc-check: conformance test and validation suite for KV-Connect and KIM secure messaging.
//!
//! See `docs/ARCHITECTURE.md` for the map of modules and how a message flows from capture to
//! report.

pub mod catalogue;
pub mod cli;
pub mod input;
pub mod lazy_mime;
pub mod lint;
pub mod message;
pub mod report;
pub mod roles;
pub mod rules;
pub mod runner;
pub mod shard;
pub mod suite;
pub mod sut;
