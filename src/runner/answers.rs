//! Answers to attest questions (`--answers FILE.yaml`).
//!
//! ```yaml
//! answers:
//!   - requirement: KVC-Anb030          # or `case: kvc-pvs/anb030-update-process`
//!     answer: yes                      # yes | no
//!     evidence: "QA-Handbuch §4.2; release note 4.2.1 (announced 2026-03-01, shipped 2026-03-20)"
//!     by: "Jane Doe, QA"               # optional
//! ```
//!
//! A `yes` needs non-empty evidence; an unanswered question stays `attest` and never counts as
//! passed.

use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::catalogue::Catalogue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerValue {
    Yes,
    No,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub requirement: Option<String>,
    pub case: Option<String>,
    pub value: AnswerValue,
    pub evidence: String,
    pub by: Option<String>,
    pub origin: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    answers: Vec<Spanned<RawAnswer>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    #[serde(default)]
    requirement: Option<String>,
    #[serde(default)]
    case: Option<String>,
    answer: AnswerValue,
    #[serde(default)]
    evidence: String,
    #[serde(default)]
    by: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Answers {
    answers: Vec<Answer>,
}

impl Answers {
    pub fn load(path: &Path, catalogue: &Catalogue) -> Result<Answers, String> {
        let text = crate::input::read_config(path)?;
        Self::parse(&path.display().to_string(), &text, catalogue)
    }

    pub fn parse(shown: &str, text: &str, catalogue: &Catalogue) -> Result<Answers, String> {
        let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| {
            let line = e
                .location()
                .map(|l| format!(":{}", l.line()))
                .unwrap_or_default();
            format!("{shown}{line}: {e}")
        })?;
        let mut answers = Vec::new();
        for a in raw.answers {
            let origin = format!("{shown}:{}", a.referenced.line());
            let v = a.value;
            let requirement = match &v.requirement {
                Some(r) => Some(
                    catalogue
                        .get(r)
                        .map(|q| q.id.clone())
                        .ok_or_else(|| format!("{origin}: unknown requirement ID `{r}`"))?,
                ),
                None => None,
            };
            if requirement.is_none() == v.case.is_none() {
                return Err(format!(
                    "{origin}: give exactly one of `requirement:` or `case:`"
                ));
            }
            if v.answer == AnswerValue::Yes && v.evidence.trim().is_empty() {
                return Err(format!(
                    "{origin}: answer `yes` needs `evidence:` (what a certifier can check)"
                ));
            }
            // Two answers for one question (they may even disagree): which counts would be
            // a guess, so neither does.
            if let Some(first) = answers.iter().find(|a: &&Answer| {
                (requirement.is_some() && a.requirement == requirement)
                    || (v.case.is_some() && a.case == v.case)
            }) {
                return Err(format!(
                    "{origin}: a second answer for {} (the first is at {}); give one answer per requirement or case",
                    requirement
                        .as_deref()
                        .or(v.case.as_deref())
                        .unwrap_or_default(),
                    first.origin
                ));
            }
            answers.push(Answer {
                requirement,
                case: v.case,
                value: v.answer,
                evidence: v.evidence,
                by: v.by,
                origin,
            });
        }
        Ok(Answers { answers })
    }

    /// The answer for an attest item: by case ID first, then by requirement.
    pub fn find(&self, case: &str, requirement: &str) -> Option<&Answer> {
        self.answers
            .iter()
            .find(|a| a.case.as_deref() == Some(case))
            .or_else(|| {
                self.answers
                    .iter()
                    .find(|a| a.requirement.as_deref() == Some(requirement))
            })
    }

    /// Case IDs named in the file, to report ones that match no case.
    pub fn case_ids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.answers
            .iter()
            .filter_map(|a| a.case.as_deref().map(|c| (c, a.origin.as_str())))
    }
}

