//! The kvc-pvs world behind the runner's [`MockHost`]: one test PKI per run (its CA written where
//! the SUT expects it); per case either the mock KV-Connect Client (SMTP/POP3) or the mock
//! KV-Connect REST server with its LDAPS directory, configured from the case's setup.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::sync::OnceLock;

use kvc_mocks::kvc::directory::{KvcDirectoryConfig, KvcDirectoryMock};
use kvc_mocks::kvc::rest::{
    KvcRestAccount, KvcRestConfig, KvcRestFaults, KvcRestLimits, KvcRestMock,
};
use kvc_mocks::kvc::served_messages::{KvcMessagePki, KvcMessageSpec, build_served_message};
use kvc_mocks::{Account, KvcClientConfig, KvcClientMock, TlsPki};
use kvc_smime::pki::{CertVariant, CertifiedKey, EndEntitySpec, KeyPurpose};

use crate::lint::SmimeKeys;
use crate::runner::observe::{
    BoxFuture, Captured, CapturedOpening, CaseWorld, MockHost, MockSet, RestEndpoints,
    StartedMocks, Via,
};
use crate::suite::{Case, MailboxEntry, MockKind};
use crate::sut::config::SutConfig;
use crate::sut::reference::ReferenceAdapter;
use crate::sut::{SutAdapter, Transport, config};

/// Default account of the SUT at the mock (the keystore PIN travels with the password).
pub const DEFAULT_USER: &str = "praxis@kv-connect.test";
pub const DEFAULT_PASSWORD: &str = "geheim";

pub struct KvcMockHost {
    pki: TlsPki,
    ca_file: PathBuf,
    account: Account,
    /// Generated once per run, in the background from `prepare` on (shared with that thread).
    rest_users: Arc<OnceLock<Result<RestUsers, String>>>,
}

impl KvcMockHost {
    /// Stages a run: the PKI for the host name the SUT connects to (its config, else
    /// `localhost`), the CA written where the SUT expects it (its config, else `<out>/ca.pem`).
    pub fn stage(sut: Option<&SutConfig>, out: &Path) -> Result<KvcMockHost, String> {
        let ca_file = sut
            .and_then(|c| c.connect.ca_file.clone())
            .unwrap_or_else(|| out.join("ca.pem"));
        let account = sut.and_then(|c| c.account.clone());
        let host_name = sut
            .and_then(|c| c.connect.host.clone())
            .unwrap_or_else(|| "localhost".into());
        KvcMockHost::new(&host_name, &ca_file, account)
    }

    /// Generates the run's PKI for `host` and writes its CA certificate to `ca_file`.
    pub fn new(
        host: &str,
        ca_file: &Path,
        account: Option<config::Account>,
    ) -> Result<Self, String> {
        let pki = TlsPki::generate(host).map_err(|e| format!("generating the test PKI: {e}"))?;
        if let Some(dir) = ca_file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        pki.write_ca(ca_file)
            .map_err(|e| format!("writing the CA certificate to {}: {e}", ca_file.display()))?;
        let account = match account {
            Some(a) => Account::new(a.user, a.password),
            None => Account::new(DEFAULT_USER, DEFAULT_PASSWORD),
        };
        Ok(KvcMockHost {
            pki,
            ca_file: ca_file.to_path_buf(),
            account,
            rest_users: Arc::new(OnceLock::new()),
        })
    }

    pub fn server_name(&self) -> String {
        self.pki.host().to_string()
    }

    pub fn account(&self) -> (String, String) {
        (self.account.user.clone(), self.account.password.clone())
    }
}

impl MockHost for KvcMockHost {
    /// Starts generating the REST user PKI (RSA key generation) in the background when REST
    /// cases will run, so that the cases before the first REST case run meanwhile.
    fn prepare(&self, sut: &dyn SutAdapter, cases: &[Case]) -> Result<(), String> {
        if sut.transports().contains(&Transport::Rest)
            && cases.iter().any(|c| c.setup.mock == MockKind::KvcRest)
        {
            let cell = Arc::clone(&self.rest_users);
            let generate = self.rest_users_generator();
            std::thread::Builder::new()
                .name("kvc-check user PKI".into())
                .spawn(move || {
                    cell.get_or_init(generate);
                })
                .map_err(|e| format!("starting the user PKI generation: {e}"))?;
        }
        Ok(())
    }

