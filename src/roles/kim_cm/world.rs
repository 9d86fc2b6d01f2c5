//! The kim-cm world behind the runner's [`MockHost`]: staged once per run (TLS PKI, card PKI
//! with both practices' SMC-Bs, the Fachdienst passwords); per case a fresh TI and Fachdienst
//! on loopback (Konnektor with the client system's card and the case's scripted faults, VZD with
//! both practices, MTA and mailbox with the case's served messages) and, without `--sut`, a
//! reference Clientmodul pointed at them with the run's faults. The suite plays the client
//! system through the case's probes (`probes.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use der::Encode;
use kvc_mocks::TlsPki;
use kvc_mocks::kim::konnektor::client::KonnektorContext;
use kvc_mocks::kim::konnektor::{InsertedCard, KnownContext, KonnektorConfig, KonnektorMock};
use kvc_mocks::kim::practices::{MUSTERFRAU, Practice, ROSENSTRAUCH};
use kvc_mocks::kim::served_messages::{self, KomLeVariant, Party};
use kvc_mocks::kim::vzd::{KimVzdMock, KomLeVersion, VZD_BASE_DN, VzdConfig, VzdEntry};
use kvc_mocks::mail::{Account, MailServer, MailServerConfig};
use kvc_mocks::probe::ProbeLog;
use kvc_mocks::reference::kim_cm::{CmConfig, CmFault, ReferenceCm};
use kvc_smime::card_pki::{Card, CardKeyRole, CardPki, CardVariant};

use super::probes::{CmProber, CmTarget};
use super::setup::Served;
use crate::roles::common::card_opening::CardKeyring;
use crate::runner::observe::{
    BoxFuture, Captured, CapturedOpening, CaseWorld, MockHost, MockSet, StartedMocks,
};
use crate::suite::Case;
use crate::sut::config::SutConfig;
use crate::sut::endpoints::Endpoints;
use crate::sut::{Reply, SutAdapter, Transport};

/// The card context the suite's user names carry (the Konnektor knows it besides its default
/// one, so that a Clientmodul using its own configured context is told apart: KOM-LE-A_2010).
pub fn case_context() -> KnownContext {
    KnownContext {
        mandant_id: "Mandant-KVC".into(),
        client_system_id: "PVS-KVC".into(),
        workplace_id: "Platz-7".into(),
    }
}

/// A KIM address that has no entry in the VZD.
pub const UNKNOWN_RECIPIENT: &str = "praxis.unbekannt@kim.telematik-test";

/// One KIM account of the world: its practice, card and Fachdienst password.
#[derive(Clone)]
pub struct CmAccount {
    pub practice: Practice,
    pub card: Card,
    pub password: String,
}

pub struct KimCmHost {
    tls: TlsPki,
    ca_file: std::path::PathBuf,
    cards: CardPki,
    /// The client system's account (its card is in the Konnektor).
    me: CmAccount,
    /// The other practice: recipient of what the client system sends, sender of its mail.
    peer: CmAccount,
    keyring: CardKeyring,
    faults: Mutex<Vec<CmFault>>,
}

fn account(p: Practice, cards: &CardPki) -> Result<CmAccount, String> {
    Ok(CmAccount {
        practice: p,
        card: p
            .smcb(cards, CardVariant::Valid)
            .map_err(|e| format!("generating the card of {}: {e}", p.mail))?,
        password: format!("Kim-{}", uuid::Uuid::new_v4().simple()),
    })
}

