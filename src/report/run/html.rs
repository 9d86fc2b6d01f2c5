//! `report.html`: one self-contained file (no external assets, inline CSS and JS). A minijinja
//! template with HTML auto-escaping. It leads to the failure: an overall verdict banner naming
//! the requirements that fail or error (linked), the failing and erroring cases first and
//! expanded, each with how to reproduce it (the `kvc-check run --case` and `kvc-check lint`
//! commands, valid from the folder the run was started in); then attest, then the rest.
//! Requirement matrix with verdict/text filters, per-case checks (expected vs. observed),
//! steps, SMTP/POP3/REST/LDAP transcripts and the captured messages as `data:` URIs; expand
//! all / collapse all; printing opens every `<details>` so a PDF holds all evidence. The page
//! marks a successful script start (`data-report-ready` on `<html>`) and any script error
//! (`data-report-error`), which the headless-browser test reads.

use std::collections::BTreeMap;

use base64::Engine;
use minijinja::{Environment, context};

use super::doc::{Bodies, CaseDoc, RunDoc};
use crate::runner::model::{RequirementResult, Verdict};

const TEMPLATE: &str = include_str!("report.html");

/// Messages up to this size are embedded for download; larger ones are only saved as files.
pub const EMBED_LIMIT: usize = 2 * 1024 * 1024;
/// Bytes of a message shown inline as text.
const PREVIEW_LIMIT: usize = 8 * 1024;

pub fn render(run: &RunDoc, bodies: &Bodies) -> Result<String, String> {
    let mut env = Environment::new();
    // A field the template prints or walks that the report no longer has is an error, not an
    // empty line: a renamed evidence field must not silently drop a transcript.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    // The name ends in .html, so minijinja escapes every interpolation.
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| format!("HTML template: {e}"))?;
    let mut downloads = BTreeMap::new();
    let mut previews = BTreeMap::new();
    for case in &run.cases {
        for m in &case.messages {
            let Some(data) = bodies.get(&m.reference) else {
                continue;
            };
            if data.len() <= EMBED_LIMIT {
                // Only base64 characters after a fixed prefix: safe to emit unescaped.
                downloads.insert(
                    m.reference.clone(),
                    minijinja::Value::from_safe_string(format!(
                        "data:message/rfc822;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(data)
                    )),
                );
            }
            let end = data.len().min(PREVIEW_LIMIT);
            let mut text = String::from_utf8_lossy(&data[..end]).into_owned();
            if data.len() > end {
                text.push_str(&format!("\n... ({} more bytes)", data.len() - end));
            }
            previews.insert(m.reference.clone(), text);
        }
    }
    // Paths in reasons and observations as seen from the folder the run was started in, like
    // on the console and in junit.xml.
    let out = super::console::out_dir(run);
    let shown: Vec<CaseDoc> = run
        .cases
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.reason = c.reason.map(|r| super::console::relocate(&r, run, out));
            for k in &mut c.checks {
                k.observed = super::console::relocate(&k.observed, run, out);
            }
            c
        })
        .collect();
    // Failing and erroring cases first, then attest, then pass and skip; by ID within.
    let mut cases: Vec<&CaseDoc> = shown.iter().collect();
    cases.sort_by_key(|c| (case_rank(c.verdict), c.id.clone()));
    let overall = if run.complete {
        Verdict::combine(run.requirements.iter().map(|r| r.verdict)).unwrap_or(Verdict::Skip)
    } else {
        Verdict::combine(
            run.requirements
                .iter()
                .map(|r| r.verdict)
                .chain([Verdict::Error]),
        )
        .unwrap_or(Verdict::Error)
    };
    // --strict: open attest questions fail the run; the banner names them too.
    let strict_attest = run.run.strict && overall == Verdict::Attest;
    let overall = if strict_attest {
        Verdict::Fail
    } else {
        overall
    };
    let mut banner: Vec<&RequirementResult> = run
        .requirements
        .iter()
        .filter(|r| {
            matches!(r.verdict, Verdict::Fail | Verdict::Error)
                || (run.run.strict && r.verdict == Verdict::Attest)
        })
        .collect();
    banner.sort_by_key(|r| case_rank(r.verdict));
    let reproduce: BTreeMap<&str, Vec<String>> = run
        .cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error))
        .map(|c| (c.id.as_str(), super::console::reproduce(run, c)))
        .collect();
    let tmpl = env
        .get_template("report.html")
        .map_err(|e| format!("HTML template: {e}"))?;
    tmpl.render(context! {
        run => minijinja::value::Serde(run),
        cases => minijinja::value::Serde(&cases),
        overall => overall.as_str(),
        banner_requirements => minijinja::value::Serde(&banner),
        reproduce => reproduce,
        downloads => downloads,
        previews => previews,
    })
    .map_err(|e| format!("HTML report: {e}"))
}

