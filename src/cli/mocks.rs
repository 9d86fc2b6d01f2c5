//! `kvc-check mocks serve kvc-client|kvc-rest|kim-ti|kim-fd|kim ...`: runs a mock standalone until Ctrl-C, e.g.
//! to configure a vendor's system against it by hand.

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
        /// Folder each captured message is saved to (`message-N.eml`) and linted from as it
        /// arrives.
        #[arg(long, value_name = "DIR", default_value = "kvc-client-captures")]
        save: PathBuf,
    },
    /// The mock KV-Connect REST server (HTTPS, BASIC auth, base path /kvconnect/rest) and the
    /// directory (LDAPS, base ou=users,dc=kv-safenet,dc=de) on 127.0.0.1.
    KvcRest {
        /// HTTPS port (0 = any free port).
        #[arg(long, default_value_t = 8443)]
        port: u16,
        /// LDAPS port of the directory (0 = any free port).
        #[arg(long, default_value_t = 6360)]
        ldaps_port: u16,
        /// Where to write the CA certificate the SUT must trust (user PKI files go beside it).
        #[arg(long, value_name = "FILE", default_value = "kvc-check-ca.pem")]
        ca_out: PathBuf,
        /// Raw KV-Connect messages to serve in the first account's mailbox (repeatable; default:
        /// one built eArztbrief).
        #[arg(long, value_name = "FILE")]
        mailbox: Vec<PathBuf>,
    },
    /// The TI side of a KIM Clientmodul: the mock Konnektor (HTTPS/SOAP, connector.sds) and the
    /// mock VZD (LDAPS) on 127.0.0.1, on one card test PKI; writes DIR/kim-ti.json.
    KimTi {
        /// Where kim-ti.json, the CA, the card certificates and keys are written.
        #[arg(long, value_name = "DIR", default_value = "kim-ti")]
        out: PathBuf,
        #[command(flatten)]
        ti: TiOptions,
    },
    /// The KIM Fachdienst: MTA (SMTPS), mailbox (POP3S), KAS, Account Manager and DNS-SD on
    /// 127.0.0.1; writes DIR/kim-fd.json.
    KimFd {
        /// Where kim-fd.json, the CA and the served messages are written.
        #[arg(long, value_name = "DIR", default_value = "kim-fd")]
        out: PathBuf,
        #[command(flatten)]
        ports: FdPorts,
    },
    /// The reference KIM Clientmodul: SMTP and POP3 (implicit TLS) for a client system on
    /// 127.0.0.1, pointed at the Konnektor and VZD a kim-ti.json names (e.g. the one
    /// `kvc-check run --role kim-cm --sut` writes).
    KimCm {
        /// The kim-ti.json to read (paths in it relative to its folder).
        #[arg(long, value_name = "FILE")]
        kim_ti: PathBuf,
        #[arg(long, default_value_t = 2465)]
        smtp_port: u16,
        #[arg(long, default_value_t = 2995)]
        pop3_port: u16,
        /// Where to write the CA of its server certificate.
        #[arg(long, value_name = "FILE", default_value = "kim-cm-ca.pem")]
        ca_out: PathBuf,
        /// A named fault of the reference Clientmodul (repeatable).
        #[arg(long = "fault", value_name = "ID")]
        faults: Vec<String>,
    },
    /// kim-ti and kim-fd together (one CA, one card PKI); writes both JSON files.
    Kim {
        /// Where kim-ti.json, kim-fd.json and their files are written.
        #[arg(long, value_name = "DIR", default_value = "kim")]
        out: PathBuf,
        #[command(flatten)]
        ti: TiOptions,
        #[command(flatten)]
        ports: FdPorts,
    },
}

