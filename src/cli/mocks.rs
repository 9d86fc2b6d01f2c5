//! `kvc-check mocks serve kvc-client [--smtp-port P] [--pop3-port P] [--ca-out FILE]
//! [--mailbox FILE]...`: runs the mock KV-Connect Client standalone until Ctrl-C, e.g. to
//! configure a vendor's system against it by hand.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct MocksArgs {
    #[command(subcommand)]
    pub command: MocksCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum MocksCommand {
    /// Run a mock server standalone until Ctrl-C.
    Serve {
        #[command(subcommand)]
        mock: ServeMock,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ServeMock {
    /// The mock KV-Connect Client: SMTP (implicit TLS) and POP3 (TLS) on 127.0.0.1.
    KvcClient {
        /// SMTP port (0 = any free port).
        #[arg(long, default_value_t = 4650)]
        smtp_port: u16,
        /// POP3 port (0 = any free port).
        #[arg(long, default_value_t = 9950)]
        pop3_port: u16,
        /// Where to write the CA certificate the SUT must trust.
        #[arg(long, value_name = "FILE", default_value = "kvc-check-ca.pem")]
        ca_out: PathBuf,
        /// Messages (.eml) the POP3 mailbox serves, in order (repeatable).
        #[arg(long, value_name = "FILE")]
        mailbox: Vec<PathBuf>,
    },
}

pub fn run(args: &MocksArgs) -> ExitCode {
    match &args.command {
        MocksCommand::Serve {
            mock:
                ServeMock::KvcClient {
                    smtp_port,
                    pop3_port,
                    ca_out,
                    mailbox,
                },
        } => {
            let mut messages = Vec::new();
            for p in mailbox {
                match std::fs::read(p) {
                    Ok(b) => messages.push(b),
                    Err(e) => return super::fail(format!("--mailbox {}: {e}", p.display())),
                }
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return super::fail(format!("starting the async runtime: {e}")),
            };
            match runtime.block_on(kvc_mocks::serve_kvc_client(
                *smtp_port, *pop3_port, ca_out, messages,
            )) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => super::fail(format!("mock KV-Connect Client: {e}")),
            }
        }
    }
}
