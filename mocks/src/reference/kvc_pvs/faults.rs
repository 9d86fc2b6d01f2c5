//! The named faults of the reference PVS: each breaks exactly one requirement and changes
//! nothing else; printed and parsed as the requirement ID (`--fault KVC-Anb170`).

use std::fmt;
use std::str::FromStr;

use super::PvsError;
use crate::reference::Fault;

/// Declares [`PvsFault`] and [`PvsFault::all`] from one list, so a new fault cannot be left
/// out of the fault matrix.
macro_rules! pvs_faults {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// One fault of the reference PVS; each breaks exactly one requirement and changes
        /// nothing else.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum PvsFault {
            $($(#[$doc])* $name,)*
        }

        impl PvsFault {
            /// Every fault, in declaration order.
            pub fn all() -> &'static [PvsFault] {
                &[$(PvsFault::$name,)*]
            }
        }
    };
}

pvs_faults! {
    /// KVC-Anb010: `send` returns Ok, but nothing is sent (no SMTP transaction; on the REST
    /// transport no `POST mails`).
    NotSent,
    /// KVC-Anb020: `fetch_all` skips (neither RETR nor DELE) messages whose Dienstkennung
    /// application it does not know (it knows Arztbrief and eNachricht), after peeking with TOP.
    SkipsUnknownApplications,
    /// KVC-Anb021: accepts any server certificate (no chain, validity or name check).
    AcceptsAnyCertificate,
    /// KVC-Anb023: bare LF instead of CRLF at every line end of the message.
    BareLf,
    /// KVC-Anb090: no X-KVC-Sendersystem field.
    NoSendersystem,
    /// KVC-Anb100: X-KVC-Sendersystem without the version part (`kvc-check-reference-pvs`).
    SendersystemWithoutVersion,
    /// KVC-Anb100 ("KVC-Anb100-consistency"): every second message spells X-KVC-Sendersystem
    /// differently ([`SENDERSYSTEM_OTHER_SPELLING`]); each message alone is well-formed.
    SendersystemInconsistent,
    /// KVC-Anb110: no X-KVC-Dienstkennung field.
    NoDienstkennung,
    /// KVC-Anb120: Dienstkennung in the wrong case (`Arztbrief;vhitg-versand;V1.0`; for the
    /// fallback `eNachricht;lieferung;V2.1`). The application part keeps its case, so a
    /// registry lookup still finds the application and reports the spelling.
    DienstkennungWrongCase,
    /// KVC-Anb130: an unspecified application sends an invented Dienstkennung
    /// (`Praxisnachricht;Lieferung;V1.0`) instead of the eNachricht fallback. Only
    /// [`Application::Unspecified`] messages change.
    InventedDienstkennung,
    /// KVC-Anb140: the Arztbrief goes out with Subject `eArztbrief`. Only
    /// [`Application::Arztbrief`] messages change.
    WrongSubject,
    /// KVC-Anb150: the unspecified application's Subject carries a patient name and a labelled
    /// birth date. Only [`Application::Unspecified`] messages change.
    PersonalDataInSubject,
    /// KVC-Anb160: Message-ID without angle brackets.
    MessageIdWithoutBrackets,
    /// KVC-Anb170: a Bcc header field (with the sender's address; the envelope is unchanged).
    BccHeader,
    /// KVC-Anb022 (REST transport only): badly signed messages (bad signature, untrusted signer,
    /// signer ≠ From) are stored as valid, without a warning, instead of being discarded.
    KeepsBadSignatures,
    /// KVC-Anb080 (REST transport only): the recipient certificate's validity is not checked, so
    /// an expired (or not yet valid) certificate is used for encryption.
    EncryptsToExpiredCertificate,
    /// KVC-Anb010 ("KVC-Anb010-missing-certificate", REST transport only): a recipient without
    /// certificate is skipped; the message is posted encrypted to the others and the own
    /// certificate only, instead of aborting the send.
    IgnoresMissingCertificate,
    /// KVC-Anb010 ("KVC-Anb010-deletes-undecryptable", REST transport only): every message is
    /// deleted on the server right after its GET, before decrypting (like the INS PVS), so an
    /// undecryptable message is lost.
    DeletesUndecryptable,
    /// KVC-Anb010 ("KVC-Anb010-delete-before-fetch", REST transport only): the DELETE of a
    /// message is sent before its GET.
    DeletesBeforeFetch,
    /// KVC-Anb010 ("KVC-Anb010-ignores-send-failure", REST transport only): a `POST mails`
    /// the server refuses (non-2xx) is reported as sent.
    IgnoresSendFailure,
    /// KVC-Anb010 ("KVC-Anb010-ignores-delete-failure", REST transport only): a `DELETE` the
    /// server refuses is not reported (no warning, the receive run counts as successful).
    IgnoresDeleteFailure,
}

impl PvsFault {
    /// Whether the fault acts on the REST transport ([`crate::reference::kvc_pvs::rest::RestPvs`])
    /// only; on the SMTP/POP3 transport ([`ReferencePvs`]) it changes nothing.
    pub fn rest_only(&self) -> bool {
        matches!(
            self,
            PvsFault::KeepsBadSignatures
                | PvsFault::EncryptsToExpiredCertificate
                | PvsFault::IgnoresMissingCertificate
                | PvsFault::DeletesUndecryptable
                | PvsFault::DeletesBeforeFetch
                | PvsFault::IgnoresSendFailure
                | PvsFault::IgnoresDeleteFailure
        )
    }

