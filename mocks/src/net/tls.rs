//! Test PKI for the mock servers' TLS, generated at start with rcgen (ring backend, ECDSA P-256:
//! rcgen with ring cannot generate RSA keys).
//!
//! One CA ("kvc-check mock test CA") issues the valid, expired and wrong-name server
//! certificates. The untrusted-CA certificate is issued by a *rogue* CA that has the same subject
//! name as the real one but a different key, so a client that matches issuers by name only and
//! does not check the signature is caught as well.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};
use time::{Duration, OffsetDateTime};

use crate::error::MockError;

/// Which certificate a mock server presents (KVC-Anb021 cases); in case files by its
/// [`as_str`](ServerCertKind::as_str) name (`untrusted-ca`, ...).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ServerCertKind {
    /// Issued by the test CA for the configured host name, currently valid.
    #[default]
    Valid,
    /// Issued by a rogue CA with the same subject name as the test CA but another key.
    UntrustedCa,
    /// Issued by the test CA for the host name, but expired (validity ended 30 days ago).
    Expired,
    /// Issued by the test CA and currently valid, but for `wrong-name.invalid` only.
    WrongName,
}

impl ServerCertKind {
    pub fn all() -> &'static [ServerCertKind] {
        &[
            ServerCertKind::Valid,
            ServerCertKind::UntrustedCa,
            ServerCertKind::Expired,
            ServerCertKind::WrongName,
        ]
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServerCertKind::Valid => "valid",
            ServerCertKind::UntrustedCa => "untrusted-ca",
            ServerCertKind::Expired => "expired",
            ServerCertKind::WrongName => "wrong-name",
        }
    }
}

/// The name in the wrong-name certificate.
pub const WRONG_NAME: &str = "wrong-name.invalid";
const CA_NAME: &str = "kvc-check mock test CA";

struct ServerCert {
    chain: Vec<CertificateDer<'static>>,
    /// PKCS#8 DER of the leaf's key (to build configurations that also ask for a client
    /// certificate).
    key: Vec<u8>,
    config: Arc<rustls::ServerConfig>,
}

/// A TLS client certificate with its key, as a client system presents it to a server that
/// demands client authentication (the Konnektor's `ClientAutMandatory`).
#[derive(Clone)]
pub struct ClientIdentity {
    /// The certificate (DER).
    pub certificate: CertificateDer<'static>,
    /// The certificate as PEM.
    pub certificate_pem: String,
    /// The key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// The key as PKCS#8 PEM.
    pub key_pem: String,
    /// The subject's common name.
    pub common_name: String,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("common_name", &self.common_name)
            .finish_non_exhaustive()
    }
}

/// Whether a server asks the client for a certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// No certificate requested.
    #[default]
    None,
    /// A certificate issued by the test CA is required; the handshake fails without one.
    Required,
}

/// CA + server certificates for one host name.
pub struct TlsPki {
    host: String,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    valid: ServerCert,
    untrusted: ServerCert,
    expired: ServerCert,
    wrong_name: ServerCert,
    client: ClientIdentity,
    rogue_client: ClientIdentity,
    issuer: ClientCertIssuer,
}

/// Issues client certificates from the test CA while a mock runs (a KIM Account Manager's
/// createCert); cheap to clone.
#[derive(Clone)]
pub struct ClientCertIssuer {
    ca: Arc<Issuer<'static, KeyPair>>,
    ca_der: CertificateDer<'static>,
}

impl std::fmt::Debug for ClientCertIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertIssuer").finish_non_exhaustive()
    }
}

impl ClientCertIssuer {
    /// A fresh key and clientAuth certificate for `cn`, valid from yesterday for a year.
    pub fn issue(&self, cn: &str) -> Result<ClientIdentity, MockError> {
        client_identity(cn, OffsetDateTime::now_utc(), &self.ca)
    }

    /// The issuing CA certificate (DER).
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }
}

