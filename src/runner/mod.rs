//! The runner: schedules cases in parallel (tokio) with per-case timeouts, drives the SUT through
//! its adapter, lints every captured message with the same rules as `kvc-check lint`, evaluates
//! the case expectations and rolls verdicts up per requirement.
//!
//! Cases with `scope: case` run first; `scope: run` cases run after them, so their expectations
//! (e.g. KVC-Anb100 consistency) see every message of the run.

pub mod answers;
pub mod expect;
pub mod mocks;
pub mod model;
pub mod observe;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::catalogue::Catalogue;
use crate::lint::{self, LintOptions, ProfileChoice};
use crate::rules::KvcRegistry;
use crate::suite::{Case, Expectation, MailboxEntry, MockKind, Scope as CaseScope, Step};
use crate::sut::{SendRequest, SutAdapter};
use answers::Answers;
use model::{
    CaseResult, Check, MessageRecord, RunInfo, RunResult, SessionsRecord, StepOutcome, StepRecord,
    StoredAnswer, Verdict,
};
use observe::{Endpoints, KvcClientSetup, KvcRestSetup, MockHost, Observations, ServedMessage};

/// Default largest message the mock accepts (16 MiB; KV-Connect has no smaller limit).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// How long a case waits, after its last step, for SUT sessions to end.
const IDLE_GRACE: Duration = Duration::from_millis(250);

/// Everything a case needs besides itself.
pub struct RunContext {
    pub sut: Arc<dyn SutAdapter>,
    pub mocks: Arc<dyn MockHost>,
    pub registry: Arc<KvcRegistry>,
    pub answers: Arc<Answers>,
    pub catalogue: &'static Catalogue,
    pub jobs: usize,
    /// Default per-case timeout.
    pub timeout: Duration,
    /// Ports the SUT is configured with (cases then run one at a time).
    pub fixed_ports: Option<(u16, u16)>,
    /// REST server and LDAPS ports the SUT is configured with.
    pub fixed_rest_ports: Option<(u16, u16)>,
    /// A stalled SUT connection is dropped by the mock after this.
    pub idle_timeout: Duration,
}

/// Receives results as cases end (reports are written from here, so an interrupted run keeps
/// everything that finished).
pub trait Sink: Send {
    fn case_started(&mut self, _case: &Case) {}
    fn case_finished(&mut self, case: &CaseResult, run: &RunResult);
}

