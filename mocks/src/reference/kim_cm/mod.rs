//! The reference KIM Clientmodul: between a client system (practice software, here the suite)
//! and the TI it is a real SMTP server and POP3 server (implicit TLS) toward the client system
//! and a real client of the Konnektor (SOAP), the VZD (LDAPS) and the Fachdienst's MTA and
//! mailbox (SMTPS, POP3S). Send path (`send.rs`): user name, RCPT check against the VZD, header
//! sanitation, SignDocument and EncryptDocument with the recipient-emails attribute, the outer
//! KOM-LE message. Receive path (`receive.rs`): DecryptDocument, VerifyDocument, the result
//! headers and Vermerke, error mails. Conforming, with named faults that each break one kim-cm
//! requirement (`--fault A_23169`); a vendor's Clientmodul takes its place through the SUT
//! configuration.

mod faults;
pub mod kas;
mod lines;
mod pop3;
mod profile_faults;
mod receive;
mod send;
mod smtp;
pub mod standalone;
pub mod texts;
pub mod username;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use faults::CmFault;

use crate::error::MockError;
use crate::kim::konnektor::client::KonnektorContext;
use crate::net::accept::accept_loop;
use crate::net::tls::{ServerCertKind, TlsPki};

/// The X-KIM-CMVersion the reference writes (A_21388: `<vendor>_<x.y.z>[-n]`).
pub const CM_VERSION: &str = "KVCCK_1.0.0";
/// The X-KIM-PTVersion it writes (A_21388).
pub const PT_VERSION: &str = "1.5.0";
/// The X-KIM-KONVersion it writes (A_21388: five `<...>` items).
pub const KON_VERSION: &str = "<kvc-check mock Konnektor><Konnektor><5.0.0><1.0.0><5.0.0>";
/// The Dienstkennung of a client mail that names none (A_19488-02).
pub const DEFAULT_DIENSTKENNUNG: &str = "KIM-Mail;Default;V1.0";

/// How the reference Clientmodul reaches the TI and how it behaves.
#[derive(Debug, Clone)]
pub struct CmConfig {
    /// `https://host:port/connector.sds` of the Konnektor.
    pub konnektor_sds_url: String,
    /// The card context of its own configuration (a user name brings its own).
    pub konnektor_context: KonnektorContext,
    /// `ldaps://host:port` of the VZD and its base DN.
    pub vzd_url: String,
    pub vzd_base_dn: String,
    /// The CA the Konnektor, VZD, MTA and mailbox certificates chain to.
    pub ca_pem: String,
    /// `X-KOM-LE-Version` of what it sends (`1.0` or `1.5`).
    pub kom_le_version: String,
    /// Largest client mail it processes (KOM-LE-A_2004: 15 MiB net); larger: `552 5.3.4`.
    pub max_client_mail_bytes: usize,
    /// dataTimeToLive of the account in days (Expires = send time + this, A_22417).
    pub data_time_to_live_days: u32,
    /// Each call to the Konnektor, VZD, MTA or mailbox ends within this.
    pub backend_timeout: Duration,
    /// A client that says nothing for this long is dropped.
    pub idle_timeout: Duration,
    pub faults: Vec<CmFault>,
    /// The Fachdienst mailbox (`host`, `port`) a fault uses for an incomplete POP3 user name.
    pub default_mailbox: Option<(String, u16)>,
    /// The Fachdienst MTA (`host`, `port`) the receive path's DSNs go to: the POP3 user name
    /// names only the mailbox.
    pub dsn_mta: Option<(String, u16)>,
    /// Where it finds the KAS (KIM 1.5); `None`: no large mails (kim-1.0).
    pub kas: Option<kas::KasLink>,
    /// A client mail larger than this goes through the KAS (A_19357: 15 MiB).
    pub kas_threshold_bytes: usize,
    /// Ports of its SMTP and POP3 servers (0 = any free port).
    pub smtp_port: u16,
    pub pop3_port: u16,
}

impl CmConfig {
    pub(crate) fn has(&self, fault: CmFault) -> bool {
        self.faults.contains(&fault)
    }
}

/// The running reference Clientmodul.
pub struct ReferenceCm {
    smtp_addr: SocketAddr,
    pop3_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl ReferenceCm {
    /// Starts the SMTP and POP3 servers on ephemeral loopback ports with the `tls` PKI's
    /// valid server certificate.
    pub async fn start(config: CmConfig, tls: &TlsPki) -> Result<ReferenceCm, MockError> {
        let config = Arc::new(config);
        let acceptor = TlsAcceptor::from(tls.server_config(ServerCertKind::Valid));
        let smtp = TcpListener::bind(("127.0.0.1", config.smtp_port)).await?;
        let pop3 = TcpListener::bind(("127.0.0.1", config.pop3_port)).await?;
        let (smtp_addr, pop3_addr) = (smtp.local_addr()?, pop3.local_addr()?);
        let mut tasks = Vec::new();
        {
            let (config, acceptor) = (Arc::clone(&config), acceptor.clone());
            tasks.push(tokio::spawn(accept_loop(
                smtp,
                64,
                true,
                || {},
                move |tcp, _| smtp::serve(tcp, acceptor.clone(), Arc::clone(&config)),
            )));
        }
        tasks.push(tokio::spawn(accept_loop(
            pop3,
            64,
            true,
            || {},
            move |tcp, _| pop3::serve(tcp, acceptor.clone(), Arc::clone(&config)),
        )));
        Ok(ReferenceCm {
            smtp_addr,
            pop3_addr,
            tasks,
        })
    }

    /// Where the client system sends (SMTP, implicit TLS).
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    /// Where the client system fetches (POP3, implicit TLS).
    pub fn pop3_addr(&self) -> SocketAddr {
        self.pop3_addr
    }
}

impl Drop for ReferenceCm {
    fn drop(&mut self) {
        // Aborting an accept loop aborts the sessions it owns.
        for t in &self.tasks {
            t.abort();
        }
    }
}
