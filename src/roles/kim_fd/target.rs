//! Where the Fachdienst under test is and what the suite, playing its Clientmodul, holds for
//! it: the services' addresses, the CA of their TLS certificates, the test accounts with their
//! passwords and the C.AUT key of the sender's card (for the Account Manager's tokens), and
//! what the provider declares (KAS maximum, deletion delay after `expires`).

use std::net::SocketAddr;
use std::time::Duration;

use kvc_mocks::kim::kas::KasApi;
use kvc_smime::pki::CertifiedKey;

/// One test account of the provider.
#[derive(Clone)]
pub struct Participant {
    pub address: String,
    pub password: String,
    /// The RSA C.AUT key and certificate of the account's card (Account Manager tokens).
    pub aut: Option<CertifiedKey>,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Participant")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The Clientmodul's TLS client certificate and key (PEM).
#[derive(Clone)]
pub struct ClientTls {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("ClientTls(..)")
    }
}

/// The Fachdienst one case probes.
#[derive(Debug, Clone)]
pub struct FdTarget {
    /// The name the services' TLS certificates are checked against (and the KAS FQDN its
    /// links must carry).
    pub host: String,
    /// PEM of the CA that issues the services' TLS certificates.
    pub ca_pem: String,
    /// Presented when a service asks for a client certificate.
    pub client_tls: Option<ClientTls>,
    pub kas: Option<SocketAddr>,
    pub kas_api: KasApi,
    pub account_manager: Option<SocketAddr>,
    pub mta: Option<SocketAddr>,
    /// Sends, uploads, and owns the Account Manager account the probes use.
    pub sender: Participant,
    /// Receives: the upload's recipient.
    pub recipient: Participant,
    /// An address that is no recipient of any upload.
    pub outsider: String,
    /// A C.AUT key whose certificate the provider does not trust (not from the card PKI).
    pub untrusted_aut: Option<CertifiedKey>,
    /// An account deregistered so long ago that its deregDate has passed (A_23175).
    pub deregistered: Option<Participant>,
    /// The largest attachment the KAS takes, as the provider declares it.
    pub kas_max_bytes: u64,
    /// How long after `expires` the provider deletes (A_19385), as it declares it.
    pub deletion_delay: Duration,
}