impl std::fmt::Debug for TlsPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPki")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "kvc-check");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    params
}

/// SAN entries for `host`; "localhost" also covers the loopback addresses.
fn sans(host: &str) -> Result<Vec<SanType>, MockError> {
    let mut out = Vec::new();
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        out.push(SanType::IpAddress(ip));
    } else {
        out.push(SanType::DnsName(host.try_into().map_err(|e| {
            MockError::Pki(format!("host name `{host}` is not a DNS name: {e}"))
        })?));
    }
    if host.eq_ignore_ascii_case("localhost") {
        out.push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        out.push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    }
    Ok(out)
}

fn server_cert(
    cn: &str,
    sans: Vec<SanType>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<ServerCert, MockError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.signed_by(&key, issuer)?;
    let chain = vec![cert.der().clone()];
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| MockError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key_der)
        .map_err(|e| MockError::Tls(format!("server certificate for {cn}: {e}")))?;
    Ok(ServerCert {
        chain,
        key: key.serialize_der(),
        config: Arc::new(config),
    })
}

/// A client certificate (clientAuth) for `cn`, issued by `issuer`.
fn client_identity(
    cn: &str,
    now: OffsetDateTime,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<ClientIdentity, MockError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365);
    let cert = params.signed_by(&key, issuer)?;
    Ok(ClientIdentity {
        certificate: cert.der().clone(),
        certificate_pem: cert.pem(),
        key_pkcs8: key.serialize_der(),
        key_pem: key.serialize_pem(),
        common_name: cn.to_string(),
    })
}

/// The subject of a certificate (RFC 4514 text, for records), or a note that it is unparsable.
pub fn certificate_subject(der: &[u8]) -> String {
    use x509_cert::der::Decode;
    match x509_cert::Certificate::from_der(der) {
        Ok(cert) => cert.tbs_certificate().subject().to_string(),
        Err(_) => "(unparsable certificate)".to_string(),
    }
}

