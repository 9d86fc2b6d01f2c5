//! The mock KV-Connect address directory: a read-only LDAPS server (implicit TLS, like
//! `ldaps://kvc-1.kvtg.kbv.de:636`) with the naming of KVC-FACTS §10.1.
//!
//! - Base DN `ou=users,dc=kv-safenet,dc=de` [E], entries `cn=<username>` [E] with `mail`, `sn`,
//!   `givenName`, `street`, `postalCode`, `l` [E], `uid` [G] and the certificate (DER) under a
//!   configurable attribute, default `userCertificate;binary` [G, name NOT FOUND].
//! - Anonymous bind and simple bind as `cn=<username>,ou=users,dc=kv-safenet,dc=de` with the
//!   account password [E]; wrong credentials: invalidCredentials (49).
//! - Only accounts with a certificate are listed [E, SEED-LB]; every account can bind.
//! - Filters: and/or/not, equality, substring, presence, >=, <=, approx (as equality),
//!   case-insensitive; extensible matches nothing.
//!
//! Every connection is recorded with its TLS outcome, binds and searches
//! ([`DirectoryObservations`]).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;

use crate::error::MockError;
use crate::kvc::accounts::KvcRestAccount;
use crate::kvc::rest::profile::KvcRestProfile;
use crate::ldap::server::dn_eq;
use crate::ldap::{Attributes, DirectoryTree, LdapEntry, LdapLimits, LdapServer};
pub use crate::ldap::{BindRecord, DirectoryObservations, LdapSession, SearchRecord};
use crate::net::tls::{ServerCertKind, TlsPki};

/// Base DN of the KV-Connect directory (KVC-FACTS §10.1, evidenced).
pub const KV_DIRECTORY_BASE_DN: &str = "ou=users,dc=kv-safenet,dc=de";

/// One directory entry (`cn=<username>,<base>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub username: String,
    /// Password for simple bind as this entry.
    pub password: String,
    pub mail: String,
    pub given_name: String,
    pub surname: String,
    pub street: String,
    pub postal_code: String,
    pub locality: String,
    /// `uid` attribute [G] (the REST account uid).
    pub uid: Option<String>,
    /// The user certificate, DER. Entries without one are not listed (they can still bind).
    pub certificate_der: Option<Vec<u8>>,
}

impl DirectoryEntry {
    /// The entry of a REST account (certificate PEM converted to DER; an unparsable PEM counts
    /// as no certificate).
    pub fn from_account(a: &KvcRestAccount) -> DirectoryEntry {
        let certificate_der = a.certificate_pem.as_ref().and_then(|pem| {
            kvc_smime::keys::pem_blocks(pem.as_bytes(), "account certificate")
                .ok()?
                .into_iter()
                .find(|b| b.label == "CERTIFICATE")
                .map(|b| b.der)
        });
        DirectoryEntry {
            username: a.username.clone(),
            password: a.password.clone(),
            mail: a.email.clone(),
            given_name: a.given_name.clone(),
            surname: a.surname.clone(),
            street: a.street.clone(),
            postal_code: a.postal_code.clone(),
            locality: a.locality.clone(),
            uid: Some(a.uid.clone()),
            certificate_der,
        }
    }
}

/// Configuration of [`KvcDirectoryMock`]; build it with `..KvcDirectoryConfig::default()`.
#[derive(Debug, Clone)]
pub struct KvcDirectoryConfig {
    pub bind: IpAddr,
    /// 0 = ephemeral (the real LDAPS port is 636).
    pub port: u16,
    pub cert: ServerCertKind,
    pub base_dn: String,
    /// Attribute carrying the DER certificate [G], default `userCertificate;binary`.
    pub certificate_attribute: String,
    pub entries: Vec<DirectoryEntry>,
    /// Anonymous bind (and searching without any bind) allowed [E].
    pub allow_anonymous: bool,
    pub max_connections: usize,
    /// A connection silent for this long is closed.
    pub idle_timeout: Duration,
    /// Largest LDAP message accepted (bytes).
    pub max_message_bytes: usize,
}

