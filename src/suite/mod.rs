//! Test cases (`suites/<role>/*.yaml`): the case model and its loader.
//!
//! A case names the requirement IDs it covers, how to set the mocks up, the steps that drive the
//! system under test (SUT) and the expectations that must hold on what the mocks observed. The
//! loader rejects unknown keys (with the YAML location serde-saphyr reports) and requirement IDs
//! that are not in [`crate::catalogue`] (with `file:line`). The `expect:` items are read with the
//! vocabulary of the case's role and validated by their families ([`crate::roles`]). See
//! `suites/README.md`.

pub mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::catalogue::{Catalogue, Role};
pub use crate::roles::expect::Expectation;
use crate::roles::expect::{CaseHeader, ParsedItem};
use crate::rules::Profile;
use crate::sut::Transport;

/// One loaded case, validated.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub title: String,
    pub requirements: Vec<String>,
    pub role: Role,
    pub profile: Profile,
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
    pub dir: PathBuf,
    /// The `file:` mailbox entries' bytes, read when the suite was loaded.
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
    pub transport: Vec<Transport>,
}

/// Which certificate the mock a case talks to presents (KVC-Anb021): the mocks' own type.
pub use kvc_mocks::ServerCertKind as ServerCert;

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
    pub fn transport(self, primary: Transport) -> Option<Transport> {
        match self {
            MockKind::None => None,
            MockKind::Transport => Some(primary),
            fixed => fixed.fixed_transport(),
        }
    }

    /// The transport this mock stands for, if it stands for one by itself.
    pub fn fixed_transport(self) -> Option<Transport> {
        match self {
            MockKind::KvcClient => Some(Transport::SmtpPop3),
            MockKind::KvcRest => Some(Transport::Rest),
            MockKind::None | MockKind::Transport => None,
        }
    }
}

/// A message the REST mock builds for the SUT (like the reference-system sample, addressed to
/// the SUT's user certificate), intact or broken in one named way: the mocks' own type.
pub use kvc_mocks::kvc::served_messages::KvcMessageVariant as ServedVariant;

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
    /// kim-cm only: the Konnektor faults and the Fachdienst mailbox behind the Clientmodul.
    #[serde(default)]
    pub kim: crate::roles::kim_cm::setup::KimCmSetup,
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
    /// The suite itself acts as a client of the SUT (a role's named probe, e.g. kim-fd's
    /// `kas_size_limit`), recording every exchange as evidence.
    Probe(String),
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
            Step::Probe(p) => format!("probe {p}"),
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverScope {
    #[default]
    Case,
    Run,
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
    /// Read again with the role's vocabulary (see `load_case`); here only its place is checked.
    #[allow(dead_code)]
    expect: Vec<serde::de::IgnoredAny>,
}

/// A YAML error as `path:line: message`.
fn yaml_error(shown: &str, e: &serde_saphyr::Error) -> String {
    let line = e
        .location()
        .map(|l| format!(":{}", l.line()))
        .unwrap_or_default();
    format!("{shown}{line}: {e}")
}

/// Parses and validates one case file. Errors read `path:line: ...`.
pub fn load_case(path: &Path, text: &str, catalogue: &Catalogue) -> Result<Case, String> {
    let shown = path.display().to_string();
    let raw: RawCase = serde_saphyr::from_str(text).map_err(|e| yaml_error(&shown, &e))?;
    let at = |line: u64| format!("{shown}:{line}");
    let id = raw.id.value.clone();
    if id.is_empty() || id.chars().any(|c| c.is_whitespace()) {
        return Err(format!(
            "{}: case id `{id}` must be non-empty and without spaces",
            at(raw.id.referenced.line())
        ));
    }
    let Some(profile) = Profile::parse(&raw.profile.value) else {
        return Err(format!(
            "{}: unknown profile `{}` (known: kvc, kim-1.0, kim-1.5)",
            at(raw.profile.referenced.line()),
            raw.profile.value
        ));
    };
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
    if let Some(t) = raw.timeout
        && !(t > 0.0 && t <= 3600.0)
    {
        return Err(format!(
            "{shown}: timeout {t} s is out of range (0 < timeout <= 3600)"
        ));
    }
    let probes = crate::roles::probes(raw.role);
    for step in &raw.steps {
        if let Step::Probe(p) = step
            && !probes.contains(&p.as_str())
        {
            return Err(format!(
                "{shown}: case {id}: unknown probe `{p}` for role {} (known: {})",
                raw.role.as_str(),
                if probes.is_empty() {
                    "none".to_string()
                } else {
                    probes.join(", ")
                }
            ));
        }
    }
    let needs_mock = raw.steps.iter().any(|s| !matches!(s, Step::Probe(_)));
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
    if raw.role != Role::KimCm && !raw.setup.kim.is_default() {
        return Err(format!(
            "{shown}: setup.kim is for role kim-cm cases only (this case is {})",
            raw.role.as_str()
        ));
    }
    if let Err(e) = raw.setup.kim.konnektor.faults() {
        return Err(format!("{shown}: {e}"));
    }
    let fixed_transport = raw.setup.mock.fixed_transport();
    if let Some(t) = fixed_transport
        && !raw.applicability.transport.is_empty()
        && !raw.applicability.transport.contains(&t)
    {
        return Err(format!(
            "{shown}: applicability.transport {:?} excludes the transport of `mock` ({t}): the case could never run",
            raw.applicability.transport
        ));
    }
    // The `expect:` list is read in a second pass, with the vocabulary of the case's role.
    let items = crate::roles::vocabulary(raw.role)(text).map_err(|e| yaml_error(&shown, &e))?;
    let header = CaseHeader {
        id: &id,
        requirements: &requirements,
        setup: &raw.setup,
        has_steps: !raw.steps.is_empty(),
        catalogue,
    };
    let mut expect = Vec::new();
    for ParsedItem {
        line,
        kind,
        mut family,
    } in items
    {
        family
            .validate(&header)
            .map_err(|e| format!("{}: {e}", at(line)))?;
        if family.is_refusal() && family.control().is_none() {
            return Err(format!(
                "{}: `{kind}` is a refusal check: name its positive control next to it \
                 (`control: {{case: <case id>, check: <expectation>}}`), a case of the same \
                 run in which the SUT accepts the good counterpart",
                at(line),
            ));
        }
        if let Some(c) = family.control()
            && c.case == id
        {
            return Err(format!(
                "{}: the control of a refusal must be another case (not {id} itself)",
                at(line)
            ));
        }
        if family.observes() && raw.steps.is_empty() {
            return Err(format!(
                "{}: this expectation observes the SUT, but the case has no steps",
                at(line)
            ));
        }
        expect.push(Expectation::new(kind, family));
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
        profile,
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
        for control in case.expect.iter().filter_map(|e| e.control()) {
            let Some(target) = cases.iter().find(|c| c.id == control.case) else {
                return Err(format!(
                    "{}: control case `{}` is not in this suite",
                    case.origin, control.case
                ));
            };
            // A control runs before the refusals and is not judged next to a control itself:
            // a refusal inside it would pass unchecked.
            if target.expect.iter().any(|e| e.is_refusal()) {
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
        for control in case.expect.iter().filter_map(|e| e.control()) {
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
                v.name()
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
mod tests;
