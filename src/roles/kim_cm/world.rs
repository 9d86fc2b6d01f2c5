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
use kvc_mocks::kim::dns::{DnsConfig, DnsMock, DnsService};
use kvc_mocks::kim::kas::{KasAccount, KasApi, KasConfig, KasMock};
use kvc_mocks::kim::konnektor::client::KonnektorContext;
use kvc_mocks::kim::konnektor::{InsertedCard, KnownContext, KonnektorConfig, KonnektorMock};
use kvc_mocks::kim::practices::{MUSTERFRAU, Practice, ROSENSTRAUCH};
use kvc_mocks::kim::vzd::{KimVzdMock, KomLeVersion, VZD_BASE_DN, VzdConfig, VzdEntry, VzdState};
use kvc_mocks::kim::{KAS_THRESHOLD_BYTES, MAX_MAIL_SIZE};
use kvc_mocks::mail::{Account, MailServer, MailServerConfig};
use kvc_mocks::probe::ProbeLog;
use kvc_mocks::reference::kim_cm::kas::KasLink;
use kvc_mocks::reference::kim_cm::{CmConfig, CmFault, ReferenceCm};
use kvc_smime::card_pki::{Card, CardKeyRole, CardPki, CardVariant};

use super::probes::{CmProber, CmTarget};
use super::served::KasTarget;
use super::setup::PeerDirectory;
use crate::roles::common::card_opening::CardKeyring;
use crate::roles::common::probed_sut::ProbedSut;
use crate::runner::observe::{
    BoxFuture, Captured, CapturedOpening, CaseWorld, MockHost, MockSet, StartedMocks,
};
use crate::suite::Case;
use crate::sut::SutAdapter;
use crate::sut::config::SutConfig;

/// What `send` and `fetch` answer: the suite drives this SUT itself.
const CM_DRIVEN: &str = "a Clientmodul is driven by the suite's probes, not asked to send or fetch";

/// The card context the suite's user names carry (the Konnektor knows it besides its default
/// one, so that a Clientmodul using its own configured context is told apart: KOM-LE-A_2010).
pub fn case_context() -> KnownContext {
    KnownContext {
        mandant_id: "Mandant-KVC".into(),
        client_system_id: "PVS-KVC".into(),
        workplace_id: "Platz-7".into(),
    }
}

/// The domain of the test Fachdienst (DNS-SD of its KAS: `_kas._tcp.<domain>`).
const KIM_DOMAIN: &str = "kim.telematik-test";

/// A KIM address that has no entry in the VZD.
pub const UNKNOWN_RECIPIENT: &str = "praxis.unbekannt@kim.telematik-test";

/// Where one case's mocks listen, for the reference Clientmodul.
struct Backends {
    sds_url: String,
    vzd_url: String,
    mta: std::net::SocketAddr,
    mailbox: std::net::SocketAddr,
    kas: KasLink,
}

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
    /// A vendor's Clientmodul from `--sut` (then no reference is started).
    vendor: Option<VendorCm>,
    /// The report folder (kim-ti.json, the CAs).
    out: std::path::PathBuf,
}

/// A vendor's Clientmodul: where it listens, the CA of its certificate, and how it is pointed
/// at the run's Konnektor and VZD.
#[derive(Debug, Clone)]
struct VendorCm {
    name: String,
    host: String,
    smtp: std::net::SocketAddr,
    pop3: std::net::SocketAddr,
    ca_file: std::path::PathBuf,
    /// Read in `prepare`, after `configure` (which may have written it).
    ca_pem: std::sync::OnceLock<String>,
    konnektor_port: u16,
    vzd_port: u16,
    mta_port: Option<u16>,
    mailbox_port: Option<u16>,
    dns_port: Option<u16>,
    kas_port: Option<u16>,
    configure: Option<String>,
    ready_timeout: Duration,
}

fn socket_addr(what: &str, s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .map_err(|e| format!("clientmodul.{what} `{s}`: {e}"))?
        .next()
        .ok_or_else(|| format!("clientmodul.{what} `{s}`: resolves to no address"))
}