impl Default for KvcDirectoryConfig {
    fn default() -> Self {
        KvcDirectoryConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            cert: ServerCertKind::Valid,
            base_dn: KV_DIRECTORY_BASE_DN.into(),
            certificate_attribute: KvcRestProfile::default().ldap_certificate_attribute,
            entries: Vec::new(),
            allow_anonymous: true,
            max_connections: 32,
            idle_timeout: Duration::from_secs(30),
            max_message_bytes: 64 * 1024,
        }
    }
}

impl KvcDirectoryConfig {
    /// The directory of the REST mock's accounts, with the profile's certificate attribute.
    pub fn from_accounts(accounts: &[KvcRestAccount], profile: &KvcRestProfile) -> Self {
        KvcDirectoryConfig {
            entries: accounts.iter().map(DirectoryEntry::from_account).collect(),
            certificate_attribute: profile.ldap_certificate_attribute.clone(),
            ..KvcDirectoryConfig::default()
        }
    }
}

/// The KV-Connect tree: entries `cn=<username>,<base>`; only those with a certificate listed.
pub struct KvcTree {
    base_dn: String,
    certificate_attribute: String,
    entries: Vec<DirectoryEntry>,
    allow_anonymous: bool,
}

impl DirectoryTree for KvcTree {
    fn base_dn(&self) -> &str {
        &self.base_dn
    }

    fn entries(&self) -> Vec<LdapEntry> {
        self.entries
            .iter()
            .filter(|e| e.certificate_der.is_some())
            .map(|e| LdapEntry {
                dn: entry_dn(&self.base_dn, &e.username),
                attributes: attributes(e, &self.certificate_attribute),
            })
            .collect()
    }

    fn bind(&self, dn: &str, password: &str) -> bool {
        self.entries
            .iter()
            .any(|e| dn_eq(dn, &entry_dn(&self.base_dn, &e.username)) && e.password == password)
    }

    fn allow_anonymous(&self) -> bool {
        self.allow_anonymous
    }
}

/// The running directory mock (service `directory`): the LDAP engine serving the KV-Connect
/// tree.
pub type KvcDirectoryMock = LdapServer<KvcTree>;

impl LdapServer<KvcTree> {
    pub async fn start(
        config: KvcDirectoryConfig,
        pki: &TlsPki,
    ) -> Result<KvcDirectoryMock, MockError> {
        let tls = TlsAcceptor::from(pki.server_config(config.cert));
        let limits = LdapLimits {
            max_connections: config.max_connections,
            idle_timeout: config.idle_timeout,
            max_message_bytes: config.max_message_bytes,
            ..LdapLimits::default()
        };
        let tree = Arc::new(KvcTree {
            base_dn: config.base_dn,
            certificate_attribute: config.certificate_attribute,
            entries: config.entries,
            allow_anonymous: config.allow_anonymous,
        });
        LdapServer::listen(
            "directory",
            "KV-Connect directory (LDAPS)",
            config.bind,
            config.port,
            tls,
            tree,
            limits,
        )
        .await
    }

    /// `ldaps://localhost:<port>`.
    pub fn url(&self) -> String {
        format!("ldaps://localhost:{}", self.addr().port())
    }
}

fn entry_dn(base: &str, username: &str) -> String {
    format!("cn={username},{base}")
}

/// The attributes of an entry: (name, values).
fn attributes(e: &DirectoryEntry, cert_attr: &str) -> Attributes {
    let s = |v: &str| vec![v.as_bytes().to_vec()];
    let mut out = vec![
        (
            "objectClass".to_string(),
            ["top", "person", "organizationalPerson", "inetOrgPerson"]
                .iter()
                .map(|c| c.as_bytes().to_vec())
                .collect(),
        ),
        ("cn".to_string(), s(&e.username)),
        ("mail".to_string(), s(&e.mail)),
        ("givenName".to_string(), s(&e.given_name)),
        ("sn".to_string(), s(&e.surname)),
        ("street".to_string(), s(&e.street)),
        ("postalCode".to_string(), s(&e.postal_code)),
        ("l".to_string(), s(&e.locality)),
    ];
    if let Some(uid) = &e.uid {
        out.push(("uid".to_string(), s(uid)));
    }
    if let Some(der) = &e.certificate_der {
        out.push((cert_attr.to_string(), vec![der.clone()]));
    }
    out
}
