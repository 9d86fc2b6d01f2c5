//! The KV-Connect mocks standalone, for a vendor to point a practice system at by hand:
//! `kvc-check mocks serve kvc-client|kvc-rest`.

use std::path::Path;
use std::time::Duration;

use crate::error::MockError;
use crate::kvc::client::{KvcClientConfig, KvcClientMock, default_config};
use crate::kvc::rest::{KvcRestAccount, KvcRestConfig, KvcRestMock, KvcRestObservations};
use crate::mail::{CapturedMessage, Observations};
use crate::net::session::SessionEnd;
use crate::net::tls::TlsPki;

/// Runs the mock KV-Connect REST server and directory standalone until Ctrl-C, on 127.0.0.1:
/// HTTPS on `port` (0 = ephemeral; the real reference system uses 8443) and LDAPS on
/// `ldaps_port` (0 = ephemeral; real: 636). Writes the TLS CA certificate to `ca_out` and, next
/// to it, the user PKI: `kvc-user-root.pem` (trust anchor for message signatures) and the
/// first account's `<username>.cert.pem` / `<username>.key.pem` (to decrypt what it is served).
/// `mailbox` is served from the first account's mailbox; if it is empty, one message built like
/// the reference sample (from `arzt.2`) is served. Prints endpoints, accounts, files, and every
/// request as it is handled. Wired to `kvc-check mocks serve kvc-rest`.
pub async fn serve_kvc_rest(
    port: u16,
    ldaps_port: u16,
    ca_out: &Path,
    mailbox: Vec<Vec<u8>>,
) -> Result<KvcRestObservations, MockError> {
    use crate::kvc::served_messages::{
        KvcMessagePki, KvcMessageSpec, KvcMessageVariant, build_served_message,
    };
    let mut config = KvcRestConfig {
        port,
        ..KvcRestConfig::default()
    };
    config
        .accounts
        .push(KvcRestAccount::new("arzt.2", "Geheim34"));
    let (sut_email, sender_email) = (
        config.accounts[0].email.clone(),
        config.accounts[1].email.clone(),
    );
    let users = KvcMessagePki::generate(&sut_email, &sender_email)?;
    let pem = |c: &kvc_smime::pki::CertifiedKey| {
        c.certificate_pem()
            .map_err(|e| MockError::Pki(e.to_string()))
    };
    config.accounts[0].certificate_pem = Some(pem(&users.sut)?);
    config.accounts[1].certificate_pem = Some(pem(&users.sender)?);
    config.accounts[0].mailbox = if mailbox.is_empty() {
        vec![build_served_message(
            &users,
            &KvcMessageSpec::arztbrief(&sender_email, &sut_email),
            KvcMessageVariant::Valid,
        )?]
    } else {
        mailbox
    };
    let pki = TlsPki::generate(&config.host)?;
    pki.write_ca(ca_out)?;
    let dir = ca_out.parent().unwrap_or_else(|| Path::new("."));
    let write = |name: &str, data: String| {
        let path = dir.join(name);
        // The user's private key is for the owner only (0600, whatever the umask).
        if name.ends_with(".key.pem") {
            kvc_smime::files::write_private(&path, data.as_bytes())
        } else {
            std::fs::write(&path, data)
        }
        .map_err(|source| MockError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok::<_, MockError>(path)
    };
    let root_file = write("kvc-user-root.pem", users.root_pem()?)?;
    let user = config.accounts[0].username.clone();
    let cert_file = write(&format!("{user}.cert.pem"), pem(&users.sut)?)?;
    let key_file = write(
        &format!("{user}.key.pem"),
        users
            .sut
            .key_pem()
            .map_err(|e| MockError::Pki(e.to_string()))?,
    )?;
    let accounts = config.accounts.clone();
    let dir_config = crate::kvc::directory::KvcDirectoryConfig {
        port: ldaps_port,
        ..crate::kvc::directory::KvcDirectoryConfig::from_accounts(&accounts, &config.profile)
    };
    let mock = KvcRestMock::start(config, &pki).await?;
    mock.set_csr_issuer(Some(users.csr_issuer()));
    let directory = crate::kvc::directory::KvcDirectoryMock::start(dir_config, &pki).await?;
    println!("mock KV-Connect REST server and directory running (Ctrl-C to stop)");
    println!("  REST base URL: {}", mock.base_url());
    println!(
        "  directory: {} (base {})",
        directory.url(),
        crate::kvc::directory::KV_DIRECTORY_BASE_DN
    );
    for a in &accounts {
        println!(
            "  account: user `{}` password `{}` uid `{}` address {} ({} message(s))",
            a.username,
            a.password,
            a.uid,
            a.email,
            a.mailbox.len()
        );
    }
    println!("  TLS CA certificate to trust: {}", ca_out.display());
    println!("  user CA (message signatures): {}", root_file.display());
    println!(
        "  {user}'s certificate / key: {} / {}",
        cert_file.display(),
        key_file.display()
    );
    if let Some(a) = accounts.first() {
        println!(
            "  try: curl --cacert {} -u {}:{} {}/accounts/{}/headers",
            ca_out.display(),
            a.username,
            a.password,
            mock.base_url(),
            a.uid
        );
    }
    let report = async {
        let mut seen = 0usize;
        loop {
            let obs = mock
                .wait_for_requests(seen + 1, Duration::from_millis(500))
                .await;
            for r in obs.requests.iter().skip(seen) {
                seen += 1;
                println!(
                    "{} {} -> {} ({} in, {} out){}",
                    r.method,
                    r.target,
                    r.status,
                    r.bytes_in,
                    r.bytes_out,
                    r.note
                        .as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                );
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = report => {}
    }
    let obs = mock.observations();
    mock.shutdown().await;
    directory.shutdown().await;
    println!(
        "stopped: {} connection(s), {} request(s), {} mail(s) posted",
        obs.connections.len(),
        obs.requests.len(),
        obs.posted.len()
    );
    Ok(obs)
}

/// Runs the mock KV-Connect Client standalone until Ctrl-C: binds SMTP (implicit TLS) and POP3
/// (implicit TLS) on 127.0.0.1, writes the CA certificate to `ca_out`, prints the endpoints,
/// account and CA path, and on Ctrl-C prints a summary of what it captured. `mailbox` is served
/// over POP3. Each captured message is handed to `on_message` (its 1-based number and the
/// message) as it arrives, e.g. to save and lint it. Wired to `kvc-check mocks serve kvc-client
/// [--smtp-port] [--pop3-port] [--save DIR]`.
pub async fn serve_kvc_client(
    smtp_port: u16,
    pop3_port: u16,
    ca_out: &Path,
    mailbox: Vec<Vec<u8>>,
    on_message: &mut (dyn FnMut(usize, &CapturedMessage) + Send),
) -> Result<Observations, MockError> {
    let config = KvcClientConfig {
        smtp_port,
        pop3_port,
        mailbox,
        ..default_config()
    };
    let pki = TlsPki::generate(&config.hostname)?;
    pki.write_ca(ca_out)?;
    let accounts = config.accounts.clone();
    let n_mail = config.mailbox.len();
    let mock = KvcClientMock::start(config, &pki).await?;
    println!("mock KV-Connect Client running (Ctrl-C to stop)");
    println!(
        "  SMTP (implicit TLS): smtps://localhost:{}",
        mock.smtp_addr().port()
    );
    println!(
        "  POP3 (implicit TLS): pop3s://localhost:{}",
        mock.pop3_addr().port()
    );
    for a in &accounts {
        println!("  account: user `{}` password `{}`", a.user, a.password);
    }
    println!("  CA certificate to trust: {}", ca_out.display());
    println!("  POP3 mailbox: {n_mail} message(s)");
    let report = async {
        let mut seen = 0usize;
        let mut pop3_seen = 0usize;
        loop {
            let obs = mock
                .wait_for_messages(seen + 1, Duration::from_millis(500))
                .await;
            for m in obs.messages().skip(seen) {
                seen += 1;
                println!(
                    "captured message {seen}: MAIL FROM:<{}> RCPT TO:{:?}, {} bytes",
                    m.mail_from,
                    m.rcpt_to,
                    m.data.len()
                );
                on_message(seen, m);
            }
            for p in obs.pop3.iter().skip(pop3_seen) {
                if p.end == SessionEnd::Open {
                    break;
                }
                pop3_seen += 1;
                println!(
                    "POP3 session {pop3_seen} from {} ended ({:?}): retrieved {:?}, deleted {:?}",
                    p.peer, p.end, p.retrieved, p.deleted
                );
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = report => {}
    }
    let obs = mock.observations();
    mock.shutdown().await;
    println!(
        "stopped: {} SMTP session(s), {} message(s) captured, {} POP3 session(s)",
        obs.smtp.len(),
        obs.messages().count(),
        obs.pop3.len()
    );
    Ok(obs)
}