impl VendorCm {
    fn from_config(config: &SutConfig) -> Result<VendorCm, String> {
        let Some(c) = &config.clientmodul else {
            return Err(format!(
                "--sut {}: role kim-cm needs a `clientmodul:` section (where the Clientmodul listens; see suites/README.md)",
                config.name
            ));
        };
        let mut ports = vec![c.konnektor_port, c.vzd_port];
        ports.extend(c.mta_port);
        ports.extend(c.mailbox_port);
        ports.extend(c.dns_port);
        ports.extend(c.kas_port);
        let mut unique = ports.clone();
        unique.sort();
        unique.dedup();
        if ports.contains(&0) || unique.len() != ports.len() {
            return Err("clientmodul: konnektor_port, vzd_port, mta_port, mailbox_port, dns_port and kas_port must be different ports, none 0".into());
        }
        let ready = c.ready_timeout_s.unwrap_or(30.0);
        if !(ready > 0.0 && ready <= 600.0) {
            return Err(format!("clientmodul.ready_timeout_s {ready}: 0 < s <= 600"));
        }
        Ok(VendorCm {
            name: config.name.clone(),
            host: c.host.clone(),
            smtp: socket_addr("smtp", &c.smtp)?,
            pop3: socket_addr("pop3", &c.pop3)?,
            ca_file: config.dir.join(&c.ca_file),
            ca_pem: std::sync::OnceLock::new(),
            konnektor_port: c.konnektor_port,
            vzd_port: c.vzd_port,
            mta_port: c.mta_port,
            mailbox_port: c.mailbox_port,
            dns_port: c.dns_port,
            kas_port: c.kas_port,
            configure: c.configure.clone(),
            ready_timeout: Duration::from_secs_f64(ready),
        })
    }
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

fn vzd_entry(a: &CmAccount, version: KomLeVersion) -> Result<VzdEntry, String> {
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
        version,
        certs,
    ))
}

impl KimCmHost {
    pub fn stage(sut: Option<&SutConfig>, out: &std::path::Path) -> Result<KimCmHost, String> {
        let vendor = sut.map(VendorCm::from_config).transpose()?;
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
        let host = KimCmHost {
            tls,
            ca_file,
            cards,
            me,
            peer,
            keyring,
            faults: Mutex::new(Vec::new()),
            vendor,
            out: out.to_path_buf(),
        };
        if let Some(v) = &host.vendor {
            host.write_kim_ti(v)?;
        }
        Ok(host)
    }

