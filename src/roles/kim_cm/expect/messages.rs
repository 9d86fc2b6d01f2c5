//! The messages of a kim-cm case: the client mail inside what reached the Fachdienst MTA
//! (`sent_inner_header`, opened with the recipient's card key), what the Clientmodul delivered
//! to the client system over POP3 (`delivered`), and the unsigned notice to the sender of a
//! message whose integrity check failed (`sender_informed`).

use serde::Deserialize;

use crate::roles::expect::{CaseHeader, Decides, Evaluated, Expect, Judge, Scope};
use crate::runner::model::MessageRecord;

fn header_values(raw: &[u8], name: &str) -> Vec<String> {
    let (head, _) = kvc_smime::mime::split_header_body(raw);
    kvc_smime::mime::Headers::parse(head)
        .get_all(name)
        .into_iter()
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn shown(values: &[String]) -> String {
    if values.is_empty() {
        "absent".into()
    } else {
        values.join(" | ")
    }
}

/// `sent_inner_header: {header, contains?, excludes?, absent?}`: in every client mail the
/// Clientmodul handed the MTA (opened with a recipient's card key), the header field holds
/// each of `contains`, none of `excludes` (case-insensitive), or is absent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentInnerHeader {
    #[serde(default)]
    pub requirement: Decides,
    pub header: String,
    #[serde(default)]
    pub contains: Vec<String>,
    #[serde(default)]
    pub excludes: Vec<String>,
    #[serde(default)]
    pub absent: bool,
}

impl Expect for SentInnerHeader {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        if self.contains.is_empty() && self.excludes.is_empty() && !self.absent {
            return Err("sent_inner_header: name `contains`, `excludes` or `absent: true`".into());
        }
        self.requirement.resolve(case, "sent_inner_header")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let mut expected = format!(
            "the client mail inside every message the Clientmodul sent: {}",
            self.header
        );
        if self.absent {
            expected.push_str(" absent");
        }
        if !self.contains.is_empty() {
            expected.push_str(&format!(" contains {}", self.contains.join(", ")));
        }
        if !self.excludes.is_empty() {
            expected.push_str(&format!(" and not {}", self.excludes.join(", ")));
        }
        let judge = Judge::new(
            format!("sent_inner_header {}", self.header),
            self.requirement.id(),
            expected,
        );
        let sent: Vec<&MessageRecord> = scope.own.iter().filter(|m| !m.delivered).collect();
        if sent.is_empty() {
            out.checks
                .push(judge.error("no message reached the Fachdienst MTA: nothing to judge"));
            return;
        }
        let mut lines = Vec::new();
        let mut wrong = false;
        for m in sent {
            let Some(inner) = &m.inner else {
                out.checks.push(judge.error(format!(
                    "{}: could not be opened with a recipient's card key ({})",
                    m.file,
                    m.lint.error.clone().unwrap_or_else(|| "not S/MIME".into())
                )));
                return;
            };
            let values = header_values(inner, &self.header);
            let joined = values.join(" ").to_lowercase();
            let ok = if self.absent {
                values.is_empty()
            } else {
                self.contains
                    .iter()
                    .all(|c| joined.contains(&c.to_lowercase()))
                    && self
                        .excludes
                        .iter()
                        .all(|c| !joined.contains(&c.to_lowercase()))
            };
            wrong |= !ok;
            lines.push(format!("{}: {}: {}", m.file, self.header, shown(&values)));
        }
        out.checks.push(judge.fail_if(wrong, lines.join("\n")));
    }

    fn fails_on_evidence_alone(&self) -> bool {
        true
    }
}

/// `delivered: {message?, header?, equals?, contains?, text?, not_text?}`: the message(s) the
/// Clientmodul delivered over POP3 (the `message`-th, 1-based, or every one) carry `header`
/// with the value `equals` (or containing `contains`), and their text holds each of `text`
/// and none of `not_text`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveredMessages {
    #[serde(default)]
    pub requirement: Decides,
    #[serde(default)]
    pub message: Option<usize>,
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
    pub text: Vec<String>,
    #[serde(default)]
    pub not_text: Vec<String>,
}

