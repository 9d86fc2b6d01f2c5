//! HTTP engines: an HTTPS server ([`server`]) that products give their routes.

pub mod client;
pub mod server;

pub use server::{Exchange, HttpConnection, HttpExchange, HttpLimits, Reply, Routes};
