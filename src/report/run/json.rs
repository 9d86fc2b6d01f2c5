//! `report.json`: the full result model, as is.

use crate::runner::model::RunResult;

pub fn render(run: &RunResult) -> Result<String, String> {
    serde_json::to_string_pretty(run)
        .map(|s| s + "\n")
        .map_err(|e| format!("JSON output: {e}"))
}
