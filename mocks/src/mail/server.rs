//! An SMTP server with implicit TLS (like port 465) and a POP3 server with implicit TLS (like
//! port 995) behind one handle: the SMTP side captures every message byte for byte with its
//! envelope and the transcript; the POP3 side serves the configured maildrop and records what was
//! fetched and deleted. Both are hardened against a hostile peer: idle timeout, line length
//! limit, message size limit (552, rest discarded without buffering), error limit, bounded
//! concurrent sessions. Knows nothing of a product: the KV-Connect Client mock
//! ([`crate::kvc::client`]) and later the KIM Fachdienst configure it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::error::MockError;
use crate::mail::maildrop::{Account, Limits, Proto, Shared, Slot, SmtpFaults, State};
use crate::mail::records::Observations;
use crate::net::recorder::Recorder;
use crate::net::session::SessionEnd;
use crate::net::tls::{ServerCertKind, TlsPki};

/// Configuration of [`MailServer`]. Build it with `..MailServerConfig::default()` so that
/// fields added later do not break callers.
#[derive(Debug, Clone)]
pub struct MailServerConfig {
    /// Address to bind both servers to (127.0.0.1).
    pub bind: IpAddr,
    /// 0 = ephemeral.
    pub smtp_port: u16,
    /// 0 = ephemeral.
    pub pop3_port: u16,
    /// Which certificate both servers present.
    pub cert: ServerCertKind,
    pub accounts: Vec<Account>,
    /// Messages every account reads over POP3, in order (message 1 = index 0).
    pub mailbox: Vec<Vec<u8>>,
    /// Messages only the named account reads (a Fachdienst's one maildrop per account), after
    /// `mailbox` in the records' positions.
    pub account_mailbox: Vec<(String, Vec<u8>)>,
    /// A message accepted over SMTP is also delivered into the maildrop of every recipient that
    /// is one of `accounts`, with `Return-Path` and `Received` prepended (RFC 5321 §4.4), as the
    /// Fachdienst's MTA delivers to its own mailboxes.
    pub deliver_to_accounts: bool,
    /// Larger DATA/BDAT: 552, rest discarded, memory bounded; the session is then closed
    /// ([`SessionEnd::TooLarge`]).
    pub max_message_bytes: usize,
    /// Bytes of captured messages kept in all (a long run or a flood cannot exhaust memory);
    /// beyond it the end of DATA is answered `452 4.3.1` and the message is not kept.
    pub max_stored_bytes: usize,
    /// A peer that sends nothing (or does not read) for this long is dropped.
    pub idle_timeout: Duration,
    /// Longest command line accepted (bytes, CRLF included); longer ones are answered 500.
    pub max_line_bytes: usize,
    /// After this many error replies (500/501/503/... or -ERR for bad commands) the session is
    /// closed with [`SessionEnd::ProtocolError`].
    pub max_errors: usize,
    /// Concurrent sessions per server; connections beyond it are closed at once (counted in
    /// [`Observations::rejected_connections`]).
    pub max_sessions: usize,
    /// Host name in the SMTP greeting and EHLO reply.
    pub hostname: String,
    /// The product named in the SMTP greeting after `ESMTP`.
    pub banner: String,
    /// MAIL FROM must equal the AUTH user, else 550 (a KIM Fachdienst MTA, A_23421).
    pub sender_must_match_auth: bool,
    /// The product's policy on a whole message at the end of DATA (a KIM Fachdienst MTA's
    /// header sender rules, A_23422).
    pub message_check: Option<super::maildrop::MessageCheck>,
    /// Scripted SMTP faults at start ([`MailServer::set_smtp_faults`] changes them).
    pub smtp_faults: SmtpFaults,
}

impl Default for MailServerConfig {
    fn default() -> Self {
        MailServerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            smtp_port: 0,
            pop3_port: 0,
            cert: ServerCertKind::Valid,
            accounts: Vec::new(),
            mailbox: Vec::new(),
            account_mailbox: Vec::new(),
            deliver_to_accounts: false,
            max_message_bytes: 64 * 1024 * 1024,
            max_stored_bytes: 1024 * 1024 * 1024,
            idle_timeout: Duration::from_secs(30),
            max_line_bytes: 4096,
            max_errors: 10,
            max_sessions: 32,
            hostname: "localhost".into(),
            banner: "kvc-check mock KV-Connect Client".into(),
            sender_must_match_auth: false,
            message_check: None,
            smtp_faults: SmtpFaults::default(),
        }
    }
}

/// The running mail servers.
pub struct MailServer {
    shared: Arc<Shared>,
    smtp_addr: SocketAddr,
    pop3_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for MailServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailServer")
            .field("smtp_addr", &self.smtp_addr)
            .field("pop3_addr", &self.pop3_addr)
            .finish_non_exhaustive()
    }
}

