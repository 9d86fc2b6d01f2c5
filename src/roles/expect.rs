//! The interface between a case's expectations and the runner: the [`Expect`] trait every
//! family of checks implements, what a family may look at ([`Scope`]) and validate against
//! ([`CaseHeader`]), and the [`vocabulary!`] table with which a role lists the YAML keys its
//! cases may use. A family keeps its YAML shape, its validation and its evaluation in one file;
//! the requirement a check decides comes from the case ([`Decides`]), never from the code.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::catalogue::Catalogue;
use crate::rules::KvcRegistry;
use crate::runner::answers::Answers;
use crate::runner::model::{AttestRecord, Check, MessageRecord, StepRecord, StoredAnswer, Verdict};
use crate::runner::observe::Evidence;
use crate::suite::{Case, Control, OverScope, Setup};

/// One family of checks, as parsed from one `expect:` item of a case file.
pub trait Expect: fmt::Debug + Send + Sync {
    /// Checks the item against the rest of the case when the suite loads, and resolves what it
    /// takes from the case (the requirement it decides, canonical IDs). The error is a sentence;
    /// the loader puts `file:line` in front.
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String>;

    /// Judges what was observed: one or more checks, plus attest records for attest items.
    fn evaluate(&self, scope: &Scope, out: &mut Evaluated);

    /// "The SUT must refuse X": passes when something did NOT happen, which a SUT that does
    /// nothing right also achieves, so it is judged next to a positive control. `Some` for a
    /// refusal, with the control the case names next to it.
    fn refusal(&self) -> Option<Refusal<'_>> {
        None
    }

    /// Whether the item is a refusal (from [`Expect::refusal`]).
    fn is_refusal(&self) -> bool {
        self.refusal().is_some()
    }

    /// The positive control named next to a refusal (from [`Expect::refusal`]).
    fn control(&self) -> Option<&Control> {
        self.refusal().and_then(|r| r.control)
    }

    /// Whether a `fail` stands on what was observed so far when a later step failed or timed
    /// out: the check fails only on something the SUT did, never on something that has not
    /// happened yet.
    fn fails_on_evidence_alone(&self) -> bool {
        false
    }

    /// Whether the item looks at what the SUT did (else it needs no steps: attest, skip).
    fn observes(&self) -> bool {
        true
    }

    /// A skip item: the case is skipped with this reason without running anything.
    fn skip_reason(&self) -> Option<&str> {
        None
    }

    /// Whether the runner must ask the SUT adapter for its local store after the steps.
    fn needs_store_report(&self) -> bool {
        false
    }
}

/// What a refusal is judged next to: the positive control the case file names (`control:`;
/// `None` if it names none, which the suite loader rejects).
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    pub control: Option<&'a Control>,
}

/// A validated expectation of a case: its YAML key and its family.
#[derive(Clone)]
pub struct Expectation {
    kind: &'static str,
    family: Arc<dyn Expect>,
}

impl Expectation {
    pub fn new(kind: &'static str, family: Box<dyn Expect>) -> Self {
        Expectation {
            kind,
            family: Arc::from(family),
        }
    }

    /// The YAML key of the expectation, which also starts the name of its checks.
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

impl std::ops::Deref for Expectation {
    type Target = dyn Expect;

    fn deref(&self) -> &Self::Target {
        &*self.family
    }
}

impl fmt::Debug for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.kind, self.family)
    }
}

/// The expectations a role's cases may hold, by YAML key (see [`vocabulary!`]).
pub type ParseExpectations = fn(&str) -> Result<Vec<ParsedItem>, serde_saphyr::Error>;

/// One `expect:` item as parsed: the line it starts on, its key and its family (not validated).
pub struct ParsedItem {
    pub line: u64,
    pub kind: &'static str,
    pub family: Box<dyn Expect>,
}

