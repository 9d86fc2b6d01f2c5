//! Reports of `kvc-check run`, all views of one [`RunResult`]: `report.json` (the model),
//! `junit.xml`, `report.html` and the console summary. [`ReportWriter`] writes them into the
//! output directory as each case ends (atomically: temp file + rename), together with the
//! captured messages (`cases/<case-id>/message-N.eml`), so an interrupted run keeps everything
//! that finished, marked incomplete.

pub mod console;
pub mod doc;
pub mod html;
pub mod json;
pub mod junit;
pub mod merge;

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use crate::runner::Sink;
use crate::runner::model::{CaseResult, RunResult};
use crate::suite::Case;
use doc::{Bodies, RunDoc};

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

/// A report document as report.json text.
pub fn json_doc(doc: &RunDoc) -> Result<String, String> {
    serde_json::to_string_pretty(doc)
        .map(|s| s + "\n")
        .map_err(|e| format!("JSON output: {e}"))
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

    /// report.json and junit.xml; the junit.xml is rendered from what report.json holds.
    fn write_model(&mut self, run: &RunResult) -> Option<RunDoc> {
        let r = json::render(run)
            .and_then(|s| write_atomic(&self.dir.join("report.json"), s.as_bytes()));
        self.note(r);
        let doc = match RunDoc::of(run) {
            Ok(doc) => doc,
            Err(e) => {
                self.note(Err(e));
                return None;
            }
        };
        let r = junit::render(&doc)
            .and_then(|s| write_atomic(&self.dir.join("junit.xml"), s.as_bytes()));
        self.note(r);
        Some(doc)
    }

    /// Writes every report for the final (or interrupted) result; returns the document the
    /// reports show (for the console summary).
    pub fn finish(&mut self, run: &RunResult) -> Result<RunDoc, String> {
        if let Some(p) = &self.progress {
            p.finish_and_clear();
        }
        let doc = self.write_model(run);
        if let Some(doc) = &doc {
            let r = html::render(doc, &doc::bodies_of(run))
                .and_then(|s| write_atomic(&self.dir.join("report.html"), s.as_bytes()));
            self.note(r);
        }
        match (self.error.take(), doc) {
            (Some(e), _) => Err(e),
            (None, Some(doc)) => Ok(doc),
            (None, None) => Err("report model: not written".into()),
        }
    }

    /// Writes junit.xml, report.json and report.html of a document read back (`report
    /// merge`); the messages are already in place.
    pub fn write_doc(dir: &Path, doc: &RunDoc, bodies: &Bodies) -> Result<(), String> {
        let json = json_doc(doc)?;
        write_atomic(&dir.join("report.json"), json.as_bytes())?;
        write_atomic(&dir.join("junit.xml"), junit::render(doc)?.as_bytes())?;
        write_atomic(
            &dir.join("report.html"),
            html::render(doc, bodies)?.as_bytes(),
        )
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
