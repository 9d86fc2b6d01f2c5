//! The KIM mocks standalone, for a vendor to point a Clientmodul at by hand, on one card test
//! PKI and one TLS CA, all on loopback (paths in the JSON files relative to DIR):
//!
//! - `kvc-check mocks serve kim-ti --out DIR`: the Konnektor and the VZD; `DIR/kim-ti.json` with
//!   the connector.sds URL, CA, client certificate (when client authentication is on), Context,
//!   VZD URL and base DN, and per mailbox its TelematikID, card handle, certificates and keys.
//! - `kvc-check mocks serve kim-fd --out DIR`: the Fachdienst: MTA (SMTPS), mailbox (POP3S), KAS,
//!   Account Manager, DNS-SD; `DIR/kim-fd.json` with their addresses, the CA and the accounts.
//! - `kvc-check mocks serve kim --out DIR`: both, writing both files; the mailbox's messages are
//!   encrypted to the cards the Konnektor holds.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use der::{Decode, Encode};
use kvc_smime::card_pki::{Card, CardKeyRole, CardPki, CardVariant};
use serde_json::json;

use crate::error::MockError;
use crate::kim::account_manager::{AccountManagerMock, AmAccount, AmConfig};
use crate::kim::dns::{DnsConfig, DnsMock, DnsService};
use crate::kim::kas::{KasAccount, KasConfig, KasMock};
use crate::kim::konnektor::{InsertedCard, KnownContext, KonnektorConfig, KonnektorMock};
use crate::kim::practices::PRACTICES;
use crate::kim::served_messages::{self, KomLeVariant, Party};
use crate::kim::vzd::{KimVzdMock, KomLeVersion, VZD_BASE_DN, VzdConfig, VzdEntry};
use crate::mail::{Account, MailServer, MailServerConfig};
use crate::net::tls::{ClientAuth, TlsPki};

/// Ports and options of the TI mocks ([`serve_kim_ti`], [`serve_kim`]).
#[derive(Debug, Clone)]
pub struct KimTiOptions {
    /// 0 = any free port.
    pub konnektor_port: u16,
    /// 0 = any free port.
    pub vzd_port: u16,
    /// The Konnektor demands a client certificate (`ClientAutMandatory`).
    pub client_auth: bool,
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<String, MockError> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| MockError::Write {
            path: parent.display().to_string(),
            source,
        })?;
    }
    std::fs::write(&path, bytes).map_err(|source| MockError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(name.to_string())
}

fn pki_err(e: impl std::fmt::Display) -> MockError {
    MockError::Pki(e.to_string())
}

/// The files of one mailbox's card: certificates (PEM) and the RSA keys (PKCS#8 PEM) of C.ENC,
/// C.SIG and C.AUT (the suite playing a Clientmodul signs Account Manager tokens with it).
fn card_files(dir: &Path, name: &str, card: &Card) -> Result<serde_json::Value, MockError> {
    let mut files = serde_json::Map::new();
    for (role, label) in [
        (CardKeyRole::Enc, "enc"),
        (CardKeyRole::Sig, "sig"),
        (CardKeyRole::Aut, "aut"),
    ] {
        let pair = card
            .key(role)
            .ok_or_else(|| MockError::Pki(format!("card without {label} key")))?;
        let cert = pair.rsa.certificate_pem().map_err(pki_err)?;
        let file = write(dir, &format!("{name}/c_{label}.pem"), cert.as_bytes())?;
        files.insert(format!("{label}_certificate"), json!(file));
        let key = pair.rsa.key_pem().map_err(pki_err)?;
        let file = write(dir, &format!("{name}/c_{label}.key.pem"), key.as_bytes())?;
        files.insert(format!("{label}_key"), json!(file));
    }
    Ok(serde_json::Value::Object(files))
}

pub use crate::kim::practices::DEREGISTERED;

