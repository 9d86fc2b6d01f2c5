//! The TI side of a KIM Clientmodul standalone, for a vendor to point a Clientmodul at by hand:
//! `kvc-check mocks serve kim-ti --out DIR` starts the mock Konnektor and the mock VZD on
//! loopback, on one card test PKI, and writes `DIR/kim-ti.json` (paths relative to DIR) with
//! everything a Clientmodul's settings need: connector.sds URL, CA, client certificate (when
//! client authentication is on), Context, VZD URL and base DN, and per mailbox its TelematikID,
//! card handle, certificates and keys.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use der::{Decode, Encode};
use kvc_smime::card_pki::{Card, CardKeyRole, CardKind, CardPki, CardVariant, Holder};
use serde_json::json;

use crate::error::MockError;
use crate::kim::konnektor::{InsertedCard, KnownContext, KonnektorConfig, KonnektorMock};
use crate::kim::vzd::{KimVzdMock, KomLeVersion, VZD_BASE_DN, VzdConfig, VzdEntry};
use crate::net::tls::{ClientAuth, TlsPki};

/// Ports and options of [`serve_kim_ti`].
#[derive(Debug, Clone)]
pub struct KimTiOptions {
    /// 0 = any free port.
    pub konnektor_port: u16,
    /// 0 = any free port.
    pub vzd_port: u16,
    /// The Konnektor demands a client certificate (`ClientAutMandatory`).
    pub client_auth: bool,
}

/// The two mailboxes of the standalone world: (mail, TelematikID, card handle, holder names).
const MAILBOXES: [(&str, &str, &str, &str, &str, &str); 2] = [
    (
        "praxis.rosenstrauch@kim.telematik-test",
        "1-2-KVCCHECK-Rosenstrauch01",
        "SMC-B-1",
        "80276001011699901102",
        "Bernd",
        "Rosenstrauch",
    ),
    (
        "praxis.musterfrau@kim.telematik-test",
        "1-2-KVCCHECK-Musterfrau01",
        "SMC-B-2",
        "80276001011699901999",
        "Erika",
        "Musterfrau",
    ),
];

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

/// The files of one mailbox's card: certificates (PEM) and the RSA keys (PKCS#8 PEM) of C.ENC
/// and C.SIG, the C.AUT certificate.
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
        if role != CardKeyRole::Aut {
            let key = pair.rsa.key_pem().map_err(pki_err)?;
            let file = write(dir, &format!("{name}/c_{label}.key.pem"), key.as_bytes())?;
            files.insert(format!("{label}_key"), json!(file));
        }
    }
    Ok(serde_json::Value::Object(files))
}