/// Declares a role's expectation vocabulary: an enum whose variants are the YAML keys, each
/// holding one family type, and a `parse` function reading the `expect:` list of a case file
/// with it. The enum is strict like every case type (`deny_unknown_fields`); serde's error
/// lists the known keys in the order given here.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($key:literal => $variant:ident($ty:ty),)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        $vis enum $name {
            $(#[serde(rename = $key)] $variant($ty),)+
        }

        impl $name {
            fn into_item(self, line: u64) -> $crate::roles::expect::ParsedItem {
                let (kind, family): (&'static str, Box<dyn $crate::roles::expect::Expect>) =
                    match self {
                        $($name::$variant(e) => ($key, Box::new(e)),)+
                    };
                $crate::roles::expect::ParsedItem { line, kind, family }
            }

            /// Reads the `expect:` list of a case file (its other keys were read before).
            pub fn parse(
                text: &str,
            ) -> Result<Vec<$crate::roles::expect::ParsedItem>, serde_saphyr::Error> {
                #[derive(serde::Deserialize)]
                struct ExpectList {
                    expect: Vec<serde_saphyr::Spanned<$name>>,
                }
                let list: ExpectList = serde_saphyr::from_str(text)?;
                Ok(list
                    .expect
                    .into_iter()
                    .map(|e| e.value.into_item(e.referenced.line()))
                    .collect())
            }
        }
    };
}
pub(crate) use vocabulary;

/// What an expectation may check itself against when the suite loads.
pub struct CaseHeader<'a> {
    pub id: &'a str,
    /// The case's requirement IDs, canonical (as the catalogue spells them).
    pub requirements: &'a [String],
    pub setup: &'a Setup,
    /// Whether the case has steps (and so a mock to observe).
    pub has_steps: bool,
    pub catalogue: &'a Catalogue,
}

impl CaseHeader<'_> {
    /// The canonical ID of a requirement an expectation names: it must be one the case lists.
    pub fn requirement(&self, named: &str) -> Result<String, String> {
        match self.catalogue.get(named) {
            None => Err(format!("unknown requirement ID `{named}` in expectation")),
            Some(req) if !self.requirements.contains(&req.id) => Err(format!(
                "expectation names {named}, which the case does not list in `requirements`"
            )),
            Some(req) => Ok(req.id.clone()),
        }
    }

    /// Size of the mailbox the case's mock serves.
    pub fn mailbox_len(&self) -> usize {
        self.setup.mailbox.len()
    }

    /// A 1-based mailbox entry that is not in the mailbox, as an error.
    pub fn entries_in_mailbox<'e>(
        &self,
        entries: impl IntoIterator<Item = &'e usize>,
    ) -> Result<(), String> {
        let len = self.mailbox_len();
        match entries.into_iter().find(|&&n| n == 0 || n > len) {
            Some(bad) => Err(format!("entry {bad} is not in the mailbox (1..={len})")),
            None => Ok(()),
        }
    }
}

/// The requirement an expectation's checks decide: named in the case file with
/// `requirement:`, or, when the case lists only one requirement, that one. Resolved (and
/// checked against the case's `requirements`) when the suite loads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Decides(Option<String>);

impl Decides {
    pub fn resolve(&mut self, case: &CaseHeader, kind: &str) -> Result<(), String> {
        let id = match (&self.0, case.requirements) {
            (Some(named), _) => case.requirement(named)?,
            (None, [only]) => only.clone(),
            (None, several) => {
                return Err(format!(
                    "{kind}: the case lists several requirements ({}); name the one this check decides with `requirement:`",
                    several.join(", ")
                ));
            }
        };
        self.0 = Some(id);
        Ok(())
    }

    /// The requirement ID (empty only before the suite loader resolved it).
    pub fn id(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }
}