/// Order of cases in the report: fail, error, attest, then pass and skip.
fn case_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Fail => 0,
        Verdict::Error => 1,
        Verdict::Attest => 2,
        Verdict::Pass | Verdict::Skip => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::FileResult;
    use crate::runner::model::{
        CaseResult, MessageRecord, RunInfo, RunResult, SessionsRecord, Verdict,
    };

    fn run_with(title: &str, data: &[u8]) -> RunResult {
        let info = RunInfo {
            tool: "kvc-check".into(),
            version: "t".into(),
            started: "t".into(),
            role: "kvc-pvs".into(),
            sut: "<b>sut</b>".into(),
            transport: "smtp-pop3".into(),
            faults: vec![],
            jobs: 1,
            timeout_s: 1.0,
            selection: vec![],
            scope: Default::default(),
            suites: "embedded".into(),
            out: "r".into(),
            rerun: "kvc-check run".into(),
            shard: None,
            merged_from: vec![],
            strict: false,
        };
        let mut run = RunResult::new(info, vec!["c/1".into()]);
        run.complete = true;
        run.cases.push(CaseResult {
            id: "c/1".into(),
            title: title.into(),
            origin: "x.yaml:1".into(),
            requirements: vec!["KVC-Anb170".into()],
            role: "kvc-pvs".into(),
            profile: crate::rules::Profile::Kvc,
            verdict: Verdict::Fail,
            reason: Some("r".into()),
            duration_ms: 1,
            steps: vec![],
            checks: vec![],
            messages: vec![MessageRecord {
                reference: "c/1#1".into(),
                file: "cases/c/1/message-1.eml".into(),
                size: data.len(),
                mail_from: "a@b".into(),
                rcpt_to: vec![],
                lint: FileResult::input_error("x", "e".into()),
                opened_with: None,
                decryptable_by: vec![],
                data: data.to_vec(),
                delivered: false,
                inner: None,
            }],
            sessions: SessionsRecord::default(),
            attest: vec![],
            mailbox_len: 0,
            stored: None,
        });
        run.rollup(crate::catalogue::Catalogue::embedded().expect("catalogue"));
        run
    }

    fn render_run(run: &RunResult) -> Result<String, String> {
        render(&RunDoc::of(run)?, &super::super::doc::bodies_of(run))
    }

    #[test]
    fn escapes_everything_the_sut_controls() {
        let html = render_run(&run_with(
            "<script>alert(1)</script>",
            b"Subject: <script>alert(2)</script>\r\n\r\n<img src=x onerror=alert(3)>",
        ))
        .expect("renders");
        assert!(!html.contains("<script>alert"), "unescaped script");
        assert!(
            !html.contains("<img src=x"),
            "unescaped markup from a message"
        );
        assert!(!html.contains("<b>sut</b>"));
        assert!(html.contains("&lt;script&gt;alert(1)"));
        // The message is downloadable inline.
        assert!(html.contains("href=\"data:message/rfc822;base64,"));
    }

    /// report.json holds what the reports render: the document read back from a run's JSON
    /// serialises to the same JSON, and a report without the fields of format 2 still reads.
    #[test]
    fn the_report_document_round_trips() {
        let run = run_with("t", b"Subject: x\r\n\r\nbody");
        let live = serde_json::to_value(&run).expect("json");
        let doc = RunDoc::of(&run).expect("doc");
        assert_eq!(serde_json::to_value(&doc).expect("json"), live);
        let mut v1 = live.clone();
        let obj = v1.as_object_mut().expect("object");
        obj.remove("report_format");
        let info = obj
            .get_mut("run")
            .and_then(|r| r.as_object_mut())
            .expect("run");
        for k in ["suites", "out", "rerun"] {
            info.remove(k);
        }
        let old: RunDoc = serde_json::from_value(v1).expect("format 1 reads");
        assert_eq!(old.report_format, 1);
        assert!(render(&old, &Bodies::new()).is_ok());
    }

    /// Printing (to PDF for a certifier) must include what closed `<details>` hide.
    #[test]
    fn printing_opens_every_details() {
        let html = render_run(&run_with("t", b"Subject: x\r\n\r\nbody")).expect("renders");
        let print = html
            .find("@media print{details::details-content")
            .expect("print rule");
        assert!(html[print..].contains("content-visibility:visible"));
        assert!(html.contains("addEventListener('beforeprint'"));
        // No network: nothing is loaded from elsewhere.
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    }

    #[test]
    fn large_messages_are_not_embedded() {
        let html = render_run(&run_with("t", &vec![b'a'; EMBED_LIMIT + 1])).expect("renders");
        assert!(!html.contains("data:message/rfc822"));
        assert!(html.contains("too large to embed"));
    }
}
