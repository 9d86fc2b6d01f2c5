//! `reply: {probe, request, status, contains?, control?}`: the Clientmodul's reply to one
//! command of a probe's dialogue (the first whose request starts with `request`) has one of
//! the `status` codes (SMTP codes; POP3 `+OK` = 200, `-ERR` = 550) and contains `contains`.
//! With `control`, another command of the same dialogue must have been accepted first: a
//! refusal is judged only next to the accepted counterpart (else `error`).

use serde::Deserialize;

use super::{nothing_from, probe_exchanges};
use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Judge, Scope};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The start of the request as recorded (`RCPT TO:<a@b>`, `greeting`, `USER a@b`).
    pub request: String,
    /// The dialogue's label, if the probe holds several.
    #[serde(default)]
    pub label: Option<String>,
    pub status: Vec<u16>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyIs {
    #[serde(default)]
    pub requirement: Decides,
    pub probe: String,
    /// The start of the request as recorded.
    pub request: String,
    /// The dialogue's label, if the probe holds several.
    #[serde(default)]
    pub label: Option<String>,
    pub status: Vec<u16>,
    /// Text the reply must contain (case-insensitive).
    #[serde(default)]
    pub contains: Option<String>,
    /// A fact the probe recorded on the exchange, and the value it must have.
    #[serde(default)]
    pub fact: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub control: Option<Step>,
}

fn find<'a>(
    all: &[&'a kvc_mocks::probe::ProbeExchange],
    request: &str,
    label: Option<&str>,
) -> Option<&'a kvc_mocks::probe::ProbeExchange> {
    all.iter()
        .copied()
        .find(|e| e.request.starts_with(request) && label.is_none_or(|l| e.label == l))
}

fn codes(status: &[u16]) -> String {
    status
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

impl Expect for ReplyIs {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        if self.fact.is_some() != self.value.is_some() {
            return Err("reply: `fact` and `value` go together".into());
        }
        if self.status.is_empty() || self.control.as_ref().is_some_and(|c| c.status.is_empty()) {
            return Err("reply: `status` lists no code".into());
        }
        if !crate::roles::probes(crate::catalogue::Role::KimCm).contains(&self.probe.as_str()) {
            return Err(format!("reply: unknown probe `{}`", self.probe));
        }
        self.requirement.resolve(case, "reply")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let mut expected = format!(
            "{}: the reply to `{}` is {}",
            self.probe,
            self.request,
            codes(&self.status)
        );
        if let Some(c) = &self.contains {
            expected.push_str(&format!(" and contains `{c}`"));
        }
        if let (Some(f), Some(v)) = (&self.fact, &self.value) {
            expected.push_str(&format!("; {f} = {v}"));
        }
        if let Some(c) = &self.control {
            expected.push_str(&format!(
                ", after `{}` was answered {} (the control)",
                c.request,
                codes(&c.status)
            ));
        }
        let judge = Judge::new(
            format!("reply {} {}", self.probe, self.request),
            self.requirement.id(),
            expected,
        );
        let all = probe_exchanges(scope, &self.probe);
        if all.is_empty() {
            out.checks.push(judge.error(nothing_from(&self.probe)));
            return;
        }
        if let Some(c) = &self.control {
            match find(&all, &c.request, c.label.as_deref()) {
                Some(e) if c.status.contains(&e.status) => {}
                Some(e) => {
                    out.checks.push(judge.error(format!(
                        "not meaningful: the control was not accepted ({})",
                        e.summary()
                    )));
                    return;
                }
                None => {
                    out.checks.push(judge.error(format!(
                        "not meaningful: the control `{}` was never sent",
                        c.request
                    )));
                    return;
                }
            }
        }
        let Some(e) = find(&all, &self.request, self.label.as_deref()) else {
            let said: Vec<String> = all.iter().map(|e| e.summary()).collect();
            out.checks.push(judge.error(format!(
                "`{}` was never answered; the dialogue was:\n{}",
                self.request,
                said.join("\n")
            )));
            return;
        };
        let text = e.body_excerpt.clone().unwrap_or_default();
        let mut observed = format!("{}\nreply: {text}", e.summary());
        if !e.facts.is_empty() {
            let facts: Vec<String> = e.facts.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            observed.push_str(&format!("\nfacts: {}", facts.join("; ")));
        }
        if e.status == 0 {
            out.checks.push(judge.error(observed));
            return;
        }
        let contains = self
            .contains
            .as_ref()
            .is_none_or(|c| text.to_lowercase().contains(&c.to_lowercase()));
        let fact = match (&self.fact, &self.value) {
            (Some(f), Some(v)) => match e.fact(f) {
                Some(got) => got == v,
                None => {
                    // Not recorded: the probe could not get that far (a cause elsewhere).
                    out.checks
                        .push(judge.error(format!("{observed}\n`{f}` was not recorded")));
                    return;
                }
            },
            _ => true,
        };
        out.checks
            .push(if self.status.contains(&e.status) && contains && fact {
                judge.pass(observed)
            } else {
                judge.fail(observed)
            });
    }

    fn fails_on_evidence_alone(&self) -> bool {
        true
    }
}

/// `facts_differ: {probe, label, fact}`: the exchanges of `label` in `probe` recorded `fact`
/// at least twice, each time with another value (A_19358: a fresh key and IV per mail).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsDiffer {
    #[serde(default)]
    pub requirement: Decides,
    pub probe: String,
    pub label: String,
    pub fact: String,
}

impl Expect for FactsDiffer {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.requirement.resolve(case, "facts_differ")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let judge = Judge::new(
            format!("facts_differ {}", self.fact),
            self.requirement.id(),
            format!(
                "{}: every `{}` exchange recorded a different {} (at least two)",
                self.probe, self.label, self.fact
            ),
        );
        let values: Vec<&str> = probe_exchanges(scope, &self.probe)
            .into_iter()
            .filter(|e| e.label == self.label)
            .filter_map(|e| e.fact(&self.fact))
            .collect();
        let observed = format!("{}: {}", self.fact, values.join(", "));
        if values.len() < 2 {
            out.checks.push(judge.error(format!(
                "{observed}: fewer than two to compare (see the probe's exchanges)"
            )));
            return;
        }
        let mut unique = values.clone();
        unique.sort();
        unique.dedup();
        out.checks.push(if unique.len() == values.len() {
            judge.pass(observed)
        } else {
            judge.fail(observed)
        });
    }

    fn fails_on_evidence_alone(&self) -> bool {
        true
    }
}
