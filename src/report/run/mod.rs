//! Reports of `kvc-check run`, all views of one [`RunResult`]: `report.json` (the model),
//! `junit.xml`, `report.html` and the console summary. [`ReportWriter`] writes them into the
//! output directory as each case ends (atomically: temp file + rename), together with the
//! captured messages (`cases/<case-id>/message-N.eml`), so an interrupted run keeps everything
//! that finished, marked incomplete.

pub mod console;
pub mod html;
pub mod json;
pub mod junit;

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use crate::runner::Sink;
use crate::runner::model::{CaseResult, RunResult};
use crate::suite::Case;

/// Writes `bytes` to `path` atomically (a reader never sees a half-written file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

pub struct ReportWriter {
    pub dir: PathBuf,
    pub progress: Option<ProgressBar>,
    /// First write error (reported at the end; the run goes on).
    pub error: Option<String>,
}

impl ReportWriter {
    pub fn new(dir: PathBuf, progress: Option<ProgressBar>) -> Result<Self, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
        Ok(ReportWriter {
            dir,
            progress,
            error: None,
        })
    }

    fn note(&mut self, r: Result<(), String>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    fn write_case_messages(&mut self, case: &CaseResult) {
        for m in &case.messages {
            let r = write_atomic(&self.dir.join(&m.file), &m.data);
            self.note(r);
        }
    }

    fn write_model(&mut self, run: &RunResult) {
        let r = json::render(run)
            .and_then(|s| write_atomic(&self.dir.join("report.json"), s.as_bytes()));
        self.note(r);
        let r = junit::render(run)
            .and_then(|s| write_atomic(&self.dir.join("junit.xml"), s.as_bytes()));
        self.note(r);
    }

    /// Writes every report for the final (or interrupted) result.
    pub fn finish(&mut self, run: &RunResult) -> Result<(), String> {
        if let Some(p) = &self.progress {
            p.finish_and_clear();
        }
        self.write_model(run);
        let r = html::render(run)
            .and_then(|s| write_atomic(&self.dir.join("report.html"), s.as_bytes()));
        self.note(r);
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Sink for ReportWriter {
    fn case_started(&mut self, case: &Case) {
        if let Some(p) = &self.progress {
            p.set_message(case.id.clone());
        }
    }

    fn case_finished(&mut self, case: &CaseResult, run: &RunResult) {
        self.write_case_messages(case);
        self.write_model(run);
        if let Some(p) = &self.progress {
            p.inc(1);
            p.set_message(format!("{} {}", case.id, case.verdict.as_str()));
        }
    }
}