/// Runs the mock Konnektor and VZD until Ctrl-C (see the module text). Prints what it wrote and
/// every Konnektor call as it is answered; never a password (the client certificate's password
/// is in a file).
pub async fn serve_kim_ti(out: &Path, options: KimTiOptions) -> Result<(), MockError> {
    std::fs::create_dir_all(out).map_err(|source| MockError::Write {
        path: out.display().to_string(),
        source,
    })?;
    let tls = TlsPki::generate("localhost")?;
    let ca = write(out, "ca.pem", tls.ca_pem().as_bytes())?;
    let cards = CardPki::generate().map_err(pki_err)?;
    let card_ca = write(
        out,
        "card-ca.pem",
        cards
            .trust_anchors()
            .iter()
            .map(|c| {
                use der::EncodePem;
                c.to_pem(der::pem::LineEnding::LF).map_err(pki_err)
            })
            .collect::<Result<Vec<_>, _>>()?
            .concat()
            .as_bytes(),
    )?;
    let mut inserted = Vec::new();
    let mut entries = Vec::new();
    let mut identities = Vec::new();
    for (i, (mail, tid, handle, iccsn, given, surname)) in MAILBOXES.into_iter().enumerate() {
        let holder = Holder::practice(iccsn, tid, given, surname);
        let card = cards
            .card(CardKind::SmcB, &holder, CardVariant::Valid)
            .map_err(pki_err)?;
        let enc = card
            .key(CardKeyRole::Enc)
            .ok_or_else(|| MockError::Pki("card without ENC key".into()))?;
        let certs = [&enc.rsa.certificate, &enc.ecc.certificate]
            .into_iter()
            .map(|c| c.to_der().map_err(pki_err))
            .collect::<Result<Vec<_>, _>>()?;
        entries.push(VzdEntry::institution(
            tid,
            &holder.common_name,
            mail,
            KomLeVersion::V15Plus,
            certs,
        ));
        let mut identity = card_files(
            out,
            &format!("identities/{}", surname.to_lowercase()),
            &card,
        )?;
        if let serde_json::Value::Object(m) = &mut identity {
            m.insert("mail".into(), json!(mail));
            m.insert("telematik_id".into(), json!(tid));
            m.insert("card_handle".into(), json!(handle));
        }
        identities.push(identity);
        inserted.push(InsertedCard::new(handle, i as u32 + 1, card));
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
            trust: cards.trust_anchors(),
            ..KonnektorConfig::default()
        },
        &tls,
    )
    .await?;
    let vzd = KimVzdMock::start(
        VzdConfig {
            port: options.vzd_port,
            entries,
            ..VzdConfig::default()
        },
        &tls,
    )
    .await?;
    let mut konnektor_json = json!({
        "sds_url": konnektor.sds_url(),
        "ca_pem": ca,
        "context": {
            "MandantId": context.mandant_id,
            "ClientSystemId": context.client_system_id,
            "WorkplaceId": context.workplace_id,
        },
    });
    if options.client_auth {
        let id = tls.client_identity();
        let cert = x509_cert::Certificate::from_der(&id.certificate).map_err(pki_err)?;
        let ca_cert = x509_cert::Certificate::from_der(tls.ca_der()).map_err(pki_err)?;
        let password = uuid::Uuid::new_v4().simple().to_string();
        let p12 =
            kvc_smime::pkcs12::build(&id.key_pkcs8, &[cert, ca_cert], &password, "client system")
                .map_err(pki_err)?;
        let p12_file = write(out, "client.p12", &p12)?;
        let pw_file = write(
            out,
            "client.p12.password",
            format!("{password}\n").as_bytes(),
        )?;
        konnektor_json["client_p12"] = json!(p12_file);
        konnektor_json["client_p12_password_file"] = json!(pw_file);
    }
    let description = json!({
        "konnektor": konnektor_json,
        "vzd": { "ldap_url": vzd.url(), "ca_pem": ca, "base_dn": VZD_BASE_DN },
        "card_ca_pem": card_ca,
        "identities": identities,
    });
    let text =
        serde_json::to_string_pretty(&description).map_err(|e| MockError::Config(e.to_string()))?;
    write(out, "kim-ti.json", format!("{text}\n").as_bytes())?;
    println!(
        "mock Konnektor and VZD running (Ctrl-C to stop); paths relative to {}",
        out.display()
    );
    println!("{text}");
    println!("written: {}", out.join("kim-ti.json").display());
    let report = async {
        let mut seen = 0usize;
        loop {
            let calls = konnektor
                .wait_for_calls(seen + 1, std::time::Duration::from_millis(500))
                .await;
            for c in calls.iter().skip(seen) {
                seen += 1;
                println!(
                    "Konnektor call {seen}: {} -> {}{}",
                    c.resource.operation,
                    c.resource.outcome,
                    c.resource
                        .reason
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = report => {}
    }
    let calls = konnektor.calls().len();
    let searches: usize = vzd
        .observations()
        .sessions
        .iter()
        .map(|s| s.searches.len())
        .sum();
    konnektor.shutdown().await;
    vzd.shutdown().await;
    println!("stopped: {calls} Konnektor call(s), {searches} VZD search(es)");
    Ok(())
}
