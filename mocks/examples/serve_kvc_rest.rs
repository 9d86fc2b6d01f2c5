//! Runs the mock KV-Connect REST server and LDAPS directory standalone until Ctrl-C (what
//! `kvc-check mocks serve kvc-rest` does):
//! `cargo run -p kvc-mocks --example serve_kvc_rest -- [HTTPS_PORT] [LDAPS_PORT] [CA_OUT] [MAIL...]`.

use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let https: u16 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8443);
    let ldaps: u16 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1636);
    let ca = PathBuf::from(args.next().unwrap_or_else(|| "kvc-mock-ca.pem".into()));
    let mut mailbox = Vec::new();
    for f in args {
        mailbox.push(std::fs::read(&f).map_err(|e| format!("{f}: {e}"))?);
    }
    kvc_mocks::serve_kvc_rest(https, ldaps, &ca, mailbox).await?;
    Ok(())
}
