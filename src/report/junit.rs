//! JUnit XML for lint: one testsuite per file, one testcase per (file, requirement), the
//! requirement ID leading the testcase name (GitLab and Jenkins show the name; GitLab keeps only
//! the first of duplicate names, so the file is part of it). Properties sit on the testsuite, as
//! the common JUnit schema (Jenkins xunit junit-10.xsd) allows them only there.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::catalogue::Catalogue;
use crate::lint::FileResult;
use crate::rules::{RequirementVerdict, Severity};

pub fn render(results: &[FileResult]) -> Result<String, String> {
    let catalogue = Catalogue::embedded().map_err(str::to_string)?;
    let mut report = Report::new("kvc-check lint");
    for file in results {
        let mut suite = TestSuite::new(file.path.clone());
        if let Some(profile) = file.profile {
            suite.add_property(Property::new("profile", profile.as_str()));
        }
        suite.add_property(Property::new(
            "verdict",
            format!("{:?}", file.verdict).to_lowercase(),
        ));
        let classname = format!("lint.{}", file.profile.map_or("none", |p| p.as_str()));
        if let Some(error) = &file.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(error.clone());
            let mut case = TestCase::new(format!("input {}", file.path), status);
            case.set_classname(classname.clone());
            suite.add_test_case(case);
        }
        for req in &file.requirements {
            let findings: Vec<_> = file
                .findings
                .iter()
                .filter(|f| f.requirement == req.requirement)
                .collect();
            let describe = |sev: Severity| {
                findings
                    .iter()
                    .filter(|f| f.severity == sev)
                    .map(|f| format!("{} ({}): {}", f.location, f.rule, f.message))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let status = match req.verdict {
                RequirementVerdict::Pass => TestCaseStatus::success(),
                RequirementVerdict::Fail => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    let errors = describe(Severity::Error);
                    let first = errors.lines().next().unwrap_or_default().to_string();
                    status.set_message(first);
                    status.set_type(req.requirement);
                    status.set_description(errors);
                    status
                }
                RequirementVerdict::Skip => {
                    let mut status = TestCaseStatus::skipped();
                    status.set_message(req.reason.clone().unwrap_or_default());
                    status
                }
            };
            let summary = catalogue
                .get(req.requirement)
                .map(|r| format!("{}: {}", r.versioned_id(), r.summary))
                .unwrap_or_default();
            // Names stay stable across releases (ID and file only), so CI history lines up.
            let mut case = TestCase::new(format!("{} [{}]", req.requirement, file.path), status);
            case.set_classname(classname.clone());
            let warnings = describe(Severity::Warning);
            if warnings.is_empty() {
                case.set_system_out(summary);
            } else {
                case.set_system_out(format!("{summary}\nwarnings:\n{warnings}"));
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .map(schema_compatible)
        // Message content lands in texts and attributes: keep the document valid XML 1.0.
        .map(|xml| crate::report::sanitize::xml_text(&xml))
        .map_err(|e| format!("JUnit output: {e}"))
}

/// quick-junit writes a `skipped` count on `<testsuites>`, which the common JUnit schema
/// (Jenkins xunit junit-10.xsd) does not allow there (only on `<testsuite>`); drop it so CI
/// systems that validate accept the file.
pub fn schema_compatible(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml;
    };
    let end = xml[start..].find('>').map_or(xml.len(), |i| start + i);
    let tag = &xml[start..end];
    match tag.find(" skipped=\"") {
        Some(at) => {
            let value_end = tag[at + 10..]
                .find('"')
                .map_or(tag.len(), |i| at + 10 + i + 1);
            format!("{}{}{}", &xml[..start + at], &tag[value_end..], &xml[end..])
        }
        None => xml,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn drops_skipped_from_the_root_element_only() {
        let xml = "<?xml?>\n<testsuites name=\"x\" tests=\"2\" skipped=\"1\" failures=\"0\">\n<testsuite skipped=\"1\">".to_string();
        assert_eq!(
            super::schema_compatible(xml),
            "<?xml?>\n<testsuites name=\"x\" tests=\"2\" failures=\"0\">\n<testsuite skipped=\"1\">"
        );
    }
}
