//! The reference KIM Fachdienst: the mock MTA + mailbox, KAS and Account Manager of one
//! provider, conforming, with named faults that each break exactly one kim-fd requirement
//! (`--fault A_19378`). The kim-fd suite plays the Clientmodul against it; a vendor's
//! Fachdienst takes its place through the SUT configuration.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use kvc_smime::card_pki::{Card, CardPki, CardVariant};

use crate::error::MockError;
use crate::kim::account_manager::{AccountManagerMock, AmAccount, AmConfig, AmDeviations};
use crate::kim::kas::{KasAccount, KasApi, KasConfig, KasDeviations, KasMock};
use crate::kim::practices::{DEREGISTERED, MUSTERFRAU, Practice, ROSENSTRAUCH};
use crate::kim::sender_rules;
use crate::mail::{Account, MailServer, MailServerConfig};
use crate::net::tls::TlsPki;
use crate::reference::Fault;

/// Declares [`FdFault`] with its ID, requirement and description in one table.
macro_rules! fd_faults {
    ($($(#[$doc:meta])* $name:ident = ($id:literal, $req:literal, $what:literal),)*) => {
        /// One fault of the reference Fachdienst.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FdFault {
            $($(#[$doc])* $name,)*
        }

        impl FdFault {
            pub fn all() -> &'static [FdFault] {
                &[$(FdFault::$name,)*]
            }
            pub fn id(self) -> &'static str {
                match self { $(FdFault::$name => $id,)* }
            }
            pub fn requirement(self) -> &'static str {
                match self { $(FdFault::$name => $req,)* }
            }
            pub fn description(self) -> &'static str {
                match self { $(FdFault::$name => $what,)* }
            }
        }
    };
}

fd_faults! {
    NoSizeCheck = ("A_19378", "A_19378", "the KAS stores uploads above its maximum"),
    ListsCollection = ("A_19379", "A_19379", "GET on the KAS collection lists every stored resource ID"),
    SequentialIds = ("A_19380", "A_19380", "the KAS counts resource IDs up instead of drawing them at random"),
    ServesAnyRecipient = ("A_22410", "A_22410", "the KAS serves a download to a recipient not among the upload's (200 instead of 401)"),
    LimitsWith403 = ("A_22411", "A_22411", "the KAS refuses repeated reads with 403 instead of 429"),
    NoContentLength = ("A_22428", "A_22428", "the KAS sends downloads chunked, without Content-Length"),
    KeepsExpired = ("A_19385", "A_19385", "the KAS keeps and serves data past its expires date"),
    SkipsJwtSignature = ("KOM-LE-A_2187", "KOM-LE-A_2187", "the Account Manager does not verify the token's signature"),
    IgnoresNotBefore = ("KOM-LE-A_2187-nbf", "KOM-LE-A_2187", "the Account Manager accepts a token whose nbf lies in the future"),
    RevokesLate = ("A_23175", "A_23175", "the Account Manager revokes a deregistration after deregDate"),
    BreaksSchema = ("A_20063", "A_20063", "getAccount answers dataTimeToLive as a string, against AccountManager.yaml"),
    AcceptsForeignSender = ("A_23421", "A_23421", "the MTA accepts MAIL FROM other than the AUTH user"),
    AcceptsForeignFrom = ("A_23422", "A_23422", "the MTA does not check From, Sender and Reply-To against MAIL FROM"),
}

impl fmt::Display for FdFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for FdFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FdFault::all()
            .iter()
            .copied()
            .find(|f| f.id() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = FdFault::all().iter().map(|f| f.id()).collect();
                format!(
                    "unknown reference Fachdienst fault `{s}` (known: {})",
                    known.join(", ")
                )
            })
    }
}

impl Fault for FdFault {
    fn all() -> &'static [FdFault] {
        FdFault::all()
    }
    fn id(&self) -> &'static str {
        FdFault::id(*self)
    }
    fn requirement(&self) -> &'static str {
        FdFault::requirement(*self)
    }
    fn description(&self) -> &'static str {
        FdFault::description(*self)
    }
    fn applies_to(&self) -> &'static [&'static str] {
        &["fachdienst"]
    }
}

/// The KAS API version the reference Fachdienst serves.
pub const REFERENCE_KAS_API: KasApi = KasApi::V2_4;

/// The largest attachment the reference KAS takes: small, so the size cases stay fast.
pub const REFERENCE_KAS_MAX_BYTES: u64 = 256 * 1024;

/// One KIM account of the reference Fachdienst with its practice's card.
#[derive(Clone)]
pub struct FdAccount {
    pub address: String,
    pub password: String,
    pub telematik_id: String,
    pub card: Card,
}

