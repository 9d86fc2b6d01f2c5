//! Error types of the mocks crate.

use std::net::SocketAddr;

/// Errors of the mock servers and their test PKI.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("test PKI: {0}")]
    Pki(String),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("cannot bind {what} to {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid mock configuration: {0}")]
    Config(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rcgen::Error> for MockError {
    fn from(e: rcgen::Error) -> Self {
        MockError::Pki(e.to_string())
    }
}
