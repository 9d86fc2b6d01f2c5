//! `kvc-check lint`: read inputs, pick a profile, run the rules, collect one result per file.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::message::{HeaderDefectKind, Message};
use crate::rules::{
    self, Evaluation, Finding, KvcRegistry, Profile, RequirementResult, RuleContext,
};

/// File extensions a directory walk picks up as messages.
pub const MESSAGE_EXTENSIONS: &[&str] = &["eml", "msg", "mime", "txt"];

/// Inputs larger than this are refused (mail-parser offsets are 32-bit; KIM's largest mails
/// through the KAS are far below it).
pub const DEFAULT_MAX_SIZE: u64 = 512 * 1024 * 1024;

/// Which profile to check a message against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileChoice {
    /// KIM when the message carries X-KIM-* or X-KOM-LE-Version fields or KIM addresses
    /// (`…kim.telematik[-test]`), else KV-Connect.
    Auto,
    Kvc,
    /// KIM, version taken from X-KOM-LE-Version (1.5 when absent).
    Kim,
    #[value(name = "kim-1.0")]
    Kim10,
    #[value(name = "kim-1.5")]
    Kim15,
}

/// Picks the profile for one message.
pub fn select_profile(choice: ProfileChoice, msg: &Message) -> Profile {
    match choice {
        ProfileChoice::Kvc => Profile::Kvc,
        ProfileChoice::Kim10 => Profile::Kim10,
        ProfileChoice::Kim15 => Profile::Kim15,
        ProfileChoice::Kim => kim_version(msg),
        ProfileChoice::Auto => {
            let kim = msg.fields().iter().any(|f| {
                f.name.len() >= 6 && f.name[..6].eq_ignore_ascii_case("X-KIM-")
                    || f.name.eq_ignore_ascii_case("X-KOM-LE-Version")
                    || is_address_field(&f.name) && has_kim_domain(msg.raw_value(f))
            });
            if kim { kim_version(msg) } else { Profile::Kvc }
        }
    }
}

fn is_address_field(name: &str) -> bool {
    ["From", "Sender", "To", "Cc", "Reply-To"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// KIM addresses end in `kim.telematik` (production) or `kim.telematik-test` (KIM-FACTS §8), so
/// a mail without X-KIM-* fields (a plain client mail, a DSN) is still recognised as KIM.
fn has_kim_domain(value: &[u8]) -> bool {
    value
        .windows(b"kim.telematik".len())
        .any(|w| w.eq_ignore_ascii_case(b"kim.telematik"))
}

fn kim_version(msg: &Message) -> Profile {
    match msg
        .fields_named("X-KOM-LE-Version")
        .next()
        .map(|f| msg.unfolded_value(f))
        .as_deref()
    {
        Some("1.0") => Profile::Kim10,
        _ => Profile::Kim15,
    }
}

/// Overall verdict of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileVerdict {
    /// No finding of severity error.
    Pass,
    /// At least one finding of severity error.
    Fail,
    /// The input could not be read or is not lintable (exit code 2).
    Error,
}

/// An observation about the input that no requirement covers (e.g. a header line that is not
/// a field); reported to explain findings, never deciding a verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub line: usize,
    pub message: String,
}

/// The result of linting one input.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    pub path: String,
    pub verdict: FileVerdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    pub size: u64,
    pub requirements: Vec<RequirementResult>,
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
    /// Why the input could not be linted (verdict `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// S/MIME outcome when the message was opened with `--key`: `decryption_result`
    /// (X-KIM-DecryptionResult), `integrity_check_result` (list of X-KIM-IntegrityCheckResult
    /// codes), explanations, signer and recipient-emails; `recipient_infos` (issuer, serial,
    /// recipient-emails address) when the key is not among the message's recipients (`01`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smime: Option<serde_json::Value>,
}

impl FileResult {
    pub fn input_error(path: &str, error: String) -> Self {
        FileResult {
            path: path.to_string(),
            verdict: FileVerdict::Error,
            profile: None,
            size: 0,
            requirements: Vec::new(),
            findings: Vec::new(),
            diagnostics: Vec::new(),
            error: Some(error),
            smime: None,
        }
    }
}

/// Options of one lint invocation.
pub struct LintOptions {
    pub profile: ProfileChoice,
    pub registry: KvcRegistry,
    pub max_size: u64,
    /// Key and trust anchors to open S/MIME messages before linting (`--key`, `--trust`).
    pub smime: Option<SmimeKeys>,
}