    /// `kim-ti.json` for a vendor's Clientmodul: the Konnektor and VZD of every case (fixed
    /// ports), the CAs, the card context and the mailboxes (paths relative to the file).
    fn write_kim_ti(&self, v: &VendorCm) -> Result<(), String> {
        use der::EncodePem;
        let card_ca: String = self
            .cards
            .trust_anchors()
            .iter()
            .map(|c| {
                c.to_pem(der::pem::LineEnding::LF)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?
            .concat();
        let card_ca_file = self.out.join("card-ca.pem");
        std::fs::write(&card_ca_file, card_ca)
            .map_err(|e| format!("writing {}: {e}", card_ca_file.display()))?;
        let ctx = case_context();
        let host = self.tls.host();
        let mut fachdienst = serde_json::json!({
            "ca_pem": "ca.pem",
            "note": "each case starts its own MTA (SMTPS) and mailbox (POP3S); the user names the suite logs in with name them",
        });
        if let Some(p) = v.mta_port {
            fachdienst["mta"] = serde_json::json!(format!("{host}:{p}"));
        }
        if let Some(p) = v.mailbox_port {
            fachdienst["pop3"] = serde_json::json!(format!("{host}:{p}"));
        }
        if let Some(p) = v.dns_port {
            // DNS-SD of the KAS: `_kas._tcp.<domain>` (A_19361); the server is on loopback.
            fachdienst["dns"] = serde_json::json!(format!("127.0.0.1:{p}"));
            fachdienst["domain"] = serde_json::json!(KIM_DOMAIN);
        }
        if let Some(p) = v.kas_port {
            fachdienst["kas"] =
                serde_json::json!(format!("https://{host}:{p}{}", KasApi::V2_4.base_path()));
        }
        let identities: Vec<serde_json::Value> = [&self.me, &self.peer]
            .iter()
            .map(|a| {
                serde_json::json!({
                    "mail": a.practice.mail,
                    "telematik_id": a.practice.telematik_id,
                    "card_handle": a.practice.card_handle,
                })
            })
            .collect();
        let json = serde_json::json!({
            "konnektor": {
                "sds_url": format!("https://{host}:{}/connector.sds", v.konnektor_port),
                "ca_pem": "ca.pem",
                "context": {
                    "MandantId": ctx.mandant_id,
                    "ClientSystemId": ctx.client_system_id,
                    "WorkplaceId": ctx.workplace_id,
                },
            },
            "vzd": {
                "ldap_url": format!("ldaps://{host}:{}", v.vzd_port),
                "ca_pem": "ca.pem",
                "base_dn": VZD_BASE_DN,
            },
            "card_ca_pem": "card-ca.pem",
            "fachdienst": fachdienst,
            "identities": identities,
        });
        let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
        let file = self.out.join("kim-ti.json");
        std::fs::write(&file, format!("{text}\n"))
            .map_err(|e| format!("writing {}: {e}", file.display()))
    }

    /// The peer's VZD entries in the state a case selects (the variant cards it needs are
    /// generated when a case first asks for them).
    fn peer_entries(&self, state: PeerDirectory) -> Result<Vec<VzdEntry>, String> {
        let enc_der = |card: &Card| -> Result<Vec<Vec<u8>>, String> {
            let enc = card
                .key(CardKeyRole::Enc)
                .ok_or("a card without C.ENC key")?;
            [&enc.rsa.certificate, &enc.ecc.certificate]
                .into_iter()
                .map(|c| c.to_der().map_err(|e| e.to_string()))
                .collect()
        };
        let variant_rsa = |variant: CardVariant| -> Result<Vec<u8>, String> {
            let card = self
                .peer
                .practice
                .smcb(&self.cards, variant)
                .map_err(|e| format!("generating a {variant:?} card: {e}"))?;
            enc_der(&card)?
                .into_iter()
                .next()
                .ok_or_else(|| "no certificate".to_string())
        };
        let state = match (state.listed_version(), state) {
            (Some(version), _) => VzdState::Listed(version),
            (None, PeerDirectory::WithoutEncCertificate) => VzdState::WithoutEncCertificate,
            (None, PeerDirectory::ConflictingTelematikIds) => VzdState::ConflictingTelematikIds {
                other_certificate: variant_rsa(CardVariant::WrongTelematikId)?,
            },
            (None, PeerDirectory::ExpiredCertificate) => VzdState::ExpiredCertificate {
                certificate: variant_rsa(CardVariant::ExpiredEnc)?,
            },
            // Absent (a listed state always has its version).
            (None, _) => VzdState::Absent,
        };
        Ok(state.entries(
            self.peer.practice.telematik_id,
            &self.peer.card.holder.common_name,
            self.peer.practice.mail,
            enc_der(&self.peer.card)?,
        ))
    }

    /// The reference Clientmodul of one case, pointed at its mocks, with the run's faults.
    async fn start_reference(
        &self,
        at: Backends,
        case: &Case,
        world: &CaseWorld,
    ) -> Result<ReferenceCm, String> {
        let Backends {
            sds_url,
            vzd_url,
            mta,
            mailbox,
            kas,
        } = at;
        // The profile of the case is the Clientmodul's: KIM 1.0 has no KAS and a 15 MiB limit
        // (A_23171); KIM 1.5 moves client mails above 15 MiB to the KAS (A_19357) up to
        // maxMailSize (AccountManager.yaml: 734003200).
        let kim15 = case.profile == crate::rules::Profile::Kim15;
        let faults = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let default = KnownContext::default();
        ReferenceCm::start(
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
                max_client_mail_bytes: match (kim15, faults.as_slice()) {
                    (true, _) => MAX_MAIL_SIZE,
                    (false, f) if f.contains(&CmFault::LimitTooLow) => 10 * 1024 * 1024,
                    (false, f) if f.contains(&CmFault::NoSizeLimit) => 64 * 1024 * 1024,
                    (false, _) => KAS_THRESHOLD_BYTES,
                },
                kas: kim15.then_some(kas),
                kas_threshold_bytes: KAS_THRESHOLD_BYTES,
                data_time_to_live_days: 90,
                backend_timeout: Duration::from_secs(30),
                idle_timeout: world.idle_timeout,
                faults,
                default_mailbox: Some(("localhost".into(), mailbox.port())),
                dsn_mta: Some(("localhost".into(), mta.port())),
                smtp_port: 0,
                pop3_port: 0,
            },
            &self.tls,
        )
        .await
        .map_err(|e| format!("starting the reference Clientmodul: {e}"))
    }

    /// Starts the mocks of one case into `mocks` and, without `--sut`, the reference
    /// Clientmodul; what the probes need.
    async fn start_world(
        &self,
        case: &Case,
        world: &CaseWorld,
        mocks: &mut MockSet,
    ) -> Result<(CmTarget, ProbeLog, Option<ReferenceCm>), String> {
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
                cert: setup.konnektor.server_cert,
                port: world.port("konnektor"),
                ..KonnektorConfig::default()
            },
            &self.tls,
        )
        .await
        .map_err(|e| format!("starting the mock Konnektor: {e}"))?;
        let sds_url = konnektor.sds_url();
        if setup.konnektor.unreachable
            && let Err(e) = konnektor.set_reachable(false).await
        {
            konnektor.shutdown().await;
            return Err(format!("making the mock Konnektor unreachable: {e}"));
        }
        mocks.push(Box::new(konnektor))?;
        let own_version = setup.me_in_vzd.listed_version().ok_or_else(|| {
            format!(
                "setup.kim.me_in_vzd `{:?}`: the client system's own entry is listed (listed, listed15, listed10, listed-without-version)",
                setup.me_in_vzd
            )
        })?;
        let mut entries = vec![vzd_entry(&self.me, own_version)?];
        entries.extend(self.peer_entries(setup.peer_in_vzd)?);
        let vzd = KimVzdMock::start(
            VzdConfig {
                entries,
                port: world.port("vzd"),
                ..VzdConfig::default()
            },
            &self.tls,
        )
        .await
        .map_err(|e| format!("starting the mock VZD: {e}"))?;
        let vzd_url = vzd.url();
        mocks.push(Box::new(vzd))?;
        let kas = KasMock::start(
            KasConfig {
                accounts: [&self.me, &self.peer]
                    .iter()
                    .map(|a| KasAccount::new(a.practice.mail, &a.password))
                    .collect(),
                api: KasApi::V2_4,
                max_attachment_bytes: MAX_MAIL_SIZE as u64,
                faults: setup.kas.faults(),
                port: world.port("kas"),
                ..KasConfig::default()
            },
            &self.tls,
        )
        .await
        .map_err(|e| format!("starting the mock KAS: {e}"))?;
        let kas_port = kas.addr().port();
        mocks.push(Box::new(kas))?;
        let dns = DnsMock::start(DnsConfig {
            services: vec![DnsService {
                name: "kas".into(),
                host: self.tls.host().to_string(),
                port: kas_port,
                path: KasApi::V2_4.base_path().into(),
            }],
            port: world.port("dns"),
            domain: KIM_DOMAIN.into(),
            ..DnsConfig::default()
        })
        .await
        .map_err(|e| format!("starting the mock DNS: {e}"))?;
        let kas_link = KasLink {
            dns: dns.addr(),
            domain: KIM_DOMAIN.into(),
        };
        mocks.push(Box::new(dns))?;
        let served = super::served::mailbox(
            &setup.mailbox,
            &self.me,
            &self.peer,
            &KasTarget {
                link: &kas_link,
                ca_pem: self.tls.ca_pem(),
                timeout: Duration::from_secs(60),
            },
        )
        .await?;
        let fachdienst = MailServer::start(
            MailServerConfig {
                accounts: [&self.me, &self.peer]
                    .iter()
                    .map(|a| Account::new(a.practice.mail, a.password.clone()))
                    .collect(),
                account_mailbox: served,
                deliver_to_accounts: true,
                smtp_port: world.port("mta"),
                pop3_port: world.port("mailbox"),
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
        mocks.push(Box::new(fachdienst))?;
        let reference = match &self.vendor {
            Some(_) => None,
            None => Some(
                self.start_reference(
                    Backends {
                        sds_url: sds_url.clone(),
                        vzd_url: vzd_url.clone(),
                        mta,
                        mailbox,
                        kas: kas_link,
                    },
                    case,
                    world,
                )
                .await?,
            ),
        };
        let log = ProbeLog::new();
        mocks.push(Box::new(log.clone()))?;
        let context = case_context();
        let (cm_name, cm_ca_pem, smtp, pop3) = match (&self.vendor, &reference) {
            (Some(v), _) => (
                v.host.clone(),
                v.ca_pem.get().cloned().unwrap_or_default(),
                v.smtp,
                v.pop3,
            ),
            (None, Some(cm)) => (
                self.tls.host().to_string(),
                self.tls.ca_pem().to_string(),
                cm.smtp_addr(),
                cm.pop3_addr(),
            ),
            (None, None) => return Err("no Clientmodul to drive".into()),
        };
        let target = CmTarget {
            cm_name,
            cm_ca_pem,
            fd_host: self.tls.host().to_string(),
            smtp,
            pop3,
            me: self.me.practice.mail.to_string(),
            password: self.me.password.clone(),
            peer: self.peer.practice.mail.to_string(),
            mta_port: mta.port(),
            mailbox_port: mailbox.port(),
            context,
            fd_ca_pem: self.tls.ca_pem().to_string(),
            peer_password: self.peer.password.clone(),
            peer_key: self
                .peer
                .card
                .key(CardKeyRole::Enc)
                .map(|k| k.rsa.to_key_material("C.ENC of the peer")),
        };
        Ok((target, log, reference))
    }
}

impl MockHost for KimCmHost {
    fn configured(&self) -> Option<Arc<dyn SutAdapter>> {
        self.vendor.as_ref().map(|v| {
            Arc::new(ProbedSut {
                name: format!(
                    "{} (Clientmodul, driven by the suite as its client system)",
                    v.name
                ),
                driven: CM_DRIVEN,
            }) as Arc<dyn SutAdapter>
        })
    }

