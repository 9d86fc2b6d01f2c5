//! The result model of `kvc-check run`. Every run report (console, JSON, JUnit, HTML) is a view
//! of a [`RunResult`]; no report computes a verdict of its own.

use serde::{Deserialize, Serialize};

use crate::catalogue::{Catalogue, ScopeFilter};
use crate::lint::FileResult;

/// Verdict of a check, a case or a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    // Order = precedence when combining (highest wins), see `combine`.
    Pass,
    Skip,
    Attest,
    Error,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Skip => "skip",
            Verdict::Attest => "attest",
        }
    }

    /// Combines verdicts of parts: fail beats error beats attest beats pass; `skip` only when
    /// every part is skipped (a skipped part next to decided ones does not hide them).
    pub fn combine(verdicts: impl IntoIterator<Item = Verdict>) -> Option<Verdict> {
        let mut any = None;
        let mut decided = None::<Verdict>;
        for v in verdicts {
            any = Some(v);
            if v != Verdict::Skip {
                decided = Some(decided.map_or(v, |d| d.max(v)));
            }
        }
        decided.or(any)
    }
}

/// One expectation evaluated on observations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// The expectation as written in the case, e.g. `lint KVC-Anb170`.
    pub expectation: String,
    /// Requirement the check decides, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirement: Option<String>,
    pub verdict: Verdict,
    pub expected: String,
    pub observed: String,
    /// Refusals: the positive control this check was judged next to, and how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// Refusals: the control still to consult once the control case has run.
    #[serde(skip)]
    pub needs_control: Option<crate::suite::Control>,
    /// Whether a `fail` stands when the case ended early (see
    /// [`crate::roles::expect::Expect::fails_on_evidence_alone`]).
    #[serde(skip)]
    pub fails_on_evidence_alone: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Ok,
    /// The trigger failed but the step allows it (`may_fail`).
    FailedAllowed,
    Failed,
    TimedOut,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub index: usize,
    pub description: String,
    pub outcome: StepOutcome,
    pub detail: String,
    pub duration_ms: u64,
}

/// A message the SUT sent during a case, with the lint result of every rule (the same rules as
/// `kvc-check lint`). `file` is relative to the report directory.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRecord {
    /// `<case-id>#<n>`
    pub reference: String,
    pub file: String,
    pub size: usize,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub lint: FileResult,
    /// REST: the recipient account whose key the suite opened the posted message with (the
    /// lint then includes the decryption and signature results, `lint.smime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_with: Option<String>,
    /// REST: the mock's accounts whose keys open the message (its real recipients).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decryptable_by: Vec<String>,
    #[serde(skip)]
    pub data: Vec<u8>,
    /// Delivered by the SUT to the suite as the client system (kim-cm: POP3), not captured.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub delivered: bool,
    /// The client mail inside, when the message was opened with a recipient's key.
    #[serde(skip)]
    pub inner: Option<Vec<u8>>,
}

/// A human answer to an attest question (`--answers`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttestRecord {
    pub requirement: String,
    pub question: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub title: String,
    pub origin: String,
    pub requirements: Vec<String>,
    pub role: String,
    pub profile: crate::rules::Profile,
    pub verdict: Verdict,
    /// One line saying why the case did not pass (the first decisive check or step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
    pub steps: Vec<StepRecord>,
    pub checks: Vec<Check>,
    pub messages: Vec<MessageRecord>,
    pub sessions: SessionsRecord,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attest: Vec<AttestRecord>,
    /// Size of the mailbox the mock served (to re-evaluate run-scoped expectations).
    #[serde(skip)]
    pub mailbox_len: usize,
    /// The SUT adapter's answer about its local store (cases with a `stored` expectation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredAnswer>,
}

/// What the SUT adapter said about the SUT's local store.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum StoredAnswer {
    Reported {
        messages: Vec<crate::sut::StoredReport>,
    },
    /// The adapter cannot query the SUT.
    Unsupported,
    Failed {
        error: String,
    },
}

/// What the mocks recorded during a case, as the report keeps it: the observations themselves.
pub type SessionsRecord = crate::runner::observe::Evidence;

/// Per-requirement rollup: passes only when every case covering it passes (skipped cases
/// aside); attest while a question is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementResult {
    pub id: String,
    pub versioned_id: String,
    pub level: String,
    pub decided_by: Vec<String>,
    pub summary: String,
    pub verdict: Verdict,
    pub cases: Vec<CaseRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRef {
    pub id: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub skip: usize,
    pub attest: usize,
}