impl LintOptions {
    /// The same options for plain (already opened) content linted with `profile`.
    fn plain(&self, profile: ProfileChoice) -> LintOptions {
        LintOptions {
            profile,
            registry: self.registry.clone(),
            max_size: self.max_size,
            smime: None,
        }
    }
}

/// What `lint --key` needs to decrypt and verify a message.
pub struct SmimeKeys {
    pub key: kvc_smime::keys::PrivateKeyMaterial,
    pub trust: Vec<kvc_smime::Certificate>,
    /// Validity check time (`--at`); now when absent.
    pub at: Option<std::time::SystemTime>,
}

/// KV-Connect's line-break requirement, also checked inside the decrypted S/MIME content.
const CRLF_REQUIREMENT: &str = "KVC-Anb023";

/// Lints bytes already in memory (the runner uses this for captured messages). With
/// `opts.smime`, an encrypted message is first decrypted and verified; the S/MIME findings and
/// (for KOM-LE) the inner message's findings join the outer message's.
pub fn lint_bytes(path: &str, raw: &[u8], opts: &LintOptions) -> FileResult {
    let mut result = lint_plain(path, raw, opts);
    let Some(keys) = &opts.smime else {
        return result;
    };
    if !kvc_smime::message::is_smime_encrypted(raw) {
        result.diagnostics.push(Diagnostic {
            line: 1,
            message: "not an S/MIME encrypted message: --key was not used".into(),
        });
        return result;
    }
    let outcome =
        match kvc_smime::message::open_message_named(raw, &keys.key, &keys.trust, keys.at, path) {
            Ok(o) => o,
            // A message not encrypted for the key's certificate is a verdict about the message
            // (X-KIM-DecryptionResult 01, key not available), not an input error.
            Err(e) => match e.kind {
                kvc_smime::ErrorKind::WrongKey => {
                    match kvc_smime::message::key_not_available(raw, &keys.key, path) {
                        Some(o) => o,
                        None => return FileResult::input_error(path, e.to_string()),
                    }
                }
                _ => return FileResult::input_error(path, e.to_string()),
            },
        };
    merge_smime(&mut result, &outcome);
    if let Some(report) = &outcome.komle_profile {
        merge_profile(&mut result, report);
    }
    if outcome.profile == kvc_smime::message::Profile::KvConnect
        && let Some(content) = &outcome.decrypted_content
    {
        // KVC-Anb023 covers the S/MIME content too: line breaks inside the encryption are
        // only visible after decrypting. The other KV-Connect rules are about the outer
        // header, which the content does not carry.
        let inner_opts = opts.plain(ProfileChoice::Kvc);
        let mut inner = lint_plain(path, content, &inner_opts);
        inner.findings.retain(|f| f.requirement == CRLF_REQUIREMENT);
        inner
            .requirements
            .retain(|r| r.requirement == CRLF_REQUIREMENT);
        inner.diagnostics.clear();
        merge_inner(&mut result, inner, "decrypted content");
    }
    if outcome.profile == kvc_smime::message::Profile::KomLe
        && let Some(inner) = &outcome.inner_message
    {
        let inner_opts = opts.plain(ProfileChoice::Auto);
        let inner_result = lint_plain(path, inner, &inner_opts);
        merge_inner(&mut result, inner_result, "inner message");
    }
    result.verdict = verdict_of(&result.findings);
    result.smime = serde_json::to_value(&outcome).ok();
    result
}

fn verdict_of(findings: &[Finding]) -> FileVerdict {
    if findings
        .iter()
        .any(|f| f.severity == rules::Severity::Error)
    {
        FileVerdict::Fail
    } else {
        FileVerdict::Pass
    }
}

/// Adds a requirement verdict, a failure winning over a pass or skip.
fn add_requirement(result: &mut FileResult, requirement: &'static str, failed: bool) {
    use rules::RequirementVerdict as V;
    match result
        .requirements
        .iter_mut()
        .find(|r| r.requirement == requirement)
    {
        Some(r) if failed => {
            r.verdict = V::Fail;
            r.reason = None;
        }
        Some(r) if r.verdict == V::Skip => {
            r.verdict = V::Pass;
            r.reason = None;
        }
        Some(_) => {}
        None => result.requirements.push(RequirementResult {
            requirement,
            verdict: if failed { V::Fail } else { V::Pass },
            reason: None,
        }),
    }
}