/// Runs the cases; returns when all ended or `cancel` resolved (then `complete` is false).
pub async fn run(
    cases: Vec<Case>,
    ctx: Arc<RunContext>,
    info: RunInfo,
    sink: &mut dyn Sink,
    cancel: impl std::future::Future<Output = ()>,
) -> RunResult {
    let started = Instant::now();
    let mut result = RunResult::new(info, cases.iter().map(|c| c.id.clone()).collect());
    // Phase 0: the positive controls of refusals, so each refusal is judged next to its
    // control as it ends; phase 1: the other per-case cases; phase 2: `scope: run`.
    let control_ids: BTreeSet<String> = cases
        .iter()
        .flat_map(|c| c.expect.iter().filter_map(Expectation::control))
        .map(|c| c.case.clone())
        .collect();
    let (per_case, run_scoped): (Vec<Case>, Vec<Case>) =
        cases.into_iter().partition(|c| c.scope == CaseScope::Case);
    let (controls, others): (Vec<Case>, Vec<Case>) = per_case
        .into_iter()
        .partition(|c| control_ids.contains(&c.id));
    let refusal_cases: Vec<Case> = others
        .iter()
        .chain(run_scoped.iter())
        .filter(|c| c.expect.iter().any(Expectation::is_refusal))
        .cloned()
        .collect();
    let phases = [controls, others, run_scoped.clone()];
    let last_phase = phases.len() - 1;
    tokio::pin!(cancel);
    let mut cancelled = false;
    let mut run_messages: Vec<MessageRecord> = Vec::new();
    for (phase, cases) in phases.into_iter().enumerate() {
        if cancelled || cases.is_empty() {
            continue;
        }
        // Cases end in any order: sort so that run-scoped checks see (and report) the same
        // first message every time.
        run_messages.sort_by_key(|m| message_order(&m.reference));
        let shared = Arc::new(if phase == last_phase {
            std::mem::take(&mut run_messages)
        } else {
            Vec::new()
        });
        let jobs = if ctx.fixed_ports.is_some() || ctx.fixed_rest_ports.is_some() {
            1
        } else {
            ctx.jobs.max(1)
        };
        let semaphore = Arc::new(Semaphore::new(jobs));
        let mut set = JoinSet::new();
        for case in cases {
            let ctx = ctx.clone();
            let semaphore = semaphore.clone();
            let shared = (phase == last_phase).then(|| shared.clone());
            set.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                execute_guarded(case, ctx, shared).await
            });
        }
        loop {
            tokio::select! {
                joined = set.join_next() => {
                    let Some(joined) = joined else { break };
                    let mut case_result = match joined {
                        Ok(r) => r,
                        Err(e) => {
                            // A panicking case is a tool error; keep running the others.
                            eprintln!(
                                "kvc-check: a case task ended abnormally: {}",
                                crate::report::sanitize::terminal_text(&e.to_string())
                            );
                            continue;
                        }
                    };
                    if refusal_cases.iter().any(|c| c.id == case_result.id)
                        && expect::apply_controls(&mut case_result.checks, &result.cases)
                        && case_result.steps.iter().all(|s| {
                            !matches!(s.outcome, StepOutcome::Failed | StepOutcome::TimedOut)
                        })
                    {
                        let (verdict, reason) = decide(&case_result.checks);
                        case_result.verdict = verdict;
                        case_result.reason = reason;
                    }
                    if phase != last_phase {
                        run_messages.extend(case_result.messages.iter().cloned());
                    }
                    let finished = case_result.clone();
                    result.cases.push(case_result);
                    result.rollup(ctx.catalogue);
                    result.duration_ms = started.elapsed().as_millis() as u64;
                    sink.case_finished(&finished, &result);
                }
                _ = &mut cancel, if !cancelled => {
                    cancelled = true;
                    set.abort_all();
                }
            }
        }
    }
    if !cancelled {
        reevaluate_run_scoped(&mut result, &run_scoped, &ctx);
    }
    result.complete = !cancelled;
    result.rollup(ctx.catalogue);
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

/// `<case-id>#<n>` as (case id, n), for a stable message order.
fn message_order(reference: &str) -> (String, usize) {
    match reference.rsplit_once('#') {
        Some((case, n)) => (case.to_string(), n.parse().unwrap_or(usize::MAX)),
        None => (reference.to_string(), usize::MAX),
    }
}

/// Run-scoped cases ran concurrently, so each saw the phase-1 messages plus its own. Once all
/// have ended, their expectations are evaluated again over every message of the run (e.g.
/// KVC-Anb100: one spelling across ALL messages). Cases that ended in a step error keep it.
fn reevaluate_run_scoped(result: &mut RunResult, cases: &[Case], ctx: &RunContext) {
    let all: Vec<MessageRecord> = result
        .cases
        .iter()
        .flat_map(|c| c.messages.iter().cloned())
        .collect();
    let all_refs: Vec<&MessageRecord> = all.iter().collect();
    let finished = result.cases.clone();
    let transports = ctx.sut.transports();
    for case in cases {
        let transport = case_transport(case, &transports);
        let Some(r) = result.cases.iter_mut().find(|r| r.id == case.id) else {
            continue;
        };
        let step_failed = r
            .steps
            .iter()
            .any(|s| matches!(s.outcome, StepOutcome::Failed | StepOutcome::TimedOut));
        if r.checks.is_empty() || step_failed {
            continue;
        }
        let obs = Observations {
            smtp: r.sessions.smtp.clone(),
            pop3: r.sessions.pop3.clone(),
            rest: r.sessions.rest.clone(),
            rejected_connections: r.sessions.rejected_connections,
        };
        let scope = expect::Scope {
            case,
            own: &r.messages,
            run: &all_refs,
            obs: &obs,
            mailbox_len: r.mailbox_len,
            registry: &ctx.registry,
            answers: &ctx.answers,
            catalogue: ctx.catalogue,
            transport: &transport,
            stored: r.stored.as_ref(),
            steps: &r.steps,
        };
        let (mut checks, attest) = expect::evaluate(&scope);
        expect::apply_controls(&mut checks, &finished);
        let (verdict, reason) = decide(&checks);
        r.checks = checks;
        r.attest = attest;
        r.verdict = verdict;
        r.reason = reason;
    }
}