/// A YAML answers file (the format [`Answers::parse`] reads) with one entry per case whose
/// attest question is still open in `doc`, each `answer:` left empty to fill in; and the
/// number of open questions. An entry names its case (an answer by requirement would also
/// answer that requirement's other cases). Loading the file before `answer:` is filled in is
/// an error that names the line.
pub fn template(doc: &crate::report::run::doc::RunDoc) -> (String, usize) {
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut out = String::from(
        "# kvc-check answers to the attest questions this run left open.\n         # An attest question is one the suite cannot decide by observing the system (e.g. its\n         # update process); it stays `attest` (never counted as passed) until answered here.\n         # For each entry: answer yes or no; `yes` needs evidence a certifier can check\n         # (document, section, version); `by` is optional. Then run again with\n         # `kvc-check run --answers THIS-FILE ...` (add --strict to fail on open questions).\n",
    );
    let mut open = 0;
    let mut entries = String::new();
    for case in &doc.cases {
        let questions: Vec<_> = case.attest.iter().filter(|a| a.answer.is_none()).collect();
        if questions.is_empty() {
            continue;
        }
        open += questions.len();
        entries.push_str(&format!("\n  # {}: {}\n", case.id, one_line(&case.title)));
        for q in &questions {
            entries.push_str(&format!(
                "  # {}: {}\n",
                q.requirement,
                one_line(&q.question)
            ));
        }
        entries.push_str(&format!(
            "  - case: {}\n    answer:         # yes | no\n    evidence: \"\"\n    # by: \"name, role\"\n",
            quoted(&case.id)
        ));
    }
    if open == 0 {
        out.push_str("# No attest question is open.\nanswers: []\n");
    } else {
        out.push_str("answers:\n");
        out.push_str(&entries);
    }
    (out, open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> &'static Catalogue {
        Catalogue::embedded().expect("catalogue")
    }

    #[test]
    fn a_second_answer_for_one_question_is_refused() {
        let text = "answers:\n  - requirement: KVC-Anb030\n    answer: yes\n    evidence: handbook\n  - requirement: KVC-Anb030\n    answer: no\n";
        let e = Answers::parse("a.yaml", text, cat()).unwrap_err();
        assert!(e.starts_with("a.yaml:5:"), "{e}");
        assert!(
            e.contains("second answer for KVC-Anb030") && e.contains("a.yaml:2"),
            "{e}"
        );
        let text = "answers:\n  - case: kvc-pvs/anb030-attest\n    answer: no\n  - case: kvc-pvs/anb030-attest\n    answer: no\n";
        assert!(Answers::parse("a.yaml", text, cat()).is_err());
        let text = "answers:\n  - case: kvc-pvs/anb030-attest\n    answer: no\n  - requirement: KVC-Anb030\n    answer: no\n";
        Answers::parse("a.yaml", text, cat()).expect("a case answer and a requirement answer");
    }

    #[test]
    fn yes_needs_evidence() {
        let e = Answers::parse(
            "a.yaml",
            "answers:\n  - requirement: KVC-Anb030\n    answer: yes\n",
            cat(),
        )
        .unwrap_err();
        assert!(e.starts_with("a.yaml:2:"), "{e}");
        assert!(e.contains("evidence"), "{e}");
    }

    #[test]
    fn unknown_requirement_rejected_with_line() {
        let e = Answers::parse(
            "a.yaml",
            "answers:\n  - requirement: KVC-Anb030\n    answer: no\n  - requirement: NOPE\n    answer: no\n",
            cat(),
        )
        .unwrap_err();
        assert!(e.starts_with("a.yaml:4:"), "{e}");
    }

    #[test]
    fn finds_by_case_then_requirement() {
        let a = Answers::parse(
            "a.yaml",
            "answers:\n  - requirement: KVC-Anb030\n    answer: no\n  - case: c1\n    answer: yes\n    evidence: doc\n",
            cat(),
        )
        .expect("parses");
        assert_eq!(
            a.find("c1", "KVC-Anb030").map(|x| x.value),
            Some(AnswerValue::Yes)
        );
        assert_eq!(
            a.find("c2", "KVC-Anb030").map(|x| x.value),
            Some(AnswerValue::No)
        );
        assert!(a.find("c2", "KVC-Anb040").is_none());
    }
}