/// The ring crypto provider, explicitly (no process-wide default is installed or needed).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsPki {
    /// Generates the CA, a rogue CA and the four server certificates for `host`
    /// (e.g. "localhost", which also covers 127.0.0.1 and ::1).
    pub fn generate(host: &str) -> Result<TlsPki, MockError> {
        let now = OffsetDateTime::now_utc();
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let ca_params = ca_params(now);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = Issuer::new(ca_params, ca_key);
        let rogue_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let rogue = Issuer::new(self::ca_params(now), rogue_key);

        let host_sans = sans(host)?;
        let valid = server_cert(
            host,
            host_sans.clone(),
            now - Duration::days(1),
            now + Duration::days(365),
            &ca,
        )?;
        let untrusted = server_cert(
            host,
            host_sans.clone(),
            now - Duration::days(1),
            now + Duration::days(365),
            &rogue,
        )?;
        let expired = server_cert(
            host,
            host_sans,
            now - Duration::days(400),
            now - Duration::days(30),
            &ca,
        )?;
        let wrong_name = server_cert(
            WRONG_NAME,
            vec![SanType::DnsName(WRONG_NAME.try_into().map_err(|e| {
                MockError::Pki(format!("wrong-name SAN: {e}"))
            })?)],
            now - Duration::days(1),
            now + Duration::days(365),
            &ca,
        )?;
        let client = client_identity("kvc-check client system", now, &ca)?;
        let rogue_client = client_identity("kvc-check client system", now, &rogue)?;
        let issuer = ClientCertIssuer {
            ca: Arc::new(ca),
            ca_der: ca_cert.der().clone(),
        };
        Ok(TlsPki {
            host: host.to_string(),
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            valid,
            untrusted,
            expired,
            wrong_name,
            client,
            rogue_client,
            issuer,
        })
    }

    /// The client certificate the test CA issued (what a client system presents).
    pub fn client_identity(&self) -> &ClientIdentity {
        &self.client
    }

    /// Issues further client certificates from the test CA.
    pub fn client_cert_issuer(&self) -> ClientCertIssuer {
        self.issuer.clone()
    }

    /// A client certificate with the same subject, issued by the rogue CA (a server that
    /// checks client certificates must refuse it).
    pub fn rogue_client_identity(&self) -> &ClientIdentity {
        &self.rogue_client
    }

    /// A server configuration presenting the certificate of `kind` that, with
    /// [`ClientAuth::Required`], demands a client certificate issued by the test CA.
    pub fn server_config_with(
        &self,
        kind: ServerCertKind,
        client_auth: ClientAuth,
    ) -> Result<Arc<rustls::ServerConfig>, MockError> {
        let cert = self.cert(kind);
        if client_auth == ClientAuth::None {
            return Ok(cert.config.clone());
        }
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .map_err(|e| MockError::Tls(format!("client trust anchor: {e}")))?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .map_err(|e| MockError::Tls(format!("client verifier: {e}")))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| MockError::Tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(cert.chain.clone(), key)
            .map_err(|e| MockError::Tls(format!("server certificate: {e}")))?;
        Ok(Arc::new(config))
    }

    /// The host name the valid certificate is issued for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The CA certificate (PEM) the system under test must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate (DER).
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write_ca(&self, path: &Path) -> Result<(), MockError> {
        std::fs::write(path, self.ca_pem.as_bytes()).map_err(|source| MockError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// The server certificate chain (leaf only) of `kind`.
    pub fn server_chain(&self, kind: ServerCertKind) -> &[CertificateDer<'static>] {
        &self.cert(kind).chain
    }

    fn cert(&self, kind: ServerCertKind) -> &ServerCert {
        match kind {
            ServerCertKind::Valid => &self.valid,
            ServerCertKind::UntrustedCa => &self.untrusted,
            ServerCertKind::Expired => &self.expired,
            ServerCertKind::WrongName => &self.wrong_name,
        }
    }

    /// A rustls server configuration presenting the certificate of `kind` (TLS 1.2 and 1.3).
    /// All four are built (and so validated) by [`TlsPki::generate`].
    pub fn server_config(&self, kind: ServerCertKind) -> Arc<rustls::ServerConfig> {
        self.cert(kind).config.clone()
    }

    /// A rustls client configuration that trusts exactly this PKI's CA.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, MockError> {
        client_config_trusting(&self.ca_pem)
    }
}

/// [`client_config_trusting`] that also presents a client certificate (`cert_pem`: the chain,
/// leaf first; `key_pem`: its PKCS#8, PKCS#1 or SEC1 key) when the server asks for one.
pub fn client_config_with_identity(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ClientConfig>, MockError> {
    use rustls::pki_types::pem::PemObject;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MockError::Tls(format!("client certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(MockError::Tls(
            "client certificate PEM holds no CERTIFICATE block".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| MockError::Tls(format!("client key PEM: {e}")))?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| MockError::Tls(e.to_string()))?
        .with_root_certificates(roots_from_pem(ca_pem)?)
        .with_client_auth_cert(chain, key)
        .map_err(|e| MockError::Tls(format!("client certificate: {e}")))?;
    Ok(Arc::new(config))
}

/// The trust anchors in `ca_pem` (at least one).
fn roots_from_pem(ca_pem: &str) -> Result<rustls::RootCertStore, MockError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| MockError::Tls(format!("CA PEM: {e}")))?;
        roots.add(cert).map_err(|e| {
            MockError::Tls(format!("CA certificate not usable as trust anchor: {e}"))
        })?;
        n += 1;
    }
    if n == 0 {
        return Err(MockError::Tls(
            "CA PEM contains no CERTIFICATE block".into(),
        ));
    }
    Ok(roots)
}

/// A rustls client configuration whose only trust anchors are the certificates in `ca_pem`.
pub fn client_config_trusting(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, MockError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| MockError::Tls(e.to_string()))?
        .with_root_certificates(roots_from_pem(ca_pem)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