impl Counts {
    pub fn of(verdicts: impl IntoIterator<Item = Verdict>) -> Counts {
        let mut c = Counts::default();
        for v in verdicts {
            match v {
                Verdict::Pass => c.pass += 1,
                Verdict::Fail => c.fail += 1,
                Verdict::Error => c.error += 1,
                Verdict::Skip => c.skip += 1,
                Verdict::Attest => c.attest += 1,
            }
        }
        c
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub tool: String,
    pub version: String,
    pub started: String,
    pub role: String,
    pub sut: String,
    pub transport: String,
    pub faults: Vec<String>,
    pub jobs: usize,
    pub timeout_s: f64,
    /// Case/requirement filters given on the command line.
    pub selection: Vec<String>,
    /// Requirements the rollup shows (`--scope`; absent = all).
    #[serde(default, skip_serializing_if = "ScopeFilter::is_all")]
    pub scope: ScopeFilter,
    /// Where the cases came from: `embedded` or the `--suites` folder as given.
    #[serde(default)]
    pub suites: String,
    /// The report folder as seen from the folder the run was started in (relative when it
    /// lies below it), so the paths the reports print work from there.
    #[serde(default)]
    pub out: String,
    /// The command that runs a case of this run again (without `--case`): role, SUT
    /// configuration, suites, registries and faults as given, shell-quoted.
    #[serde(default)]
    pub rerun: String,
    /// `--shard i/n`: this run holds one part of the selected cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// `report merge`: the report folders this run was merged from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// `--strict`: open attest questions fail the run (junit.xml shows them as failures).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

/// Version of the `report.json` layout: 2 added `report_format` itself and, in `run`,
/// `suites`, `out`, `rerun`, `shard`, `merged_from` and `strict` (a report without the field
/// is 1).
pub const REPORT_FORMAT: u32 = 2;

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// [`REPORT_FORMAT`].
    pub report_format: u32,
    pub run: RunInfo,
    /// False while the run is under way and when it was interrupted: only finished cases are in.
    pub complete: bool,
    /// Cases selected for the run (finished or not).
    pub planned_cases: usize,
    /// IDs of the planned cases that have not ended (yet, or ever: an interrupted run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
    #[serde(skip)]
    pub planned: Vec<String>,
    pub duration_ms: u64,
    pub requirements: Vec<RequirementResult>,
    pub cases: Vec<CaseResult>,
    pub case_counts: Counts,
    pub requirement_counts: Counts,
}

impl RunResult {
    pub fn new(run: RunInfo, planned: Vec<String>) -> Self {
        RunResult {
            report_format: REPORT_FORMAT,
            run,
            complete: false,
            planned_cases: planned.len(),
            not_run: planned.clone(),
            planned,
            duration_ms: 0,
            requirements: Vec::new(),
            cases: Vec::new(),
            case_counts: Counts::default(),
            requirement_counts: Counts::default(),
        }
    }

    /// Recomputes the per-requirement rollup and counts from the cases (in catalogue order).
    pub fn rollup(&mut self, catalogue: &Catalogue) {
        self.cases.sort_by(|a, b| a.id.cmp(&b.id));
        self.not_run = self
            .planned
            .iter()
            .filter(|id| !self.cases.iter().any(|c| &c.id == *id))
            .cloned()
            .collect();
        let cases: Vec<(&str, &[String], Verdict)> = self
            .cases
            .iter()
            .map(|c| (c.id.as_str(), c.requirements.as_slice(), c.verdict))
            .collect();
        let reqs = rollup_requirements(catalogue, self.run.scope, &cases);
        self.case_counts = Counts::of(self.cases.iter().map(|c| c.verdict));
        self.requirement_counts = Counts::of(reqs.iter().map(|r| r.verdict));
        self.requirements = reqs;
    }