/// Ports and options of the Konnektor and VZD.
#[derive(Debug, Clone, clap::Args)]
pub struct TiOptions {
    /// HTTPS port of the Konnektor (0 = any free port).
    #[arg(long, default_value_t = 4433)]
    konnektor_port: u16,
    /// LDAPS port of the VZD (0 = any free port).
    #[arg(long, default_value_t = 6636)]
    vzd_port: u16,
    /// The Konnektor demands a TLS client certificate (written as client.p12).
    #[arg(long)]
    client_auth: bool,
}

impl TiOptions {
    fn options(&self) -> kvc_mocks::kim::standalone::KimTiOptions {
        kvc_mocks::kim::standalone::KimTiOptions {
            konnektor_port: self.konnektor_port,
            vzd_port: self.vzd_port,
            client_auth: self.client_auth,
        }
    }
}

/// Ports of the Fachdienst mocks (0 = any free port).
#[derive(Debug, Clone, clap::Args)]
pub struct FdPorts {
    #[arg(long, default_value_t = 4465)]
    smtps_port: u16,
    #[arg(long, default_value_t = 4995)]
    pop3s_port: u16,
    #[arg(long, default_value_t = 4443)]
    kas_port: u16,
    #[arg(long, default_value_t = 4444)]
    am_port: u16,
    #[arg(long, default_value_t = 5353)]
    dns_port: u16,
    /// Largest attachment the KAS stores (bytes); larger uploads are refused with 413.
    #[arg(long, default_value_t = 524_288_000)]
    kas_max_bytes: u64,
}

impl FdPorts {
    fn options(&self) -> kvc_mocks::kim::standalone::KimFdOptions {
        kvc_mocks::kim::standalone::KimFdOptions {
            smtps_port: self.smtps_port,
            pop3s_port: self.pop3s_port,
            kas_port: self.kas_port,
            am_port: self.am_port,
            dns_port: self.dns_port,
            kas_max_bytes: self.kas_max_bytes,
        }
    }
}

fn read_mailbox(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, String> {
    paths
        .iter()
        .map(|p| {
            crate::input::read_capped_bytes(p, crate::input::MESSAGE_LIMIT, "messages")
                .map_err(|e| format!("--mailbox {e}"))
        })
        .collect()
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))
}

pub fn run(args: &MocksArgs) -> ExitCode {
    let MocksCommand::Serve { mock } = &args.command;
    let served = match mock {
        ServeMock::KimTi { out, ti } => runtime().and_then(|r| {
            r.block_on(kvc_mocks::kim::standalone::serve_kim_ti(out, ti.options()))
                .map_err(|e| format!("mock Konnektor and VZD: {e}"))
        }),
        ServeMock::KimCm {
            kim_ti,
            smtp_port,
            pop3_port,
            ca_out,
            faults,
        } => faults
            .iter()
            .map(|f| f.parse::<kvc_mocks::reference::kim_cm::CmFault>())
            .collect::<Result<Vec<_>, _>>()
            .and_then(|faults| {
                let r = runtime()?;
                r.block_on(kvc_mocks::reference::kim_cm::standalone::serve_kim_cm(
                    kvc_mocks::reference::kim_cm::standalone::StandaloneCm {
                        kim_ti: kim_ti.clone(),
                        smtp_port: *smtp_port,
                        pop3_port: *pop3_port,
                        ca_out: ca_out.clone(),
                        faults,
                    },
                ))
                .map_err(|e| format!("reference KIM Clientmodul: {e}"))
            }),
        ServeMock::KimFd { out, ports } => runtime().and_then(|r| {
            r.block_on(kvc_mocks::kim::standalone::serve_kim_fd(
                out,
                ports.options(),
            ))
            .map_err(|e| format!("mock KIM Fachdienst: {e}"))
        }),
        ServeMock::Kim { out, ti, ports } => runtime().and_then(|r| {
            r.block_on(kvc_mocks::kim::standalone::serve_kim(
                out,
                ti.options(),
                ports.options(),
            ))
            .map_err(|e| format!("KIM mocks: {e}"))
        }),
        ServeMock::KvcClient { .. } | ServeMock::KvcRest { .. } => serve_kvc(mock),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(e),
    }
}

