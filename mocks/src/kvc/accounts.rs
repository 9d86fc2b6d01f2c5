//! The KV-Connect accounts the REST server, its directory and the served messages share: one
//! account is a REST user, a mailbox owner and a directory entry (KVC-FACTS §1, §2, §4.1).

use std::sync::Arc;

/// The KV-Connect address domain (KVC-FACTS §1: every address is `<username>@kv-safenet.de`).
pub const KV_SAFENET_DOMAIN: &str = "kv-safenet.de";

/// A KV-Connect account of the mock (REST user, mailbox owner, directory entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvcRestAccount {
    /// Account name = BASIC user = local part of the address, e.g. `praxis.1` (§1, §2).
    pub username: String,
    pub password: String,
    /// The account uid used in `accounts/{uid}` (§4.1), e.g. `<uuid>@1` (format: guess).
    pub uid: String,
    /// `<username>@kv-safenet.de`.
    pub email: String,
    /// §2/§4.1: a new account must change its initial password first.
    pub password_change_needed: bool,
    /// The account's user certificate (PEM), served by `certificates?uid=|email=` (§4.3) and
    /// listed in the directory. `None` = no certificate (404).
    pub certificate_pem: Option<String>,
    /// Messages in the mailbox, oldest first (raw KV-Connect e-mails, served byte for byte).
    pub mailbox: Vec<Vec<u8>>,
    /// Directory attributes (§10.1): `givenName`, `sn`, `street`, `postalCode`, `l`.
    pub given_name: String,
    pub surname: String,
    pub street: String,
    pub postal_code: String,
    pub locality: String,
}

impl KvcRestAccount {
    /// An account `username@kv-safenet.de` with a fresh uid, no certificate, empty mailbox.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> KvcRestAccount {
        let username = username.into();
        KvcRestAccount {
            uid: format!("{}@1", uuid::Uuid::new_v4()),
            email: format!("{username}@{KV_SAFENET_DOMAIN}"),
            password: password.into(),
            password_change_needed: false,
            certificate_pem: None,
            mailbox: Vec::new(),
            given_name: "Test".into(),
            surname: username.clone(),
            street: "Teststr. 1".into(),
            postal_code: "10115".into(),
            locality: "Berlin".into(),
            username,
        }
    }

    pub fn with_certificate(mut self, pem: impl Into<String>) -> KvcRestAccount {
        self.certificate_pem = Some(pem.into());
        self
    }

    pub fn with_mailbox(mut self, mailbox: Vec<Vec<u8>>) -> KvcRestAccount {
        self.mailbox = mailbox;
        self
    }
}

/// Issues a certificate (PEM) for a CSR that reached 999: `(csr_pem, account) -> cert PEM`.
pub type CsrIssuer = Arc<dyn Fn(&str, &KvcRestAccount) -> Result<String, String> + Send + Sync>;

/// Password policy (KVC-FACTS §2, TOMEDO): at least 8 characters, 2 lower-case, 2 upper-case
/// letters and 1 digit.
pub fn password_policy_ok(p: &str) -> bool {
    p.chars().count() >= 8
        && p.chars().filter(|c| c.is_ascii_lowercase()).count() >= 2
        && p.chars().filter(|c| c.is_ascii_uppercase()).count() >= 2
        && p.chars().any(|c| c.is_ascii_digit())
}
