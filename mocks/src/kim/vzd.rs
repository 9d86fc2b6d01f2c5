//! The mock VZD (Verzeichnisdienst of the TI) as a KIM Clientmodul reads it: an LDAPS server
//! with the naming of KIM-FACTS §5.
//!
//! - Base DN `dc=data,dc=vzd`, entries `uid=<uuid>,dc=data,dc=vzd` with `telematikID`,
//!   `displayName`, `cn`, `givenName`, `sn`, `organization`, `professionOID`, `entryType`,
//!   `mail` (one per KIM address), `komLeData` (`<version>,<mail>`, version first) and `kimData`
//!   (`<mail>,<version>`, mail first) per address, `userCertificate;binary` (DER, RSA and ECC,
//!   any number), `changeDateTime`, `active`.
//! - A missing `komLeData` for an address means version 1.0 to the reader (A_19356); the entry
//!   can leave it out ([`KomLeVersion::Missing`]).
//! - Anonymous bind and search allowed (as through the Konnektor's LDAP proxy); a simple bind with
//!   the configured DN and password succeeds, anything else is invalidCredentials (49).
//! - Filters and scopes come from the LDAP engine ([`crate::ldap`]): exact `(mail=…)`,
//!   `(|(mail=…)(mail=…))`, presence, substrings, attribute selection.
//!
//! Every connection, bind and search is recorded ([`crate::ldap::DirectoryObservations`]).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::error::MockError;
use crate::ldap::server::dn_eq;
use crate::ldap::{Attributes, DirectoryTree, LdapEntry, LdapLimits, LdapServer};
use crate::net::tls::{ServerCertKind, TlsPki};

/// Base DN of the VZD (KIM-FACTS §5: openkim `ldap.base`, the eEB ldapsearch example).
pub const VZD_BASE_DN: &str = "dc=data,dc=vzd";

/// The KOM-LE version an address announces in `komLeData` / `kimData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KomLeVersion {
    V10,
    V15,
    /// 1.5 and consent to large messages (`1.5+`, A_23505).
    V15Plus,
    /// No `komLeData` / `kimData` value for the address (a reader assumes 1.0).
    Missing,
}

impl KomLeVersion {
    /// The value as the directory writes it; `None` for [`KomLeVersion::Missing`].
    pub fn as_value(self) -> Option<&'static str> {
        match self {
            KomLeVersion::V10 => Some("1.0"),
            KomLeVersion::V15 => Some("1.5"),
            KomLeVersion::V15Plus => Some("1.5+"),
            KomLeVersion::Missing => None,
        }
    }
}

/// One KIM address of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KimAddress {
    pub mail: String,
    pub version: KomLeVersion,
}

/// One directory entry (an institution or a person with its KIM addresses and certificates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VzdEntry {
    /// The entry's `uid` (its RDN).
    pub uid: String,
    pub telematik_id: String,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub organization: Option<String>,
    /// e.g. 1.2.276.0.76.4.50 (Betriebsstätte Arzt).
    pub profession_oid: Option<String>,
    /// `1` person, `2` institution (as the VZD numbers them; value inferred).
    pub entry_type: String,
    pub addresses: Vec<KimAddress>,
    /// `userCertificate;binary` values, DER (C.ENC of the card, RSA and ECC).
    pub certificates: Vec<Vec<u8>>,
}

impl VzdEntry {
    /// An institution entry with one address.
    pub fn institution(
        telematik_id: &str,
        display_name: &str,
        mail: &str,
        version: KomLeVersion,
        certificates: Vec<Vec<u8>>,
    ) -> VzdEntry {
        VzdEntry {
            uid: uuid::Uuid::new_v4().to_string(),
            telematik_id: telematik_id.to_string(),
            display_name: display_name.to_string(),
            given_name: None,
            surname: None,
            organization: Some(display_name.to_string()),
            profession_oid: Some("1.2.276.0.76.4.50".to_string()),
            entry_type: "2".to_string(),
            addresses: vec![KimAddress {
                mail: mail.to_string(),
                version,
            }],
            certificates,
        }
    }

    fn attributes(&self) -> Attributes {
        let one = |v: &str| vec![v.as_bytes().to_vec()];
        let many = |vs: Vec<String>| vs.into_iter().map(String::into_bytes).collect();
        let mut out = vec![
            (
                "objectClass".to_string(),
                many(vec!["top".into(), "vzd-komleview".into()]),
            ),
            ("uid".to_string(), one(&self.uid)),
            ("telematikID".to_string(), one(&self.telematik_id)),
            ("displayName".to_string(), one(&self.display_name)),
            ("cn".to_string(), one(&self.display_name)),
            ("entryType".to_string(), one(&self.entry_type)),
            ("active".to_string(), one("TRUE")),
            ("changeDateTime".to_string(), one("2026-01-01T00:00:00Z")),
            ("countryCode".to_string(), one("DE")),
        ];
        for (name, value) in [
            ("givenName", &self.given_name),
            ("sn", &self.surname),
            ("organization", &self.organization),
            ("professionOID", &self.profession_oid),
        ] {
            if let Some(v) = value {
                out.push((name.to_string(), one(v)));
            }
        }
        let mails = self.addresses.iter().map(|a| a.mail.clone()).collect();
        out.push(("mail".to_string(), many(mails)));
        let versioned: Vec<(&str, &str)> = self
            .addresses
            .iter()
            .filter_map(|a| a.version.as_value().map(|v| (a.mail.as_str(), v)))
            .collect();
        if !versioned.is_empty() {
            let kom_le = versioned.iter().map(|(m, v)| format!("{v},{m}")).collect();
            let kim = versioned.iter().map(|(m, v)| format!("{m},{v}")).collect();
            out.push(("komLeData".to_string(), many(kom_le)));
            out.push(("kimData".to_string(), many(kim)));
        }
        if !self.certificates.is_empty() {
            out.push((
                "userCertificate;binary".to_string(),
                self.certificates.clone(),
            ));
        }
        out
    }
}

