//! Expectation families every role may use: lint results, message count, human attestation
//! and skipping.

pub mod attest;
pub mod lint;
pub mod messages;
pub mod skip;

use crate::roles::expect::vocabulary;

vocabulary! {
    /// The vocabulary of a role without families of its own.
    pub enum CommonExpectation {
        "lint" => Lint(lint::Lint),
        "messages" => Messages(messages::Messages),
        "attest" => Attest(attest::Attest),
        "skip" => Skip(skip::Skip),
    }
}