fn vzd_entry(a: &CmAccount) -> Result<VzdEntry, String> {
    let enc = a
        .card
        .key(CardKeyRole::Enc)
        .ok_or("a card without C.ENC key")?;
    let certs = [&enc.rsa.certificate, &enc.ecc.certificate]
        .into_iter()
        .map(|c| c.to_der().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(VzdEntry::institution(
        a.practice.telematik_id,
        &a.card.holder.common_name,
        a.practice.mail,
        KomLeVersion::V15Plus,
        certs,
    ))
}

impl KimCmHost {
    pub fn stage(sut: Option<&SutConfig>, out: &std::path::Path) -> Result<KimCmHost, String> {
        if let Some(config) = sut {
            return Err(format!(
                "--sut {}: a vendor's Clientmodul cannot be configured yet; `kvc-check run --role kim-cm` without --sut runs the reference Clientmodul",
                config.name
            ));
        }
        let tls =
            TlsPki::generate("localhost").map_err(|e| format!("generating the TLS PKI: {e}"))?;
        std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let ca_file = out.join("ca.pem");
        tls.write_ca(&ca_file)
            .map_err(|e| format!("writing {}: {e}", ca_file.display()))?;
        let cards = CardPki::generate().map_err(|e| format!("generating the card PKI: {e}"))?;
        let me = account(ROSENSTRAUCH, &cards)?;
        let peer = account(MUSTERFRAU, &cards)?;
        let keyring = CardKeyring::new(
            vec![
                (me.practice.mail.to_string(), me.card.clone()),
                (peer.practice.mail.to_string(), peer.card.clone()),
            ],
            cards.trust_anchors(),
        );
        Ok(KimCmHost {
            tls,
            ca_file,
            cards,
            me,
            peer,
            keyring,
            faults: Mutex::new(Vec::new()),
        })
    }

    /// The client system's mailbox at the Fachdienst: each served message as the MTA would
    /// have delivered it (Return-Path and Received on top).
    fn served(&self, list: &[Served]) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let variant = match s {
                Served::Valid | Served::UnsupportedVersion => KomLeVariant::Valid,
                Served::TamperedSignature => KomLeVariant::TamperedSignature,
                Served::WrongRecipient => KomLeVariant::WrongRecipient,
                Served::NotKomLe => KomLeVariant::NotKomLe,
            };
            let mut raw = served_messages::build(
                &variant,
                Party {
                    mail: self.peer.practice.mail,
                    card: &self.peer.card,
                },
                Party {
                    mail: self.me.practice.mail,
                    card: &self.me.card,
                },
                &format!("kvc-check-served-{}-{}@kim.telematik-test", i + 1, s.name()),
            )
            .map_err(|e| format!("building the served message `{}`: {e}", s.name()))?;
            if *s == Served::UnsupportedVersion {
                let text = String::from_utf8_lossy(&raw).replacen(
                    "X-KOM-LE-Version: 1.0",
                    "X-KOM-LE-Version: 9.9",
                    1,
                );
                raw = text.into_bytes();
            }
            let mut delivered = format!(
                "Return-Path: <{}>\r\nReceived: from kvc-check-mta.kim.telematik-test by fachdienst.kim.telematik-test with ESMTPSA id served-{}; Mon, 07 Dec 2026 09:00:05 +0100\r\n",
                self.peer.practice.mail,
                i + 1
            )
            .into_bytes();
            delivered.extend_from_slice(&raw);
            out.push((self.me.practice.mail.to_string(), delivered));
        }
        Ok(out)
    }
}

impl MockHost for KimCmHost {
    fn reference(&self, faults: &[String]) -> Result<Arc<dyn SutAdapter>, String> {
        let parsed = faults
            .iter()
            .map(|f| f.parse::<CmFault>())
            .collect::<Result<Vec<_>, _>>()?;
        let mut shown: Vec<String> = parsed.iter().map(|f| f.to_string()).collect();
        shown.sort();
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = parsed;
        Ok(Arc::new(ClientmodulSut {
            name: format!(
                "reference Clientmodul (faults: {})",
                if shown.is_empty() {
                    "none".into()
                } else {
                    shown.join(", ")
                }
            ),
        }))
    }