    /// The requirement this fault breaks.
    pub fn requirement(&self) -> &'static str {
        match self {
            PvsFault::SendersystemInconsistent => "KVC-Anb100",
            PvsFault::IgnoresMissingCertificate
            | PvsFault::DeletesUndecryptable
            | PvsFault::DeletesBeforeFetch
            | PvsFault::IgnoresSendFailure
            | PvsFault::IgnoresDeleteFailure => "KVC-Anb010",
            other => other.id(),
        }
    }

    /// The name it is printed and parsed as: the requirement ID, with a suffix where one
    /// requirement has several faults (`KVC-Anb100-consistency`).
    pub fn id(&self) -> &'static str {
        match self {
            PvsFault::NotSent => "KVC-Anb010",
            PvsFault::SkipsUnknownApplications => "KVC-Anb020",
            PvsFault::AcceptsAnyCertificate => "KVC-Anb021",
            PvsFault::BareLf => "KVC-Anb023",
            PvsFault::NoSendersystem => "KVC-Anb090",
            PvsFault::SendersystemWithoutVersion => "KVC-Anb100",
            PvsFault::SendersystemInconsistent => "KVC-Anb100-consistency",
            PvsFault::NoDienstkennung => "KVC-Anb110",
            PvsFault::DienstkennungWrongCase => "KVC-Anb120",
            PvsFault::InventedDienstkennung => "KVC-Anb130",
            PvsFault::WrongSubject => "KVC-Anb140",
            PvsFault::PersonalDataInSubject => "KVC-Anb150",
            PvsFault::MessageIdWithoutBrackets => "KVC-Anb160",
            PvsFault::BccHeader => "KVC-Anb170",
            PvsFault::KeepsBadSignatures => "KVC-Anb022",
            PvsFault::EncryptsToExpiredCertificate => "KVC-Anb080",
            PvsFault::IgnoresMissingCertificate => "KVC-Anb010-missing-certificate",
            PvsFault::DeletesUndecryptable => "KVC-Anb010-deletes-undecryptable",
            PvsFault::DeletesBeforeFetch => "KVC-Anb010-delete-before-fetch",
            PvsFault::IgnoresSendFailure => "KVC-Anb010-ignores-send-failure",
            PvsFault::IgnoresDeleteFailure => "KVC-Anb010-ignores-delete-failure",
        }
    }

    /// One line saying what the fault does.
    pub fn description(&self) -> &'static str {
        match self {
            PvsFault::NotSent => "send reports success but nothing reaches the SMTP transport",
            PvsFault::SkipsUnknownApplications => {
                "fetch skips messages of applications the PVS does not know"
            }
            PvsFault::AcceptsAnyCertificate => "accepts any server certificate",
            PvsFault::BareLf => "bare LF line ends in the message",
            PvsFault::NoSendersystem => "no X-KVC-Sendersystem",
            PvsFault::SendersystemWithoutVersion => "X-KVC-Sendersystem without version part",
            PvsFault::SendersystemInconsistent => {
                "X-KVC-Sendersystem spelled differently in every second message"
            }
            PvsFault::NoDienstkennung => "no X-KVC-Dienstkennung",
            PvsFault::DienstkennungWrongCase => "X-KVC-Dienstkennung in the wrong case",
            PvsFault::InventedDienstkennung => {
                "unspecified application with an invented Dienstkennung instead of the fallback"
            }
            PvsFault::WrongSubject => "wrong Subject for the Arztbrief",
            PvsFault::PersonalDataInSubject => {
                "patient name and birth date in the Subject of an unspecified application"
            }
            PvsFault::MessageIdWithoutBrackets => "Message-ID without angle brackets",
            PvsFault::BccHeader => "a Bcc header field",
            PvsFault::KeepsBadSignatures => {
                "REST: badly signed messages are stored as valid, without a warning"
            }
            PvsFault::EncryptsToExpiredCertificate => {
                "REST: encrypts to a recipient certificate without checking its validity"
            }
            PvsFault::IgnoresMissingCertificate => {
                "REST: a recipient without certificate is skipped instead of aborting the send"
            }
            PvsFault::DeletesUndecryptable => {
                "REST: deletes every message right after fetching it, before decrypting"
            }
            PvsFault::DeletesBeforeFetch => "REST: deletes a message before fetching it",
            PvsFault::IgnoresSendFailure => {
                "REST: reports a message as sent although the server refused it"
            }
            PvsFault::IgnoresDeleteFailure => {
                "REST: says nothing when the server refuses to delete a message"
            }
        }
    }
}

impl fmt::Display for PvsFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for PvsFault {
    type Err = PvsError;

    /// Parses the ID (case-insensitive), e.g. "KVC-Anb170" or "KVC-Anb100-consistency".
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        PvsFault::all()
            .iter()
            .find(|f| f.id().eq_ignore_ascii_case(s))
            .copied()
            .ok_or_else(|| {
                let known: Vec<&str> = PvsFault::all().iter().map(|f| f.id()).collect();
                PvsError::UnknownFault(format!(
                    "`{s}` is not a fault of the reference PVS; known: {}",
                    known.join(", ")
                ))
            })
    }
}

impl Fault for PvsFault {
    fn all() -> &'static [PvsFault] {
        PvsFault::all()
    }

    fn id(&self) -> &'static str {
        PvsFault::id(self)
    }

    fn requirement(&self) -> &'static str {
        PvsFault::requirement(self)
    }

    fn description(&self) -> &'static str {
        PvsFault::description(self)
    }

    fn applies_to(&self) -> &'static [&'static str] {
        if self.rest_only() {
            &["rest"]
        } else {
            &["smtp-pop3", "rest"]
        }
    }
}
