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
    LargeMailWithoutKas = ("A_19357", "A_19357", "send", "a client mail above 15 MiB is refused (552) instead of going through the KAS"),
    FixedKasKey = ("A_19358", "A_19358", "send", "every mail data is encrypted with the same key and IV"),
    UploadsPlaintext = ("A_19360", "A_19360", "send", "the client mail is uploaded to the KAS unencrypted"),
    WrongLink = ("A_19364", "A_19364", "send", "the KIM-Attachment structure carries a link other than the one the KAS returned"),
    StructureWithoutHash = ("A_19359", "A_19359", "send", "the KIM-Attachment structure lacks `hash`"),
    NoKasSizeHeader = ("A_23467", "A_23467", "send", "the outer message of a KAS mail carries no X-KIM-KAS-Size"),
    Kas507As451 = ("A_22419", "A_22419", "send", "a KAS answering 507 is reported to the client system as 451, not 521"),
    NoUploadFailureDsn = ("A_19363", "A_19363", "send", "a failed upload is not reported to the sender by a DSN"),
    DeliversReduced = ("A_19374", "A_19374", "receive", "a KAS mail is delivered as received (the KIM-Attachment structure), not reassembled"),
    DownloadFailureUnreported = ("A_19370", "A_19370", "receive", "a failed download is delivered as the KAS mail as received, without the error mail"),
    LimitAs4006 = ("A_22412", "A_22412", "receive", "a KAS answering 429 is reported with X-KIM-Fehlermeldung 4006 instead of 4013"),
    LimitTooLow = ("KOM-LE-A_2004", "KOM-LE-A_2004", "send", "client mails above 10 MiB are refused, below the 15 MiB it must process"),
    NoSizeLimit = ("A_23171", "A_23171", "send", "a KIM 1.0 client mail above 15 MiB is processed instead of refused with X.3.4"),
    NoTextLimit = ("A_19366", "A_19366", "send", "a KIM 1.5 client mail without attachments above 25 MiB is processed instead of refused with X.3.4"),
    TreatsPlainAsKomLe = ("A_21390", "A_21390", "receive", "a message without X-KOM-LE-Version is treated as an undecryptable KOM-LE message"),
    ProcessesNonProfile = ("KOM-LE-A_2042", "KOM-LE-A_2042", "receive", "a message with X-KOM-LE-Version that is no S/MIME message is delivered as it came"),
    NoFehlermeldung = ("A_20650", "A_20650", "receive", "the error mail for an undecryptable message lacks X-KIM-Fehlermeldung"),
    ProcessesAmbiguous = ("A_19369", "A_19369", "receive", "of two KIM-Attachment structures the first is followed"),
    ReducedSentPlain = ("A_19365", "A_19365", "send", "the reduced client mail of a KAS mail goes to the MTA neither signed nor encrypted"),
    UploadWithoutContentLength = ("A_22427", "A_22427", "send", "the KAS upload is sent chunked, without Content-Length"),
    OuterLfLineEnds = ("KOM-LE-A_2006", "KOM-LE-A_2006", "send", "the base64 lines of the outer message end with LF, not CRLF"),
    VersionIsRelease = ("KOM-LE-A_2100", "KOM-LE-A_2100", "send", "X-KOM-LE-Version names the KIM release (1.5.2) instead of the profile version 1.0 or 1.5"),
    SignedEntityCrlf = ("KOM-LE-A_2103", "KOM-LE-A_2103", "send", "every bare CR of the binary SignedData becomes CRLF before it is encrypted"),
    OuterEnvelopedDataType = ("KOM-LE-A_2104", "KOM-LE-A_2104", "send", "the outer Content-Type says smime-type=enveloped-data"),
    OriginatorInfo = ("KOM-LE-A_2106", "KOM-LE-A_2106", "send", "an originatorInfo is added to the AuthEnvelopedData"),
    NoUnauthAttrs = ("KOM-LE-A_2107", "KOM-LE-A_2107", "send", "the unauthAttrs are taken out of the AuthEnvelopedData the Konnektor returned"),
    KekRecipientInfo = ("KOM-LE-A_2108", "KOM-LE-A_2108", "send", "a KEKRecipientInfo is added beside the KeyTransRecipientInfos"),
    RecipientInfoBySki = ("KOM-LE-A_2109", "KOM-LE-A_2109", "send", "the first recipient's KeyTransRecipientInfo names its certificate by subjectKeyIdentifier"),
    NotEncryptedForSender = ("KOM-LE-A_2111", "KOM-LE-A_2111", "send", "the mail is not encrypted for its sender"),
    NoEncryptedContent = ("KOM-LE-A_2112", "KOM-LE-A_2112", "send", "the encryptedContent is taken out of the AuthEnvelopedData"),
    RecipientEmailsOtherAttribute = ("KOM-LE-A_2114", "KOM-LE-A_2114", "send", "EncryptDocument gets a signingTime attribute where the recipient-emails attribute belongs"),
    ExtraRecipientEmail = ("KOM-LE-A_2115", "KOM-LE-A_2115", "send", "recipient-emails holds a second entry for the first recipient's certificate"),
    RecipientEmailBySki = ("KOM-LE-A_2117", "KOM-LE-A_2117", "send", "the sender's RecipientEmail names its certificate by subjectKeyIdentifier"),
    CrlInSignedData = ("KOM-LE-A_2118", "KOM-LE-A_2118", "send", "a CRL is added to the SignedData the Konnektor returned"),
    ExtraCertificate = ("KOM-LE-A_2119", "KOM-LE-A_2119", "send", "a further certificate (the first recipient's) is added to the SignedData"),
    DetachedSignature = ("KOM-LE-A_2121", "KOM-LE-A_2121", "send", "the eContent is taken out of the SignedData (detached signature)"),
    SecondSignerInfo = ("KOM-LE-A_2123", "KOM-LE-A_2123", "send", "the SignedData gets a second signerInfo (a copy of the first)"),
    SignerBySki = ("KOM-LE-A_2124", "KOM-LE-A_2124", "send", "the signerInfo names the signer by subjectKeyIdentifier"),
    UnsignedAttribute = ("KOM-LE-A_2126", "KOM-LE-A_2126", "send", "the signerInfo gets an unsigned attribute (signingTime)"),
    SignedRecipientEmailsDiffer = ("KOM-LE-A_2127", "KOM-LE-A_2127", "send", "SignDocument gets recipient-emails without the sender, EncryptDocument the whole list"),
    DropsSendersystem = ("KIM-PS-Sendersystem", "KIM-PS-Sendersystem", "send", "X-KIM-Sendersystem of the client mail is removed before it is signed"),
    SizeRefusedWithoutX34 = ("A_19355", "A_19355", "send", "a client mail announced (SIZE) above maxMailSize is refused with 5.2.3 instead of the enhanced status X.3.4"),
    IgnoresRecipientVersion = ("A_19356", "A_19356", "send", "a mail above 15 MiB goes through the KAS to a recipient whose komLeData announces KIM 1.0"),
    SendsToConflictingRecipient = ("KOM-LE-A_2178", "KOM-LE-A_2178", "send", "a recipient whose encryption certificates name different TelematikIDs gets the mail"),
    KasDecryptFailureUnreported = ("A_19371", "A_19371", "receive", "KAS data that does not decrypt is not reported: the KAS mail is delivered as received"),
    DeliversMismatchedData = ("A_19372", "A_19372", "receive", "KAS data whose hash differs from the structure's is delivered as the client mail"),
    ReceivesLargeWithoutConsent = ("A_23512", "A_23512", "receive", "a KAS mail above 15 MiB is downloaded and delivered to an account without `1.5+`"),
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