impl MailServer {
    /// Binds both servers and starts accepting. Ports 0 are ephemeral; see
    /// [`MailServer::smtp_addr`] / [`MailServer::pop3_addr`] for the bound addresses.
    pub async fn start(config: MailServerConfig, pki: &TlsPki) -> Result<MailServer, MockError> {
        if config.max_sessions == 0 {
            return Err(MockError::Config("max_sessions must be at least 1".into()));
        }
        if config.max_line_bytes < 512 {
            return Err(MockError::Config(
                "max_line_bytes must be at least 512 (RFC 5321 §4.5.3.1.4)".into(),
            ));
        }
        let tls = TlsAcceptor::from(pki.server_config(config.cert));
        let smtp_addr = SocketAddr::new(config.bind, config.smtp_port);
        let pop3_addr = SocketAddr::new(config.bind, config.pop3_port);
        let smtp = TcpListener::bind(smtp_addr)
            .await
            .map_err(|source| MockError::Bind {
                what: "SMTP server",
                addr: smtp_addr,
                source,
            })?;
        let pop3 = TcpListener::bind(pop3_addr)
            .await
            .map_err(|source| MockError::Bind {
                what: "POP3 server",
                addr: pop3_addr,
                source,
            })?;
        let smtp_addr = smtp.local_addr()?;
        let pop3_addr = pop3.local_addr()?;
        let shared = Arc::new(Shared {
            state: Recorder::new(State {
                obs: Observations::default(),
                mailbox: config
                    .mailbox
                    .into_iter()
                    .map(|m| (None, m))
                    .chain(
                        config
                            .account_mailbox
                            .into_iter()
                            .map(|(o, m)| (Some(o), m)),
                    )
                    .map(|(owner, m)| Slot {
                        owner,
                        data: Some(Arc::<[u8]>::from(m)),
                    })
                    .collect(),
                smtp_faults: config.smtp_faults,
                stored_bytes: 0,
            }),
            accounts: config.accounts,
            limits: Limits {
                max_message_bytes: config.max_message_bytes,
                max_stored_bytes: config.max_stored_bytes,
                idle_timeout: config.idle_timeout,
                max_line_bytes: config.max_line_bytes,
                max_errors: config.max_errors.max(1),
            },
            hostname: config.hostname,
            banner: config.banner,
            sender_must_match_auth: config.sender_must_match_auth,
            message_check: config.message_check,
            deliver_to_accounts: config.deliver_to_accounts,
        });
        let tasks = vec![
            tokio::spawn(accept_loop(
                smtp,
                tls.clone(),
                shared.clone(),
                config.max_sessions,
                Proto::Smtp,
            )),
            tokio::spawn(accept_loop(
                pop3,
                tls,
                shared.clone(),
                config.max_sessions,
                Proto::Pop3,
            )),
        ];
        Ok(MailServer {
            shared,
            smtp_addr,
            pop3_addr,
            tasks,
        })
    }

    /// Replaces the scripted SMTP faults (sessions read them per command).
    pub fn set_smtp_faults(&self, faults: SmtpFaults) {
        self.shared.update(|s| s.smtp_faults = faults);
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    pub fn pop3_addr(&self) -> SocketAddr {
        self.pop3_addr
    }

    /// A snapshot of everything observed so far (sessions still running have `end: Open`).
    pub fn observations(&self) -> Observations {
        self.shared.state.snapshot(|s| &s.obs)
    }

    async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&Observations) -> bool,
    ) -> Observations {
        self.shared
            .state
            .wait_until(timeout, |s| &s.obs, done)
            .await
    }

    /// Waits until at least `n` messages were captured in total, or `timeout` passed; returns
    /// the snapshot either way (the caller checks the count).
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Observations {
        self.wait_until(timeout, |o| o.messages().count() >= n)
            .await
    }

    /// Waits until a POP3 session has ended with QUIT (its deletions are then committed), or
    /// `timeout` passed.
    pub async fn wait_for_pop3_quit(&self, timeout: Duration) -> Observations {
        self.wait_until(timeout, |o| {
            o.pop3.iter().any(|s| s.end == SessionEnd::Quit)
        })
        .await
    }

    /// Waits until every session that has started has ended, or `timeout` passed.
    pub async fn wait_for_idle(&self, timeout: Duration) -> Observations {
        self.wait_until(timeout, |o| {
            o.smtp.iter().all(|s| s.end != SessionEnd::Open)
                && o.pop3.iter().all(|s| s.end != SessionEnd::Open)
        })
        .await
    }

    /// Stops accepting and aborts running sessions (they stay recorded with `end: Open`).
    /// Dropping the mock does the same without waiting.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: TlsAcceptor,
    shared: Arc<Shared>,
    max_sessions: usize,
    proto: Proto,
) {
    let rejected = || shared.update(|s| s.obs.rejected_connections += 1);
    crate::net::accept::accept_loop(listener, max_sessions, true, rejected, |tcp, peer| {
        let tls = tls.clone();
        let shared = shared.clone();
        async move {
            match proto {
                Proto::Smtp => crate::mail::smtp_server::run(tcp, peer, tls, shared).await,
                Proto::Pop3 => crate::mail::pop3_server::run(tcp, peer, tls, shared).await,
            }
        }
    })
    .await
}

impl crate::server::MockServer for MailServer {
    fn services(&self) -> Vec<crate::server::ServiceEndpoint> {
        use crate::server::{ServiceEndpoint, ServiceKind};
        vec![
            ServiceEndpoint {
                name: "smtp",
                kind: ServiceKind::Smtp,
                addr: self.smtp_addr,
            },
            ServiceEndpoint {
                name: "pop3",
                kind: ServiceKind::Pop3,
                addr: self.pop3_addr,
            },
        ]
    }

    fn evidence(&self) -> crate::evidence::Evidence {
        let o = self.observations();
        crate::evidence::Evidence {
            smtp: o.smtp,
            pop3: o.pop3,
            rejected_connections: o.rejected_connections,
            ..Default::default()
        }
    }

    fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.state.subscribe()
    }

    fn shutdown(self: Box<Self>) -> crate::server::BoxFuture<'static, ()> {
        Box::pin(MailServer::shutdown(*self))
    }
}
