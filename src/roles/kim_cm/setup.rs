//! What a kim-cm case sets up behind the Clientmodul under test (`setup.kim:` in its YAML):
//! the Konnektor's scripted faults (issue 14's fault list, each recorded on every call it
//! changes and shown in the report) and what the Fachdienst mailbox of the client system's
//! account holds.

use serde::{Deserialize, Serialize};

use kvc_mocks::kim::konnektor::{KonnektorFaults, PinState};

/// `setup.kim` of a kim-cm case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KimCmSetup {
    #[serde(default)]
    pub konnektor: KonnektorSetup,
    /// Messages in the Fachdienst mailbox of the client system's account, in order.
    #[serde(default)]
    pub mailbox: Vec<Served>,
    #[serde(default)]
    pub kas: KasSetup,
    /// What the VZD says about the peer (the recipient of what the client system sends).
    #[serde(default)]
    pub peer_in_vzd: PeerDirectory,
    /// What the VZD says about the client system's own address (one of the `listed` states:
    /// its komLeData, e.g. without the `1.5+` consent to large mails, A_23512).
    #[serde(default)]
    pub me_in_vzd: PeerDirectory,
}

/// The directory state of the peer a case selects (the mock VZD's `VzdState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerDirectory {
    /// Listed with its encryption certificates and komLeData `1.5+`.
    #[default]
    Listed,
    /// komLeData `1.0`, `1.5`, or none (read as 1.0).
    Listed10,
    Listed15,
    ListedWithoutVersion,
    /// Listed without any encryption certificate.
    WithoutEncCertificate,
    /// One more certificate whose admission names another TelematikID.
    ConflictingTelematikIds,
    /// Only an expired encryption certificate.
    ExpiredCertificate,
    /// Not in the directory.
    Absent,
}

impl PeerDirectory {
    /// The komLeData version of a `listed` state; `None` for the others.
    pub fn listed_version(self) -> Option<kvc_mocks::kim::vzd::KomLeVersion> {
        use kvc_mocks::kim::vzd::KomLeVersion;
        match self {
            PeerDirectory::Listed => Some(KomLeVersion::V15Plus),
            PeerDirectory::Listed15 => Some(KomLeVersion::V15),
            PeerDirectory::Listed10 => Some(KomLeVersion::V10),
            PeerDirectory::ListedWithoutVersion => Some(KomLeVersion::Missing),
            _ => None,
        }
    }
}

/// The KAS's scripted answers for one case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KasSetup {
    /// Every add_Attachment is answered with this status (e.g. 500, 507).
    #[serde(default)]
    pub upload_status: Option<u16>,
    /// Every read_Attachment is answered with this status (e.g. 404, 429).
    #[serde(default)]
    pub read_status: Option<u16>,
}

impl KasSetup {
    pub fn faults(&self) -> kvc_mocks::kim::kas::KasFaults {
        kvc_mocks::kim::kas::KasFaults {
            upload_status: self.upload_status,
            read_status: self.read_status,
            ..Default::default()
        }
    }
}

impl KimCmSetup {
    pub fn is_default(&self) -> bool {
        *self == KimCmSetup::default()
    }
}

/// The Konnektor's scripted faults for one case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KonnektorSetup {
    /// No card inserted.
    #[serde(default)]
    pub no_card: bool,
    /// The SMC-B's PIN state (`blocked`, `verifiable`, `transport-pin`).
    #[serde(default)]
    pub pin: Option<Pin>,
    /// After this many answered calls the card counts as removed.
    #[serde(default)]
    pub remove_card_after_calls: Option<usize>,
    /// Every answer is delayed by this long (ms).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// VerifyDocument answers with this Konnektor code (4115, 4253, 4112, 4206, 4264).
    #[serde(default)]
    pub verify_document_code: Option<u32>,
    /// SignDocument returns a CMS cut in half.
    #[serde(default)]
    pub broken_signature: bool,
    /// The Konnektor does not accept connections.
    #[serde(default)]
    pub unreachable: bool,
    /// The TLS certificate it presents (`valid`, `untrusted-ca`, `expired`, `wrong-name`).
    #[serde(default)]
    pub server_cert: kvc_mocks::ServerCertKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pin {
    Blocked,
    Verifiable,
    TransportPin,
}

impl KonnektorSetup {
    pub fn faults(&self) -> Result<KonnektorFaults, String> {
        if let Some(code) = self.verify_document_code
            && ![4115, 4253, 4112, 4206, 4264].contains(&code)
        {
            return Err(format!(
                "setup.kim.konnektor.verify_document_code {code}: one of 4115, 4253, 4112, 4206, 4264"
            ));
        }
        Ok(KonnektorFaults {
            no_card: self.no_card,
            pin: self.pin.map(|p| match p {
                Pin::Blocked => PinState::Blocked,
                Pin::Verifiable => PinState::Verifiable,
                Pin::TransportPin => PinState::TransportPin,
            }),
            remove_cards_after: self.remove_card_after_calls,
            response_delay: self.delay_ms.map(std::time::Duration::from_millis),
            verify_document_code: self.verify_document_code,
            broken_signature: self.broken_signature,
        })
    }
}

/// A message the Fachdienst mailbox holds for the client system's account: from the other
/// practice, built on the card test PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Served {
    /// Signed and encrypted as it should be.
    Valid,
    /// The signed content changed after signing.
    TamperedSignature,
    /// Encrypted to the sender only: the client system's card cannot open it.
    WrongRecipient,
    /// A plain mail without X-KOM-LE-Version.
    NotKomLe,
    /// A valid message whose X-KOM-LE-Version names a version nobody supports (`9.9`).
    UnsupportedVersion,
    /// A plain mail that carries X-KOM-LE-Version: outside the S/MIME profile.
    KomLeHeaderNotSmime,
    /// A KIM 1.5 message with two KIM-Attachment structures.
    TwoAttachmentStructures,
    /// A KIM 1.5 message whose client mail (64 KiB) is on the case's KAS.
    KasValid,
    /// As `kas-valid`, with a key in the structure that does not open the data (A_19371).
    KasUndecryptable,
    /// As `kas-valid`, with a hash in the structure that is not the client mail's (A_19372).
    KasOtherHash,
    /// A client mail of 16 MiB on the case's KAS (A_23512 without `1.5+`).
    KasLarge,
}

impl Served {
    pub fn name(self) -> &'static str {
        match self {
            Served::Valid => "valid",
            Served::TamperedSignature => "tampered-signature",
            Served::WrongRecipient => "wrong-recipient",
            Served::NotKomLe => "not-kom-le",
            Served::UnsupportedVersion => "unsupported-version",
            Served::KomLeHeaderNotSmime => "kom-le-header-not-smime",
            Served::TwoAttachmentStructures => "two-attachment-structures",
            Served::KasValid => "kas-valid",
            Served::KasUndecryptable => "kas-undecryptable",
            Served::KasOtherHash => "kas-other-hash",
            Served::KasLarge => "kas-large",
        }
    }
}
