//! The mock KV-Connect Client: the local interface toward the practice system that "Anbindung an
//! KV-Connect" V4.1 §3.1.1 describes, i.e. SMTP and POP3 with implicit TLS, on the generic mail
//! servers of [`crate::mail`] with KV-Connect's default account; `serve_kvc_client` runs it
//! standalone.

use crate::mail::{Account, MailServer, MailServerConfig};

/// The KV-Connect Client mock is the mail servers with KV-Connect's account.
pub type KvcClientMock = MailServer;
pub type KvcClientConfig = MailServerConfig;

/// The practice system's account at the mock unless configured otherwise.
pub const DEFAULT_USER: &str = "praxis@kv-connect.test";
pub const DEFAULT_PASSWORD: &str = "geheim";

/// The mail server configuration of a KV-Connect Client: the default account, the rest as
/// [`MailServerConfig::default`].
pub fn default_config() -> MailServerConfig {
    MailServerConfig {
        accounts: vec![Account::new(DEFAULT_USER, DEFAULT_PASSWORD)],
        ..MailServerConfig::default()
    }
}
