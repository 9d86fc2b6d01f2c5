//! The named faults of the reference Clientmodul: each breaks exactly one kim-cm requirement
//! and is printed and parsed as its ID (`--fault A_23169`).

use std::fmt;
use std::str::FromStr;

use crate::reference::Fault;

/// Declares [`CmFault`] with its ID, requirement, the path it changes and a description.
macro_rules! cm_faults {
    ($($(#[$doc:meta])* $name:ident = ($id:literal, $req:literal, $path:literal, $what:literal),)*) => {
        /// One fault of the reference Clientmodul.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CmFault {
            $($(#[$doc])* $name,)*
        }

        impl CmFault {
            pub fn all() -> &'static [CmFault] {
                &[$(CmFault::$name,)*]
            }
            pub fn id(self) -> &'static str {
                match self { $(CmFault::$name => $id,)* }
            }
            pub fn requirement(self) -> &'static str {
                match self { $(CmFault::$name => $req,)* }
            }
            pub fn description(self) -> &'static str {
                match self { $(CmFault::$name => $what,)* }
            }
            /// `send` or `receive`: the path of the Clientmodul it changes.
            pub fn path(self) -> &'static str {
                match self { $(CmFault::$name => $path,)* }
            }
        }
    };
}

cm_faults! {
    GreetingWithoutEsmtp = ("KOM-LE-A_2007", "KOM-LE-A_2007", "send", "the SMTP greeting does not name ESMTP"),
    NoAuthLogin = ("KOM-LE-A_2009", "KOM-LE-A_2009", "send", "SMTP AUTH LOGIN is neither offered nor accepted"),
    ContextFromConfig = ("KOM-LE-A_2010", "KOM-LE-A_2010", "send", "the Konnektor calls carry the configured card context, not the user name's"),
    AcceptsUnknownRecipient = ("KOM-LE-A_2176", "KOM-LE-A_2176", "send", "RCPT TO of a recipient without an encryption certificate in the VZD is accepted"),
    KeepsClientFrom = ("A_23169", "A_23169", "send", "the header From of the client mail is kept instead of the MAIL FROM address"),
    KeepsUncheckedRecipients = ("A_23174", "A_23174", "send", "To and Cc keep addresses that were no checked RCPT TO"),
    SignWithoutRecipientEmails = ("KOM-LE-A_2190", "KOM-LE-A_2190", "send", "SignDocument is called without the recipient-emails attribute"),
    EncryptWithoutRecipientEmails = ("KOM-LE-A_2191", "KOM-LE-A_2191", "send", "EncryptDocument is called without the recipient-emails attribute"),
    OuterXKimNotCopied = ("KOM-LE-A_2098", "KOM-LE-A_2098", "send", "the outer header lacks the inner X-KIM-Sendersystem"),
    OuterMessageIdFresh = ("KOM-LE-A_2101", "KOM-LE-A_2101", "send", "the outer message gets a Message-ID of its own"),
    OuterSubjectCopied = ("KOM-LE-A_2102", "KOM-LE-A_2102", "send", "the outer Subject is the client mail's, not KOM-LE-Nachricht"),
    NoExpires = ("A_22417", "A_22417", "send", "the outer message carries no Expires"),
    MalformedCmVersion = ("A_21388", "A_21388", "send", "X-KIM-CMVersion does not follow its pattern"),
    NoDefaultDienstkennung = ("A_19488", "A_19488", "send", "a client mail without X-KIM-Dienstkennung is sent without one"),
    AcceptsIncompletePop3User = ("A_21518", "A_21518", "receive", "a POP3 user name without MTA and card context is accepted (the configured ones are used)"),
    NoDecryptedVermerk = ("KOM-LE-A_2179", "KOM-LE-A_2179", "receive", "a decrypted message is delivered without the Vermerk that says so"),
    NoIntegrityResult = ("KOM-LE-A_2050", "KOM-LE-A_2050", "receive", "a message with a valid signature is delivered without X-KIM-IntegrityCheckResult"),
    NoDecryptionResult = ("KOM-LE-A_2047", "KOM-LE-A_2047", "receive", "the error mail for an undecryptable message lacks X-KIM-DecryptionResult"),
    ErrorMailWithoutOriginal = ("KOM-LE-A_2046", "KOM-LE-A_2046", "receive", "the error mail for an undecryptable message is plain text, without the original attached"),
    DeliversTampered = ("A_23165", "A_23165", "receive", "a message whose signature check failed is delivered with its content"),
    NoReturnPath = ("A_21236", "A_21236", "receive", "the Return-Path of the outer message is not copied into the delivered one"),
    NoReceived = ("A_20628", "A_20628", "receive", "the Received fields of the outer message are not copied into the delivered one"),
    UnsupportedVersionDelivered = ("A_21391", "A_21391", "receive", "a message of an unsupported X-KOM-LE-Version is delivered without the error mail"),
}

impl fmt::Display for CmFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for CmFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CmFault::all()
            .iter()
            .copied()
            .find(|f| f.id() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = CmFault::all().iter().map(|f| f.id()).collect();
                format!(
                    "unknown reference Clientmodul fault `{s}` (known: {})",
                    known.join(", ")
                )
            })
    }
}

impl Fault for CmFault {
    fn all() -> &'static [CmFault] {
        CmFault::all()
    }
    fn id(&self) -> &'static str {
        CmFault::id(*self)
    }
    fn requirement(&self) -> &'static str {
        CmFault::requirement(*self)
    }
    fn description(&self) -> &'static str {
        CmFault::description(*self)
    }
    fn applies_to(&self) -> &'static [&'static str] {
        &["clientmodul"]
    }
}