/// Ports of the Fachdienst mocks ([`serve_kim_fd`], [`serve_kim`]); 0 = any free port.
#[derive(Debug, Clone)]
pub struct KimFdOptions {
    pub smtps_port: u16,
    pub pop3s_port: u16,
    pub kas_port: u16,
    pub am_port: u16,
    pub dns_port: u16,
    /// Largest attachment the KAS stores (gematik's reference KAS: 524288000).
    pub kas_max_bytes: u64,
}

/// One mailbox of the standalone world: its address, card and the account password.
struct Mailbox {
    mail: String,
    telematik_id: String,
    handle: String,
    card: Card,
    password: String,
    identity: serde_json::Value,
}

/// What the TI and the Fachdienst share: the output folder, the TLS CA, the card PKI and the
/// two mailboxes.
struct KimShared {
    out: std::path::PathBuf,
    tls: TlsPki,
    ca: String,
    cards: CardPki,
    card_ca: String,
    mailboxes: Vec<Mailbox>,
}

impl KimShared {
    fn create(out: &Path) -> Result<KimShared, MockError> {
        std::fs::create_dir_all(out).map_err(|source| MockError::Write {
            path: out.display().to_string(),
            source,
        })?;
        let tls = TlsPki::generate("localhost")?;
        let ca = write(out, "ca.pem", tls.ca_pem().as_bytes())?;
        let cards = CardPki::generate().map_err(pki_err)?;
        let pems = cards
            .trust_anchors()
            .iter()
            .map(|c| {
                use der::EncodePem;
                c.to_pem(der::pem::LineEnding::LF).map_err(pki_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let card_ca = write(out, "card-ca.pem", pems.concat().as_bytes())?;
        let mut mailboxes = Vec::new();
        for p in PRACTICES {
            let card = p.smcb(&cards, CardVariant::Valid).map_err(pki_err)?;
            let mut identity = card_files(
                out,
                &format!("identities/{}", p.surname.to_lowercase()),
                &card,
            )?;
            if let serde_json::Value::Object(m) = &mut identity {
                m.insert("mail".into(), json!(p.mail));
                m.insert("telematik_id".into(), json!(p.telematik_id));
                m.insert("card_handle".into(), json!(p.card_handle));
            }
            mailboxes.push(Mailbox {
                mail: p.mail.to_string(),
                telematik_id: p.telematik_id.to_string(),
                handle: p.card_handle.to_string(),
                card,
                password: format!("Kim-{}", uuid::Uuid::new_v4().simple()),
                identity,
            });
        }
        Ok(KimShared {
            out: out.to_path_buf(),
            tls,
            ca,
            cards,
            card_ca,
            mailboxes,
        })
    }

    fn write_json(&self, name: &str, value: &serde_json::Value) -> Result<String, MockError> {
        let text =
            serde_json::to_string_pretty(value).map_err(|e| MockError::Config(e.to_string()))?;
        write(&self.out, name, format!("{text}\n").as_bytes())?;
        Ok(text)
    }
}

struct TiWorld {
    konnektor: KonnektorMock,
    vzd: KimVzdMock,
    json: serde_json::Value,
}

async fn start_ti(shared: &KimShared, options: &KimTiOptions) -> Result<TiWorld, MockError> {
    let out = &shared.out;
    let mut inserted = Vec::new();
    let mut entries = Vec::new();
    for (i, m) in shared.mailboxes.iter().enumerate() {
        let enc = m
            .card
            .key(CardKeyRole::Enc)
            .ok_or_else(|| MockError::Pki("card without ENC key".into()))?;
        let certs = [&enc.rsa.certificate, &enc.ecc.certificate]
            .into_iter()
            .map(|c| c.to_der().map_err(pki_err))
            .collect::<Result<Vec<_>, _>>()?;
        entries.push(VzdEntry::institution(
            &m.telematik_id,
            &m.card.holder.common_name,
            &m.mail,
            KomLeVersion::V15Plus,
            certs,
        ));
        inserted.push(InsertedCard::new(&m.handle, i as u32 + 1, m.card.clone()));
    }
    let context = KnownContext::default();
    let konnektor = KonnektorMock::start(
        KonnektorConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: options.konnektor_port,
            client_auth: if options.client_auth {
                ClientAuth::Required
            } else {
                ClientAuth::None
            },
            contexts: vec![context.clone()],
            cards: inserted,
            trust: shared.cards.trust_anchors(),
            ..KonnektorConfig::default()
        },
        &shared.tls,
    )
    .await?;
    let vzd = KimVzdMock::start(
        VzdConfig {
            port: options.vzd_port,
            entries,
            ..VzdConfig::default()
        },
        &shared.tls,
    )
    .await?;
    let mut konnektor_json = json!({
        "sds_url": konnektor.sds_url(),
        "ca_pem": shared.ca,
        "context": {
            "MandantId": context.mandant_id,
            "ClientSystemId": context.client_system_id,
            "WorkplaceId": context.workplace_id,
        },
    });
    if options.client_auth {
        let id = shared.tls.client_identity();
        let cert = x509_cert::Certificate::from_der(&id.certificate).map_err(pki_err)?;
        let ca_cert = x509_cert::Certificate::from_der(shared.tls.ca_der()).map_err(pki_err)?;
        let password = uuid::Uuid::new_v4().simple().to_string();
        let p12 =
            kvc_smime::pkcs12::build(&id.key_pkcs8, &[cert, ca_cert], &password, "client system")
                .map_err(pki_err)?;
        konnektor_json["client_p12"] = json!(write(out, "client.p12", &p12)?);
        konnektor_json["client_p12_password_file"] = json!(write(
            out,
            "client.p12.password",
            format!("{password}\n").as_bytes()
        )?);
    }
    let json = json!({
        "konnektor": konnektor_json,
        "vzd": { "ldap_url": vzd.url(), "ca_pem": shared.ca, "base_dn": VZD_BASE_DN },
        "card_ca_pem": shared.card_ca,
        "identities": shared.mailboxes.iter().map(|m| m.identity.clone()).collect::<Vec<_>>(),
    });
    Ok(TiWorld {
        konnektor,
        vzd,
        json,
    })
}

struct FdWorld {
    mail: MailServer,
    kas: KasMock,
    am: AccountManagerMock,
    dns: DnsMock,
    json: serde_json::Value,
}

async fn start_fd(shared: &KimShared, options: &KimFdOptions) -> Result<FdWorld, MockError> {
    let out = &shared.out;
    let [first, second] = &shared.mailboxes[..] else {
        return Err(MockError::Config("two mailboxes expected".into()));
    };
    // The mailbox serves one valid KOM-LE message from the first mailbox to the second,
    // encrypted to the second's card (which the Konnektor of `serve kim` holds).
    let served = served_messages::build(
        &KomLeVariant::Valid,
        Party {
            mail: &first.mail,
            card: &first.card,
        },
        Party {
            mail: &second.mail,
            card: &second.card,
        },
        "kvc-check-1@kim.telematik-test",
    )?;
    let served_file = write(out, "mailbox/1.eml", &served)?;
    let mail = MailServer::start(
        MailServerConfig {
            smtp_port: options.smtps_port,
            pop3_port: options.pop3s_port,
            accounts: shared
                .mailboxes
                .iter()
                .map(|m| Account::new(m.mail.clone(), m.password.clone()))
                .collect(),
            account_mailbox: vec![(second.mail.clone(), served)],
            deliver_to_accounts: true,
            banner: "kvc-check mock KIM Fachdienst".into(),
            sender_must_match_auth: true,
            message_check: Some(crate::kim::sender_rules::message_check()),
            ..MailServerConfig::default()
        },
        &shared.tls,
    )
    .await?;
    let kas = KasMock::start(
        KasConfig {
            port: options.kas_port,
            accounts: shared
                .mailboxes
                .iter()
                .map(|m| KasAccount::new(&m.mail, &m.password))
                .collect(),
            max_attachment_bytes: options.kas_max_bytes,
            ..KasConfig::default()
        },
        &shared.tls,
    )
    .await?;
    // An account deregistered a day ago, its deregDate passed: revoking it is refused
    // (A_23175). It belongs to the first practice's card.
    let deregistered_password = format!("Kim-{}", uuid::Uuid::new_v4().simple());
    let mut deregistered =
        AmAccount::new(DEREGISTERED, &deregistered_password, &first.telematik_id);
    deregistered.dereg_date = Some(
        std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
            - 86_400,
    );
    let am = AccountManagerMock::start(
        AmConfig {
            port: options.am_port,
            accounts: shared
                .mailboxes
                .iter()
                .map(|m| AmAccount::new(&m.mail, &m.password, &m.telematik_id))
                .chain([deregistered])
                .collect(),
            trust: shared.cards.trust_anchors(),
            ..AmConfig::default()
        },
        &shared.tls,
    )
    .await?;
    let dns = DnsMock::start(DnsConfig {
        port: options.dns_port,
        services: vec![
            DnsService {
                name: "kas".into(),
                host: "localhost".into(),
                port: kas.addr().port(),
                path: crate::kim::kas::KasApi::V2_4.base_path().into(),
            },
            DnsService {
                name: "accmgr".into(),
                host: "localhost".into(),
                port: am.addr().port(),
                path: crate::kim::account_manager::AM_BASE.into(),
            },
        ],
        ..DnsConfig::default()
    })
    .await?;
    let accounts: Vec<serde_json::Value> = shared
        .mailboxes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({
                "address": m.mail,
                "password": m.password,
                "telematik_id": m.telematik_id,
                // The card's files (the C.AUT key signs Account Manager tokens).
                "identity": m.identity,
                // What the account's maildrop holds at start; mail sent through the MTA to an
                // account is delivered into its maildrop too.
                "mailbox": if i == 1 { vec![served_file.clone()] } else { Vec::new() },
            })
        })
        .collect();
    let json = json!({
        "mta": { "smtps": format!("localhost:{}", mail.smtp_addr().port()) },
        "pop3": { "pop3s": format!("localhost:{}", mail.pop3_addr().port()) },
        "kas": { "base_url": kas.base_url() },
        "am": { "base_url": am.base_url() },
        "dns": { "addr": dns.addr().to_string(), "domain": "kim.telematik-test" },
        "ca_pem": shared.ca,
        "card_ca_pem": shared.card_ca,
        "kas_max_bytes": options.kas_max_bytes,
        "accounts": accounts,
        "deregistered": {
            "address": DEREGISTERED,
            "password": deregistered_password,
            "telematik_id": first.telematik_id,
            "identity": first.identity,
        },
    });
    Ok(FdWorld {
        mail,
        kas,
        am,
        dns,
        json,
    })
}

