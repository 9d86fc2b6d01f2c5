//! The client side of TLS for the suite's own clients (the reference systems now, the suite as
//! the client of a KIM Fachdienst later): a configuration that trusts one CA, or, as a named
//! fault, any certificate; the connect with its errors.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::net::tls::{client_config_trusting, provider};

/// Why a client operation failed. `what` names the service (`SMTP`, `POP3`, `REST`).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client configuration: {0}")]
    Config(String),
    #[error("cannot connect to {what} at {addr}: {source}")]
    Connect {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The TLS handshake failed, e.g. because the server certificate was refused; nothing was
    /// sent over the connection.
    #[error("TLS handshake with {what} at {addr} (server name {server_name}) failed: {reason}")]
    Tls {
        what: &'static str,
        addr: SocketAddr,
        server_name: String,
        reason: String,
    },
    #[error("{what}: unexpected reply to {command}: {reply}")]
    Protocol {
        what: &'static str,
        command: String,
        reply: String,
    },
    #[error("{what}: I/O error during {stage}: {source}")]
    Io {
        what: &'static str,
        stage: String,
        source: std::io::Error,
    },
}

/// A verifier that accepts every certificate (a client fault: KVC-Anb021); handshake signatures
/// are still checked so that the connection itself works.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS client configuration (ring provider): the server certificate must chain to `ca_pem`
/// (and match the server name at connect time), or, with `accept_any`, any certificate is
/// accepted.
pub fn client_tls_config(
    accept_any: bool,
    ca_pem: &str,
) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    if accept_any {
        let p = provider();
        let config = rustls::ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(p)))
            .with_no_client_auth();
        return Ok(Arc::new(config));
    }
    client_config_trusting(ca_pem).map_err(|e| ClientError::Config(e.to_string()))
}

/// A server name for the handshake, or a configuration error naming it.
pub fn server_name(name: &str) -> Result<ServerName<'static>, ClientError> {
    ServerName::try_from(name.to_string())
        .map_err(|e| ClientError::Config(format!("server name `{name}` is not valid: {e}")))
}

/// Connects to `addr` and completes the TLS handshake, checking the certificate for `name`.
pub async fn connect_tls(
    what: &'static str,
    addr: SocketAddr,
    name: &ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Connect { what, addr, source })?;
    let _ = tcp.set_nodelay(true);
    TlsConnector::from(tls)
        .connect(name.clone(), tcp)
        .await
        .map_err(|e| ClientError::Tls {
            what,
            addr,
            server_name: name.to_str().into_owned(),
            reason: e.to_string(),
        })
}
