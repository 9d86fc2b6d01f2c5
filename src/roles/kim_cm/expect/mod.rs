//! The expectations of kim-cm cases. What the Clientmodul answered the client system
//! (`replies.rs`: a command's reply, next to the accepted control of the same dialogue), which
//! Konnektor calls it made (`konnektor.rs`), what reached the Fachdienst MTA and what it
//! delivered over POP3 (`messages.rs`). The header and S/MIME rules of `kvc-check lint` come
//! through the common `lint` family over the same messages.

pub mod konnektor;
pub mod messages;
pub mod replies;

#[cfg(test)]
mod tests;

use kvc_mocks::probe::ProbeExchange;

use crate::roles::common::expect::{attest, lint, skip};
use crate::roles::expect::{Scope, vocabulary};

vocabulary! {
    /// What must hold on what a kim-cm case observed (`expect:` keys).
    pub enum KimCmExpectation {
        "reply" => Reply(replies::ReplyIs),
        "facts_differ" => FactsDiffer(replies::FactsDiffer),
        "konnektor_calls" => KonnektorCalls(konnektor::KonnektorCalls),
        "sent_inner_header" => SentInnerHeader(messages::SentInnerHeader),
        "delivered" => Delivered(messages::DeliveredMessages),
        "sender_informed" => SenderInformed(messages::SenderInformed),
        "sent_envelope" => SentEnvelope(messages::SentEnvelope),
        "lint" => Lint(lint::Lint),
        "attest" => Attest(attest::Attest),
        "skip" => Skip(skip::Skip),
    }
}

/// The exchanges of one probe in a case, in order.
pub fn probe_exchanges<'a>(scope: &Scope<'a>, probe: &str) -> Vec<&'a ProbeExchange> {
    scope
        .obs
        .probes
        .iter()
        .filter(|e| e.probe == probe)
        .collect()
}

/// `error` text when a probe made no exchange (it could not run).
pub fn nothing_from(probe: &str) -> String {
    format!("probe {probe} made no exchange with the Clientmodul (see the step's detail)")
}
