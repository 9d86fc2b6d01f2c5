//! The rule engine: static checks on one message, each tied to a catalogue requirement.
//!
//! `kvc-check lint` runs a profile's rules on a file; the runner runs the same rules on every
//! message it captures. A rule never decides a verdict by itself: it emits findings (error or
//! warning) with a location, or says why it could not evaluate the message. The verdict per
//! requirement is derived from those in one place (`evaluate`).

/// Declares a rule type: its id, the requirement it checks, its description, the profiles it
/// applies to (`|profile| expression`); its check is the type's own `run`.
macro_rules! declare_rule {
    ($ty:ident, $id:literal, $req:literal, $desc:literal, |$profile:ident| $applies:expr) => {
        pub struct $ty;
        impl $crate::rules::Rule for $ty {
            fn id(&self) -> &'static str {
                $id
            }
            fn requirement(&self) -> &'static str {
                $req
            }
            fn description(&self) -> &'static str {
                $desc
            }
            fn applies_to(&self, $profile: $crate::rules::Profile) -> bool {
                $applies
            }
            fn check(
                &self,
                msg: &$crate::message::Message,
                ctx: &$crate::rules::RuleContext,
                out: &mut $crate::rules::Emitter,
            ) {
                self.run(msg, ctx, out)
            }
        }
    };
}
pub(crate) use declare_rule;

pub mod kim;
pub mod kvc;
pub mod kvc_registry;
pub mod msg_id;
pub mod personal_data;

use serde::{Deserialize, Serialize};

use crate::message::Message;
pub use kvc_registry::KvcRegistry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Where in the message a finding points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Location {
    /// The message as a whole (e.g. a field that is missing).
    Message,
    /// A header field, by name as spelled in the message, with the line it starts on.
    Header { name: String, line: usize },
    /// A line of the message (1-based).
    Line { line: usize },
    /// A field of the S/MIME structure (`lint --key`, KOM-LE profile checks): the field's name
    /// and its ASN.1 path, e.g. `SignedData.signerInfos[0].unsignedAttrs`.
    Structure { field: String, path: String },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Message => f.write_str("message"),
            Location::Header { name, line } => write!(f, "line {line}, header {name}"),
            Location::Line { line } => write!(f, "line {line}"),
            Location::Structure { path, .. } => f.write_str(path),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub requirement: &'static str,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
}

/// The profile a message is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Profile {
    #[serde(rename = "kvc")]
    Kvc,
    #[serde(rename = "kim-1.0")]
    Kim10,
    #[serde(rename = "kim-1.5")]
    Kim15,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Kvc, Profile::Kim10, Profile::Kim15];

    /// The profile spelled `kvc`, `kim-1.0` or `kim-1.5`.
    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Kvc => "kvc",
            Profile::Kim10 => "kim-1.0",
            Profile::Kim15 => "kim-1.5",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule may consult besides the message.
pub struct RuleContext<'r> {
    pub profile: Profile,
    pub kvc_registry: &'r KvcRegistry,
}

/// A static check for one requirement.
pub trait Rule: Send + Sync {
    /// Stable identifier (used as SARIF rule id), e.g. `kvc/no-bcc`.
    fn id(&self) -> &'static str;
    /// Catalogue ID of the requirement this rule decides.
    fn requirement(&self) -> &'static str;
    /// One line describing what the rule checks.
    fn description(&self) -> &'static str;
    fn applies_to(&self, profile: Profile) -> bool;
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter);
}

/// Collects what rules say about one message.
#[derive(Default)]
pub struct Emitter {
    findings: Vec<Finding>,
    /// (rule, requirement, reason) for every rule that could not judge the message.
    not_evaluated: Vec<(&'static str, &'static str, String)>,
    current: Option<(&'static str, &'static str)>,
}

impl Emitter {
    fn push(&mut self, severity: Severity, location: Location, message: String) {
        // `current` is always set by `evaluate` before a rule runs.
        let (rule, requirement) = self.current.unwrap_or(("unknown", "unknown"));
        self.findings.push(Finding {
            rule,
            requirement,
            severity,
            message,
            location,
        });
    }