/// The target a `--sut` config with `fachdienst:` describes; files are read and addresses
/// resolved here, so a wrong path or host is a clear error before the first case.
pub fn from_config(
    config: &crate::sut::config::SutConfig,
    untrusted_aut: &CertifiedKey,
) -> Result<FdTarget, String> {
    use std::net::ToSocketAddrs;
    let Some(fd) = &config.fachdienst else {
        return Err(format!(
            "--sut: role kim-fd needs a `fachdienst:` section (the provider's endpoints and test accounts), not a trigger ({})",
            config.name
        ));
    };
    let path = |p: &std::path::Path| config.dir.join(p);
    let ca_file = path(&fd.ca_file);
    let ca_pem = std::fs::read_to_string(&ca_file)
        .map_err(|e| format!("--sut fachdienst.ca_file {}: {e}", ca_file.display()))?;
    let resolve = |field: &str, v: &Option<String>| -> Result<Option<SocketAddr>, String> {
        match v {
            None => Ok(None),
            Some(hp) => hp
                .to_socket_addrs()
                .map_err(|e| format!("--sut fachdienst.{field} `{hp}`: {e}"))?
                .next()
                .map(Some)
                .ok_or_else(|| format!("--sut fachdienst.{field} `{hp}`: no address")),
        }
    };
    let participant = |field: &str,
                       a: &crate::sut::config::FdAccountConfig|
     -> Result<Participant, String> {
        let aut = match &a.aut_key {
            None => None,
            Some(k) => {
                let file = path(k);
                let m = kvc_smime::keys::load_private_key(&file, a.aut_password.as_deref())
                    .map_err(|e| format!("--sut fachdienst.{field}.aut_key: {e}"))?;
                let cert = match (&a.aut_cert, m.certificate) {
                    (Some(c), _) => kvc_smime::keys::load_certificates(&path(c))
                        .map_err(|e| format!("--sut fachdienst.{field}.aut_cert: {e}"))?
                        .into_iter()
                        .next()
                        .ok_or_else(|| {
                            format!("--sut fachdienst.{field}.aut_cert: no certificate")
                        })?,
                    (None, Some(c)) => c,
                    (None, None) => {
                        return Err(format!(
                            "--sut fachdienst.{field}: aut_key {} carries no certificate; give aut_cert",
                            file.display()
                        ));
                    }
                };
                Some(CertifiedKey {
                    certificate: cert,
                    key: m.key,
                })
            }
        };
        Ok(Participant {
            address: a.address.clone(),
            password: a.password.clone(),
            aut,
        })
    };
    let client_tls = match (&fd.client_cert, &fd.client_key) {
        (None, None) => None,
        (Some(c), Some(k)) => {
            let read = |field: &str, p: &std::path::Path| {
                std::fs::read_to_string(path(p))
                    .map_err(|e| format!("--sut fachdienst.{field} {}: {e}", path(p).display()))
            };
            Some(ClientTls {
                cert_pem: read("client_cert", c)?,
                key_pem: read("client_key", k)?,
            })
        }
        _ => {
            return Err(
                "--sut fachdienst: give client_cert and client_key together, or neither".into(),
            );
        }
    };
    // Services not given by address are found as a Clientmodul finds them (DNS-SD).
    let discover = |service: &str| -> Result<Option<(SocketAddr, Option<String>)>, String> {
        let Some(d) = &fd.discovery else {
            return Ok(None);
        };
        let dns = resolve("discovery.dns", &Some(d.dns.clone()))?
            .ok_or_else(|| format!("--sut fachdienst.discovery.dns `{}`: no address", d.dns))?;
        let found =
            kvc_mocks::kim::discovery::discover(dns, &d.domain, service, Duration::from_secs(5))
                .map_err(|e| format!("--sut fachdienst.discovery ({service}): {e}"))?;
        let addr = resolve(service, &Some(format!("{}:{}", found.host, found.port)))?;
        Ok(addr.map(|a| (a, found.path)))
    };
    let (kas, kas_path) = match resolve("kas", &fd.kas)? {
        Some(a) => (Some(a), None),
        None => match discover("kas")? {
            Some((a, path)) => (Some(a), path),
            None => (None, None),
        },
    };
    let account_manager = match resolve("account_manager", &fd.account_manager)? {
        Some(a) => Some(a),
        None => discover("accmgr")?.map(|(a, _)| a),
    };
    // The API version: configured, else read off the discovered path (`/attachments/v2.3`).
    let kas_api = match (fd.kas_api, kas_path.as_deref()) {
        (Some(api), _) => api,
        (None, Some(p)) => [KasApi::V2_2, KasApi::V2_3, KasApi::V2_4]
            .into_iter()
            .find(|a| p.trim_end_matches('/') == a.base_path())
            .ok_or_else(|| format!("--sut fachdienst.discovery: KAS path `{p}` names no API version this suite knows (2.2, 2.3, 2.4)"))?,
        (None, None) => KasApi::default(),
    };
    let sender = participant("sender", &fd.sender)?;
    let domain = sender
        .address
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "kim.telematik-test".into());
    Ok(FdTarget {
        host: fd.host.clone(),
        ca_pem,
        client_tls,
        kas,
        kas_api,
        account_manager,
        mta: resolve("mta", &fd.mta)?,
        recipient: participant("recipient", &fd.recipient)?,
        sender,
        outsider: fd
            .outsider
            .clone()
            .unwrap_or_else(|| format!("kvc-check.fremd@{domain}")),
        untrusted_aut: Some(untrusted_aut.clone()),
        deregistered: match &fd.deregistered {
            Some(d) => Some(participant("deregistered", d)?),
            None => None,
        },
        kas_max_bytes: fd.kas_max_bytes,
        deletion_delay: Duration::from_secs(fd.deletion_delay_s),
    })
}