/// Saves each message the mock KV-Connect Client captures and prints its lint verdict, so a
/// vendor iterating on their system sees at once what the suite would say.
struct CaptureLinter {
    dir: PathBuf,
    options: crate::lint::LintOptions,
}

/// Findings printed per message before "+N more".
const FINDINGS_SHOWN: usize = 10;

impl CaptureLinter {
    fn new(dir: &std::path::Path) -> Result<CaptureLinter, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("--save {}: cannot create the folder: {e}", dir.display()))?;
        let registry = crate::rules::KvcRegistry::builtin()
            .map_err(|e| format!("built-in application registry: {e}"))?;
        println!("  captured messages are saved to {}", dir.display());
        Ok(CaptureLinter {
            dir: dir.to_path_buf(),
            options: crate::lint::LintOptions {
                profile: crate::lint::ProfileChoice::Kvc,
                registry,
                max_size: crate::lint::DEFAULT_MAX_SIZE,
                smime: None,
            },
        })
    }

    fn arrived(&mut self, n: usize, data: &[u8]) {
        let path = self.dir.join(format!("message-{n}.eml"));
        let shown = path.display().to_string();
        if let Err(e) = std::fs::write(&path, data) {
            eprintln!("  message {n}: could not save {shown}: {e}");
        }
        let result = crate::lint::lint_bytes(&shown, data, &self.options);
        let verdict = match result.verdict {
            crate::lint::FileVerdict::Pass => "pass",
            crate::lint::FileVerdict::Fail => "fail",
            crate::lint::FileVerdict::Error => "error",
        };
        println!("  message {n} saved to {shown}: lint --profile kvc: {verdict}");
        if let Some(e) = &result.error {
            println!("    {e}");
        }
        for f in result.findings.iter().take(FINDINGS_SHOWN) {
            println!(
                "    {} {} [{}] {}: {}",
                f.severity.as_str(),
                f.requirement,
                f.rule,
                f.location,
                f.message
            );
        }
        if result.findings.len() > FINDINGS_SHOWN {
            println!("    +{} more", result.findings.len() - FINDINGS_SHOWN);
        }
        if !result.findings.is_empty() {
            println!("    details: kvc-check lint --profile kvc {shown}");
        }
    }
}

fn serve_kvc(mock: &ServeMock) -> Result<(), String> {
    let (mailbox, name) = match mock {
        ServeMock::KvcClient { mailbox, .. } => (mailbox, "mock KV-Connect Client"),
        ServeMock::KvcRest { mailbox, .. } => (mailbox, "mock KV-Connect REST server"),
        ServeMock::KimTi { .. }
        | ServeMock::KimFd { .. }
        | ServeMock::Kim { .. }
        | ServeMock::KimCm { .. } => {
            return Err("not a KV-Connect mock".into());
        }
    };
    let messages = read_mailbox(mailbox)?;
    let runtime = runtime()?;
    let served = match mock {
        ServeMock::KvcClient {
            smtp_port,
            pop3_port,
            ca_out,
            save,
            ..
        } => {
            let mut captures = CaptureLinter::new(save)?;
            runtime
                .block_on(kvc_mocks::serve_kvc_client(
                    *smtp_port,
                    *pop3_port,
                    ca_out,
                    messages,
                    &mut |n, m| captures.arrived(n, &m.data),
                ))
                .map(|_| ())
        }
        ServeMock::KvcRest {
            port,
            ldaps_port,
            ca_out,
            ..
        } => runtime
            .block_on(kvc_mocks::kvc::standalone::serve_kvc_rest(
                *port,
                *ldaps_port,
                ca_out,
                messages,
            ))
            .map(|_| ()),
        ServeMock::KimTi { .. }
        | ServeMock::KimFd { .. }
        | ServeMock::Kim { .. }
        | ServeMock::KimCm { .. } => Ok(()),
    };
    served.map_err(|e| format!("{name}: {e}"))
}