/// What an expectation may look at.
pub struct Scope<'a> {
    pub case: &'a Case,
    /// Messages captured in this case.
    pub own: &'a [MessageRecord],
    /// Every message of the run (only for `over: run`; includes `own`).
    pub run: &'a [&'a MessageRecord],
    pub obs: &'a Evidence,
    /// Size of the mailbox the mock served.
    pub mailbox_len: usize,
    pub registry: &'a KvcRegistry,
    pub answers: &'a Answers,
    pub catalogue: &'a Catalogue,
    /// The transport this case exercises.
    pub transport: crate::sut::Transport,
    /// The SUT adapter's report of its local store, if the case asked for it.
    pub stored: Option<&'a StoredAnswer>,
    /// The case's steps as run (what the SUT's triggers reported).
    pub steps: &'a [StepRecord],
}

impl<'a> Scope<'a> {
    /// The messages an `over:` key selects.
    pub fn messages(&self, over: OverScope) -> Vec<&'a MessageRecord> {
        match over {
            OverScope::Case => self.own.iter().collect(),
            OverScope::Run => self.run.to_vec(),
        }
    }
}

/// What evaluating a case's expectations yields.
#[derive(Debug, Default)]
pub struct Evaluated {
    pub checks: Vec<Check>,
    pub attest: Vec<AttestRecord>,
}

/// A check with its evidence; `requirement` is the one the expectation decides, if any.
pub fn check(
    expectation: impl Into<String>,
    requirement: Option<&str>,
    verdict: Verdict,
    expected: impl Into<String>,
    observed: impl Into<String>,
) -> Check {
    Check {
        expectation: expectation.into(),
        requirement: requirement.map(str::to_string),
        verdict,
        expected: expected.into(),
        observed: observed.into(),
        control: None,
        needs_control: None,
        fails_on_evidence_alone: false,
    }
}

/// One check in the making: its name, the requirement it decides and what was expected; a
/// verdict method closes it with what was observed.
#[must_use]
#[derive(Clone)]
pub struct Judge<'a> {
    name: String,
    requirement: &'a str,
    expected: String,
}

impl<'a> Judge<'a> {
    pub fn new(name: impl Into<String>, requirement: &'a str, expected: impl Into<String>) -> Self {
        Judge {
            name: name.into(),
            requirement,
            expected: expected.into(),
        }
    }

    /// The requirement the check decides (from the case).
    pub fn requirement(&self) -> &str {
        self.requirement
    }

    pub fn verdict(self, verdict: Verdict, observed: impl Into<String>) -> Check {
        check(
            self.name,
            Some(self.requirement),
            verdict,
            self.expected,
            observed,
        )
    }

    pub fn pass(self, observed: impl Into<String>) -> Check {
        self.verdict(Verdict::Pass, observed)
    }

    pub fn fail(self, observed: impl Into<String>) -> Check {
        self.verdict(Verdict::Fail, observed)
    }

    /// `fail` when something observed was `wrong`, else `pass`, with the same observation.
    pub fn fail_if(self, wrong: bool, observed: impl Into<String>) -> Check {
        self.verdict(if wrong { Verdict::Fail } else { Verdict::Pass }, observed)
    }

    /// Undecidable from what was observed (e.g. the SUT never acted).
    pub fn error(self, observed: impl Into<String>) -> Check {
        self.verdict(Verdict::Error, observed)
    }

    pub fn skip(self, observed: impl Into<String>) -> Check {
        self.verdict(Verdict::Skip, observed)
    }
}

/// Evaluates every expectation of the case; attest items also yield [`AttestRecord`]s.
pub fn evaluate(scope: &Scope) -> (Vec<Check>, Vec<AttestRecord>) {
    let mut out = Evaluated::default();
    for e in &scope.case.expect {
        let first = out.checks.len();
        e.evaluate(scope, &mut out);
        for c in &mut out.checks[first..] {
            c.fails_on_evidence_alone = e.fails_on_evidence_alone();
            if e.is_refusal() {
                c.needs_control = e.control().cloned();
            }
        }
    }
    (out.checks, out.attest)
}