/// The transport a case exercises: its mock's, else the SUT's primary one.
fn case_transport(case: &Case, transports: &[String]) -> String {
    let primary = transports
        .first()
        .map(String::as_str)
        .unwrap_or("smtp-pop3");
    case.setup
        .mock
        .transport(primary)
        .unwrap_or(primary)
        .to_string()
}

/// Why a case does not apply to this SUT, if it does not.
fn not_applicable(case: &Case, transports: &[String]) -> Option<String> {
    let declared = &case.applicability.transport;
    match case
        .setup
        .mock
        .transport(transports.first().map(String::as_str).unwrap_or(""))
    {
        Some(t) if !transports.iter().any(|s| s == t) => Some(format!(
            "transport {t} not in this run (the SUT offers {})",
            transports.join(", ")
        )),
        Some(t) if !declared.is_empty() && !declared.iter().any(|d| d == t) => Some(format!(
            "the case applies to transport {} only",
            declared.join(", ")
        )),
        None if !declared.is_empty() && !declared.iter().any(|d| transports.contains(d)) => {
            Some(format!(
                "transport {} not in this run (the SUT offers {})",
                declared.join(", "),
                transports.join(", ")
            ))
        }
        _ => None,
    }
}

/// Runs one case with a hard upper bound on its duration (the case timeout plus a grace
/// period); a case that overruns it still yields an `error` result.
async fn execute_guarded(
    case: Case,
    ctx: Arc<RunContext>,
    run_messages: Option<Arc<Vec<MessageRecord>>>,
) -> CaseResult {
    let timeout = case_timeout(&case, &ctx);
    let skeleton = skeleton(&case);
    let start = Instant::now();
    match tokio::time::timeout(
        timeout + Duration::from_secs(5),
        execute(case, ctx, run_messages),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => {
            let mut r = skeleton;
            r.verdict = Verdict::Error;
            r.reason = Some(format!(
                "the case did not end within its timeout of {:.1} s (plus 5 s grace)",
                timeout.as_secs_f64()
            ));
            r.duration_ms = start.elapsed().as_millis() as u64;
            r
        }
    }
}

fn case_timeout(case: &Case, ctx: &RunContext) -> Duration {
    case.timeout
        .map(Duration::from_secs_f64)
        .unwrap_or(ctx.timeout)
}

fn skeleton(case: &Case) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        title: case.title.clone(),
        origin: case.origin.clone(),
        requirements: case.requirements.clone(),
        role: case.role.as_str().to_string(),
        profile: case.profile.clone(),
        verdict: Verdict::Error,
        reason: None,
        duration_ms: 0,
        steps: Vec::new(),
        checks: Vec::new(),
        messages: Vec::new(),
        sessions: SessionsRecord::default(),
        attest: Vec::new(),
        mailbox_len: 0,
        stored: None,
    }
}

