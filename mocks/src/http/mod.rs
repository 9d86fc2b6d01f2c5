//! HTTP engines: an HTTPS server ([`server`]) that products give their routes.

pub mod client;
pub mod records;
pub mod server;

pub use records::{BasicAuth, HttpRecords, HttpRequest, RouteName};
pub use server::{Exchange, HttpConnection, HttpExchange, HttpLimits, HttpTask, Reply, Routes};