    /// The reference PVS on both transports.
    fn reference(&self, faults: &[String]) -> Result<Arc<dyn SutAdapter>, String> {
        let reference =
            ReferenceAdapter::new(faults, self.server_name(), self.ca_pem(), self.account())?;
        Ok(Arc::new(reference))
    }

    fn start_case<'a>(
        &'a self,
        case: &'a Case,
        world: CaseWorld,
    ) -> BoxFuture<'a, Result<StartedMocks, String>> {
        Box::pin(async move {
            if world.transport == Transport::Rest {
                self.start_rest(case, &world)
                    .await
                    .map_err(|e| format!("starting the mock KV-Connect REST server: {e}"))
            } else {
                self.start_client(case, &world)
                    .await
                    .map_err(|e| format!("starting the mock KV-Connect Client: {e}"))
            }
        })
    }

    fn open_captured(&self, message: &Captured<'_>) -> Option<CapturedOpening> {
        // SMTP messages between PVS and KV-Connect Client are plain MIME (S/MIME is the
        // Client's business); a message posted over REST is the PVS's own S/MIME.
        match message.via {
            Via::Rest => self.open_posted_message(message.data),
            Via::Smtp | Via::Delivered => None,
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.ca_file.clone()
    }

    fn ca_pem(&self) -> String {
        self.pki.ca_pem().to_string()
    }

    fn host(&self) -> String {
        self.pki.host().to_string()
    }

    fn user(&self) -> String {
        self.account.user.clone()
    }

    fn password(&self) -> String {
        self.account.password.clone()
    }

    fn from(&self) -> String {
        self.account.user.clone()
    }
}

impl KvcMockHost {
    async fn start_client(&self, case: &Case, world: &CaseWorld) -> Result<StartedMocks, String> {
        let mut mailbox = Vec::new();
        for m in &case.setup.mailbox {
            mailbox.push(m.bytes(case).map_err(|e| format!("{}: {e}", case.origin))?);
        }
        let config = KvcClientConfig {
            smtp_port: world.port("smtp"),
            pop3_port: world.port("pop3"),
            cert: case.setup.server_cert,
            accounts: vec![self.account.clone()],
            mailbox,
            max_message_bytes: max_message_bytes(case, world),
            idle_timeout: world.idle_timeout,
            hostname: self.pki.host().to_string(),
            ..kvc_mocks::kvc::client::default_config()
        };
        let mock = KvcClientMock::start(config, &self.pki)
            .await
            .map_err(|e| e.to_string())?;
        let mut mocks = MockSet::new();
        mocks.push(Box::new(mock))?;
        Ok(StartedMocks {
            mocks,
            rest: None,
            prober: None,
        })
    }
}

fn max_message_bytes(case: &Case, world: &CaseWorld) -> usize {
    case.setup
        .max_message_bytes
        .unwrap_or(world.default_max_message_bytes)
}

// ---- KV-Connect REST server ------------------------------------------------------------------

/// The correspondent account of REST cases: receives what the SUT sends (the suite holds its
/// key) and sends the messages served to the SUT.
pub const REST_CORRESPONDENT: &str = "empfaenger@kv-connect.test";
/// A second account with a valid certificate (messages to two recipients).
pub const REST_SECOND: &str = "zweiter@kv-connect.test";
/// An account whose directory certificate is expired (KVC-Anb080).
pub const REST_EXPIRED: &str = "abgelaufen@kv-connect.test";
/// An account without a certificate (send must abort).
pub const REST_NO_CERTIFICATE: &str = "ohne-zertifikat@kv-connect.test";

/// The user PKI of REST cases, generated once per run on first use (RSA key generation is the
/// slow part), with the SUT's key material written next to the TLS CA.
struct RestUsers {
    pki: KvcMessagePki,
    second: CertifiedKey,
    expired: CertifiedKey,
    key_file: PathBuf,
    cert_file: PathBuf,
    user_ca_file: PathBuf,
}

fn pki_text(e: impl std::fmt::Display) -> String {
    format!("user PKI: {e}")
}

