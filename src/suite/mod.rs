//! Test cases (`suites/<role>/*.yaml`): the case model and its loader.
//!
//! A case names the requirement IDs it covers, how to set the mocks up, the steps that drive the
//! system under test (SUT) and the expectations that must hold on what the mocks observed. The
//! loader rejects unknown keys (with the YAML location serde-saphyr reports) and requirement IDs
//! that are not in [`crate::catalogue`] (with `file:line`). See `suites/README.md`.

pub mod source;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::catalogue::{Catalogue, Role};

/// One loaded case, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub id: String,
    pub title: String,
    pub requirements: Vec<String>,
    pub role: Role,
    pub profile: String,
    pub applicability: Applicability,
    pub scope: Scope,
    /// Per-case timeout in seconds; `None` = the run's `--timeout`.
    pub timeout: Option<f64>,
    pub setup: Setup,
    pub steps: Vec<Step>,
    pub expect: Vec<Expectation>,
    /// `path:line` of the case's `id`, for error messages and the report.
    pub origin: String,
    /// Suite-relative directory of the case file (mailbox files are relative to it).
    #[serde(skip)]
    pub dir: PathBuf,
    /// The `file:` mailbox entries' bytes, read when the suite was loaded.
    #[serde(skip)]
    pub mailbox_files: BTreeMap<String, Vec<u8>>,
}

/// When a case's expectations are evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Over what this case captured.
    #[default]
    Case,
    /// After every `case`-scoped case has finished, over every message of the run (plus its own).
    Run,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applicability {
    /// SUT transports the case applies to (`smtp-pop3`, `rest`); empty = any.
    #[serde(default)]
    pub transport: Vec<String>,
}

/// Which certificate the mock KV-Connect Client presents (KVC-Anb021).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerCert {
    #[default]
    Valid,
    UntrustedCa,
    Expired,
    WrongName,
}

impl ServerCert {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerCert::Valid => "valid",
            ServerCert::UntrustedCa => "untrusted-ca",
            ServerCert::Expired => "expired",
            ServerCert::WrongName => "wrong-name",
        }
    }
}

/// The mock a case talks through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MockKind {
    /// No mock (attest-only or skipped cases).
    #[default]
    None,
    /// The mock KV-Connect Client: SMTP (implicit TLS) + POP3 (TLS).
    KvcClient,
    /// The mock KV-Connect REST server (HTTPS, BASIC) with its LDAPS directory.
    KvcRest,
    /// The mock of the SUT's (first) transport: cases that hold for any transport, e.g. the
    /// header rules over every sent message.
    Transport,
}

impl MockKind {
    /// The transport a case with this mock exercises; `primary` = the SUT's first transport.
    pub fn transport(self, primary: &str) -> Option<&str> {
        match self {
            MockKind::None => None,
            MockKind::KvcClient => Some("smtp-pop3"),
            MockKind::KvcRest => Some("rest"),
            MockKind::Transport => Some(primary),
        }
    }
}

/// A message the REST mock builds for the SUT (like the reference-system sample, addressed to
/// the SUT's user certificate), intact or broken in one named way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServedVariant {
    Valid,
    BadSignature,
    SignerNotFrom,
    ForeignCaSigner,
    EncryptedToSomeoneElse,
    UnknownDienstkennung,
    MdnRequested,
}

impl ServedVariant {
    pub fn as_str(self) -> &'static str {
        match self {
            ServedVariant::Valid => "valid",
            ServedVariant::BadSignature => "bad-signature",
            ServedVariant::SignerNotFrom => "signer-not-from",
            ServedVariant::ForeignCaSigner => "foreign-ca-signer",
            ServedVariant::EncryptedToSomeoneElse => "encrypted-to-someone-else",
            ServedVariant::UnknownDienstkennung => "unknown-dienstkennung",
            ServedVariant::MdnRequested => "mdn-requested",
        }
    }
}

/// Scripted REST server behaviour of one case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestSetup {
    /// Status of every `POST mails` (e.g. 503).
    #[serde(default)]
    pub send_status: Option<u16>,
    /// Status of every `DELETE` of a mail (e.g. 500).
    #[serde(default)]
    pub delete_status: Option<u16>,
    /// Delay before every answer, in milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    #[serde(default)]
    pub mock: MockKind,
    #[serde(default)]
    pub server_cert: ServerCert,
    /// Messages the POP3 mailbox serves, in order.
    #[serde(default)]
    pub mailbox: Vec<MailboxEntry>,
    /// Largest DATA the mock SMTP server (or request body the REST server) accepts (bytes);
    /// default 16 MiB.
    #[serde(default)]
    pub max_message_bytes: Option<usize>,
    /// REST mock only: scripted server faults.
    #[serde(default)]
    pub rest: RestSetup,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MailboxEntry {
    /// A file, relative to the case file.
    File(String),
    /// The message text; line breaks are converted to CRLF.
    Inline(String),
    /// REST mock only: a signed and encrypted message the mock builds for the SUT.
    Served(ServedVariant),
}

