//! The `kvc-mocks` crate behind the runner's [`MockHost`] / [`RunningMock`] traits: one test PKI
//! per run (its CA written where the SUT expects it), one mock KV-Connect Client per case.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kvc_mocks::{Account, KvcClientConfig, KvcClientMock, ServerCertKind, TlsPki};

use super::observe::{
    AuthRecord, BoxFuture, CapturedMessage, KvcClientSetup, MockHost, Observations, RunningMock,
    Session, SessionEnd, TlsOutcome, TranscriptLine,
};
use crate::suite::ServerCert;
use crate::sut::config;

/// Default account of the SUT at the mock (the keystore PIN travels with the password).
pub const DEFAULT_USER: &str = "praxis@kv-connect.test";
pub const DEFAULT_PASSWORD: &str = "geheim";

pub struct KvcMockHost {
    pki: TlsPki,
    ca_file: PathBuf,
    account: Account,
}

impl KvcMockHost {
    /// Generates the run's PKI for `host` and writes its CA certificate to `ca_file`.
    pub fn new(
        host: &str,
        ca_file: &Path,
        account: Option<config::Account>,
    ) -> Result<Self, String> {
        let pki = TlsPki::generate(host).map_err(|e| format!("generating the test PKI: {e}"))?;
        if let Some(dir) = ca_file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        pki.write_ca(ca_file)
            .map_err(|e| format!("writing the CA certificate to {}: {e}", ca_file.display()))?;
        let account = match account {
            Some(a) => Account::new(a.user, a.password),
            None => Account::new(DEFAULT_USER, DEFAULT_PASSWORD),
        };
        Ok(KvcMockHost {
            pki,
            ca_file: ca_file.to_path_buf(),
            account,
        })
    }

    pub fn server_name(&self) -> String {
        self.pki.host().to_string()
    }

    pub fn account(&self) -> (String, String) {
        (self.account.user.clone(), self.account.password.clone())
    }
}

fn cert_kind(c: ServerCert) -> ServerCertKind {
    match c {
        ServerCert::Valid => ServerCertKind::Valid,
        ServerCert::UntrustedCa => ServerCertKind::UntrustedCa,
        ServerCert::Expired => ServerCertKind::Expired,
        ServerCert::WrongName => ServerCertKind::WrongName,
    }
}

impl MockHost for KvcMockHost {
    fn start_kvc_client<'a>(
        &'a self,
        setup: KvcClientSetup,
    ) -> BoxFuture<'a, Result<Box<dyn RunningMock>, String>> {
        Box::pin(async move {
            let config = KvcClientConfig {
                smtp_port: setup.smtp_port,
                pop3_port: setup.pop3_port,
                cert: cert_kind(setup.cert),
                accounts: vec![self.account.clone()],
                mailbox: setup.mailbox,
                max_message_bytes: setup.max_message_bytes,
                idle_timeout: setup.idle_timeout,
                hostname: self.pki.host().to_string(),
                ..KvcClientConfig::default()
            };
            let mock = KvcClientMock::start(config, &self.pki)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Box::new(Running(mock)) as Box<dyn RunningMock>)
        })
    }

    fn ca_file(&self) -> PathBuf {
        self.ca_file.clone()
    }

    fn ca_pem(&self) -> String {
        self.pki.ca_pem().to_string()
    }

    fn host(&self) -> String {
        self.pki.host().to_string()
    }

    fn user(&self) -> String {
        self.account.user.clone()
    }

    fn password(&self) -> String {
        self.account.password.clone()
    }

    fn from(&self) -> String {
        self.account.user.clone()
    }
}

struct Running(KvcClientMock);

impl RunningMock for Running {
    fn smtp_addr(&self) -> SocketAddr {
        self.0.smtp_addr()
    }

    fn pop3_addr(&self) -> SocketAddr {
        self.0.pop3_addr()
    }

    fn observations(&self) -> Observations {
        convert(self.0.observations())
    }

    fn wait_for_messages(&self, n: usize, timeout: Duration) -> BoxFuture<'_, Observations> {
        Box::pin(async move { convert(self.0.wait_for_messages(n, timeout).await) })
    }

    fn wait_for_pop3_quit(&self, timeout: Duration) -> BoxFuture<'_, Observations> {
        Box::pin(async move { convert(self.0.wait_for_pop3_quit(timeout).await) })
    }

    fn wait_for_idle(&self, timeout: Duration) -> BoxFuture<'_, Observations> {
        Box::pin(async move { convert(self.0.wait_for_idle(timeout).await) })
    }

    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.0.shutdown().await })
    }
}

fn tls(t: kvc_mocks::TlsOutcome) -> TlsOutcome {
    match t {
        kvc_mocks::TlsOutcome::Established { sni } => TlsOutcome::Established { sni },
        kvc_mocks::TlsOutcome::HandshakeFailed(why) => TlsOutcome::HandshakeFailed(why),
        kvc_mocks::TlsOutcome::NotAttempted => TlsOutcome::NotAttempted,
    }
}

fn end(e: kvc_mocks::SessionEnd) -> SessionEnd {
    match e {
        kvc_mocks::SessionEnd::Quit => SessionEnd::Quit,
        kvc_mocks::SessionEnd::PeerClosed => SessionEnd::PeerClosed,
        kvc_mocks::SessionEnd::IdleTimeout => SessionEnd::IdleTimeout,
        kvc_mocks::SessionEnd::TooLarge => SessionEnd::TooLarge,
        kvc_mocks::SessionEnd::ProtocolError(e) => SessionEnd::ProtocolError(e),
        kvc_mocks::SessionEnd::Open => SessionEnd::Open,
    }
}

fn auth(a: Vec<kvc_mocks::AuthRecord>) -> Vec<AuthRecord> {
    a.into_iter()
        .map(|a| AuthRecord {
            mechanism: a.mechanism,
            user: a.user,
            success: a.success,
        })
        .collect()
}

fn transcript(t: Vec<kvc_mocks::TranscriptLine>) -> Vec<TranscriptLine> {
    t.into_iter()
        .map(|l| TranscriptLine {
            from_client: l.from_client,
            line: l.line,
        })
        .collect()
}

fn convert(o: kvc_mocks::Observations) -> Observations {
    Observations {
        smtp: o
            .smtp
            .into_iter()
            .map(|s| Session {
                peer: s.peer.to_string(),
                tls: tls(s.tls),
                auth: auth(s.auth),
                transcript: transcript(s.transcript),
                messages: s
                    .messages
                    .into_iter()
                    .map(|m| CapturedMessage {
                        mail_from: m.mail_from,
                        rcpt_to: m.rcpt_to,
                        data: m.data,
                    })
                    .collect(),
                retrieved: Vec::new(),
                deleted: Vec::new(),
                end: end(s.end),
            })
            .collect(),
        pop3: o
            .pop3
            .into_iter()
            .map(|s| Session {
                peer: s.peer.to_string(),
                tls: tls(s.tls),
                auth: auth(s.auth),
                transcript: transcript(s.transcript),
                messages: Vec::new(),
                retrieved: s.retrieved,
                deleted: s.deleted,
                end: end(s.end),
            })
            .collect(),
    }
}
