//! `report.html`: one self-contained file (no external assets). A minijinja template with
//! HTML auto-escaping: requirement matrix with verdict/text filters, per-case checks (expected
//! vs. observed), steps, SMTP/POP3 transcripts and the captured messages as `data:` URIs.

use std::collections::BTreeMap;

use base64::Engine;
use minijinja::{Environment, context};

use crate::runner::model::RunResult;

const TEMPLATE: &str = include_str!("report.html");

/// Messages up to this size are embedded for download; larger ones are only saved as files.
pub const EMBED_LIMIT: usize = 2 * 1024 * 1024;
/// Bytes of a message shown inline as text.
const PREVIEW_LIMIT: usize = 8 * 1024;

pub fn render(run: &RunResult) -> Result<String, String> {
    let mut env = Environment::new();
    // The name ends in .html, so minijinja escapes every interpolation.
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| format!("HTML template: {e}"))?;
    let mut downloads = BTreeMap::new();
    let mut previews = BTreeMap::new();
    for case in &run.cases {
        for m in &case.messages {
            if m.data.len() <= EMBED_LIMIT {
                // Only base64 characters after a fixed prefix: safe to emit unescaped.
                downloads.insert(
                    m.reference.clone(),
                    minijinja::Value::from_safe_string(format!(
                        "data:message/rfc822;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(&m.data)
                    )),
                );
            }
            let end = m.data.len().min(PREVIEW_LIMIT);
            let mut text = String::from_utf8_lossy(&m.data[..end]).into_owned();
            if m.data.len() > end {
                text.push_str(&format!("\n... ({} more bytes)", m.data.len() - end));
            }
            previews.insert(m.reference.clone(), text);
        }
    }
    let tmpl = env
        .get_template("report.html")
        .map_err(|e| format!("HTML template: {e}"))?;
    tmpl.render(context! { run => minijinja::value::Serde(run), downloads => downloads, previews => previews })
        .map_err(|e| format!("HTML report: {e}"))
}
