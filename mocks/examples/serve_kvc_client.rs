//! Runs the mock KV-Connect Client standalone until Ctrl-C (what `kvc-check mocks serve
//! kvc-client` does): `cargo run -p kvc-mocks --example serve_kvc_client -- [SMTP_PORT] [POP3_PORT] [CA_OUT]`.

use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let smtp: u16 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1465);
    let pop3: u16 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1995);
    let ca = PathBuf::from(args.next().unwrap_or_else(|| "kvc-mock-ca.pem".into()));
    kvc_mocks::serve_kvc_client(smtp, pop3, &ca, Vec::new(), &mut |_, _| {}).await?;
    Ok(())
}
