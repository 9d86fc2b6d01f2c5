//! The kim-fd world behind the runner's [`MockHost`]: staged once per run (the TLS PKI of the
//! reference Fachdienst, the card PKI with the practices' cards, the accounts, the interface
//! files); per case a fresh reference Fachdienst (MTA, KAS, Account Manager with the run's
//! faults) or, with `--sut`, the provider's endpoints, plus the [`ProbeLog`] the case's probes
//! record into.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvc_mocks::TlsPki;
use kvc_mocks::kim::practices::ROSENSTRAUCH;
use kvc_mocks::probe::ProbeLog;
use kvc_mocks::reference::kim_fd::{
    FdAccount, FdAccounts, FdFault, REFERENCE_KAS_API, REFERENCE_KAS_MAX_BYTES, ReferenceFd,
};
use kvc_mocks::server::address_of;
use kvc_smime::card_pki::{CardKeyRole, CardPki, CardVariant};
use kvc_smime::pki::CertifiedKey;

use super::openapi::InterfaceFiles;
use super::probes::FdProber;
use super::target::{FdTarget, Participant};
use crate::roles::common::probed_sut::ProbedSut;
use crate::runner::observe::{BoxFuture, CaseWorld, MockHost, MockSet, StartedMocks};
use crate::suite::Case;
use crate::sut::SutAdapter;
use crate::sut::config::SutConfig;

/// What `send` and `fetch` answer: the suite drives this SUT itself.
const FD_DRIVEN: &str = "a Fachdienst is probed by the suite, not asked to send or fetch";

/// An address that is no recipient of any upload the probes make.
pub const OUTSIDER: &str = "praxis.fremd@kim.telematik-test";

pub struct KimFdHost {
    tls: TlsPki,
    ca_file: PathBuf,
    cards: CardPki,
    accounts: FdAccounts,
    untrusted_aut: CertifiedKey,
    /// The interface files of the API generation the Fachdienst serves.
    files: Arc<InterfaceFiles>,
    /// The reference Fachdienst's faults, set when the runner asks for the reference.
    faults: Mutex<Vec<FdFault>>,
    /// A provider's Fachdienst from `--sut` (then no reference is started), with its name.
    configured: Option<(FdTarget, String)>,
}

fn aut(account: &FdAccount) -> Option<CertifiedKey> {
    account.card.key(CardKeyRole::Aut).map(|k| k.rsa.clone())
}

fn participant(account: &FdAccount) -> Participant {
    Participant {
        address: account.address.clone(),
        password: account.password.clone(),
        aut: aut(account),
    }
}

impl KimFdHost {
    pub fn stage(sut: Option<&SutConfig>, out: &Path) -> Result<KimFdHost, String> {
        let tls =
            TlsPki::generate("localhost").map_err(|e| format!("generating the TLS PKI: {e}"))?;
        std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let ca_file = out.join("ca.pem");
        tls.write_ca(&ca_file)
            .map_err(|e| format!("writing {}: {e}", ca_file.display()))?;
        let cards = CardPki::generate().map_err(|e| format!("generating the card PKI: {e}"))?;
        let accounts = FdAccounts::generate(&cards).map_err(|e| e.to_string())?;
        let untrusted = ROSENSTRAUCH
            .smcb(&cards, CardVariant::UntrustedIssuer)
            .map_err(|e| format!("generating the untrusted card: {e}"))?;
        let untrusted_aut = untrusted
            .key(CardKeyRole::Aut)
            .map(|k| k.rsa.clone())
            .ok_or("the untrusted card has no C.AUT key")?;
        let configured = match sut {
            Some(config) => Some((
                super::target::from_config(config, &untrusted_aut)?,
                config.name.clone(),
            )),
            None => None,
        };
        let api = configured
            .as_ref()
            .map(|(t, _)| t.kas_api)
            .unwrap_or(REFERENCE_KAS_API);
        let files = Arc::new(InterfaceFiles::embedded(api)?);
        Ok(KimFdHost {
            tls,
            ca_file,
            cards,
            accounts,
            untrusted_aut,
            files,
            faults: Mutex::new(Vec::new()),
            configured,
        })
    }

    fn reference_target(&self, fd: &ReferenceFd) -> FdTarget {
        FdTarget {
            host: self.tls.host().to_string(),
            ca_pem: self.tls.ca_pem().to_string(),
            client_tls: None,
            kas: Some(fd.kas.addr()),
            kas_api: REFERENCE_KAS_API,
            account_manager: Some(fd.am.addr()),
            mta: address_of(&fd.mta, "smtp"),
            sender: participant(&self.accounts.sender),
            recipient: participant(&self.accounts.recipient),
            outsider: OUTSIDER.into(),
            untrusted_aut: Some(self.untrusted_aut.clone()),
            deregistered: Some(participant(&self.accounts.deregistered)),
            kas_max_bytes: REFERENCE_KAS_MAX_BYTES,
            deletion_delay: Duration::ZERO,
        }
    }
}

impl MockHost for KimFdHost {
    fn reference(&self, faults: &[String]) -> Result<Arc<dyn SutAdapter>, String> {
        let parsed = faults
            .iter()
            .map(|f| f.parse::<FdFault>())
            .collect::<Result<Vec<_>, _>>()?;
        let mut shown: Vec<String> = parsed.iter().map(|f| f.to_string()).collect();
        shown.sort();
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = parsed;
        Ok(Arc::new(ProbedSut {
            name: format!(
                "reference Fachdienst (faults: {})",
                if shown.is_empty() {
                    "none".into()
                } else {
                    shown.join(", ")
                }
            ),
            driven: FD_DRIVEN,
        }))
    }

    fn configured(&self) -> Option<Arc<dyn SutAdapter>> {
        self.configured.as_ref().map(|(_, name)| {
            Arc::new(ProbedSut {
                name: format!("{name} (Fachdienst, probed by the suite)"),
                driven: FD_DRIVEN,
            }) as Arc<dyn SutAdapter>
        })
    }

    fn start_case<'a>(
        &'a self,
        _case: &'a Case,
        _world: CaseWorld,
    ) -> BoxFuture<'a, Result<StartedMocks, String>> {
        Box::pin(async move {
            let log = ProbeLog::new();
            let mut mocks = MockSet::new();
            let target = match &self.configured {
                Some((t, _)) => t.clone(),
                None => {
                    let faults = self
                        .faults
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    let fd = ReferenceFd::start(&self.tls, &self.cards, &self.accounts, &faults)
                        .await
                        .map_err(|e| format!("starting the reference Fachdienst: {e}"))?;
                    let target = self.reference_target(&fd);
                    mocks.push(Box::new(fd.mta))?;
                    mocks.push(Box::new(fd.kas))?;
                    mocks.push(Box::new(fd.am))?;
                    target
                }
            };
            mocks.push(Box::new(log.clone()))?;
            Ok(StartedMocks {
                mocks,
                rest: None,
                prober: Some(Arc::new(FdProber {
                    target,
                    log,
                    files: Arc::clone(&self.files),
                })),
            })
        })
    }

    fn ca_file(&self) -> PathBuf {
        self.ca_file.clone()
    }

    fn ca_pem(&self) -> String {
        self.tls.ca_pem().to_string()
    }

    fn host(&self) -> String {
        self.tls.host().to_string()
    }

    fn user(&self) -> String {
        self.accounts.sender.address.clone()
    }

    fn password(&self) -> String {
        self.accounts.sender.password.clone()
    }

    fn from(&self) -> String {
        self.accounts.sender.address.clone()
    }
}