    fn fixed_ports(&self) -> std::collections::BTreeMap<String, u16> {
        let mut ports = std::collections::BTreeMap::new();
        if let Some(v) = &self.vendor {
            ports.insert("konnektor".to_string(), v.konnektor_port);
            ports.insert("vzd".to_string(), v.vzd_port);
            if let Some(p) = v.mta_port {
                ports.insert("mta".to_string(), p);
            }
            if let Some(p) = v.mailbox_port {
                ports.insert("mailbox".to_string(), p);
            }
            if let Some(p) = v.dns_port {
                ports.insert("dns".to_string(), p);
            }
            if let Some(p) = v.kas_port {
                ports.insert("kas".to_string(), p);
            }
        }
        ports
    }

    /// Points a vendor's Clientmodul at the run's world (its `configure` command, or printed
    /// instructions) and waits until it takes connections.
    fn prepare(&self, _sut: &dyn SutAdapter, _cases: &[Case]) -> Result<(), String> {
        let Some(v) = &self.vendor else {
            return Ok(());
        };
        let kim_ti = self.out.join("kim-ti.json");
        match &v.configure {
            Some(template) => {
                let command = template
                    .replace("{kim_ti}", &kim_ti.display().to_string())
                    .replace("{ca}", &self.ca_file.display().to_string());
                let status = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&command)
                    .status()
                    .map_err(|e| format!("clientmodul.configure `{command}`: {e}"))?;
                if !status.success() {
                    return Err(format!(
                        "clientmodul.configure `{command}` ended with {status}"
                    ));
                }
            }
            None => eprintln!(
                "kvc-check: point the Clientmodul at {} (Konnektor port {}, VZD port {}, trust {}); each case's Fachdienst is named by the user names",
                kim_ti.display(),
                v.konnektor_port,
                v.vzd_port,
                self.ca_file.display()
            ),
        }
        let deadline = std::time::Instant::now() + v.ready_timeout;
        loop {
            if std::net::TcpStream::connect_timeout(&v.smtp, Duration::from_secs(1)).is_ok() {
                let ca = std::fs::read_to_string(&v.ca_file)
                    .map_err(|e| format!("clientmodul.ca_file {}: {e}", v.ca_file.display()))?;
                let _ = v.ca_pem.set(ca);
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "the Clientmodul takes no connection at {} within {:?}",
                    v.smtp, v.ready_timeout
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn reference(&self, faults: &[String]) -> Result<Arc<dyn SutAdapter>, String> {
        let parsed = faults
            .iter()
            .map(|f| f.parse::<CmFault>())
            .collect::<Result<Vec<_>, _>>()?;
        let mut shown: Vec<String> = parsed.iter().map(|f| f.to_string()).collect();
        shown.sort();
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = parsed;
        Ok(Arc::new(ProbedSut {
            name: format!(
                "reference Clientmodul (faults: {})",
                if shown.is_empty() {
                    "none".into()
                } else {
                    shown.join(", ")
                }
            ),
            driven: CM_DRIVEN,
        }))
    }

    fn start_case<'a>(
        &'a self,
        case: &'a Case,
        world: CaseWorld,
    ) -> BoxFuture<'a, Result<StartedMocks, String>> {
        Box::pin(async move {
            // Every mock joins the set as soon as it runs, so that a failure part-way stops
            // the ones already started before the next case needs their (fixed) ports.
            let mut mocks = MockSet::new();
            match self.start_world(case, &world, &mut mocks).await {
                Ok((target, log, reference)) => Ok(StartedMocks {
                    mocks,
                    rest: None,
                    prober: Some(Arc::new(CmProber {
                        target,
                        log,
                        _reference: reference,
                    })),
                }),
                Err(e) => {
                    mocks.shutdown().await;
                    Err(e)
                }
            }
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
