//! JUnit XML view of a run: one `<testsuite>` per requirement (its rollup and catalogue facts as
//! `<properties>`, which junit-10.xsd allows only there), one `<testcase>` per (requirement,
//! case). The requirement ID leads `testcase@name` (what GitLab and Jenkins show; GitLab keeps
//! only the first of duplicate names, so the case ID makes it unique); `classname` is
//! `<role>.<profile>`. Failures carry expected vs. observed.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::console;
use super::doc::{CaseDoc, RunDoc};
use crate::runner::model::Verdict;

pub fn render(run: &RunDoc) -> Result<String, String> {
    let mut report = Report::new("kvc-check run");
    for req in &run.requirements {
        let mut suite = TestSuite::new(req.id.clone());
        suite.add_property(Property::new("requirement", req.versioned_id.clone()));
        suite.add_property(Property::new("level", req.level.clone()));
        suite.add_property(Property::new("decided_by", req.decided_by.join(",")));
        suite.add_property(Property::new("verdict", req.verdict.as_str()));
        suite.add_property(Property::new("role", run.run.role.clone()));
        suite.add_property(Property::new("sut", run.run.sut.clone()));
        suite.add_property(Property::new("transport", run.run.transport.clone()));
        if !run.run.faults.is_empty() {
            suite.add_property(Property::new("faults", run.run.faults.join(",")));
        }
        suite.add_property(Property::new("run_complete", run.complete.to_string()));
        for case_ref in &req.cases {
            let Some(case) = run.cases.iter().find(|c| c.id == case_ref.id) else {
                continue;
            };
            suite.add_test_case(test_case(run, &req.id, case));
        }
        report.add_test_suite(suite);
    }
    if !run.complete {
        report.add_test_suite(incomplete_suite(run));
    }
    let xml = report
        .to_string()
        .map_err(|e| format!("JUnit output: {e}"))?;
    // SUT output lands in texts and attributes: keep the document valid XML 1.0.
    Ok(crate::report::sanitize::xml_text(
        &strip_testsuites_skipped(&xml),
    ))
}

/// A run that did not finish (interrupted, killed, or still under way when this file was
/// written) must not read as green in CI: one `<error>` testcase names the cases that did not
/// run.
fn incomplete_suite(run: &RunDoc) -> TestSuite {
    let mut suite = TestSuite::new("kvc-check run incomplete");
    suite.add_property(Property::new("run_complete", "false"));
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status.set_type("incomplete");
    status.set_message(format!(
        "the run did not complete: {} of {} planned case(s) did not run",
        run.not_run.len(),
        run.planned_cases
    ));
    status.set_description(format!(
        "cases that did not run:\n{}",
        run.not_run.join("\n")
    ));
    let mut tc = TestCase::new("incomplete run", status);
    tc.set_classname(format!("{}.run", run.run.role));
    suite.add_test_case(tc);
    suite
}

/// quick-junit writes `skipped` on `<testsuites>`, which junit-10.xsd does not allow there
/// (only on `<testsuite>`); the per-suite counts carry the same number.
fn strip_testsuites_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_string();
    };
    let end = xml[start..].find('>').map_or(xml.len(), |e| start + e);
    let tag = &xml[start..end];
    let Some(attr) = tag.find(" skipped=\"") else {
        return xml.to_string();
    };
    let value_start = start + attr + " skipped=\"".len();
    let Some(close) = xml[value_start..].find('"') else {
        return xml.to_string();
    };
    format!(
        "{}{}",
        &xml[..start + attr],
        &xml[value_start + close + 1..]
    )
}

/// What a failing or erroring testcase says: every check that did not pass (expected, all
/// observed lines), the steps, and how to reproduce the case. Paths of captured messages are
/// relative to the folder the run was started in.
fn checks_text(run: &RunDoc, case: &CaseDoc, requirement: &str) -> String {
    let out_dir = console::out_dir(run);
    let mut out = String::new();
    for c in case.checks.iter().filter(|c| {
        c.verdict != Verdict::Pass && c.requirement.as_deref().is_none_or(|r| r == requirement)
    }) {
        out.push_str(&format!(
            "[{}] {}\n  expected: {}\n  observed: {}\n",
            c.verdict.as_str(),
            c.expectation,
            c.expected,
            console::relocate(&c.observed, run, out_dir).replace('\n', "\n            ")
        ));
    }
    for s in case.steps.iter() {
        out.push_str(&format!(
            "step {} {} -> {:?}: {}\n",
            s.index, s.description, s.outcome, s.detail
        ));
    }
    for m in &case.messages {
        out.push_str(&format!(
            "message {} ({} bytes): {out_dir}/{}\n",
            m.reference, m.size, m.file
        ));
    }
    for cmd in console::reproduce(run, case) {
        out.push_str(&format!("reproduce: {cmd}\n"));
    }
    out
}

fn test_case(run: &RunDoc, requirement: &str, case: &CaseDoc) -> TestCase {
    let reason = console::relocate(
        &case.reason.clone().unwrap_or_default(),
        run,
        console::out_dir(run),
    );
    let status = match case.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Fail | Verdict::Error => {
            let kind = if case.verdict == Verdict::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut status = TestCaseStatus::non_success(kind);
            status.set_message(reason);
            status.set_type(case.verdict.as_str());
            status.set_description(checks_text(run, case, requirement));
            status
        }
        Verdict::Skip => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!("skip: {reason}"));
            status
        }
        Verdict::Attest => {
            let question = case
                .attest
                .iter()
                .filter(|a| a.answer.is_none())
                .map(|a| a.question.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let how = "answer it with --answers FILE; kvc-check run --answers-template FILE writes the open questions";
            if run.run.strict {
                // --strict: an open question fails the run, and CI shows it red.
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_type("attest");
                status.set_message(format!(
                    "attest question open (--strict): {question} ({how})"
                ));
                status
            } else {
                let mut status = TestCaseStatus::skipped();
                status.set_message(format!("attest: needs a human answer ({how}): {question}"));
                status
            }
        }
    };
    let mut tc = TestCase::new(format!("{requirement} {}", case.id), status);
    tc.set_classname(format!("{}.{}", case.role, case.profile));
    tc.set_time(std::time::Duration::from_millis(case.duration_ms));
    if case.verdict == Verdict::Pass {
        // The whole evidence of every check, not only its first line: a certifier reads why
        // it passed.
        let out_dir = console::out_dir(run);
        let evidence: Vec<String> = case
            .checks
            .iter()
            .map(|c| {
                let observed = console::relocate(&c.observed, run, out_dir);
                let mut lines = observed.lines();
                let mut text = format!(
                    "[{}] {}: {}",
                    c.verdict.as_str(),
                    c.expectation,
                    lines.next().unwrap_or_default()
                );
                for l in lines {
                    text.push_str("\n    ");
                    text.push_str(l);
                }
                text
            })
            .collect();
        tc.set_system_out(evidence.join("\n"));
    }
    tc
}