impl RestUsers {
    fn generate(sut_email: &str, dir: &Path) -> Result<RestUsers, String> {
        let pki = KvcMessagePki::generate(sut_email, REST_CORRESPONDENT).map_err(pki_text)?;
        // Keys are reused from certificates no REST account serves (RSA key generation is the
        // slow part), so each key the suite holds still identifies one account: only a message
        // encrypted to the expired certificate opens with its key.
        let issue = |email: &str, variant: CertVariant, key: &CertifiedKey| {
            let mut spec = EndEntitySpec::new(email, KeyPurpose::Both).variant(variant);
            spec.key = Some(key.key.clone());
            pki.pki.issue(&spec).map_err(pki_text)
        };
        let second = issue(REST_SECOND, CertVariant::Valid, &pki.other)?;
        let expired = issue(REST_EXPIRED, CertVariant::Expired, &pki.foreign)?;
        let dir = dir.join("user-pki");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Private keys (`sut-key.pem`, `<address>.key.pem`) are for the owner only (0600).
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            if name.ends_with("key.pem") {
                kvc_smime::files::write_private(&path, text.as_bytes())
            } else {
                std::fs::write(&path, text)
            }
            .map(|_| path.clone())
            .map_err(|e| format!("{}: {e}", path.display()))
        };
        let key_file = write("sut-key.pem", pki.sut.key_pem().map_err(pki_text)?)?;
        let cert_file = write("sut-cert.pem", pki.sut.certificate_pem().map_err(pki_text)?)?;
        let user_ca_file = write("user-ca.pem", pki.root_pem().map_err(pki_text)?)?;
        let users = RestUsers {
            pki,
            second,
            expired,
            key_file,
            cert_file,
            user_ca_file,
        };
        // The correspondents' keys too, so `kvc-check lint --key` reproduces the verdict on a
        // posted message offline (they are test keys of this run only).
        for (address, key) in users.keyed(sut_email) {
            if address != sut_email {
                write(
                    &format!("{address}.key.pem"),
                    key.key_pem().map_err(pki_text)?,
                )?;
            }
        }
        Ok(users)
    }

    /// Accounts whose keys the suite holds, with those keys.
    fn keyed(&self, sut: &str) -> Vec<(String, &CertifiedKey)> {
        vec![
            (REST_CORRESPONDENT.to_string(), &self.pki.sender),
            (REST_SECOND.to_string(), &self.second),
            (REST_EXPIRED.to_string(), &self.expired),
            (sut.to_string(), &self.pki.sut),
        ]
    }
}

fn rest_account(
    address: &str,
    password: &str,
    cert: Option<&CertifiedKey>,
) -> Result<KvcRestAccount, String> {
    let mut a = KvcRestAccount::new(address, password);
    a.email = address.to_string();
    if let Some(c) = cert {
        a.certificate_pem = Some(c.certificate_pem().map_err(pki_text)?);
    }
    Ok(a)
}

impl KvcMockHost {
    /// Generates the REST user PKI now (else the first REST case does, inside its timeout).
    pub fn prepare_rest(&self) -> Result<(), String> {
        self.rest_users().map(|_| ())
    }

