//! The state a mail server's sessions share: the accounts, the limits, the maildrop POP3 serves
//! and the records of every session.

use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use crate::mail::records::{Observations, Pop3Session, SmtpSession};
use crate::net::recorder::Recorder;
use crate::net::session::{SessionEnd, TlsOutcome};

/// A mailbox account (SMTP AUTH and POP3 USER/PASS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: String,
    pub password: String,
}

impl Account {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Account {
        Account {
            user: user.into(),
            password: password.into(),
        }
    }
}

/// Limits applied to every session.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub max_message_bytes: usize,
    pub idle_timeout: Duration,
    pub max_line_bytes: usize,
    pub max_errors: usize,
}

#[derive(Default)]
pub(crate) struct State {
    pub obs: Observations,
    /// The maildrop: `None` once deleted by a committed QUIT.
    pub mailbox: Vec<Option<Arc<[u8]>>>,
}

/// State shared by the servers' sessions and the mock handle.
pub(crate) struct Shared {
    pub(crate) state: Recorder<State>,
    pub accounts: Vec<Account>,
    pub limits: Limits,
    pub hostname: String,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Applies `f` to the state and wakes waiters.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.state.record(f)
    }

    pub(crate) fn check_login(&self, user: &str, password: &str) -> bool {
        self.accounts
            .iter()
            .any(|a| a.user == user && a.password == password)
    }

    pub(crate) fn new_smtp(&self, peer: SocketAddr) -> usize {
        self.update(|s| {
            s.obs.smtp.push(SmtpSession {
                peer,
                tls: TlsOutcome::NotAttempted,
                auth: Vec::new(),
                transcript: Vec::new(),
                messages: Vec::new(),
                end: SessionEnd::Open,
            });
            s.obs.smtp.len() - 1
        })
    }

    pub(crate) fn smtp(&self, idx: usize, f: impl FnOnce(&mut SmtpSession)) {
        self.update(|s| {
            if let Some(sess) = s.obs.smtp.get_mut(idx) {
                f(sess)
            }
        })
    }

    pub(crate) fn new_pop3(&self, peer: SocketAddr) -> usize {
        self.update(|s| {
            s.obs.pop3.push(Pop3Session {
                peer,
                tls: TlsOutcome::NotAttempted,
                auth: Vec::new(),
                transcript: Vec::new(),
                retrieved: Vec::new(),
                topped: Vec::new(),
                deleted: Vec::new(),
                end: SessionEnd::Open,
            });
            s.obs.pop3.len() - 1
        })
    }

    pub(crate) fn pop3(&self, idx: usize, f: impl FnOnce(&mut Pop3Session)) {
        self.update(|s| {
            if let Some(sess) = s.obs.pop3.get_mut(idx) {
                f(sess)
            }
        })
    }
}
