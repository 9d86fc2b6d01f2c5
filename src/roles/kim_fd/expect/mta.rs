//! The MTA checks, each on the SMTP transactions of its probe (`probes/mta.rs`).

use kvc_mocks::probe::ProbeExchange;

use super::{Probed, probe_family};
use crate::roles::expect::Judge;
use crate::roles::kim_fd::probes::mta as probe;
use crate::runner::model::Check;

/// How a transaction ended: accepted at the end of DATA, refused at a step (5xx), or neither.
enum Outcome<'a> {
    Accepted,
    Refused(&'a ProbeExchange),
    Unclear(String),
}

fn outcome<'a>(p: &Probed<'a>, label: &str) -> Outcome<'a> {
    let steps: Vec<&ProbeExchange> = p.all.iter().copied().filter(|e| e.label == label).collect();
    if let Some(r) = steps.iter().find(|e| (500..600).contains(&e.status)) {
        return Outcome::Refused(r);
    }
    match steps.iter().find(|e| e.request == "end of DATA") {
        Some(e) if e.status == 250 => Outcome::Accepted,
        Some(e) => Outcome::Unclear(e.summary()),
        None => Outcome::Unclear(
            steps
                .last()
                .map(|e| e.summary())
                .unwrap_or_else(|| format!("{label}: no exchange")),
        ),
    }
}

/// The control transaction was accepted, each of `refused` refused with 5xx.
fn judge_sends(p: &Probed, judge: Judge, control: &str, refused: &[&str]) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    match outcome(p, control) {
        Outcome::Accepted => {}
        Outcome::Refused(e) => {
            return judge.error(format!(
                "refusal not meaningful: the control was refused ({})",
                e.summary()
            ));
        }
        Outcome::Unclear(why) => {
            return judge.error(format!(
                "refusal not meaningful: the control did not go through ({why})"
            ));
        }
    }
    let mut seen = Vec::new();
    for label in refused {
        match outcome(p, label) {
            Outcome::Refused(e) => seen.push(e.summary()),
            Outcome::Accepted => {
                return judge.fail(format!("{label}: accepted (250 at the end of DATA)"));
            }
            Outcome::Unclear(why) => return judge.error(format!("{label}: {why}")),
        }
    }
    judge.pass(seen.join("; "))
}

probe_family!(
    /// A_23421: MAIL FROM must be the AUTH user.
    MtaEnvelopeSender, "mta_envelope_sender", probe::ENVELOPE_SENDER,
    "MAIL FROM the AUTH user accepted; MAIL FROM another address refused with 5xx",
    envelope
);

fn envelope(p: &Probed, judge: Judge) -> Check {
    judge_sends(
        p,
        judge,
        "MAIL FROM the AUTH user",
        &["MAIL FROM another address"],
    )
}

probe_family!(
    /// A_23422: From and Sender must be MAIL FROM, Reply-To a KIM address.
    MtaHeaderSender, "mta_header_sender", probe::HEADER_SENDER,
    "agreeing sender fields accepted; From, Sender or Reply-To that disagree refused with 5xx",
    header
);

fn header(p: &Probed, judge: Judge) -> Check {
    judge_sends(
        p,
        judge,
        "sender fields agree",
        &[
            "From another address",
            "Sender another address",
            "Reply-To outside KIM",
        ],
    )
}
