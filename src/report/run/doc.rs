//! `report.json` as the reports read it: [`RunDoc`]. Every view of a run (junit.xml,
//! report.html, the console summary) renders a `RunDoc`, never the live [`RunResult`]; a run
//! makes its `RunDoc` from the JSON it writes ([`RunDoc::of`]), and `kvc-check report merge`
//! reads it back from `report.json` files. So report.json holds all that the other reports
//! show (the captured messages aside: they are the `cases/…/message-N.eml` files next to it),
//! and a merged report renders exactly like a run's.
//!
//! The parts only the HTML walks (the mocks' evidence, a message's lint result, the SUT's
//! store report) stay JSON values: their types live in `kvc-mocks` and `kvc-smime` and are
//! written, not read.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalogue::Catalogue;
use crate::rules::{Location, Severity};
use crate::runner::model::{
    AttestRecord, Check, Counts, REPORT_FORMAT, RequirementResult, RunInfo, RunResult, StepRecord,
    Verdict, rollup_requirements,
};

/// Largest `report.json` read back (a run's evidence is bounded; this is far above it).
pub const REPORT_LIMIT: u64 = 512 * 1024 * 1024;

/// A run's `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunDoc {
    /// 1 when the file has no such field (reports written before it existed).
    #[serde(default = "format_1")]
    pub report_format: u32,
    pub run: RunInfo,
    pub complete: bool,
    pub planned_cases: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
    pub duration_ms: u64,
    pub requirements: Vec<RequirementResult>,
    pub cases: Vec<CaseDoc>,
    pub case_counts: Counts,
    pub requirement_counts: Counts,
}

fn format_1() -> u32 {
    1
}

/// One case of `report.json` (see [`crate::runner::model::CaseResult`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseDoc {
    pub id: String,
    pub title: String,
    pub origin: String,
    pub requirements: Vec<String>,
    pub role: String,
    pub profile: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
    pub steps: Vec<StepRecord>,
    pub checks: Vec<Check>,
    pub messages: Vec<MessageDoc>,
    /// What the mocks recorded, as written.
    pub sessions: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attest: Vec<AttestRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<Value>,
}

/// One captured message of `report.json` (see [`crate::runner::model::MessageRecord`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageDoc {
    pub reference: String,
    /// Relative to the report folder.
    pub file: String,
    pub size: usize,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The lint result (`kvc-check lint --format json` of the message), as written.
    pub lint: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_with: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decryptable_by: Vec<String>,
    /// The folder (relative to the report folder) holding the keys that open the message
    /// (`<addressee>.key.pem`, `user-ca.pem`); absent = `user-pki`. A merged report keeps
    /// each shard's keys apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pki: Option<String>,
}

/// A lint finding of a captured message, read back.
#[derive(Debug, Clone, Deserialize)]
pub struct FindingDoc {
    pub rule: String,
    pub requirement: String,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
}

impl MessageDoc {
    /// The message's lint findings (errors first, then warnings; each in report order).
    pub fn findings(&self) -> Vec<FindingDoc> {
        let mut out: Vec<FindingDoc> = self
            .lint
            .get("findings")
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .filter_map(|f| serde_json::from_value(f.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|f| std::cmp::Reverse(f.severity));
        out
    }

    /// The lint verdict of the message (`pass`, `fail`, `error`).
    pub fn lint_verdict(&self) -> &str {
        self.lint
            .get("verdict")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

impl RunDoc {
    /// The document a run's `report.json` holds, read back from the JSON it serialises to.
    pub fn of(run: &RunResult) -> Result<RunDoc, String> {
        let value = serde_json::to_value(run).map_err(|e| format!("report model: {e}"))?;
        serde_json::from_value(value).map_err(|e| format!("report model: {e}"))
    }

    /// Reads a `report.json`.
    pub fn read(path: &Path) -> Result<RunDoc, String> {
        let bytes = crate::input::read_capped_bytes(path, REPORT_LIMIT, "reports")?;
        let doc: RunDoc = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not a kvc-check report.json: {e}", path.display()))?;
        if doc.report_format > REPORT_FORMAT {
            return Err(format!(
                "{}: report format {} is newer than this kvc-check reads ({REPORT_FORMAT}); use a newer kvc-check",
                path.display(),
                doc.report_format
            ));
        }
        Ok(doc)
    }

    /// Recomputes the requirement rollup, the counts and `not_run` from the cases (as
    /// [`RunResult::rollup`] does for a run); `planned` are the IDs of every planned case.
    pub fn rollup(&mut self, catalogue: &Catalogue, planned: &[String]) {
        self.cases.sort_by(|a, b| a.id.cmp(&b.id));
        let cases: Vec<(&str, &[String], Verdict)> = self
            .cases
            .iter()
            .map(|c| (c.id.as_str(), c.requirements.as_slice(), c.verdict))
            .collect();
        self.requirements = rollup_requirements(catalogue, self.run.scope, &cases);
        self.case_counts = Counts::of(self.cases.iter().map(|c| c.verdict));
        self.requirement_counts = Counts::of(self.requirements.iter().map(|r| r.verdict));
        self.planned_cases = planned.len();
        self.not_run = planned
            .iter()
            .filter(|id| !self.cases.iter().any(|c| &c.id == *id))
            .cloned()
            .collect();
    }

    /// See [`RunResult::exit_code`].
    pub fn exit_code(&self, strict: bool) -> u8 {
        crate::runner::model::exit_code(&self.requirements, self.complete, strict)
    }
}

/// The bytes of the captured messages by reference (`<case-id>#<n>`), for report.html.
pub type Bodies = BTreeMap<String, Vec<u8>>;

/// The captured messages of a live run.
pub fn bodies_of(run: &RunResult) -> Bodies {
    run.cases
        .iter()
        .flat_map(|c| c.messages.iter())
        .map(|m| (m.reference.clone(), m.data.clone()))
        .collect()
}