/// A path segment safe for the report directory, from a case ID (`/` keeps nesting).
pub fn case_dir(id: &str) -> String {
    let mut out: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_./".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    while out.contains("..") {
        out = out.replace("..", "_");
    }
    out.trim_matches('/').to_string()
}

fn lint_options(profile: &str, registry: &KvcRegistry) -> LintOptions {
    LintOptions {
        profile: match profile {
            "kim-1.0" => ProfileChoice::Kim10,
            "kim-1.5" => ProfileChoice::Kim15,
            _ => ProfileChoice::Kvc,
        },
        registry: registry.clone(),
        max_size: lint::DEFAULT_MAX_SIZE,
        // KV-Connect messages between PVS and KV-Connect Client are plain MIME; S/MIME is the
        // Client's business.
        smime: None,
    }
}

/// Lints captured messages and turns them into records (`cases/<case>/message-N.eml`). A
/// message posted over REST is linted as `kvc-check lint --key <recipient key>` would: opened
/// with the key of a recipient account the mock holds, so decryption and signature results
/// join the header rules.
pub fn message_records(
    case: &Case,
    obs: &Observations,
    registry: &KvcRegistry,
    mocks: &dyn MockHost,
) -> Vec<MessageRecord> {
    let dir = case_dir(&case.id);
    let smtp_count: usize = obs.smtp.iter().map(|s| s.messages.len()).sum();
    obs.messages()
        .enumerate()
        .map(|(i, m)| {
            let file = format!("cases/{dir}/message-{}.eml", i + 1);
            let mut opts = lint_options(&case.profile, registry);
            let opening = if i >= smtp_count {
                mocks.open_posted(&m.data)
            } else {
                None
            };
            let (opened_with, decryptable_by) = match opening {
                Some(o) => {
                    opts.smime = Some(o.keys);
                    (Some(o.recipient), o.decryptable_by)
                }
                None => (None, Vec::new()),
            };
            let mut linted = lint::lint_bytes(&file, &m.data, &opts);
            if opts.smime.is_some() && linted.smime.is_none() && linted.error.is_some() {
                // The message does not open (e.g. not encrypted to the key): its header rules
                // still count, the S/MIME failure is kept as a diagnostic.
                opts.smime = None;
                let why = linted.error.take().unwrap_or_default();
                linted = lint::lint_bytes(&file, &m.data, &opts);
                linted.diagnostics.push(lint::Diagnostic {
                    line: 1,
                    message: format!("S/MIME: {why}"),
                });
            }
            MessageRecord {
                reference: format!("{}#{}", case.id, i + 1),
                lint: linted,
                file,
                size: m.data.len(),
                mail_from: m.mail_from.clone(),
                rcpt_to: m.rcpt_to.clone(),
                opened_with,
                decryptable_by,
                data: m.data.clone(),
            }
        })
        .collect()
}

fn decide(checks: &[Check]) -> (Verdict, Option<String>) {
    let verdict = Verdict::combine(checks.iter().map(|c| c.verdict)).unwrap_or(Verdict::Error);
    let reason = if verdict == Verdict::Pass {
        None
    } else {
        checks.iter().find(|c| c.verdict == verdict).map(|c| {
            let first = c.observed.lines().next().unwrap_or_default();
            format!("{}: {first}", c.expectation)
        })
    };
    (verdict, reason)
}