    /// What generates the user PKI, with the SUT's key material written next to the TLS CA.
    fn rest_users_generator(&self) -> impl FnOnce() -> Result<RestUsers, String> + Send + 'static {
        let user = self.account.user.clone();
        let dir = self
            .ca_file
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .to_path_buf();
        move || RestUsers::generate(&user, &dir)
    }

    /// The user PKI, generated here if nothing started it (blocks while another thread does).
    fn rest_users(&self) -> Result<&RestUsers, String> {
        self.rest_users
            .get_or_init(self.rest_users_generator())
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The user PKI, waited for off the async workers (its generation may still be running).
    async fn rest_users_ready(&self) -> Result<&RestUsers, String> {
        if self.rest_users.get().is_none() {
            let cell = Arc::clone(&self.rest_users);
            let generate = self.rest_users_generator();
            tokio::task::spawn_blocking(move || {
                cell.get_or_init(generate);
            })
            .await
            .map_err(|e| format!("user PKI generation: {e}"))?;
        }
        self.rest_users()
    }

    async fn start_rest(&self, case: &Case, world: &CaseWorld) -> Result<StartedMocks, String> {
        let users = self.rest_users_ready().await?;
        let sut = &self.account.user;
        // Served variants are built for the SUT's user certificate; other entries are raw bytes.
        let mut mailbox = Vec::new();
        for m in &case.setup.mailbox {
            mailbox.push(match m {
                MailboxEntry::Served(v) => build_served_message(
                    &users.pki,
                    &KvcMessageSpec::arztbrief(REST_CORRESPONDENT, sut),
                    *v,
                )
                .map_err(|e| format!("building a served message: {e}"))?,
                other => other
                    .bytes(case)
                    .map_err(|e| format!("{}: {e}", case.origin))?,
            });
        }
        let mut me = rest_account(sut, &self.account.password, Some(&users.pki.sut))?;
        me.mailbox = mailbox;
        let accounts = vec![
            me,
            rest_account(
                REST_CORRESPONDENT,
                DEFAULT_PASSWORD,
                Some(&users.pki.sender),
            )?,
            rest_account(REST_SECOND, DEFAULT_PASSWORD, Some(&users.second))?,
            rest_account(REST_EXPIRED, DEFAULT_PASSWORD, Some(&users.expired))?,
            rest_account(REST_NO_CERTIFICATE, DEFAULT_PASSWORD, None)?,
        ];
        let rest = &case.setup.rest;
        let config = KvcRestConfig {
            port: world.port("rest"),
            host: self.pki.host().to_string(),
            cert: case.setup.server_cert,
            accounts: accounts.clone(),
            faults: KvcRestFaults {
                send_status: rest.send_status,
                delete_status: rest.delete_status,
                response_delay: rest.delay_ms.map(Duration::from_millis),
                ..KvcRestFaults::default()
            },
            limits: KvcRestLimits {
                max_body_bytes: max_message_bytes(case, world),
                header_timeout: world.idle_timeout,
                request_timeout: world.idle_timeout,
                ..KvcRestLimits::default()
            },
            ..KvcRestConfig::default()
        };
        let dir_config = KvcDirectoryConfig {
            port: world.port("directory"),
            ..KvcDirectoryConfig::from_accounts(&accounts, &config.profile)
        };
        let mock = KvcRestMock::start(config, &self.pki)
            .await
            .map_err(|e| e.to_string())?;
        let base_url = mock.base_url();
        let mut mocks = MockSet::new();
        mocks.push(Box::new(mock))?;
        match KvcDirectoryMock::start(dir_config, &self.pki).await {
            Ok(d) => mocks.push(Box::new(d))?,
            Err(e) => {
                mocks.shutdown().await;
                return Err(format!("starting the directory: {e}"));
            }
        }
        let rest = RestEndpoints {
            base_url,
            user_key_file: users.key_file.clone(),
            user_cert_file: users.cert_file.clone(),
            user_ca_file: users.user_ca_file.clone(),
        };
        Ok(StartedMocks {
            mocks,
            rest: Some(rest),
            prober: None,
        })
    }

    fn open_posted_message(&self, raw: &[u8]) -> Option<CapturedOpening> {
        let users = self.rest_users().ok()?;
        let trust = vec![users.pki.pki.root.certificate.clone()];
        let (head, _) = kvc_smime::mime::split_header_body(raw);
        let headers = kvc_smime::mime::Headers::parse(head);
        let recipients: Vec<String> = ["To", "Cc"]
            .iter()
            .flat_map(|n| headers.get_all(n))
            .flat_map(kvc_smime::mime::addresses)
            .collect();
        let blob = kvc_smime::message::cms_from_message(raw, "posted message").ok();
        let keyed = users.keyed(&self.account.user);
        let decryptable_by: Vec<String> = keyed
            .iter()
            .filter(|(_, k)| {
                blob.as_ref().is_some_and(|b| {
                    kvc_smime::cms::decrypt(b, &k.to_key_material("key"), "posted message").is_ok()
                })
            })
            .map(|(a, _)| a.clone())
            .collect();
        let is_recipient = |a: &str| recipients.iter().any(|r| r.eq_ignore_ascii_case(a));
        // Prefer an addressee whose key opens it; else any addressee we hold a key for (the
        // lint then reports why it does not open).
        let chosen = keyed
            .iter()
            .find(|(a, _)| is_recipient(a) && decryptable_by.contains(a))
            .or_else(|| keyed.iter().find(|(a, _)| is_recipient(a)))?;
        Some(CapturedOpening {
            recipient: chosen.0.clone(),
            keys: SmimeKeys {
                key: chosen.1.to_key_material(&format!("key of {}", chosen.0)),
                trust,
                at: None,
            },
            decryptable_by,
        })
    }
}