impl Expect for DeliveredMessages {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        if self.header.is_some() == (self.equals.is_none() && self.contains.is_none()) {
            if self.header.is_some() {
                return Err("delivered: `header` needs `equals` or `contains`".into());
            }
            if self.text.is_empty() && self.not_text.is_empty() {
                return Err("delivered: name a `header` or a `text`".into());
            }
        }
        if self.message == Some(0) {
            return Err("delivered: `message` counts from 1".into());
        }
        self.requirement.resolve(case, "delivered")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let which = self
            .message
            .map(|n| format!("delivered message {n}"))
            .unwrap_or_else(|| "every delivered message".into());
        let mut expected = which.clone();
        if let Some(h) = &self.header {
            match (&self.equals, &self.contains) {
                (Some(v), _) => expected.push_str(&format!(": {h} is `{v}`")),
                (None, Some(v)) => expected.push_str(&format!(": {h} contains `{v}`")),
                (None, None) => {}
            }
        }
        for t in &self.text {
            expected.push_str(&format!("; the text holds `{t}`"));
        }
        for t in &self.not_text {
            expected.push_str(&format!("; the text does not hold `{t}`"));
        }
        let name = match &self.header {
            Some(h) => format!("delivered {h}"),
            None => "delivered text".to_string(),
        };
        let judge = Judge::new(name, self.requirement.id(), expected);
        let delivered: Vec<&MessageRecord> = scope.own.iter().filter(|m| m.delivered).collect();
        let chosen: Vec<&MessageRecord> = match self.message {
            Some(n) => delivered.get(n - 1).copied().into_iter().collect(),
            None => delivered.clone(),
        };
        if chosen.is_empty() {
            out.checks.push(judge.error(format!(
                "the Clientmodul delivered {} message(s): {which} does not exist",
                delivered.len()
            )));
            return;
        }
        let mut lines = Vec::new();
        let mut wrong = false;
        for m in chosen {
            if let Some(h) = &self.header {
                let values = header_values(&m.data, h);
                let ok = match (&self.equals, &self.contains) {
                    (Some(v), _) => values.iter().any(|x| x.trim() == v.trim()),
                    (None, Some(v)) => values.iter().any(|x| x.contains(v.as_str())),
                    (None, None) => true,
                };
                wrong |= !ok;
                lines.push(format!("{}: {h}: {}", m.file, shown(&values)));
            }
            let text = String::from_utf8_lossy(&m.data);
            for t in &self.text {
                let ok = text.contains(t.as_str());
                wrong |= !ok;
                lines.push(format!(
                    "{}: text `{t}` {}",
                    m.file,
                    if ok { "present" } else { "missing" }
                ));
            }
            for t in &self.not_text {
                let ok = !text.contains(t.as_str());
                wrong |= !ok;
                lines.push(format!(
                    "{}: text `{t}` {}",
                    m.file,
                    if ok { "absent" } else { "present" }
                ));
            }
        }
        out.checks.push(judge.fail_if(wrong, lines.join("\n")));
    }

    fn fails_on_evidence_alone(&self) -> bool {
        true
    }
}

/// `sender_informed: {to, header, value?, names?}`: the Clientmodul handed the MTA an
/// unsigned, unencrypted message to `to` carrying `header` (with the value `value`, when
/// given) whose text names each address of `names` (A_23165: the DSN about a failed integrity
/// check; A_19356: the DSN naming the removed recipients).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderInformed {
    #[serde(default)]
    pub requirement: Decides,
    pub to: String,
    pub header: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub names: Vec<String>,
    /// The notice follows a send, not a delivery (A_19363): no delivered message is needed.
    #[serde(default)]
    pub on_send: bool,
}