async fn execute(
    case: Case,
    ctx: Arc<RunContext>,
    run_messages: Option<Arc<Vec<MessageRecord>>>,
) -> CaseResult {
    let start = Instant::now();
    let mut result = skeleton(&case);
    let transports = ctx.sut.transports();
    let transport = case_transport(&case, &transports);
    let finish = |mut r: CaseResult| {
        r.duration_ms = start.elapsed().as_millis() as u64;
        r
    };

    if let Some(reason) = not_applicable(&case, &transports) {
        result.verdict = Verdict::Skip;
        result.reason = Some(reason);
        return finish(result);
    }

    let empty = Observations::default();
    if case.setup.mock == MockKind::None || case.steps.is_empty() {
        let scope = expect::Scope {
            case: &case,
            own: &[],
            run: &[],
            obs: &empty,
            mailbox_len: 0,
            registry: &ctx.registry,
            answers: &ctx.answers,
            catalogue: ctx.catalogue,
            transport: &transport,
            stored: None,
            steps: &[],
        };
        let (checks, attest) = expect::evaluate(&scope);
        let (verdict, reason) = decide(&checks);
        result.checks = checks;
        result.attest = attest;
        result.verdict = verdict;
        result.reason = reason;
        return finish(result);
    }

    // Skip expectations decide without running anything.
    if let Some(Expectation::Skip(reason)) = case
        .expect
        .iter()
        .find(|e| matches!(e, Expectation::Skip(_)))
    {
        result.verdict = Verdict::Skip;
        result.reason = Some(reason.clone());
        return finish(result);
    }

    let timeout = case_timeout(&case, &ctx);
    let deadline = start + timeout;
    let remaining = || deadline.saturating_duration_since(Instant::now());

    let mailbox_len = case.setup.mailbox.len();
    let started = if transport == "rest" {
        start_rest_mock(&case, &ctx, timeout).await
    } else {
        start_client_mock(&case, &ctx, timeout).await
    };
    let mock = match started {
        Ok(m) => m,
        Err(e) => {
            result.reason = Some(e);
            return finish(result);
        }
    };
    let endpoints = Endpoints {
        transport: transport.clone(),
        host: ctx.mocks.host(),
        smtp: mock.smtp_addr(),
        pop3: mock.pop3_addr(),
        rest: mock.rest(),
        ca_file: ctx.mocks.ca_file(),
        ca_pem: ctx.mocks.ca_pem(),
        user: ctx.mocks.user(),
        password: ctx.mocks.password(),
        from: ctx.mocks.from(),
    };

    let mut step_error: Option<String> = None;
    for (i, step) in case.steps.iter().enumerate() {
        let step_start = Instant::now();
        let index = i + 1;
        let (outcome, detail) = run_step(step, &*mock, &*ctx.sut, &endpoints, remaining()).await;
        let record = StepRecord {
            index,
            description: step.describe(),
            outcome,
            detail: detail.clone(),
            duration_ms: step_start.elapsed().as_millis() as u64,
        };
        result.steps.push(record);
        if matches!(outcome, StepOutcome::Failed | StepOutcome::TimedOut) {
            step_error = Some(format!("step {index} ({}): {detail}", step.describe()));
            break;
        }
    }

    // The SUT's own account of what it stored (KVC-Anb022), asked once the steps are done.
    let wants_store = case
        .expect
        .iter()
        .any(|e| matches!(e, Expectation::Stored(_)));
    if wants_store && step_error.is_none() {
        result.stored = Some(
            match tokio::time::timeout(remaining(), ctx.sut.stored(&endpoints)).await {
                Ok(Ok(Some(messages))) => StoredAnswer::Reported { messages },
                Ok(Ok(None)) => StoredAnswer::Unsupported,
                Ok(Err(error)) => StoredAnswer::Failed { error },
                Err(_) => StoredAnswer::Failed {
                    error: "the adapter did not answer within the case timeout".into(),
                },
            },
        );
    }

    // Let sessions the SUT is ending (QUIT in flight) finish, so transcripts are complete; a
    // stalled session does not hold the case up beyond this grace.
    let obs = mock.wait_for_idle(remaining().min(IDLE_GRACE)).await;
    mock.shutdown().await;
    let messages = message_records(&case, &obs, &ctx.registry, &*ctx.mocks);
    result.sessions = SessionsRecord {
        smtp: obs.smtp.clone(),
        pop3: obs.pop3.clone(),
        rest: obs.rest.clone(),
        rejected_connections: obs.rejected_connections,
    };
    result.mailbox_len = mailbox_len;
    let mut run_refs: Vec<&MessageRecord> = Vec::new();
    if let Some(shared) = &run_messages {
        run_refs.extend(shared.iter());
    }
    run_refs.extend(messages.iter());
    let scope = expect::Scope {
        case: &case,
        own: &messages,
        run: &run_refs,
        obs: &obs,
        mailbox_len,
        registry: &ctx.registry,
        answers: &ctx.answers,
        catalogue: ctx.catalogue,
        transport: &transport,
        stored: result.stored.as_ref(),
        steps: &result.steps,
    };
    let (mut checks, attest) = expect::evaluate(&scope);
    let (verdict, reason) = match &step_error {
        // The evidence gathered before the step ended still decides a clear failure.
        Some(e) => {
            let (v, r) = expect::cut_short(&mut checks, e);
            (v, Some(r))
        }
        None => decide(&checks),
    };
    result.checks = checks;
    result.attest = attest;
    result.verdict = verdict;
    result.reason = reason;
    result.messages = messages;
    finish(result)
}