/// What the runner does, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Trigger the SUT to send a message.
    Send(SendStep),
    /// Trigger the SUT to fetch its mailbox (POP3).
    Fetch(FetchStep),
    /// Wait until the mock SMTP server has received `count` messages in this case.
    WaitMessages(WaitMessages),
    /// Wait until the SUT has ended a POP3 session with QUIT.
    WaitPop3Quit(WaitPlain),
    /// Wait until the SUT has opened (and ended) at least `count` connections to a service.
    WaitConnections(WaitConnections),
}

impl Step {
    pub fn describe(&self) -> String {
        match self {
            Step::Send(s) => format!("send {} message to {}", s.application, s.to.join(", ")),
            Step::Fetch(_) => "fetch the mailbox".into(),
            Step::WaitMessages(w) => format!("wait for {} message(s)", w.count),
            Step::WaitPop3Quit(_) => "wait for POP3 QUIT".into(),
            Step::WaitConnections(w) => {
                format!("wait for {} {} connection(s)", w.count, w.service.as_str())
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendStep {
    pub to: Vec<String>,
    /// Application (e.g. `Arztbrief`, `eNachricht`), or `unspecified` for an application
    /// without a specified Dienstkennung (KVC-Anb130).
    pub application: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: String,
    /// The trigger may fail (e.g. the SUT refuses the server): recorded, not an error.
    #[serde(default)]
    pub may_fail: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchStep {
    #[serde(default)]
    pub may_fail: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitMessages {
    pub count: usize,
    /// Fewer messages by the timeout is recorded, not an error: the expectations decide
    /// (e.g. KVC-Anb010: the SUT reported success but nothing arrived = fail).
    #[serde(default)]
    pub may_time_out: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitPlain {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Smtp,
    Pop3,
    /// The KV-Connect REST server.
    Https,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Smtp => "SMTP",
            Service::Pop3 => "POP3",
            Service::Https => "HTTPS",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitConnections {
    pub service: Service,
    #[serde(default = "one")]
    pub count: usize,
}

fn one() -> usize {
    1
}

/// What must hold on the observations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// The lint rules of these requirements pass on every message in scope (at least one).
    Lint(LintExpectation),
    /// At least `min` messages were captured in this case.
    Messages(MessagesExpectation),
    /// The application part of X-KVC-Dienstkennung of every message captured in this case
    /// equals this value; `fallback` = the registry's `fallback_app` (KVC-Anb130).
    DienstkennungApp(String),
    /// X-KVC-Sendersystem is spelled identically in every message in scope (KVC-Anb100).
    SendersystemConsistent(Over),
    /// Every message arrived through the declared transport: a TLS session with successful
    /// AUTH on the SMTP service (KVC-Anb010).
    Transport(TransportExpectation),
    /// The SUT retrieved every message of the mailbox over POP3 (KVC-Anb020).
    Pop3RetrievedAll(WaitPlain),
    /// The SUT connected to the service but aborted the TLS handshake; it never sent
    /// credentials nor a message (KVC-Anb021). A refusal: needs `control`.
    TlsRefused(TlsRefused),
    /// REST: the SUT looked up the certificate of `recipient`, found none, and posted nothing
    /// (SEED-ANB §3.1.2, KVC-Anb010).
    SendAborted(RecipientExpectation),
    /// REST: no posted message is encrypted to `recipient`'s certificate, which the directory
    /// serves expired; the SUT must have looked it up (KVC-Anb080).
    NotEncryptedTo(RecipientExpectation),
    /// REST: the SUT fetched (GET) every listed mailbox entry (1-based) and never deleted it
    /// (an undecryptable message stays on the server, KVC-Anb010).
    KeptOnServer(EntriesExpectation),
    /// REST: the SUT deleted every listed mailbox entry, each only after fetching it.
    DeletedAfterFetch(EntriesExpectation),
    /// REST: the SUT fetched (GET) every mailbox entry, unknown applications included
    /// (KVC-Anb020).
    FetchedAll(WaitPlain),
    /// REST: the server refused `POST mails` (`setup.rest.send_status`) and the SUT reported
    /// the send as failed (its trigger failed) instead of as sent (SEED-ANB §3.1.2).
    SendFailureReported(Refusal),
    /// REST: the server refused the `DELETE` of fetched messages (`setup.rest.delete_status`)
    /// and the SUT reported an error (its fetch trigger failed) (SEED-ANB §3.1.2).
    DeleteFailureReported(Refusal),
    /// The SUT's own record of what it stored, asked through its adapter after the steps:
    /// listed entries not stored as valid and the user warned (KVC-Anb022); entries in
    /// `valid` stored as valid. Without an adapter answer the case asks for attestation.
    Stored(StoredExpectation),
    /// A question a human answers (`--answers`); the question comes from the catalogue.
    Attest(AttestExpectation),
    /// The requirement is not decided in this run; the case is skipped with this reason.
    Skip(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintExpectation {
    pub requirements: Vec<String>,
    #[serde(default)]
    pub over: OverScope,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverScope {
    #[default]
    Case,
    Run,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Over {
    #[serde(default)]
    pub over: OverScope,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesExpectation {
    pub min: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportExpectation {
    /// `smtp-pop3` (the only transport the mocks offer so far).
    pub transport: String,
}

/// The positive control of a refusal: a check in another case of the same run that shows the
/// SUT accepting the good counterpart (the valid certificate, the valid recipient, a server
/// that answers 2xx). Without it passing, a refusal proves nothing: the SUT may refuse
/// everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// ID of the control case (same role; run before the refusal, added to the run if needed).
    pub case: String,
    /// The check in that case that must pass: an expectation kind (`transport`), optionally
    /// with its argument (`transport smtp-pop3`), as the check is named in the report.
    pub check: String,
}

impl Control {
    /// Whether a check of the control case is the one named.
    pub fn names(&self, check: &str) -> bool {
        check == self.check
            || check
                .strip_prefix(self.check.as_str())
                .is_some_and(|rest| rest.starts_with(' '))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsRefused {
    pub service: Service,
    #[serde(default)]
    pub control: Option<Control>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientExpectation {
    pub recipient: String,
    /// Refusals (`send_aborted`, `not_encrypted_to`) need one.
    #[serde(default)]
    pub control: Option<Control>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesExpectation {
    /// 1-based mailbox entries.
    pub entries: Vec<usize>,
    /// `kept_on_server` is a refusal and needs one; `deleted_after_fetch` takes none.
    #[serde(default)]
    pub control: Option<Control>,
}

/// A refusal expectation without arguments of its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    #[serde(default)]
    pub control: Option<Control>,
}

impl Expectation {
    /// The YAML key of the expectation, which also starts the name of its checks.
    pub fn kind(&self) -> &'static str {
        match self {
            Expectation::Lint(_) => "lint",
            Expectation::Messages(_) => "messages",
            Expectation::DienstkennungApp(_) => "dienstkennung_app",
            Expectation::SendersystemConsistent(_) => "sendersystem_consistent",
            Expectation::Transport(_) => "transport",
            Expectation::Pop3RetrievedAll(_) => "pop3_retrieved_all",
            Expectation::TlsRefused(_) => "tls_refused",
            Expectation::SendAborted(_) => "send_aborted",
            Expectation::NotEncryptedTo(_) => "not_encrypted_to",
            Expectation::KeptOnServer(_) => "kept_on_server",
            Expectation::DeletedAfterFetch(_) => "deleted_after_fetch",
            Expectation::FetchedAll(_) => "fetched_all",
            Expectation::SendFailureReported(_) => "send_failure_reported",
            Expectation::DeleteFailureReported(_) => "delete_failure_reported",
            Expectation::Stored(_) => "stored",
            Expectation::Attest(_) => "attest",
            Expectation::Skip(_) => "skip",
        }
    }

    /// A check of the form "the SUT must refuse X": it passes when something did NOT happen,
    /// which a SUT that does nothing right also achieves. Such a check needs a positive
    /// control. (`stored` carries its control inside: its `valid` entries.)
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Expectation::TlsRefused(_)
                | Expectation::SendAborted(_)
                | Expectation::NotEncryptedTo(_)
                | Expectation::KeptOnServer(_)
                | Expectation::SendFailureReported(_)
                | Expectation::DeleteFailureReported(_)
        )
    }

    /// The positive control named next to the check.
    pub fn control(&self) -> Option<&Control> {
        match self {
            Expectation::TlsRefused(t) => t.control.as_ref(),
            Expectation::SendAborted(r) | Expectation::NotEncryptedTo(r) => r.control.as_ref(),
            Expectation::KeptOnServer(e) | Expectation::DeletedAfterFetch(e) => e.control.as_ref(),
            Expectation::SendFailureReported(r) | Expectation::DeleteFailureReported(r) => {
                r.control.as_ref()
            }
            _ => None,
        }
    }

    /// Whether a `fail` of this check stands on what was observed so far when a later step
    /// failed or timed out: it fails only on something the SUT did (credentials to an
    /// untrusted server, a post encrypted to an expired certificate, a rule broken by a
    /// captured message), never on something that has not happened yet.
    /// (The refusals other than the two "failure reported" checks, which judge a trigger's
    /// answer, and the rules over captured messages.)
    pub fn fails_on_evidence_alone(&self) -> bool {
        let judges_a_trigger = matches!(
            self,
            Expectation::SendFailureReported(_) | Expectation::DeleteFailureReported(_)
        );
        (self.is_refusal() && !judges_a_trigger)
            || matches!(
                self,
                Expectation::Lint(_) | Expectation::DienstkennungApp(_)
            )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredExpectation {
    /// 1-based mailbox entries that must not be stored as valid, with a warning to the user.
    #[serde(default)]
    pub rejected: Vec<usize>,
    /// 1-based mailbox entries that must be stored as valid (shows the SUT processed the mailbox).
    #[serde(default)]
    pub valid: Vec<usize>,
    /// Requirement attested when the adapter cannot answer.
    pub requirement: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestExpectation {
    pub requirement: String,
    /// Overrides the catalogue's question (e.g. for one part of a requirement).
    #[serde(default)]
    pub question: Option<String>,
}

// ---- raw YAML shape (with locations) -----------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    id: Spanned<String>,
    title: String,
    requirements: Vec<Spanned<String>>,
    role: Role,
    profile: Spanned<String>,
    #[serde(default)]
    applicability: Applicability,
    #[serde(default)]
    scope: Scope,
    #[serde(default)]
    timeout: Option<f64>,
    #[serde(default)]
    setup: Setup,
    #[serde(default)]
    steps: Vec<Step>,
    expect: Vec<Spanned<Expectation>>,
}

/// Known transports of a KV-Connect SUT.
pub const TRANSPORTS: &[&str] = &["smtp-pop3", "rest"];

/// Parses and validates one case file. Errors read `path:line: ...`.
pub fn load_case(path: &Path, text: &str, catalogue: &Catalogue) -> Result<Case, String> {
    let shown = path.display().to_string();
    let raw: RawCase = serde_saphyr::from_str(text).map_err(|e| {
        let line = e
            .location()
            .map(|l| format!(":{}", l.line()))
            .unwrap_or_default();
        format!("{shown}{line}: {e}")
    })?;
    let at = |line: u64| format!("{shown}:{line}");
    let id = raw.id.value.clone();
    if id.is_empty() || id.chars().any(|c| c.is_whitespace()) {
        return Err(format!(
            "{}: case id `{id}` must be non-empty and without spaces",
            at(raw.id.referenced.line())
        ));
    }
    if !["kvc", "kim-1.0", "kim-1.5"].contains(&raw.profile.value.as_str()) {
        return Err(format!(
            "{}: unknown profile `{}` (known: kvc, kim-1.0, kim-1.5)",
            at(raw.profile.referenced.line()),
            raw.profile.value
        ));
    }
    let mut requirements = Vec::new();
    for r in &raw.requirements {
        let Some(req) = catalogue.get(&r.value) else {
            return Err(format!(
                "{}: unknown requirement ID `{}` (not in the catalogue; see `kvc-check requirements`)",
                at(r.referenced.line()),
                r.value
            ));
        };
        if !req.roles.contains(&raw.role) {
            return Err(format!(
                "{}: requirement {} does not apply to role {}",
                at(r.referenced.line()),
                r.value,
                raw.role.as_str()
            ));
        }
        requirements.push(req.id.clone());
    }
    if requirements.is_empty() {
        return Err(format!(
            "{}: case {id} covers no requirement",
            at(raw.id.referenced.line())
        ));
    }
    for t in &raw.applicability.transport {
        if !TRANSPORTS.contains(&t.as_str()) {
            return Err(format!(
                "{shown}: applicability: unknown transport `{t}` (known: {})",
                TRANSPORTS.join(", ")
            ));
        }
    }
    if let Some(t) = raw.timeout
        && !(t > 0.0 && t <= 3600.0)
    {
        return Err(format!(
            "{shown}: timeout {t} s is out of range (0 < timeout <= 3600)"
        ));
    }
    let covered: BTreeSet<&str> = requirements.iter().map(String::as_str).collect();
    let needs_mock = !raw.steps.is_empty();
    if needs_mock && raw.setup.mock == MockKind::None {
        return Err(format!(
            "{}: case {id} has steps but `setup.mock` is not set (use `mock: kvc-client`, `kvc-rest` or `transport`)",
            at(raw.id.referenced.line())
        ));
    }
    if raw.setup.mock != MockKind::KvcRest
        && raw
            .setup
            .mailbox
            .iter()
            .any(|m| matches!(m, MailboxEntry::Served(_)))
    {
        return Err(format!(
            "{shown}: setup.mailbox: `served:` entries need `mock: kvc-rest` (only the REST mock builds S/MIME messages)"
        ));
    }
    let fixed_transport = match raw.setup.mock {
        MockKind::KvcClient => Some("smtp-pop3"),
        MockKind::KvcRest => Some("rest"),
        MockKind::None | MockKind::Transport => None,
    };
    if let Some(t) = fixed_transport
        && !raw.applicability.transport.is_empty()
        && !raw.applicability.transport.iter().any(|a| a == t)
    {
        return Err(format!(
            "{shown}: applicability.transport {:?} excludes the transport of `mock` ({t}): the case could never run",
            raw.applicability.transport
        ));
    }
    let mailbox_len = raw.setup.mailbox.len();
    let mut expect = Vec::new();
    for e in &raw.expect {
        let line = e.referenced.line();
        let check_req = |r: &str| -> Result<(), String> {
            match catalogue.get(r) {
                None => Err(format!(
                    "{}: unknown requirement ID `{r}` in expectation",
                    at(line)
                )),
                Some(req) if !covered.contains(req.id.as_str()) => Err(format!(
                    "{}: expectation names {r}, which the case does not list in `requirements`",
                    at(line)
                )),
                Some(_) => Ok(()),
            }
        };
        let mut value = e.value.clone();
        match &mut value {
            Expectation::Lint(l) => {
                if l.requirements.is_empty() {
                    return Err(format!("{}: lint: no requirement listed", at(line)));
                }
                for r in &mut l.requirements {
                    check_req(r)?;
                    if let Some(req) = catalogue.get(r) {
                        *r = req.id.clone();
                    }
                }
            }
            Expectation::Attest(a) => {
                check_req(&a.requirement)?;
                let req = catalogue.get(&a.requirement);
                if let Some(req) = req {
                    a.requirement = req.id.clone();
                }
                if a.question.is_none() && req.and_then(|r| r.attest_question.as_ref()).is_none() {
                    return Err(format!(
                        "{}: attest: {} has no attest_question in the catalogue; give `question:`",
                        at(line),
                        a.requirement
                    ));
                }
            }
            Expectation::Transport(t) if !TRANSPORTS.contains(&t.transport.as_str()) => {
                return Err(format!(
                    "{}: transport: unknown transport `{}`",
                    at(line),
                    t.transport
                ));
            }
            Expectation::DienstkennungApp(app) if app.is_empty() => {
                return Err(format!("{}: dienstkennung_app: empty value", at(line)));
            }
            Expectation::SendAborted(_)
            | Expectation::NotEncryptedTo(_)
            | Expectation::KeptOnServer(_)
            | Expectation::DeletedAfterFetch(_)
            | Expectation::FetchedAll(_)
            | Expectation::SendFailureReported(_)
            | Expectation::DeleteFailureReported(_)
                if raw.setup.mock != MockKind::KvcRest =>
            {
                return Err(format!(
                    "{}: this expectation observes the REST mock; set `setup.mock: kvc-rest`",
                    at(line)
                ));
            }
            Expectation::SendFailureReported(_)
                if raw
                    .setup
                    .rest
                    .send_status
                    .is_none_or(|s| (200..300).contains(&s)) =>
            {
                return Err(format!(
                    "{}: send_failure_reported needs `setup.rest.send_status` with a non-2xx status",
                    at(line)
                ));
            }
            Expectation::DeleteFailureReported(_)
                if raw
                    .setup
                    .rest
                    .delete_status
                    .is_none_or(|s| (200..300).contains(&s)) =>
            {
                return Err(format!(
                    "{}: delete_failure_reported needs `setup.rest.delete_status` with a non-2xx status",
                    at(line)
                ));
            }
            Expectation::KeptOnServer(x) | Expectation::DeletedAfterFetch(x) => {
                if x.entries.is_empty() {
                    return Err(format!("{}: entries: none listed", at(line)));
                }
                if let Some(bad) = x.entries.iter().find(|&&n| n == 0 || n > mailbox_len) {
                    return Err(format!(
                        "{}: entry {bad} is not in the mailbox (1..={mailbox_len})",
                        at(line)
                    ));
                }
            }
            Expectation::Stored(st) => {
                check_req(&st.requirement)?;
                if let Some(req) = catalogue.get(&st.requirement) {
                    st.requirement = req.id.clone();
                }
                if st.rejected.is_empty() && st.valid.is_empty() {
                    return Err(format!("{}: stored: no entry listed", at(line)));
                }
                if let Some(bad) = st
                    .rejected
                    .iter()
                    .chain(st.valid.iter())
                    .find(|&&n| n == 0 || n > mailbox_len)
                {
                    return Err(format!(
                        "{}: entry {bad} is not in the mailbox (1..={mailbox_len})",
                        at(line)
                    ));
                }
            }
            _ => {}
        }
        if value.is_refusal() && value.control().is_none() {
            return Err(format!(
                "{}: `{}` is a refusal check: name its positive control next to it \
                 (`control: {{case: <case id>, check: <expectation>}}`), a case of the same \
                 run in which the SUT accepts the good counterpart",
                at(line),
                value.kind()
            ));
        }
        if !value.is_refusal()
            && let Some(c) = value.control()
        {
            return Err(format!(
                "{}: `{}` is not a refusal check and takes no control (found control {})",
                at(line),
                value.kind(),
                c.case
            ));
        }
        if let Some(c) = value.control()
            && c.case == id
        {
            return Err(format!(
                "{}: the control of a refusal must be another case (not {id} itself)",
                at(line)
            ));
        }
        if let Expectation::Stored(st) = &value
            && st.valid.is_empty()
        {
            return Err(format!(
                "{}: stored: list at least one `valid` entry: it is the positive control of \
                 the rejected ones (a SUT that stores nothing must not pass)",
                at(line)
            ));
        }
        let observes = !matches!(value, Expectation::Attest(_) | Expectation::Skip(_));
        if observes && !needs_mock {
            return Err(format!(
                "{}: this expectation observes the SUT, but the case has no steps",
                at(line)
            ));
        }
        expect.push(value);
    }
    if expect.is_empty() {
        return Err(format!(
            "{}: case {id} has no expectation",
            at(raw.id.referenced.line())
        ));
    }
    Ok(Case {
        origin: at(raw.id.referenced.line()),
        id,
        title: raw.title,
        requirements,
        role: raw.role,
        profile: raw.profile.value,
        applicability: raw.applicability,
        scope: raw.scope,
        timeout: raw.timeout,
        setup: raw.setup,
        steps: raw.steps,
        expect,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        mailbox_files: BTreeMap::new(),
    })
}

/// Loads every `*.yaml` case under `dir` (recursively, sorted by path), named relative to
/// `dir`'s parent (like `--suites <parent>`). Case IDs must be unique.
pub fn load_dir(dir: &Path, catalogue: &Catalogue) -> Result<Vec<Case>, String> {
    let root = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let sub = dir.file_name().map(Path::new).unwrap_or(Path::new("."));
    source::SuiteSource::Folder(root.to_path_buf()).load(sub, catalogue)
}

/// Every control names a case of the same suite that runs per case and has the named check,
/// which is no refusal itself.
pub fn validate_controls(cases: &[Case]) -> Result<(), String> {
    for case in cases {
        for control in case.expect.iter().filter_map(Expectation::control) {
            let Some(target) = cases.iter().find(|c| c.id == control.case) else {
                return Err(format!(
                    "{}: control case `{}` is not in this suite",
                    case.origin, control.case
                ));
            };
            // A control runs before the refusals and is not judged next to a control itself:
            // a refusal inside it would pass unchecked.
            if target.expect.iter().any(Expectation::is_refusal) {
                return Err(format!(
                    "{}: control case {} holds a refusal check itself; a control case must only show the SUT accepting something",
                    case.origin, target.id
                ));
            }
            if target.scope != Scope::Case {
                return Err(format!(
                    "{}: control case {} has `scope: run`; a control must run per case, before the refusal",
                    case.origin, target.id
                ));
            }
            let kind = control.check.split(' ').next().unwrap_or_default();
            let Some(e) = target.expect.iter().find(|e| e.kind() == kind) else {
                return Err(format!(
                    "{}: control check `{}`: case {} has no `{kind}` expectation",
                    case.origin, control.check, target.id
                ));
            };
            if e.is_refusal() {
                return Err(format!(
                    "{}: control check `{}` of case {} is a refusal itself; a control must show the SUT accepting something",
                    case.origin, control.check, target.id
                ));
            }
        }
    }
    Ok(())
}

/// The IDs of the control cases the given cases need (not already among them).
pub fn missing_controls(selected: &[Case], all: &[Case]) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for case in selected {
        for control in case.expect.iter().filter_map(Expectation::control) {
            if selected.iter().any(|c| c.id == control.case)
                || out.iter().any(|c| c.id == control.case)
            {
                continue;
            }
            if let Some(c) = all.iter().find(|c| c.id == control.case) {
                out.push(c.clone());
            }
        }
    }
    out
}

impl MailboxEntry {
    /// The message bytes with CRLF line breaks as a POP3 mailbox serves them (`file:` entries
    /// from the bytes read with the suite).
    pub fn bytes(&self, case: &Case) -> Result<Vec<u8>, String> {
        match self {
            MailboxEntry::File(f) => case
                .mailbox_files
                .get(f)
                .cloned()
                .ok_or_else(|| format!("mailbox file {f} was not loaded with the suite")),
            MailboxEntry::Inline(text) => Ok(to_crlf(text.as_bytes())),
            MailboxEntry::Served(v) => Err(format!(
                "mailbox entry `served: {}` is built by the REST mock, not read",
                v.as_str()
            )),
        }
    }
}

/// Converts bare LF to CRLF (leaves existing CRLF alone).
pub fn to_crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' && (i == 0 || text[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> &'static Catalogue {
        Catalogue::embedded().expect("catalogue")
    }

    const GOOD: &str = "id: t/one
title: A case
requirements: [KVC-Anb170]
role: kvc-pvs
profile: kvc
setup:
  mock: kvc-client
steps:
  - send: {to: [a@b.kv-safenet.de], application: Arztbrief}
  - wait_messages: {count: 1}
expect:
  - lint: {requirements: [KVC-Anb170]}
";

    #[test]
    fn loads_a_good_case() {
        let c = load_case(Path::new("s/one.yaml"), GOOD, cat()).expect("loads");
        assert_eq!(c.id, "t/one");
        assert_eq!(c.requirements, vec!["KVC-Anb170"]);
        assert_eq!(c.steps.len(), 2);
        assert_eq!(c.origin, "s/one.yaml:1");
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = GOOD.replace("profile: kvc\n", "profile: kvc\nbogus: 1\n");
        let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
        assert!(e.starts_with("s/one.yaml:6:"), "{e}");
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn unknown_step_key_is_rejected() {
        let text = GOOD.replace("{count: 1}", "{count: 1, colour: red}");
        let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
        assert!(e.starts_with("s/one.yaml:10:"), "{e}");
    }

    #[test]
    fn unknown_requirement_names_file_and_line() {
        let text = GOOD.replace("[KVC-Anb170]\nrole", "[KVC-Anb999]\nrole");
        let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
        assert!(e.starts_with("s/one.yaml:3:"), "{e}");
        assert!(e.contains("KVC-Anb999"), "{e}");
    }

    #[test]
    fn expectation_outside_the_case_requirements_is_rejected() {
        let text = GOOD.replace(
            "lint: {requirements: [KVC-Anb170]}",
            "lint: {requirements: [KVC-Anb160]}",
        );
        let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
        assert!(e.starts_with("s/one.yaml:12:"), "{e}");
    }

    #[test]
    fn role_mismatch_is_rejected() {
        let text = GOOD.replace("[KVC-Anb170]\nrole", "[A_23165]\nrole");
        let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
        assert!(e.contains("does not apply to role kvc-pvs"), "{e}");
    }

    const REST: &str = "id: t/rest
title: A REST case
requirements: [KVC-Anb010]
role: kvc-pvs
profile: kvc
setup:
  mock: kvc-rest
  mailbox:
    - served: encrypted-to-someone-else
steps:
  - fetch: {may_fail: true}
expect:
  - kept_on_server: {entries: [1], control: {case: t/control, check: deleted_after_fetch}}
";

    const CONTROL: &str = "id: t/control
title: The control
requirements: [KVC-Anb010]
role: kvc-pvs
profile: kvc
setup:
  mock: kvc-rest
  mailbox:
    - served: valid
steps:
  - fetch: {}
expect:
  - deleted_after_fetch: {entries: [1]}
";

    #[test]
    fn a_refusal_names_its_positive_control() {
        let e = load_case(
            Path::new("s/rest.yaml"),
            &REST.replace(
                ", control: {case: t/control, check: deleted_after_fetch}",
                "",
            ),
            cat(),
        )
        .unwrap_err();
        assert!(e.starts_with("s/rest.yaml:13:"), "{e}");
        assert!(
            e.contains("refusal check: name its positive control"),
            "{e}"
        );
        let e = load_case(
            Path::new("s/c.yaml"),
            &CONTROL.replace(
                "deleted_after_fetch: {entries: [1]}",
                "deleted_after_fetch: {entries: [1], control: {case: t/rest, check: x}}",
            ),
            cat(),
        )
        .unwrap_err();
        assert!(
            e.contains("not a refusal check and takes no control"),
            "{e}"
        );
        let stored = CONTROL.replace(
            "requirements: [KVC-Anb010]",
            "requirements: [KVC-Anb010, KVC-Anb022]",
        );
        let e = load_case(
            Path::new("s/c.yaml"),
            &stored.replace(
                "deleted_after_fetch: {entries: [1]}",
                "stored: {requirement: KVC-Anb022, rejected: [1]}",
            ),
            cat(),
        )
        .unwrap_err();
        assert!(e.contains("positive control of the rejected ones"), "{e}");

        let refusal = load_case(Path::new("s/rest.yaml"), REST, cat()).expect("refusal");
        let control = load_case(Path::new("s/c.yaml"), CONTROL, cat()).expect("control");
        validate_controls(&[refusal.clone(), control.clone()]).expect("valid pair");
        let e = validate_controls(std::slice::from_ref(&refusal)).unwrap_err();
        assert!(
            e.contains("control case `t/control` is not in this suite"),
            "{e}"
        );
        let mut other = control.clone();
        other.expect = vec![Expectation::FetchedAll(WaitPlain {})];
        let e = validate_controls(&[refusal.clone(), other]).unwrap_err();
        assert!(
            e.contains("has no `deleted_after_fetch` expectation"),
            "{e}"
        );
        let mut mixed = control.clone();
        mixed.expect.push(refusal.expect[0].clone());
        let e = validate_controls(&[refusal.clone(), mixed]).unwrap_err();
        assert!(e.contains("holds a refusal check itself"), "{e}");
        assert_eq!(
            missing_controls(std::slice::from_ref(&refusal), &[refusal.clone(), control])
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            vec!["t/control"]
        );
    }

    #[test]
    fn loads_a_rest_case() {
        let c = load_case(Path::new("s/rest.yaml"), REST, cat()).expect("loads");
        assert_eq!(c.setup.mock, MockKind::KvcRest);
        assert_eq!(c.setup.mock.transport("smtp-pop3"), Some("rest"));
        assert!(matches!(
            c.setup.mailbox[0],
            MailboxEntry::Served(ServedVariant::EncryptedToSomeoneElse)
        ));
    }

    #[test]
    fn rest_mistakes_are_rejected() {
        let e = load_case(
            Path::new("s/rest.yaml"),
            &REST.replace("mock: kvc-rest", "mock: kvc-client"),
            cat(),
        )
        .unwrap_err();
        assert!(e.contains("`served:` entries need `mock: kvc-rest`"), "{e}");
        let e = load_case(
            Path::new("s/rest.yaml"),
            &REST.replace("entries: [1]", "entries: [2]"),
            cat(),
        )
        .unwrap_err();
        assert!(e.starts_with("s/rest.yaml:13:"), "{e}");
        assert!(e.contains("entry 2 is not in the mailbox"), "{e}");
        let e = load_case(
            Path::new("s/rest.yaml"),
            &REST.replace("served: encrypted-to-someone-else", "served: forged"),
            cat(),
        )
        .unwrap_err();
        assert!(e.contains("forged"), "{e}");
        let e = load_case(
            Path::new("s/rest.yaml"),
            &REST.replace(
                "profile: kvc\n",
                "profile: kvc\napplicability: {transport: [smtp-pop3]}\n",
            ),
            cat(),
        )
        .unwrap_err();
        assert!(e.contains("could never run"), "{e}");
    }

    #[test]
    fn crlf_conversion() {
        assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
    }
}