/// What the directory says about a recipient, as a case selects it (issue 14 item 3): the
/// states a Clientmodul must tell apart before it encrypts (KOM-LE-A_2176, A_19356, A_23505).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VzdState {
    /// Listed with its ENC certificates (RSA and ECC) and this version (`Missing`: no
    /// komLeData / kimData, read as 1.0).
    Listed(KomLeVersion),
    /// Listed without any `userCertificate`.
    WithoutEncCertificate,
    /// Listed with its certificates and one more whose admission names another TelematikID
    /// (e.g. a card of [`kvc_smime::card_pki::CardVariant::WrongTelematikId`]).
    ConflictingTelematikIds { other_certificate: Vec<u8> },
    /// Listed with an expired ENC certificate only (e.g. a card of
    /// [`kvc_smime::card_pki::CardVariant::ExpiredEnc`]).
    ExpiredCertificate { certificate: Vec<u8> },
    /// Not in the directory at all.
    Absent,
}

impl VzdState {
    /// The entries for one recipient (`mail`, `telematik_id`, its ENC certificates DER) in this
    /// state: none for [`VzdState::Absent`].
    pub fn entries(
        &self,
        telematik_id: &str,
        display_name: &str,
        mail: &str,
        enc_certificates: Vec<Vec<u8>>,
    ) -> Vec<VzdEntry> {
        let entry = |version, certificates| {
            VzdEntry::institution(telematik_id, display_name, mail, version, certificates)
        };
        match self {
            VzdState::Listed(v) => vec![entry(*v, enc_certificates)],
            VzdState::WithoutEncCertificate => vec![entry(KomLeVersion::V15, Vec::new())],
            VzdState::ConflictingTelematikIds { other_certificate } => {
                let mut certs = enc_certificates;
                certs.push(other_certificate.clone());
                vec![entry(KomLeVersion::V15, certs)]
            }
            VzdState::ExpiredCertificate { certificate } => {
                vec![entry(KomLeVersion::V15, vec![certificate.clone()])]
            }
            VzdState::Absent => Vec::new(),
        }
    }
}

/// Configuration of [`KimVzdMock`]; build it with `..VzdConfig::default()`.
#[derive(Debug, Clone)]
pub struct VzdConfig {
    pub bind: IpAddr,
    /// 0 = ephemeral.
    pub port: u16,
    pub cert: ServerCertKind,
    pub entries: Vec<VzdEntry>,
    /// A DN and password a simple bind succeeds with (authenticated access), if any.
    pub bind_account: Option<(String, String)>,
    pub allow_anonymous: bool,
    pub limits: LdapLimits,
}

impl Default for VzdConfig {
    fn default() -> Self {
        VzdConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            cert: ServerCertKind::Valid,
            entries: Vec::new(),
            bind_account: None,
            allow_anonymous: true,
            // Many Clientmodul workers look up at once (the load bench opens 200).
            limits: LdapLimits {
                max_connections: 512,
                ..LdapLimits::default()
            },
        }
    }
}

/// The VZD tree: every entry listed under [`VZD_BASE_DN`].
pub struct VzdTree {
    entries: Vec<VzdEntry>,
    bind_account: Option<(String, String)>,
    allow_anonymous: bool,
}

impl DirectoryTree for VzdTree {
    fn base_dn(&self) -> &str {
        VZD_BASE_DN
    }

    fn entries(&self) -> Vec<LdapEntry> {
        self.entries
            .iter()
            .map(|e| LdapEntry {
                dn: format!("uid={},{VZD_BASE_DN}", e.uid),
                attributes: e.attributes(),
            })
            .collect()
    }

    fn bind(&self, dn: &str, password: &str) -> bool {
        self.bind_account
            .as_ref()
            .is_some_and(|(d, p)| dn_eq(dn, d) && p == password)
    }

    fn allow_anonymous(&self) -> bool {
        self.allow_anonymous
    }
}

/// The running mock VZD (service `vzd`): the LDAP engine serving the VZD tree.
pub type KimVzdMock = LdapServer<VzdTree>;

impl LdapServer<VzdTree> {
    pub async fn start(config: VzdConfig, pki: &TlsPki) -> Result<KimVzdMock, MockError> {
        let tls = TlsAcceptor::from(pki.server_config(config.cert));
        let tree = Arc::new(VzdTree {
            entries: config.entries,
            bind_account: config.bind_account,
            allow_anonymous: config.allow_anonymous,
        });
        let what = "VZD (LDAPS)";
        let (bind, port, limits) = (config.bind, config.port, config.limits);
        LdapServer::listen("vzd", what, bind, port, tls, tree, limits).await
    }

    /// `ldaps://127.0.0.1:<port>` (libldap checks the certificate against the address it
    /// dialled; the test PKI's server certificate names 127.0.0.1).
    pub fn url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.addr().port())
    }
}