/// Keeps only the requirements (and their findings) that `scope` shows; the verdict then
/// follows what is shown (an input error stays one). Returns how many findings were dropped.
pub fn restrict_to_scope(result: &mut FileResult, scope: crate::catalogue::ScopeFilter) -> usize {
    if scope.is_all() {
        return 0;
    }
    let Ok(catalogue) = crate::catalogue::Catalogue::embedded() else {
        return 0;
    };
    let before = result.findings.len();
    result
        .requirements
        .retain(|r| scope.admits_id(catalogue, r.requirement));
    result
        .findings
        .retain(|f| scope.admits_id(catalogue, f.requirement));
    if result.verdict != FileVerdict::Error {
        result.verdict = if result
            .findings
            .iter()
            .any(|f| f.severity == rules::Severity::Error)
        {
            FileVerdict::Fail
        } else {
            FileVerdict::Pass
        };
    }
    before - result.findings.len()
}

/// The rule id of the S/MIME opening (`lint --key`).
pub const SMIME_RULE: &str = "smime/open";

/// The requirements the S/MIME opening reports under (their catalogue entries name
/// [`SMIME_RULE`]); a finding of `kvc-smime` under any other ID becomes a diagnostic.
pub const SMIME_REQUIREMENTS: &[&str] =
    &["KOM-LE-A_2047", "KOM-LE-A_2050", "A_23165", "KVC-Anb022"];

/// The KOM-LE S/MIME profile checks (`kvc_smime::profile`) that `lint --key` reports, each
/// under its own rule id and requirement. The outer Subject is left out: `kim/outer-subject`
/// checks it on every KOM-LE message, key or not.
pub fn profile_checks() -> impl Iterator<Item = kvc_smime::profile::Check> {
    kvc_smime::profile::Check::ALL
        .into_iter()
        .filter(|c| *c != kvc_smime::profile::Check::OuterSubject)
}

/// Every (rule id, requirement) the S/MIME layer of `lint --key` reports under: [`SMIME_RULE`]
/// with each of [`SMIME_REQUIREMENTS`], and each of [`profile_checks`] (base IDs).
pub fn smime_rules() -> Vec<(&'static str, &'static str)> {
    SMIME_REQUIREMENTS
        .iter()
        .map(|r| (SMIME_RULE, *r))
        .chain(profile_checks().map(|c| (c.rule(), c.base_requirement())))
        .collect()
}

/// The profile checks become findings (location: field and ASN.1 path) and requirement
/// verdicts: a check that passed passes its requirement, one that failed fails it, one that
/// could not be judged skips it with the reason (unless another rule decided it).
fn merge_profile(result: &mut FileResult, report: &kvc_smime::profile::ProfileReport) {
    use kvc_smime::profile::CheckVerdict;
    let Ok(catalogue) = crate::catalogue::Catalogue::embedded() else {
        return;
    };
    for check in profile_checks() {
        let Some(req) = catalogue.get(check.requirement()) else {
            continue;
        };
        let id = req.id.as_str();
        match report.verdict(check) {
            CheckVerdict::Pass => add_requirement(result, id, false),
            CheckVerdict::Fail => add_requirement(result, id, true),
            CheckVerdict::NotEvaluated => {
                if !result.requirements.iter().any(|r| r.requirement == id) {
                    result.requirements.push(RequirementResult {
                        requirement: id,
                        verdict: rules::RequirementVerdict::Skip,
                        reason: report.not_evaluated_reason(check).map(str::to_string),
                    });
                }
            }
        }
    }
    for f in &report.findings {
        let Some(req) = catalogue
            .get(f.check.requirement())
            .filter(|_| f.check != kvc_smime::profile::Check::OuterSubject)
        else {
            continue;
        };
        result.findings.push(Finding {
            rule: f.check.rule(),
            requirement: req.id.as_str(),
            severity: match f.severity {
                kvc_smime::message::Severity::Error => rules::Severity::Error,
                kvc_smime::message::Severity::Warning => rules::Severity::Warning,
            },
            message: f.message(),
            location: rules::Location::Structure {
                field: f.field.clone(),
                path: f.path.clone(),
            },
        });
    }
}

