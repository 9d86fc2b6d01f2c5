//! Network pieces every mock server shares, independent of protocol and product: the accept loop
//! with its session limit, the recorder sessions write into, bounded line IO, the TLS test PKI
//! and what every session records (TLS outcome, end, logins, transcript).

pub(crate) mod accept;
pub mod client;
pub(crate) mod lineio;
pub(crate) mod recorder;
pub mod session;
pub mod tls;
