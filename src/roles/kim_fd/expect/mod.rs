//! The expectations of kim-fd cases: each judges the exchanges of one probe (found by their
//! labels in the evidence) for the requirement the case names. A refusal is judged next to
//! the accepted counterpart the same probe made just before (the upload at the maximum, the
//! download through the link, the valid token): when that control did not succeed, the
//! check is `error`, never `pass`. A response that breaks the interface file fails the check
//! of the exchange it belongs to (A_20063 for the Account Manager, the KAS requirement the
//! operation serves).

pub mod am;
pub mod kas;
pub mod mta;

#[cfg(test)]
mod tests;

use kvc_mocks::probe::ProbeExchange;

use crate::roles::common::expect::{attest, skip};
use crate::roles::expect::{Judge, Scope, vocabulary};
use crate::runner::model::Check;

vocabulary! {
    /// What must hold on the exchanges of a kim-fd case (`expect:` keys).
    pub enum KimFdExpectation {
        "kas_size_limit" => KasSizeLimit(kas::KasSizeLimit),
        "kas_access_only_by_link" => KasAccess(kas::KasAccess),
        "kas_links_random" => KasLinks(kas::KasLinks),
        "kas_recipient_checked" => KasRecipient(kas::KasRecipient),
        "kas_rate_limit" => KasRateLimit(kas::KasRateLimit),
        "kas_content_length" => KasContentLength(kas::KasContentLength),
        "kas_expired_deleted" => KasExpiry(kas::KasExpiry),
        "am_interface" => AmInterface(am::AmInterface),
        "am_token_checked" => AmToken(am::AmToken),
        "am_revoke_window" => AmRevoke(am::AmRevoke),
        "mta_envelope_sender" => MtaEnvelopeSender(mta::MtaEnvelopeSender),
        "mta_header_sender" => MtaHeaderSender(mta::MtaHeaderSender),
        "attest" => Attest(attest::Attest),
        "skip" => Skip(skip::Skip),
    }
}

/// Declares a family that decides one requirement from one probe's exchanges: its YAML shape
/// (`{requirement: <ID>}` or `{}`) and its `Expect` impl; `$decide(&Probed, Judge) -> Check`.
macro_rules! probe_family {
    ($(#[$doc:meta])* $name:ident, $key:literal, $probe:expr, $expected:literal, $decide:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[serde(default)]
            pub requirement: $crate::roles::expect::Decides,
        }

        impl $crate::roles::expect::Expect for $name {
            fn validate(
                &mut self,
                case: &$crate::roles::expect::CaseHeader,
            ) -> Result<(), String> {
                self.requirement.resolve(case, $key)
            }

            fn evaluate(
                &self,
                scope: &$crate::roles::expect::Scope,
                out: &mut $crate::roles::expect::Evaluated,
            ) {
                let judge = $crate::roles::expect::Judge::new($key, self.requirement.id(), $expected);
                let probed = $crate::roles::kim_fd::expect::Probed::of(scope, $probe);
                out.checks.push($decide(&probed, judge));
            }

            /// What the SUT answered stays answered when a later exchange stalls.
            fn fails_on_evidence_alone(&self) -> bool {
                true
            }
        }
    };
}
pub(crate) use probe_family;

/// The exchanges of one probe in a case.
pub struct Probed<'a> {
    pub probe: &'a str,
    pub all: Vec<&'a ProbeExchange>,
}

impl<'a> Probed<'a> {
    pub fn of(scope: &Scope<'a>, probe: &'a str) -> Probed<'a> {
        Probed {
            probe,
            all: scope
                .obs
                .probes
                .iter()
                .filter(|e| e.probe == probe)
                .collect(),
        }
    }

    /// The (first) exchange with this label.
    pub fn get(&self, label: &str) -> Option<&'a ProbeExchange> {
        self.all.iter().copied().find(|e| e.label == label)
    }

    /// Every exchange whose label starts with `prefix`.
    pub fn starting(&self, prefix: &str) -> Vec<&'a ProbeExchange> {
        self.all
            .iter()
            .copied()
            .filter(|e| e.label.starts_with(prefix))
            .collect()
    }

    /// The interface-file violations among `exchanges`, one line each.
    pub fn violations(exchanges: &[&ProbeExchange]) -> Vec<String> {
        exchanges
            .iter()
            .flat_map(|e| {
                e.violations
                    .iter()
                    .map(move |v| format!("{}: {v}", e.label))
            })
            .collect()
    }

    /// `error`: the probe made no exchange at all (it could not run).
    pub fn nothing(&self, judge: Judge<'_>) -> Option<Check> {
        self.all.is_empty().then(|| {
            judge.error(format!(
                "probe {} made no exchange with the SUT (see the step's detail)",
                self.probe
            ))
        })
    }
}

/// The positive control of a refusal: it must have succeeded (2xx, and `also` if given), else
/// the refusal proves nothing and the check is `error`.
pub fn control<'a>(
    probed: &Probed<'a>,
    label: &str,
    also: impl Fn(&ProbeExchange) -> Result<(), String>,
) -> Result<&'a ProbeExchange, String> {
    let Some(e) = probed.get(label) else {
        return Err(format!(
            "refusal not meaningful: the control `{label}` was never made"
        ));
    };
    if !e.succeeded() {
        return Err(format!(
            "refusal not meaningful: the control did not succeed ({})",
            e.summary()
        ));
    }
    also(e).map_err(|why| {
        format!(
            "refusal not meaningful: the control {why} ({})",
            e.summary()
        )
    })?;
    Ok(e)
}

/// The downloaded body was the uploaded data.
pub fn got_the_data(e: &ProbeExchange) -> Result<(), String> {
    match e.fact("body_equals_upload") {
        Some("true") => Ok(()),
        _ => Err("returned other bytes than were uploaded".into()),
    }
}

/// Whether an exchange gave away the data or the resource ID.
pub fn leaked(e: &ProbeExchange) -> bool {
    e.fact("contains_data") == Some("true") || e.fact("contains_id") == Some("true")
}

/// `a; b; c`.
pub fn lines(items: &[String]) -> String {
    items.join("; ")
}