/// S/MIME findings become findings of their catalogue requirements (rule `smime/open`); the
/// requirements the outcome decides (decryption, integrity) are reported even when they pass.
fn merge_smime(result: &mut FileResult, outcome: &kvc_smime::message::SmimeOutcome) {
    let Ok(catalogue) = crate::catalogue::Catalogue::embedded() else {
        return;
    };
    let decided: &[&str] = match outcome.profile {
        // Integrity (KOM-LE-A_2050) is decided only when something was decrypted and checked.
        kvc_smime::message::Profile::KomLe if outcome.integrity_check_result.is_empty() => {
            &["KOM-LE-A_2047"]
        }
        kvc_smime::message::Profile::KomLe => &["KOM-LE-A_2047", "KOM-LE-A_2050"],
        kvc_smime::message::Profile::KvConnect => &["KVC-Anb022"],
    };
    for id in decided {
        if let Some(req) = catalogue.get(id) {
            add_requirement(result, req.id.as_str(), false);
        }
    }
    for f in &outcome.findings {
        let known = SMIME_REQUIREMENTS.contains(&f.requirement.as_str());
        let Some(req) = catalogue.get(&f.requirement).filter(|_| known) else {
            result.diagnostics.push(Diagnostic {
                line: 1,
                message: format!("S/MIME ({}): {}", f.requirement, f.message),
            });
            continue;
        };
        let severity = match f.severity {
            kvc_smime::message::Severity::Error => rules::Severity::Error,
            kvc_smime::message::Severity::Warning => rules::Severity::Warning,
        };
        result.findings.push(Finding {
            rule: SMIME_RULE,
            requirement: req.id.as_str(),
            severity,
            message: f.message.clone(),
            location: rules::Location::Message,
        });
        add_requirement(result, req.id.as_str(), severity == rules::Severity::Error);
    }
}

/// The inner (decrypted) message's findings, marked as such.
fn merge_inner(result: &mut FileResult, inner: FileResult, prefix: &str) {
    for mut f in inner.findings {
        f.message = format!("{prefix}: {}", f.message);
        result.findings.push(f);
    }
    for r in inner.requirements {
        if r.verdict != rules::RequirementVerdict::Skip {
            add_requirement(
                result,
                r.requirement,
                r.verdict == rules::RequirementVerdict::Fail,
            );
        }
    }
    for mut d in inner.diagnostics {
        d.message = format!("{prefix}: {}", d.message);
        result.diagnostics.push(d);
    }
}

fn lint_plain(path: &str, raw: &[u8], opts: &LintOptions) -> FileResult {
    let msg = Message::new(raw);
    let profile = select_profile(opts.profile, &msg);
    let ctx = RuleContext {
        profile,
        kvc_registry: &opts.registry,
    };
    let Evaluation {
        findings,
        requirements,
    } = rules::evaluate(&msg, &ctx);
    let verdict = if findings
        .iter()
        .any(|f| f.severity == rules::Severity::Error)
    {
        FileVerdict::Fail
    } else {
        FileVerdict::Pass
    };
    FileResult {
        path: path.to_string(),
        verdict,
        profile: Some(profile),
        size: raw.len() as u64,
        requirements,
        findings,
        diagnostics: diagnostics(&msg),
        error: None,
        smime: None,
    }
}

fn diagnostics(msg: &Message) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if msg.fields().is_empty() {
        out.push(Diagnostic {
            line: 1,
            message:
                "no header field found: this does not look like an Internet message (RFC 5322)"
                    .into(),
        });
    }
    const MAX_DEFECTS: usize = 10;
    let defects = msg.header_defects();
    for defect in defects.iter().take(MAX_DEFECTS) {
        let message = match defect.kind {
            HeaderDefectKind::ContinuationWithoutField => {
                "header line starts with whitespace but no field precedes it"
            }
            HeaderDefectKind::NotAField => "header line is not a `Name: value` field",
        };
        out.push(Diagnostic {
            line: defect.line,
            message: message.into(),
        });
    }
    if defects.len() > MAX_DEFECTS {
        out.push(Diagnostic {
            line: defects[MAX_DEFECTS].line,
            message: format!(
                "{} more header lines are not fields",
                defects.len() - MAX_DEFECTS
            ),
        });
    }
    if !msg.header_terminated() && !msg.fields().is_empty() {
        out.push(Diagnostic {
            line: msg.line_of_offset(msg.raw().len()),
            message: "the header block is not ended by an empty line; the message has no body"
                .into(),
        });
    }
    out
}

