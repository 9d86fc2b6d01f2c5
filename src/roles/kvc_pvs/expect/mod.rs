//! The expectations of kvc-pvs cases: the common families plus the KV-Connect ones (transport,
//! TLS refusal, mailbox handling, REST sending, header consistency, the SUT's store).

pub mod evidence;
pub mod headers;
pub mod mailbox;
pub mod rest_send;
pub mod stored;
pub mod tls;
pub mod transport;

#[cfg(test)]
mod tests;

use crate::roles::common::expect::{attest, lint, messages, skip};
use crate::roles::expect::vocabulary;

vocabulary! {
    /// What must hold on the observations of a kvc-pvs case (`expect:` keys, in the order
    /// serde lists them in an error).
    pub enum KvcPvsExpectation {
        "lint" => Lint(lint::Lint),
        "messages" => Messages(messages::Messages),
        "dienstkennung_app" => DienstkennungApp(headers::DienstkennungApp),
        "sendersystem_consistent" => SendersystemConsistent(headers::SendersystemConsistent),
        "transport" => Transport(transport::Transport),
        "pop3_retrieved_all" => Pop3RetrievedAll(mailbox::Pop3RetrievedAll),
        "tls_refused" => TlsRefused(tls::TlsRefused),
        "send_aborted" => SendAborted(rest_send::SendAborted),
        "not_encrypted_to" => NotEncryptedTo(rest_send::NotEncryptedTo),
        "kept_on_server" => KeptOnServer(mailbox::KeptOnServer),
        "deleted_after_fetch" => DeletedAfterFetch(mailbox::DeletedAfterFetch),
        "fetched_all" => FetchedAll(mailbox::FetchedAll),
        "send_failure_reported" => SendFailureReported(rest_send::SendFailureReported),
        "delete_failure_reported" => DeleteFailureReported(rest_send::DeleteFailureReported),
        "stored" => Stored(stored::Stored),
        "attest" => Attest(attest::Attest),
        "skip" => Skip(skip::Skip),
    }
}
