//! Views of lint results. Every format renders the same `FileResult`s; none computes a verdict
//! of its own.

pub mod junit;
pub mod run;
pub mod sanitize;
pub mod sarif;
pub mod text;

use crate::lint::FileResult;

/// Output format of `kvc-check lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
    Sarif,
    Junit,
}

/// Renders lint results; `color` only affects the text format.
pub fn render_lint(results: &[FileResult], format: LintFormat) -> Result<String, String> {
    match format {
        LintFormat::Text => Ok(text::render(results)),
        LintFormat::Json => serde_json::to_string_pretty(results)
            .map(|s| s + "\n")
            .map_err(|e| format!("JSON output: {e}")),
        LintFormat::Sarif => sarif::render(results),
        LintFormat::Junit => junit::render(results),
    }
}