/// One input named on the command line, expanded: a file, stdin, or the files of a directory.
enum Input {
    /// A file named on the command line: a non-message is an input error.
    File(PathBuf),
    /// A file a directory walk found: a non-message is skipped (and listed).
    Found(PathBuf),
    Stdin,
    /// A problem found while expanding (missing path, empty directory).
    Problem(String, String),
}

fn expand(path: &Path) -> Vec<Input> {
    if path.as_os_str() == "-" {
        return vec![Input::Stdin];
    }
    // Non-UTF-8 names are shown lossily; the file itself is opened by its real name.
    let shown = path.display().to_string();
    match std::fs::metadata(path) {
        Err(e) => vec![Input::Problem(shown, describe_io_error(&e))],
        Ok(meta) if meta.is_dir() => {
            let mut files = Vec::new();
            let mut problems = Vec::new();
            walk(path, &mut files, &mut problems);
            files.sort();
            let mut inputs: Vec<Input> = problems
                .into_iter()
                .map(|(p, e)| Input::Problem(p, e))
                .collect();
            if files.is_empty() && inputs.is_empty() {
                inputs.push(Input::Problem(
                    shown,
                    format!(
                        "directory contains no message files (looked for *.{})",
                        MESSAGE_EXTENSIONS.join(", *.")
                    ),
                ));
            }
            inputs.extend(files.into_iter().map(Input::Found));
            inputs
        }
        Ok(_) => vec![Input::File(path.to_path_buf())],
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<(String, String)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push((dir.display().to_string(), describe_io_error(&e)));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, files, problems),
            Ok(t) if t.is_file() || t.is_symlink() => {
                let is_message = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| MESSAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
                if is_message {
                    files.push(path);
                }
            }
            _ => {}
        }
    }
}

fn describe_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Reads one input, refusing empty and oversized inputs with a message that says so.
fn read_input(reader: impl Read, max_size: u64, size_hint: u64) -> Result<Vec<u8>, String> {
    // Sized up front (one byte more to see EOF), so that a large file is not read into a
    // buffer that doubles and then holds up to twice the file.
    let hint = usize::try_from(size_hint.min(max_size)).unwrap_or(0);
    let mut buf = Vec::with_capacity(hint.saturating_add(1));
    reader
        .take(max_size + 1)
        .read_to_end(&mut buf)
        .map_err(|e| describe_io_error(&e))?;
    if buf.len() as u64 > max_size {
        return Err(format!(
            "larger than the limit of {max_size} bytes (raise it with --max-size)"
        ));
    }
    if buf.is_empty() {
        return Err("empty file (0 bytes): nothing to lint".into());
    }
    Ok(buf)
}

/// Why `raw` is not an RFC 5322 message, if it is not one. Deliberately conservative, so that
/// malformed messages are still linted: only NUL bytes in the header block, DER/BER or binary
/// data, or no `Name:` header field line before the first empty line make an input a
/// non-message.
pub fn not_a_message(raw: &[u8]) -> Option<String> {
    // The first LF followed by LF or CRLF: the end of the header block (a line search, not two
    // searches over the whole message, one of which never matches in a CRLF message).
    let head_end = memchr::memchr_iter(b'\n', raw)
        .find(|&i| matches!(raw.get(i + 1..), Some([b'\n', ..] | [b'\r', b'\n', ..])))
        .map_or(raw.len(), |i| i + 1);
    let head = if raw.starts_with(b"\n") || raw.starts_with(b"\r\n") {
        &raw[..0]
    } else {
        &raw[..head_end]
    };
    if head.contains(&0) {
        return Some("NUL bytes in the header block: not an RFC 5322 message".into());
    }
    // A DER/BER SEQUENCE (a CMS blob, a certificate): 0x30, then a long or indefinite length.
    if raw.len() >= 2 && raw[0] == 0x30 && (0x80..=0x84).contains(&raw[1]) {
        return Some("DER/BER data (a CMS blob or certificate?): not an RFC 5322 message".into());
    }
    let sample = &head[..head.len().min(1024)];
    let binary = sample
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)) || b == 0x7f)
        .count();
    if binary * 10 > sample.len() {
        return Some(format!(
            "binary data ({binary} of the first {} bytes are control characters): not an RFC 5322 message",
            sample.len()
        ));
    }
    let is_field = |line: &[u8]| {
        let name_len = line
            .iter()
            .take_while(|&&b| (0x21..=0x7e).contains(&b) && b != b':')
            .count();
        let rest = line[name_len..].trim_ascii_start();
        name_len > 0 && rest.first() == Some(&b':')
    };
    if !head.split(|&b| b == b'\n').any(is_field) {
        return Some(
            "no header field (`Name: value`) before the first empty line: not an RFC 5322 message"
                .into(),
        );
    }
    None
}

