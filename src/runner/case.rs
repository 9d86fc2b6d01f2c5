//! One case, start to end: applicability, the mock it talks through, its steps against the SUT
//! adapter, then its expectations over what was observed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::expect;
use super::model::{
    CaseResult, MessageRecord, SessionsRecord, StepOutcome, StepRecord, StoredAnswer, Verdict,
};
use super::observe::{self, CaseWorld, Endpoints, Evidence, MockSet};
use super::records::message_records;
use super::verdict::{cut_short, decide};
use super::{DEFAULT_MAX_MESSAGE_BYTES, RunContext};
use crate::suite::{Case, Step};
use crate::sut::Transport;
use crate::sut::{SendRequest, SutAdapter};

/// How long a case waits, after its last step, for SUT sessions to end.
const IDLE_GRACE: Duration = Duration::from_millis(250);

/// The transport a case exercises: its mock's, else the SUT's primary one.
pub(super) fn case_transport(case: &Case, transports: &[Transport]) -> Transport {
    let primary = transports.first().copied().unwrap_or(Transport::SmtpPop3);
    case.setup.mock.transport(primary).unwrap_or(primary)
}

/// Why a case does not apply to this SUT, if it does not.
fn not_applicable(case: &Case, transports: &[Transport]) -> Option<String> {
    let declared = &case.applicability.transport;
    let primary = transports.first().copied()?;
    match case.setup.mock.transport(primary) {
        Some(t) if !transports.contains(&t) => Some(format!(
            "transport {t} not in this run (the SUT offers {})",
            Transport::list(transports)
        )),
        Some(t) if !declared.is_empty() && !declared.contains(&t) => Some(format!(
            "the case applies to transport {} only",
            Transport::list(declared)
        )),
        None if !declared.is_empty() && !declared.iter().any(|d| transports.contains(d)) => {
            Some(format!(
                "transport {} not in this run (the SUT offers {})",
                Transport::list(declared),
                Transport::list(transports)
            ))
        }
        _ => None,
    }
}
/// Runs one case with a hard upper bound on its duration (the case timeout plus a grace
/// period); a case that overruns it still yields an `error` result.
pub(super) async fn execute_guarded(
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
        profile: case.profile,
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

    let empty = Evidence::default();
    if case.steps.is_empty() {
        let scope = expect::Scope {
            case: &case,
            own: &[],
            run: &[],
            obs: &empty,
            mailbox_len: 0,
            registry: &ctx.registry,
            answers: &ctx.answers,
            catalogue: ctx.catalogue,
            transport,
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
    if let Some(reason) = case.expect.iter().find_map(|e| e.skip_reason()) {
        result.verdict = Verdict::Skip;
        result.reason = Some(reason.to_string());
        return finish(result);
    }

    let timeout = case_timeout(&case, &ctx);
    let deadline = start + timeout;
    let remaining = || deadline.saturating_duration_since(Instant::now());

    let mailbox_len = case.setup.mailbox.len();
    let world = CaseWorld {
        transport,
        idle_timeout: ctx.idle_timeout.min(timeout),
        default_max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        fixed_ports: ctx.fixed_ports.clone(),
    };
    let started = match ctx.mocks.start_case(&case, world).await {
        Ok(m) => m,
        Err(e) => {
            result.reason = Some(e);
            return finish(result);
        }
    };
    let mock = started.mocks;
    let prober = started.prober;
    let endpoints = Endpoints {
        transport,
        host: ctx.mocks.host(),
        services: mock
            .endpoints()
            .into_iter()
            .map(|(name, addr)| (name.to_string(), addr))
            .collect(),
        rest: started.rest,
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
        let (outcome, detail) = match step {
            Step::Probe(name) => run_probe(prober.as_deref(), name, remaining()).await,
            _ => run_step(step, &mock, &*ctx.sut, &endpoints, remaining()).await,
        };
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
    let wants_store = case.expect.iter().any(|e| e.needs_store_report());
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
    let obs = mock
        .wait_until(remaining().min(IDLE_GRACE), mail_sessions_ended)
        .await;
    mock.shutdown().await;
    let messages = message_records(&case, &obs, &ctx.registry, &*ctx.mocks);
    result.sessions = obs.clone();
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
        transport,
        stored: result.stored.as_ref(),
        steps: &result.steps,
    };
    let (mut checks, attest) = expect::evaluate(&scope);
    let (verdict, reason) = match &step_error {
        // The evidence gathered before the step ended still decides a clear failure.
        Some(e) => {
            let (v, r) = cut_short(&mut checks, e);
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

/// No SMTP or POP3 session is open any more (HTTP requests end with their response; a
/// directory connection may stay open between searches).
fn mail_sessions_ended(e: &Evidence) -> bool {
    e.smtp.iter().all(|s| s.end != observe::SessionEnd::Open)
        && e.pop3.iter().all(|s| s.end != observe::SessionEnd::Open)
}

async fn run_step(
    step: &Step,
    mock: &MockSet,
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
            let obs = mock
                .wait_until(remaining, |e| e.message_count() >= w.count)
                .await;
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
            let quit = |e: &Evidence| e.pop3.iter().any(|s| s.end == observe::SessionEnd::Quit);
            let obs = mock.wait_until(remaining, quit).await;
            if quit(&obs) {
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
        Step::Probe(name) => (
            StepOutcome::Failed,
            format!("probe {name} reached the trigger path"),
        ),
        Step::WaitConnections(w) => {
            let until = Instant::now() + remaining;
            loop {
                let obs = mock.evidence();
                let ended = match w.service {
                    crate::suite::Service::Smtp => ended_sessions(&obs.smtp),
                    crate::suite::Service::Pop3 => ended_sessions(&obs.pop3),
                    // HTTPS connections count once the TLS handshake has ended either way.
                    crate::suite::Service::Https => {
                        obs.http.as_ref().map(|h| h.connections.len()).unwrap_or(0)
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

/// A `probe` step: the role's prober acts as a client of the SUT within the case timeout.
async fn run_probe(
    prober: Option<&dyn observe::CaseProber>,
    name: &str,
    remaining: Duration,
) -> (StepOutcome, String) {
    let Some(prober) = prober else {
        return (
            StepOutcome::Failed,
            format!("probe {name}: this role's world offers no probes"),
        );
    };
    match tokio::time::timeout(remaining, prober.probe(name)).await {
        Ok(Ok(detail)) => (StepOutcome::Ok, detail),
        Ok(Err(e)) => (StepOutcome::Failed, format!("probe {name}: {e}")),
        Err(_) => (
            StepOutcome::TimedOut,
            format!(
                "probe {name} did not end within {:.1} s (the SUT stalled?)",
                remaining.as_secs_f64()
            ),
        ),
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

fn ended_sessions<S: observe::MailSessionRecord>(sessions: &[S]) -> usize {
    sessions
        .iter()
        .filter(|s| *s.end() != observe::SessionEnd::Open)
        .count()
}

fn describe_sessions(obs: &Evidence) -> String {
    if obs.http.is_some() {
        return expect::rest_summary(obs);
    }
    if obs.smtp.is_empty() && obs.pop3.is_empty() && obs.rejected_connections == 0 {
        return "the SUT never connected".into();
    }
    let mut parts: Vec<String> = obs.rejected_note().into_iter().collect();
    let ended = |name: &str, s: &dyn observe::MailSessionRecord| {
        format!(
            "{name} session from {} ended: {}",
            s.peer(),
            expect::end_text(s.end())
        )
    };
    parts.extend(obs.smtp.iter().map(|s| ended("SMTP", s)));
    parts.extend(obs.pop3.iter().map(|s| ended("POP3", s)));
    parts.join("; ")
}
