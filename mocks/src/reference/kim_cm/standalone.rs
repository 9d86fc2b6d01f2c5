//! `kvc-check mocks serve kim-cm --kim-ti FILE`: the reference Clientmodul as a process of its
//! own, pointed at the Konnektor and VZD a `kim-ti.json` names (as a vendor's Clientmodul is
//! pointed at them): for trying the kim-cm suite's `--sut` path, and for client systems that
//! want a Clientmodul to talk to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CmConfig, CmFault, ReferenceCm};
use crate::error::MockError;
use crate::kim::konnektor::client::KonnektorContext;
use crate::net::tls::TlsPki;

/// What the standalone Clientmodul is started with.
#[derive(Debug, Clone)]
pub struct StandaloneCm {
    pub kim_ti: PathBuf,
    pub smtp_port: u16,
    pub pop3_port: u16,
    /// Where the CA of its server certificate is written.
    pub ca_out: PathBuf,
    pub faults: Vec<CmFault>,
}

fn text<'a>(v: &'a serde_json::Value, path: &[&str], file: &Path) -> Result<&'a str, MockError> {
    let mut at = v;
    for p in path {
        at = &at[*p];
    }
    at.as_str().ok_or_else(|| {
        MockError::Config(format!(
            "{}: `{}` is missing",
            file.display(),
            path.join(".")
        ))
    })
}

fn host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    Some((h.to_string(), p.parse().ok()?))
}

/// The Clientmodul's configuration from `kim-ti.json` (paths relative to its folder).
pub fn config_from_kim_ti(file: &Path, faults: Vec<CmFault>) -> Result<CmConfig, MockError> {
    let raw = std::fs::read_to_string(file)
        .map_err(|e| MockError::Config(format!("{}: {e}", file.display())))?;
    let v: serde_json::Value = serde_json::from_str(&raw)
        .map_err(|e| MockError::Config(format!("{}: {e}", file.display())))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let ca_file = dir.join(text(&v, &["konnektor", "ca_pem"], file)?);
    let ca_pem = std::fs::read_to_string(&ca_file)
        .map_err(|e| MockError::Config(format!("{}: {e}", ca_file.display())))?;
    let ctx = &v["konnektor"]["context"];
    let context = KonnektorContext {
        mandant_id: text(ctx, &["MandantId"], file)?.to_string(),
        client_system_id: text(ctx, &["ClientSystemId"], file)?.to_string(),
        workplace_id: text(ctx, &["WorkplaceId"], file)?.to_string(),
    };
    Ok(CmConfig {
        konnektor_sds_url: text(&v, &["konnektor", "sds_url"], file)?.to_string(),
        konnektor_context: context,
        vzd_url: text(&v, &["vzd", "ldap_url"], file)?.to_string(),
        vzd_base_dn: text(&v, &["vzd", "base_dn"], file)?.to_string(),
        ca_pem,
        kom_le_version: "1.0".into(),
        max_client_mail_bytes: crate::kim::MAX_MAIL_SIZE,
        data_time_to_live_days: 90,
        backend_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        faults,
        default_mailbox: v["fachdienst"]["pop3"].as_str().and_then(host_port),
        dsn_mta: v["fachdienst"]["mta"].as_str().and_then(host_port),
        kas: v["fachdienst"]["dns"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .map(|dns| super::kas::KasLink {
                dns,
                domain: v["fachdienst"]["domain"]
                    .as_str()
                    .unwrap_or("kim.telematik-test")
                    .to_string(),
            }),
        kas_threshold_bytes: crate::kim::KAS_THRESHOLD_BYTES,
        smtp_port: 0,
        pop3_port: 0,
    })
}

/// Starts the Clientmodul, writes its CA, prints where it listens and serves until Ctrl-C.
pub async fn serve_kim_cm(options: StandaloneCm) -> Result<(), MockError> {
    let mut config = config_from_kim_ti(&options.kim_ti, options.faults.clone())?;
    config.smtp_port = options.smtp_port;
    config.pop3_port = options.pop3_port;
    let tls = TlsPki::generate("localhost")?;
    tls.write_ca(&options.ca_out)?;
    let cm = ReferenceCm::start(config, &tls).await?;
    println!(
        "reference KIM Clientmodul running (Ctrl-C to stop): SMTP localhost:{}, POP3 localhost:{} (implicit TLS), CA {}",
        cm.smtp_addr().port(),
        cm.pop3_addr().port(),
        options.ca_out.display()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
