//! Header expectations beyond the lint rules: the Dienstkennung fallback application and one
//! spelling of X-KVC-Sendersystem across messages.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::message::Message;
use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Scope, check};
use crate::rules::Rule;
use crate::rules::kvc::{DIENSTKENNUNG, DienstkennungFallback, DienstkennungPresent, SENDERSYSTEM};
use crate::runner::model::{Check, Verdict};
use crate::suite::OverScope;

/// The unfolded values of a header field in a message.
pub fn header_values(data: &[u8], name: &str) -> Vec<String> {
    let msg = Message::new(data);
    msg.fields_named(name)
        .map(|f| msg.unfolded_value(f))
        .collect()
}

/// `dienstkennung_app: APP`: the application part of X-KVC-Dienstkennung of every message
/// captured in this case equals APP; `fallback` = the registry's `fallback_app`.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct DienstkennungApp {
    pub app: String,
}

impl Expect for DienstkennungApp {
    fn validate(&mut self, _: &CaseHeader) -> Result<(), String> {
        if self.app.is_empty() {
            return Err("dienstkennung_app: empty value".into());
        }
        Ok(())
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        out.checks.push(dienstkennung_app(scope, &self.app));
    }

    /// A wrong application part in a captured message stays wrong.
    fn fails_on_evidence_alone(&self) -> bool {
        true
    }
}

fn dienstkennung_app(scope: &Scope, app: &str) -> Check {
    let expected_app = if app == "fallback" {
        scope.registry.fallback_app().to_string()
    } else {
        app.to_string()
    };
    let name = format!("dienstkennung_app {app}");
    // The requirements named in the evidence are those of the lint rules for the same field.
    let expected = format!(
        "the application part of X-KVC-Dienstkennung is `{expected_app}`{} in every message of this case",
        if app == "fallback" {
            format!(
                " (the registry's fallback_app, {})",
                DienstkennungFallback.requirement()
            )
        } else {
            String::new()
        }
    );
    if scope.own.is_empty() {
        return check(name, None, Verdict::Error, expected, "no message captured");
    }
    let mut bad = Vec::new();
    let mut seen = Vec::new();
    let mut absent = Vec::new();
    for m in scope.own {
        let values = header_values(&m.data, DIENSTKENNUNG);
        let Some(value) = values.first() else {
            absent.push(format!(
                "{}: no X-KVC-Dienstkennung field (see {})",
                m.file,
                DienstkennungPresent.requirement()
            ));
            continue;
        };
        let part1 = value.split(';').next().unwrap_or_default().trim();
        let ok = part1 == expected_app
            || part1
                .strip_prefix(expected_app.as_str())
                .is_some_and(|rest| rest.starts_with('-'));
        if ok {
            seen.push(format!("{}: `{value}`", m.file));
        } else {
            bad.push(format!(
                "{}: `{value}` (application part `{part1}`)",
                m.file
            ));
        }
    }
    if !bad.is_empty() {
        check(name, None, Verdict::Fail, expected, bad.join("\n"))
    } else if !absent.is_empty() {
        // Like lint's "not evaluated": a missing field is the presence rule's failure, and
        // this check cannot decide the fallback without it.
        check(name, None, Verdict::Error, expected, absent.join("\n"))
    } else {
        check(name, None, Verdict::Pass, expected, seen.join("\n"))
    }
}

/// `sendersystem_consistent: {over: case|run}`: X-KVC-Sendersystem is spelled identically in
/// every message in scope.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendersystemConsistent {
    #[serde(default)]
    pub over: OverScope,
    #[serde(default)]
    pub requirement: Decides,
}

impl Expect for SendersystemConsistent {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.requirement.resolve(case, "sendersystem_consistent")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        out.checks.push(self.judge(scope));
    }
}

impl SendersystemConsistent {
    fn judge(&self, scope: &Scope) -> Check {
        let req = Some(self.requirement.id());
        let messages = scope.messages(self.over);
        let name = format!(
            "sendersystem_consistent{}",
            if self.over == OverScope::Run {
                " (all messages of the run)"
            } else {
                ""
            }
        );
        let expected =
            "X-KVC-Sendersystem spelled identically (byte for byte) in every message".to_string();
        let mut spellings: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in &messages {
            for v in header_values(&m.data, SENDERSYSTEM) {
                spellings.entry(v).or_default().push(m.reference.clone());
            }
        }
        let with_header: usize = spellings.values().map(Vec::len).sum();
        if with_header < 2 {
            return check(
                name,
                req,
                Verdict::Error,
                expected,
                format!(
                    "{} message(s) in scope, {with_header} with X-KVC-Sendersystem: at least two are needed to compare",
                    messages.len()
                ),
            );
        }
        let verdict = if spellings.len() == 1 {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        let described = spellings
            .iter()
            .map(|(v, refs)| format!("`{v}` in {} message(s): {}", refs.len(), refs.join(", ")))
            .collect::<Vec<_>>()
            .join("\n");
        check(name, req, verdict, expected, described)
    }
}