    fn start_case<'a>(
        &'a self,
        case: &'a Case,
        world: CaseWorld,
    ) -> BoxFuture<'a, Result<StartedMocks, String>> {
        Box::pin(async move {
            let setup = &case.setup.kim;
            let faults = setup.konnektor.faults()?;
            let konnektor = KonnektorMock::start(
                KonnektorConfig {
                    contexts: vec![KnownContext::default(), case_context()],
                    cards: vec![InsertedCard::new(
                        self.me.practice.card_handle,
                        1,
                        self.me.card.clone(),
                    )],
                    trust: self.cards.trust_anchors(),
                    faults,
                    ..KonnektorConfig::default()
                },
                &self.tls,
            )
            .await
            .map_err(|e| format!("starting the mock Konnektor: {e}"))?;
            if setup.konnektor.unreachable {
                konnektor
                    .set_reachable(false)
                    .await
                    .map_err(|e| format!("making the mock Konnektor unreachable: {e}"))?;
            }
            let sds_url = konnektor.sds_url();
            let vzd = KimVzdMock::start(
                VzdConfig {
                    entries: vec![vzd_entry(&self.me)?, vzd_entry(&self.peer)?],
                    ..VzdConfig::default()
                },
                &self.tls,
            )
            .await
            .map_err(|e| format!("starting the mock VZD: {e}"))?;
            let vzd_url = vzd.url();
            let fachdienst = MailServer::start(
                MailServerConfig {
                    accounts: [&self.me, &self.peer]
                        .iter()
                        .map(|a| Account::new(a.practice.mail, a.password.clone()))
                        .collect(),
                    account_mailbox: self.served(&setup.mailbox)?,
                    deliver_to_accounts: true,
                    banner: "kvc-check mock KIM Fachdienst".into(),
                    sender_must_match_auth: true,
                    idle_timeout: world.idle_timeout,
                    ..MailServerConfig::default()
                },
                &self.tls,
            )
            .await
            .map_err(|e| format!("starting the mock Fachdienst: {e}"))?;
            let (mta, mailbox) = (fachdienst.smtp_addr(), fachdienst.pop3_addr());
            let faults = self
                .faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let default = KnownContext::default();
            let cm = ReferenceCm::start(
                CmConfig {
                    konnektor_sds_url: sds_url,
                    konnektor_context: KonnektorContext {
                        mandant_id: default.mandant_id,
                        client_system_id: default.client_system_id,
                        workplace_id: default.workplace_id,
                    },
                    vzd_url,
                    vzd_base_dn: VZD_BASE_DN.to_string(),
                    ca_pem: self.tls.ca_pem().to_string(),
                    kom_le_version: "1.0".into(),
                    max_client_mail_bytes: 15 * 1024 * 1024,
                    data_time_to_live_days: 90,
                    backend_timeout: Duration::from_secs(10),
                    idle_timeout: world.idle_timeout,
                    faults,
                    default_mailbox: Some(("localhost".into(), mailbox.port())),
                    dsn_mta: Some(("localhost".into(), mta.port())),
                },
                &self.tls,
            )
            .await
            .map_err(|e| format!("starting the reference Clientmodul: {e}"))?;
            let log = ProbeLog::new();
            let mut mocks = MockSet::new();
            mocks.push(Box::new(konnektor))?;
            mocks.push(Box::new(vzd))?;
            mocks.push(Box::new(fachdienst))?;
            mocks.push(Box::new(log.clone()))?;
            let context = case_context();
            let target = CmTarget {
                host: self.tls.host().to_string(),
                ca_pem: self.tls.ca_pem().to_string(),
                smtp: cm.smtp_addr(),
                pop3: cm.pop3_addr(),
                me: self.me.practice.mail.to_string(),
                password: self.me.password.clone(),
                peer: self.peer.practice.mail.to_string(),
                mta_port: mta.port(),
                mailbox_port: mailbox.port(),
                context,
            };
            Ok(StartedMocks {
                mocks,
                rest: None,
                prober: Some(Arc::new(CmProber {
                    target,
                    log,
                    _reference: Some(cm),
                })),
            })
        })
    }

    fn open_captured(&self, message: &Captured<'_>) -> Option<CapturedOpening> {
        self.keyring.open(message)
    }

    fn ca_file(&self) -> std::path::PathBuf {
        self.ca_file.clone()
    }

    fn ca_pem(&self) -> String {
        self.tls.ca_pem().to_string()
    }

    fn host(&self) -> String {
        self.tls.host().to_string()
    }

    fn user(&self) -> String {
        self.me.practice.mail.to_string()
    }

    fn password(&self) -> String {
        self.me.password.clone()
    }

    fn from(&self) -> String {
        self.me.practice.mail.to_string()
    }
}

/// A Clientmodul under test: the suite plays its client system through probes.
pub struct ClientmodulSut {
    pub name: String,
}

impl SutAdapter for ClientmodulSut {
    fn describe(&self) -> String {
        self.name.clone()
    }

    /// None: the suite itself is the client system.
    fn transports(&self) -> Vec<Transport> {
        Vec::new()
    }

    fn send<'a>(&'a self, _ep: &'a Endpoints, _req: &'a crate::sut::SendRequest) -> Reply<'a> {
        Box::pin(async { Err("a Clientmodul is driven by the suite's probes".into()) })
    }

    fn fetch<'a>(&'a self, _ep: &'a Endpoints) -> Reply<'a> {
        Box::pin(async { Err("a Clientmodul is driven by the suite's probes".into()) })
    }
}