impl fmt::Debug for FdAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdAccount")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The accounts the reference Fachdienst is provisioned with, generated once per run: the
/// sender, the recipient, and an account deregistered long ago (its deregDate has passed).
#[derive(Debug, Clone)]
pub struct FdAccounts {
    pub sender: FdAccount,
    pub recipient: FdAccount,
    pub deregistered: FdAccount,
}

impl FdAccounts {
    pub fn generate(cards: &CardPki) -> Result<FdAccounts, MockError> {
        let account = |p: &Practice, address: &str| -> Result<FdAccount, MockError> {
            Ok(FdAccount {
                address: address.to_string(),
                password: format!("Kim-{}", uuid::Uuid::new_v4().simple()),
                telematik_id: p.telematik_id.to_string(),
                card: p
                    .smcb(cards, CardVariant::Valid)
                    .map_err(|e| MockError::Config(format!("card: {e}")))?,
            })
        };
        Ok(FdAccounts {
            sender: account(&ROSENSTRAUCH, ROSENSTRAUCH.mail)?,
            recipient: account(&MUSTERFRAU, MUSTERFRAU.mail)?,
            deregistered: account(&ROSENSTRAUCH, DEREGISTERED)?,
        })
    }

    fn mail_accounts(&self) -> [&FdAccount; 2] {
        [&self.sender, &self.recipient]
    }
}

/// The reference Fachdienst, running.
pub struct ReferenceFd {
    pub mta: MailServer,
    pub kas: KasMock,
    pub am: AccountManagerMock,
}

impl ReferenceFd {
    /// Starts MTA, KAS and Account Manager on ephemeral loopback ports with `faults`.
    pub async fn start(
        tls: &TlsPki,
        cards: &CardPki,
        accounts: &FdAccounts,
        faults: &[FdFault],
    ) -> Result<ReferenceFd, MockError> {
        let has = |f: FdFault| faults.contains(&f);
        let mta = MailServer::start(
            MailServerConfig {
                accounts: accounts
                    .mail_accounts()
                    .iter()
                    .map(|a| Account::new(a.address.clone(), a.password.clone()))
                    .collect(),
                deliver_to_accounts: true,
                banner: "kvc-check reference KIM Fachdienst".into(),
                sender_must_match_auth: !has(FdFault::AcceptsForeignSender),
                message_check: (!has(FdFault::AcceptsForeignFrom))
                    .then(sender_rules::message_check),
                ..MailServerConfig::default()
            },
            tls,
        )
        .await?;
        let kas = KasMock::start(
            KasConfig {
                accounts: accounts
                    .mail_accounts()
                    .iter()
                    .map(|a| KasAccount::new(&a.address, &a.password))
                    .collect(),
                api: REFERENCE_KAS_API,
                max_attachment_bytes: REFERENCE_KAS_MAX_BYTES,
                deviations: KasDeviations {
                    no_size_check: has(FdFault::NoSizeCheck),
                    sequential_ids: has(FdFault::SequentialIds),
                    lists_collection: has(FdFault::ListsCollection),
                    serves_any_recipient: has(FdFault::ServesAnyRecipient),
                    no_content_length: has(FdFault::NoContentLength),
                    keeps_expired: has(FdFault::KeepsExpired),
                    limits_with_403: has(FdFault::LimitsWith403),
                },
                // The conforming reference does not limit within the probe's reads; the fault
                // limits after five.
                max_downloads: if has(FdFault::LimitsWith403) { 5 } else { 1000 },
                ..KasConfig::default()
            },
            tls,
        )
        .await?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs() as i64;
        let am_account = |a: &FdAccount| AmAccount::new(&a.address, &a.password, &a.telematik_id);
        let mut deregistered = am_account(&accounts.deregistered);
        deregistered.dereg_date = Some(now - 86_400);
        let am = AccountManagerMock::start(
            AmConfig {
                accounts: vec![
                    am_account(&accounts.sender),
                    am_account(&accounts.recipient),
                    deregistered,
                ],
                trust: cards.trust_anchors(),
                deviations: AmDeviations {
                    skips_jwt_signature: has(FdFault::SkipsJwtSignature),
                    ignores_not_before: has(FdFault::IgnoresNotBefore),
                    revokes_after_dereg_date: has(FdFault::RevokesLate),
                    breaks_schema: has(FdFault::BreaksSchema),
                },
                ..AmConfig::default()
            },
            tls,
        )
        .await?;
        Ok(ReferenceFd { mta, kas, am })
    }
}