    /// 0 = every decided requirement passes, 1 = a requirement fails, 2 = a case could not be
    /// decided (error) or the run was interrupted; with `strict`, an open attest item is 1.
    pub fn exit_code(&self, strict: bool) -> u8 {
        exit_code(&self.requirements, self.complete, strict)
    }
}

/// The exit code of a run from its requirement rollup (see [`RunResult::exit_code`]).
pub fn exit_code(requirements: &[RequirementResult], complete: bool, strict: bool) -> u8 {
    let any = |v: Verdict| requirements.iter().any(|r| r.verdict == v);
    if any(Verdict::Fail) {
        1
    } else if !complete || any(Verdict::Error) {
        2
    } else if strict && any(Verdict::Attest) {
        1
    } else {
        0
    }
}

/// The per-requirement rollup of cases given as (case ID, its requirements, its verdict), in
/// catalogue order, limited to `scope`. One function for a run and for merged reports.
pub fn rollup_requirements(
    catalogue: &Catalogue,
    scope: ScopeFilter,
    cases: &[(&str, &[String], Verdict)],
) -> Vec<RequirementResult> {
    let mut reqs = Vec::new();
    for req in catalogue.all().iter().filter(|r| scope.admits(r.scope)) {
        let cases: Vec<CaseRef> = cases
            .iter()
            .filter(|(_, requirements, _)| requirements.contains(&req.id))
            .map(|(id, _, verdict)| CaseRef {
                id: id.to_string(),
                verdict: *verdict,
            })
            .collect();
        let Some(verdict) = Verdict::combine(cases.iter().map(|c| c.verdict)) else {
            continue;
        };
        reqs.push(RequirementResult {
            id: req.id.clone(),
            versioned_id: req.versioned_id(),
            level: req.level.as_str().to_string(),
            decided_by: req
                .decided_by
                .iter()
                .map(|d| format!("{d:?}").to_lowercase())
                .collect(),
            summary: req.summary.clone(),
            verdict,
            cases,
        });
    }
    reqs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_precedence() {
        use Verdict::*;
        assert_eq!(Verdict::combine([Pass, Pass]), Some(Pass));
        assert_eq!(Verdict::combine([Pass, Skip]), Some(Pass));
        assert_eq!(Verdict::combine([Skip, Skip]), Some(Skip));
        assert_eq!(Verdict::combine([Pass, Attest]), Some(Attest));
        assert_eq!(Verdict::combine([Attest, Error]), Some(Error));
        assert_eq!(Verdict::combine([Error, Fail, Pass]), Some(Fail));
        assert_eq!(Verdict::combine([]), None);
    }

    fn case(id: &str, requirement: &str, verdict: Verdict) -> CaseResult {
        CaseResult {
            id: id.into(),
            title: "t".into(),
            origin: "x.yaml:1".into(),
            requirements: vec![requirement.into()],
            role: "kim-cm".into(),
            profile: crate::rules::Profile::Kim15,
            verdict,
            reason: None,
            duration_ms: 1,
            steps: vec![],
            checks: vec![],
            messages: vec![],
            sessions: SessionsRecord::default(),
            attest: vec![],
            mailbox_len: 0,
            stored: None,
        }
    }

    /// `--scope` limits the rollup, its counts and the exit code; the cases stay in the report.
    #[test]
    fn rollup_shows_the_chosen_scope() {
        let catalogue = Catalogue::embedded().expect("catalogue");
        let rolled = |scope: ScopeFilter| {
            let info = RunInfo {
                tool: "kvc-check".into(),
                version: "t".into(),
                started: "t".into(),
                role: "kim-cm".into(),
                sut: "s".into(),
                transport: "t".into(),
                faults: vec![],
                jobs: 1,
                timeout_s: 1.0,
                selection: vec![],
                scope,
                suites: "embedded".into(),
                out: String::new(),
                rerun: String::new(),
                shard: None,
                merged_from: vec![],
                strict: false,
            };
            let mut run = RunResult::new(info, vec!["a".into(), "b".into()]);
            run.complete = true;
            // A_19370 is in the seed scope, KOM-LE-A_2009 only in the spec scope.
            run.cases.push(case("a", "A_19370", Verdict::Pass));
            run.cases.push(case("b", "KOM-LE-A_2009", Verdict::Fail));
            run.rollup(catalogue);
            let ids: Vec<String> = run.requirements.iter().map(|r| r.id.clone()).collect();
            (ids, run.exit_code(false), run.cases.len())
        };
        assert_eq!(
            rolled(ScopeFilter::All),
            (vec!["A_19370".into(), "KOM-LE-A_2009".into()], 1, 2)
        );
        assert_eq!(rolled(ScopeFilter::Seed), (vec!["A_19370".into()], 0, 2));
        assert_eq!(
            rolled(ScopeFilter::Spec),
            (vec!["KOM-LE-A_2009".into()], 1, 2)
        );
    }
}