async fn start_client_mock(
    case: &Case,
    ctx: &RunContext,
    timeout: Duration,
) -> Result<Box<dyn observe::RunningMock>, String> {
    let mut mailbox = Vec::new();
    for m in &case.setup.mailbox {
        mailbox.push(m.bytes(case).map_err(|e| format!("{}: {e}", case.origin))?);
    }
    let (smtp_port, pop3_port) = ctx.fixed_ports.unwrap_or((0, 0));
    let setup = KvcClientSetup {
        cert: case.setup.server_cert,
        mailbox,
        max_message_bytes: case
            .setup
            .max_message_bytes
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES),
        idle_timeout: ctx.idle_timeout.min(timeout),
        smtp_port,
        pop3_port,
    };
    ctx.mocks
        .start_kvc_client(setup)
        .await
        .map_err(|e| format!("starting the mock KV-Connect Client: {e}"))
}

async fn start_rest_mock(
    case: &Case,
    ctx: &RunContext,
    timeout: Duration,
) -> Result<Box<dyn observe::RunningMock>, String> {
    let mut mailbox = Vec::new();
    for m in &case.setup.mailbox {
        mailbox.push(match m {
            MailboxEntry::Served(v) => ServedMessage::Built(*v),
            other => ServedMessage::Raw(
                other
                    .bytes(case)
                    .map_err(|e| format!("{}: {e}", case.origin))?,
            ),
        });
    }
    let (port, ldap_port) = ctx.fixed_rest_ports.unwrap_or((0, 0));
    let setup = KvcRestSetup {
        cert: case.setup.server_cert,
        mailbox,
        max_body_bytes: case
            .setup
            .max_message_bytes
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES),
        idle_timeout: ctx.idle_timeout.min(timeout),
        send_status: case.setup.rest.send_status,
        delete_status: case.setup.rest.delete_status,
        response_delay: case.setup.rest.delay_ms.map(Duration::from_millis),
        port,
        ldap_port,
    };
    ctx.mocks
        .start_kvc_rest(setup)
        .await
        .map_err(|e| format!("starting the mock KV-Connect REST server: {e}"))
}

