//! SUT adapters: how the runner makes the system under test act. A case step "send" or "fetch"
//! becomes a call on a [`SutAdapter`]; what the SUT then does is observed by the mocks, never
//! taken from the adapter's word.
//!
//! - [`reference`]: the embedded reference PVS (`kvc_mocks::ReferencePvs`), the default.
//! - [`command`]: a command template per action (`mypvs send --to {to} ...`).
//! - [`http`]: an HTTP POST per action with a JSON body.
//! - [`manual`]: prints what a person must do; the runner waits up to the case timeout.
//!
//! `--sut CONFIG.yaml` selects and configures one (see `suites/README.md`).

pub mod command;
pub mod config;
pub mod endpoints;
pub mod http;
pub mod manual;
pub mod reference;
pub mod transport;

pub use transport::Transport;

use serde::Serialize;

use crate::sut::endpoints::{BoxFuture, Endpoints};

/// A message the SUT is asked to send.
#[derive(Debug, Clone, Serialize)]
pub struct SendRequest {
    pub to: Vec<String>,
    /// e.g. `Arztbrief`, `eNachricht`, or `unspecified`.
    pub application: String,
    pub subject: Option<String>,
    pub body: String,
}

/// Triggers the SUT. `Ok` carries a line of evidence (e.g. the command's exit status and
/// output), `Err` says why the trigger failed.
pub trait SutAdapter: Send + Sync {
    /// Shown in reports, e.g. `reference PVS (faults: none)` or `command: mypvs`.
    fn describe(&self) -> String;
    /// Transports the SUT offers (`smtp-pop3`, `rest`), the primary first: cases with
    /// `mock: transport` use the primary one.
    fn transports(&self) -> Vec<Transport> {
        vec![Transport::SmtpPop3]
    }
    fn send<'a>(&'a self, ep: &'a Endpoints, req: &'a SendRequest) -> Reply<'a>;
    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a>;
    /// What the SUT stored locally from its mailbox, by Message-ID, with its own verdict and
    /// any warning shown to the user. `Ok(None)`: this adapter cannot tell (the requirement is
    /// then attested).
    fn stored<'a>(&'a self, _ep: &'a Endpoints) -> Reply<'a, Option<Vec<StoredReport>>> {
        Box::pin(async { Ok(None) })
    }
}

/// What a trigger answers: a line of evidence, or why it failed.
pub type Reply<'a, T = String> = BoxFuture<'a, Result<T, String>>;

/// A SUT described by a configuration file: its name and its one transport around the
/// trigger (command, HTTP or manual) that makes it act.
pub struct Configured {
    name: String,
    transport: Transport,
    trigger: Box<dyn SutAdapter>,
}

impl Configured {
    pub fn new(name: &str, transport: Transport, trigger: Box<dyn SutAdapter>) -> Self {
        Configured {
            name: name.to_string(),
            transport,
            trigger,
        }
    }
}

impl SutAdapter for Configured {
    fn describe(&self) -> String {
        format!("{} ({})", self.name, self.trigger.describe())
    }

    fn transports(&self) -> Vec<Transport> {
        vec![self.transport]
    }

    fn send<'a>(&'a self, ep: &'a Endpoints, req: &'a SendRequest) -> Reply<'a> {
        self.trigger.send(ep, req)
    }

    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a> {
        self.trigger.fetch(ep)
    }

    fn stored<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a, Option<Vec<StoredReport>>> {
        self.trigger.stored(ep)
    }
}

/// One message in the SUT's local store, as its adapter reports it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StoredReport {
    /// Without angle brackets.
    pub message_id: String,
    /// The SUT treats the message as valid (signature verified).
    pub valid: bool,
    /// The warning the user was shown, if any.
    #[serde(default)]
    pub warning: Option<String>,
}

/// Values that must never reach evidence, reports or the console: the account password (which
/// is also the keystore PIN of the SUT's key material) and the encodings a client puts on the
/// wire with it (AUTH PLAIN, AUTH LOGIN, BASIC, a URL's userinfo). A SUT script may echo any of
/// them, so they are masked in everything an adapter shows.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Vec<String>);

/// What a secret is replaced with.
pub const MASK: &str = "***";

impl Secrets {
    /// The secrets of a case: the SUT's password at the mock, in the forms listed above.
    pub fn of(endpoints: &Endpoints) -> Secrets {
        Secrets::new(&endpoints.user, &endpoints.password)
    }

    pub fn new(user: &str, password: &str) -> Secrets {
        use base64::Engine;
        if password.is_empty() {
            return Secrets::default();
        }
        let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
        let all = vec![
            password.to_string(),
            percent_encode(password),
            b64(password.to_string()),
            b64(format!("\0{user}\0{password}")),
            b64(format!("{user}\0{user}\0{password}")),
            b64(format!("{user}:{password}")),
        ];
        Secrets(all).normalised()
    }

    /// Both sets.
    pub fn and(mut self, other: Secrets) -> Secrets {
        self.0.extend(other.0);
        self.normalised()
    }

    /// Longest first, so a form that contains another is replaced whole; no duplicates.
    fn normalised(mut self) -> Secrets {
        self.0.retain(|s| !s.is_empty());
        self.0
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.0.dedup();
        self
    }

    /// `text` with every secret replaced by [`MASK`].
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// Bytes of the longest secret (how far past a cut a secret may reach).
    pub fn longest(&self) -> usize {
        self.0.iter().map(String::len).max().unwrap_or(0)
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters (a password in a URL).
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::raw("pw=S3cr3t:x y!", "pw=***!")]
    #[case::url("pop3s://u:S3cr3t%3Ax%20y@h/", "pop3s://u:***@h/")]
    // base64("\0praxis\0S3cr3t:x y"), as in `AUTH PLAIN`
    #[case::auth_plain("> AUTH PLAIN AHByYXhpcwBTM2NyM3Q6eCB5", "> AUTH PLAIN ***")]
    // base64("praxis:S3cr3t:x y"), as in `Authorization: Basic`
    #[case::basic(
        "Authorization: Basic cHJheGlzOlMzY3IzdDp4IHk=",
        "Authorization: Basic ***"
    )]
    // base64("S3cr3t:x y"), as in an AUTH LOGIN answer
    #[case::auth_login("< UzNjcjN0OnggeQ==", "< ***")]
    #[case::nothing("no secret here", "no secret here")]
    fn masks_the_password_in_every_wire_form(#[case] text: &str, #[case] want: &str) {
        assert_eq!(Secrets::new("praxis", "S3cr3t:x y").mask(text), want);
    }

    #[test]
    fn an_empty_password_masks_nothing() {
        assert_eq!(Secrets::new("u", "").mask("u:"), "u:");
        assert_eq!(Secrets::new("u", "").longest(), 0);
    }
}