fn read_file(path: &Path, max_size: u64) -> Result<Vec<u8>, String> {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.len() > max_size
    {
        return Err(format!(
            "{} bytes, larger than the limit of {max_size} bytes (raise it with --max-size)",
            meta.len(),
        ));
    }
    std::fs::File::open(path)
        .map_err(|e| describe_io_error(&e))
        .and_then(|f| {
            let len = f.metadata().map_or(0, |m| m.len());
            read_input(f, max_size, len)
        })
}

/// Lints one file; `Err` carries the reason when it is not a message at all.
fn lint_file(path: &Path, opts: &LintOptions) -> Result<FileResult, (String, String)> {
    let shown = path.display().to_string();
    match read_file(path, opts.max_size) {
        Ok(raw) => match not_a_message(&raw) {
            Some(why) => Err((shown, why)),
            None => Ok(lint_bytes(&shown, &raw, opts)),
        },
        Err(e) => Ok(FileResult::input_error(&shown, e)),
    }
}

/// A file a directory walk found and left out, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// The results of one lint invocation and the files a directory walk skipped.
#[derive(Debug, Clone, Default)]
pub struct LintRun {
    pub results: Vec<FileResult>,
    pub skipped: Vec<Skipped>,
}

/// Lints every input named on the command line, in order; problems become `error` results so
/// that no input is silently dropped.
pub fn lint_inputs(args: &[PathBuf], opts: &LintOptions) -> Vec<FileResult> {
    lint_run(args, opts).results
}

/// Like [`lint_inputs`], and lists the files of a directory walk that are not messages (they
/// are skipped, not failed: a folder of messages often holds a README or a key too).
pub fn lint_run(args: &[PathBuf], opts: &LintOptions) -> LintRun {
    lint_run_sharded(args, opts, None)
}

/// [`lint_run`] over one shard of the inputs (`--shard i/n`): every input after expansion
/// (argument order, each directory's files sorted; stdin and problems count as inputs) has an
/// index, and the shard takes those with `index mod n == i - 1`, so the shards split the
/// inputs with no overlap and no loss. A directory whose files were all skipped as not messages
/// is an error only without a shard (a shard sees only part of the directory).
pub fn lint_run_sharded(
    args: &[PathBuf],
    opts: &LintOptions,
    shard: Option<crate::shard::Shard>,
) -> LintRun {
    let mut run = LintRun::default();
    let mut index = 0usize;
    for arg in args {
        let (results_before, skipped_before) = (run.results.len(), run.skipped.len());
        for input in expand(arg) {
            let k = index;
            index += 1;
            if shard.is_some_and(|s| !s.holds(k)) {
                continue;
            }
            let result = match input {
                Input::File(path) => lint_file(&path, opts)
                    .unwrap_or_else(|(shown, why)| FileResult::input_error(&shown, why)),
                Input::Found(path) => match lint_file(&path, opts) {
                    Ok(result) => result,
                    Err((path, reason)) => {
                        run.skipped.push(Skipped { path, reason });
                        continue;
                    }
                },
                Input::Stdin => match read_input(std::io::stdin().lock(), opts.max_size, 0) {
                    Ok(raw) => match not_a_message(&raw) {
                        Some(why) => FileResult::input_error("-", format!("standard input: {why}")),
                        None => lint_bytes("-", &raw, opts),
                    },
                    Err(e) => FileResult::input_error("-", format!("standard input: {e}")),
                },
                Input::Problem(path, e) => FileResult::input_error(&path, e),
            };
            run.results.push(result);
        }
        if shard.is_none()
            && run.results.len() == results_before
            && run.skipped.len() > skipped_before
        {
            run.results.push(FileResult::input_error(
                &arg.display().to_string(),
                "directory contains no messages: every file was skipped as not a message".into(),
            ));
        }
    }
    run
}

/// Exit code of a lint run: 2 when an input could not be linted, 1 when a file failed, else 0.
pub fn exit_code(results: &[FileResult]) -> u8 {
    if results.is_empty() || results.iter().any(|r| r.verdict == FileVerdict::Error) {
        2
    } else if results.iter().any(|r| r.verdict == FileVerdict::Fail) {
        1
    } else {
        0
    }
}