impl Expect for SenderInformed {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        self.requirement.resolve(case, "sender_informed")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let mut expected = format!(
            "a message to {} that is neither signed nor encrypted and carries {}",
            self.to, self.header
        );
        if let Some(v) = &self.value {
            expected.push_str(&format!(" `{v}`"));
        }
        if !self.names.is_empty() {
            expected.push_str(&format!(" and names {}", self.names.join(", ")));
        }
        expected.push_str(" reached the MTA");
        let judge = Judge::new("sender_informed", self.requirement.id(), expected);
        if !self.on_send && !scope.own.iter().any(|m| m.delivered) {
            out.checks.push(judge.error(
                "the Clientmodul delivered nothing to the client system: the message was not received",
            ));
            return;
        }
        let sent: Vec<&MessageRecord> = scope
            .own
            .iter()
            .filter(|m| !m.delivered && m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(&self.to)))
            .collect();
        let mut lines = Vec::new();
        for m in &sent {
            let smime = kvc_smime::message::is_smime_encrypted(&m.data)
                || header_values(&m.data, "Content-Type")
                    .iter()
                    .any(|v| v.to_lowercase().contains("pkcs7"));
            let values = header_values(&m.data, &self.header);
            let value_ok = match &self.value {
                Some(v) => values.iter().any(|x| x.trim() == v.trim()),
                None => !values.is_empty(),
            };
            let text = String::from_utf8_lossy(&m.data).to_lowercase();
            let missing: Vec<&str> = self
                .names
                .iter()
                .filter(|n| !text.contains(&n.to_lowercase()))
                .map(String::as_str)
                .collect();
            if !smime && value_ok && missing.is_empty() {
                out.checks.push(judge.pass(format!(
                    "{}: to {}, {}: {}{}",
                    m.file,
                    self.to,
                    self.header,
                    values.join(" | "),
                    if self.names.is_empty() {
                        String::new()
                    } else {
                        format!("; names {}", self.names.join(", "))
                    }
                )));
                return;
            }
            lines.push(format!(
                "{}: {}; {}: {}{}",
                m.file,
                if smime { "S/MIME" } else { "plain" },
                self.header,
                shown(&values),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!("; does not name {}", missing.join(", "))
                }
            ));
        }
        out.checks.push(judge.fail(if lines.is_empty() {
            format!("no message to {} reached the MTA", self.to)
        } else {
            lines.join("\n")
        }));
    }
}

/// `sent_envelope: {includes, excludes}`: every S/MIME message the Clientmodul handed the MTA
/// went to each address of `includes` (the control: the message was sent at all) and to none
/// of `excludes` (KOM-LE-A_2178, A_19356: a recipient that must be removed). Unsigned notices
/// (DSNs) are not judged here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentEnvelope {
    #[serde(default)]
    pub requirement: Decides,
    pub includes: Vec<String>,
    #[serde(default)]
    pub excludes: Vec<String>,
}

impl Expect for SentEnvelope {
    fn validate(&mut self, case: &CaseHeader) -> Result<(), String> {
        if self.includes.is_empty() {
            return Err(
                "sent_envelope: name the recipient(s) in `includes` that show the mail was sent"
                    .into(),
            );
        }
        self.requirement.resolve(case, "sent_envelope")
    }

    fn evaluate(&self, scope: &Scope, out: &mut Evaluated) {
        let mut expected = format!(
            "every S/MIME message that reached the MTA went to {}",
            self.includes.join(", ")
        );
        if !self.excludes.is_empty() {
            expected.push_str(&format!(" and not to {}", self.excludes.join(", ")));
        }
        let judge = Judge::new("sent_envelope", self.requirement.id(), expected);
        let sent: Vec<&MessageRecord> = scope
            .own
            .iter()
            .filter(|m| !m.delivered && kvc_smime::message::is_smime_encrypted(&m.data))
            .collect();
        if sent.is_empty() {
            out.checks.push(
                judge.error(
                    "no S/MIME message reached the Fachdienst MTA: the control did not happen",
                ),
            );
            return;
        }
        let has = |m: &MessageRecord, a: &str| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(a));
        let mut lines = Vec::new();
        let mut wrong = false;
        for m in sent {
            let ok =
                self.includes.iter().all(|a| has(m, a)) && !self.excludes.iter().any(|a| has(m, a));
            wrong |= !ok;
            lines.push(format!("{}: RCPT TO {}", m.file, m.rcpt_to.join(", ")));
        }
        out.checks.push(judge.fail_if(wrong, lines.join("\n")));
    }

    fn fails_on_evidence_alone(&self) -> bool {
        true
    }
}
