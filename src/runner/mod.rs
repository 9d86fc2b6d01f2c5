//! The runner: schedules cases in parallel (tokio) with per-case timeouts, drives the SUT through
//! its adapter, lints every captured message with the same rules as `kvc-check lint`, evaluates
//! the case expectations and rolls verdicts up per requirement.
//!
//! Cases with `scope: case` run first; `scope: run` cases run after them, so their expectations
//! (e.g. KVC-Anb100 consistency) see every message of the run. One case's execution is in
//! `case.rs`, its verdict logic in `verdict.rs`.

pub mod answers;
mod case;
pub mod expect;
pub mod model;
pub mod observe;
mod records;
pub mod verdict;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::catalogue::Catalogue;
use crate::rules::KvcRegistry;
use crate::suite::{Case, Scope as CaseScope};
use crate::sut::SutAdapter;
use answers::Answers;
use case::{case_transport, execute_guarded};
use model::{CaseResult, MessageRecord, RunInfo, RunResult, StepOutcome};
use observe::MockHost;
pub use records::{case_dir, message_records};
use verdict::decide;

/// Default largest message the mock accepts (16 MiB; KV-Connect has no smaller limit).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

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
    /// Ports by service name the SUT is configured with (`smtp`, `pop3`, `rest`,
    /// `directory`); with any, cases run one at a time.
    pub fixed_ports: std::collections::BTreeMap<String, u16>,
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
        .flat_map(|c| c.expect.iter().filter_map(|e| e.control()))
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
        .filter(|c| c.expect.iter().any(|e| e.is_refusal()))
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
        let jobs = if !ctx.fixed_ports.is_empty() {
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
        let obs = r.sessions.clone();
        let scope = expect::Scope {
            case,
            own: &r.messages,
            run: &all_refs,
            obs: &obs,
            mailbox_len: r.mailbox_len,
            registry: &ctx.registry,
            answers: &ctx.answers,
            catalogue: ctx.catalogue,
            transport,
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
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_dirs_are_safe() {
        assert_eq!(case_dir("kvc-pvs/lint-anb170"), "kvc-pvs/lint-anb170");
        assert_eq!(case_dir("../x y"), "_/x_y");
    }
}