    pub fn error(&mut self, location: Location, message: impl Into<String>) {
        self.push(Severity::Error, location, message.into());
    }

    pub fn warning(&mut self, location: Location, message: impl Into<String>) {
        self.push(Severity::Warning, location, message.into());
    }

    /// The rule could not judge this message (e.g. the field it checks is absent and another
    /// requirement covers that); the requirement is reported as skipped with this reason.
    pub fn not_evaluated(&mut self, reason: impl Into<String>) {
        if let Some((rule, requirement)) = self.current {
            self.not_evaluated.push((rule, requirement, reason.into()));
        }
    }
}

/// Verdict of one requirement on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequirementVerdict {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequirementResult {
    pub requirement: &'static str,
    pub verdict: RequirementVerdict,
    /// Why the requirement was skipped, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcome of running a rule set on one message.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    pub requirements: Vec<RequirementResult>,
}

impl Evaluation {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// All rules known to the engine, in report order.
pub fn all_rules() -> Vec<&'static dyn Rule> {
    kvc::RULES.iter().chain(kim::RULES).copied().collect()
}

/// Runs every rule that applies to `ctx.profile` and rolls findings up per requirement: a
/// requirement fails when one of its rules emitted an error, is skipped when none of its rules
/// could evaluate the message, and passes otherwise.
pub fn evaluate(msg: &Message, ctx: &RuleContext) -> Evaluation {
    let mut emitter = Emitter::default();
    let mut order: Vec<&'static str> = Vec::new();
    let mut ran: Vec<(&'static str, &'static str)> = Vec::new();
    for rule in all_rules()
        .into_iter()
        .filter(|r| r.applies_to(ctx.profile))
    {
        emitter.current = Some((rule.id(), rule.requirement()));
        rule.check(msg, ctx, &mut emitter);
        ran.push((rule.id(), rule.requirement()));
        if !order.contains(&rule.requirement()) {
            order.push(rule.requirement());
        }
    }
    let requirements = order
        .into_iter()
        .map(|requirement| {
            let failed = emitter
                .findings
                .iter()
                .any(|f| f.requirement == requirement && f.severity == Severity::Error);
            // Skipped only when no rule of the requirement could evaluate the message.
            let all_skipped = ran
                .iter()
                .filter(|(_, req)| *req == requirement)
                .all(|(id, _)| emitter.not_evaluated.iter().any(|(r, _, _)| r == id));
            let skip_reason = emitter
                .not_evaluated
                .iter()
                .find(|(_, r, _)| *r == requirement)
                .filter(|_| all_skipped)
                .map(|(_, _, reason)| reason.clone());
            match (failed, skip_reason) {
                (true, _) => RequirementResult {
                    requirement,
                    verdict: RequirementVerdict::Fail,
                    reason: None,
                },
                (false, Some(reason)) => RequirementResult {
                    requirement,
                    verdict: RequirementVerdict::Skip,
                    reason: Some(reason),
                },
                (false, None) => RequirementResult {
                    requirement,
                    verdict: RequirementVerdict::Pass,
                    reason: None,
                },
            }
        })
        .collect();
    Evaluation {
        findings: emitter.findings,
        requirements,
    }
}

/// Finds the single field named `name`, emitting an error for duplicates. Returns the first one
/// (so later rules can still look at a value) or `None` when absent.
pub fn single_field<'m>(
    msg: &'m Message,
    name: &str,
    out: &mut Emitter,
) -> Option<&'m crate::message::RawField> {
    let fields: Vec<&'m crate::message::RawField> = msg.fields_named(name).collect();
    let first = *fields.first()?;
    let extra: Vec<_> = fields[1..].iter().map(|f| f.line.to_string()).collect();
    if !extra.is_empty() {
        out.error(
            header_location(first),
            format!(
                "{name} appears {} times (lines {}, {}); exactly one field is allowed",
                extra.len() + 1,
                first.line,
                extra.join(", ")
            ),
        );
    }
    Some(first)
}

pub fn header_location(field: &crate::message::RawField) -> Location {
    Location::Header {
        name: field.name.clone(),
        line: field.line,
    }
}