/// The JSON as printed: passwords masked (they are in the file only).
fn printable(value: &serde_json::Value) -> String {
    let mut v = value.clone();
    if let Some(accounts) = v.get_mut("accounts").and_then(|a| a.as_array_mut()) {
        for a in accounts {
            a["password"] = json!("(in the file)");
        }
    }
    if let Some(d) = v.get_mut("deregistered").filter(|d| d.is_object()) {
        d["password"] = json!("(in the file)");
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// Prints what the mocks see until Ctrl-C, then stops them.
async fn run_until_ctrl_c(ti: Option<TiWorld>, fd: Option<FdWorld>) -> Result<(), MockError> {
    let report = async {
        let (mut calls, mut captured, mut uploads) = (0usize, 0usize, 0usize);
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if let Some(t) = &ti {
                for c in t.konnektor.calls().iter().skip(calls) {
                    calls += 1;
                    let why = c
                        .resource
                        .reason
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    println!(
                        "Konnektor call {calls}: {} -> {}{why}",
                        c.resource.operation, c.resource.outcome
                    );
                }
            }
            if let Some(f) = &fd {
                let obs = f.mail.observations();
                for m in obs.messages().skip(captured) {
                    captured += 1;
                    println!(
                        "MTA captured message {captured}: MAIL FROM:<{}> RCPT TO:{:?}, {} bytes",
                        m.mail_from,
                        m.rcpt_to,
                        m.data.len()
                    );
                }
                for u in f.kas.uploads().iter().skip(uploads) {
                    uploads += 1;
                    println!(
                        "KAS upload {uploads}: {} bytes by {} for {:?}",
                        u.size, u.owner, u.recipients
                    );
                }
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = report => {}
    }
    if let Some(t) = ti {
        println!("stopped: {} Konnektor call(s)", t.konnektor.calls().len());
        t.konnektor.shutdown().await;
        t.vzd.shutdown().await;
    }
    if let Some(f) = fd {
        println!(
            "stopped: {} message(s) captured, {} KAS upload(s), {} Account Manager call(s), {} DNS quer(ies)",
            f.mail.observations().messages().count(),
            f.kas.uploads().len(),
            f.am.calls().len(),
            f.dns.queries().len()
        );
        f.mail.shutdown().await;
        f.kas.shutdown().await;
        f.am.shutdown().await;
        f.dns.shutdown().await;
    }
    Ok(())
}

/// `kvc-check mocks serve kim-ti`: the Konnektor and the VZD until Ctrl-C (see the module text).
pub async fn serve_kim_ti(out: &Path, options: KimTiOptions) -> Result<(), MockError> {
    let shared = KimShared::create(out)?;
    let ti = start_ti(&shared, &options).await?;
    let text = shared.write_json("kim-ti.json", &ti.json)?;
    println!(
        "mock Konnektor and VZD running (Ctrl-C to stop); paths relative to {}",
        out.display()
    );
    println!("{text}");
    println!("written: {}", out.join("kim-ti.json").display());
    run_until_ctrl_c(Some(ti), None).await
}

/// `kvc-check mocks serve kim-fd`: the Fachdienst mocks until Ctrl-C.
pub async fn serve_kim_fd(out: &Path, options: KimFdOptions) -> Result<(), MockError> {
    let shared = KimShared::create(out)?;
    let fd = start_fd(&shared, &options).await?;
    shared.write_json("kim-fd.json", &fd.json)?;
    println!(
        "mock KIM Fachdienst running (Ctrl-C to stop); paths relative to {}",
        out.display()
    );
    println!("{}", printable(&fd.json));
    println!("written: {}", out.join("kim-fd.json").display());
    run_until_ctrl_c(None, Some(fd)).await
}

/// `kvc-check mocks serve kim`: the TI and the Fachdienst mocks together until Ctrl-C.
pub async fn serve_kim(
    out: &Path,
    ti_options: KimTiOptions,
    fd_options: KimFdOptions,
) -> Result<(), MockError> {
    let shared = KimShared::create(out)?;
    let ti = start_ti(&shared, &ti_options).await?;
    let fd = start_fd(&shared, &fd_options).await?;
    let ti_text = shared.write_json("kim-ti.json", &ti.json)?;
    shared.write_json("kim-fd.json", &fd.json)?;
    println!(
        "mock Konnektor, VZD and KIM Fachdienst running (Ctrl-C to stop); paths relative to {}",
        out.display()
    );
    println!("{ti_text}");
    println!("{}", printable(&fd.json));
    println!(
        "written: {} and kim-fd.json",
        out.join("kim-ti.json").display()
    );
    run_until_ctrl_c(Some(ti), Some(fd)).await
}