async fn run_step(
    step: &Step,
    mock: &dyn observe::RunningMock,
    sut: &dyn SutAdapter,
    endpoints: &Endpoints,
    remaining: Duration,
) -> (StepOutcome, String) {
    if remaining.is_zero() {
        return (
            StepOutcome::TimedOut,
            "the case timeout was reached before this step".into(),
        );
    }
    let secs = remaining.as_secs_f64();
    match step {
        Step::Send(s) => {
            let req = SendRequest {
                to: s.to.clone(),
                application: s.application.clone(),
                subject: s.subject.clone(),
                body: s.body.clone(),
            };
            trigger(sut.send(endpoints, &req), remaining, s.may_fail).await
        }
        Step::Fetch(f) => trigger(sut.fetch(endpoints), remaining, f.may_fail).await,
        Step::WaitMessages(w) => {
            let obs = mock.wait_for_messages(w.count, remaining).await;
            let n = obs.message_count();
            if n >= w.count {
                (StepOutcome::Ok, format!("{n} message(s) received"))
            } else {
                (
                    if w.may_time_out {
                        StepOutcome::FailedAllowed
                    } else {
                        StepOutcome::TimedOut
                    },
                    format!(
                        "{n} of {} message(s) within {secs:.1} s; {}",
                        w.count,
                        describe_sessions(&obs)
                    ),
                )
            }
        }
        Step::WaitPop3Quit(_) => {
            let obs = mock.wait_for_pop3_quit(remaining).await;
            if obs.pop3.iter().any(|s| s.end == observe::SessionEnd::Quit) {
                (StepOutcome::Ok, "POP3 session ended with QUIT".into())
            } else {
                (
                    StepOutcome::TimedOut,
                    format!(
                        "no POP3 QUIT within {secs:.1} s; {}",
                        describe_sessions(&obs)
                    ),
                )
            }
        }
        Step::WaitConnections(w) => {
            let until = Instant::now() + remaining;
            loop {
                let obs = mock.observations();
                let ended = match w.service {
                    crate::suite::Service::Smtp => ended_sessions(&obs.smtp),
                    crate::suite::Service::Pop3 => ended_sessions(&obs.pop3),
                    // HTTPS connections count once the TLS handshake has ended either way.
                    crate::suite::Service::Https => {
                        obs.rest.as_ref().map(|r| r.connections.len()).unwrap_or(0)
                    }
                };
                if ended >= w.count {
                    return (
                        StepOutcome::Ok,
                        format!("{ended} {} connection(s) ended", w.service.as_str()),
                    );
                }
                if Instant::now() >= until {
                    return (
                        StepOutcome::TimedOut,
                        format!(
                            "{ended} of {} {} connection(s) ended within {secs:.1} s; {}",
                            w.count,
                            w.service.as_str(),
                            describe_sessions(&obs)
                        ),
                    );
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn trigger(
    fut: observe::BoxFuture<'_, Result<String, String>>,
    remaining: Duration,
    may_fail: bool,
) -> (StepOutcome, String) {
    match tokio::time::timeout(remaining, fut).await {
        Ok(Ok(detail)) => (StepOutcome::Ok, detail),
        Ok(Err(e)) if may_fail => (StepOutcome::FailedAllowed, e),
        Ok(Err(e)) => (StepOutcome::Failed, format!("the SUT trigger failed: {e}")),
        Err(_) => (
            StepOutcome::TimedOut,
            format!(
                "the SUT trigger did not return within {:.1} s",
                remaining.as_secs_f64()
            ),
        ),
    }
}

fn ended_sessions(sessions: &[observe::Session]) -> usize {
    sessions
        .iter()
        .filter(|s| s.end != observe::SessionEnd::Open)
        .count()
}

fn describe_sessions(obs: &Observations) -> String {
    if let Some(rest) = &obs.rest {
        return expect::rest_summary(rest);
    }
    if obs.smtp.is_empty() && obs.pop3.is_empty() && obs.rejected_connections == 0 {
        return "the SUT never connected".into();
    }
    let mut parts: Vec<String> = obs.rejected_note().into_iter().collect();
    for (name, sessions) in [("SMTP", &obs.smtp), ("POP3", &obs.pop3)] {
        for s in sessions {
            parts.push(format!(
                "{name} session from {} ended: {}",
                s.peer,
                expect::end_text(&s.end)
            ));
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_dirs_are_safe() {
        assert_eq!(case_dir("kvc-pvs/lint-anb170"), "kvc-pvs/lint-anb170");
        assert_eq!(case_dir("../x y"), "_/x_y");
    }
}
