//! Command-line interface: one module per subcommand.

pub mod lint;
pub mod mocks;
pub mod pki;
pub mod report;
pub mod requirements;
pub mod run;
pub mod smime;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for usage, configuration and I/O problems.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "kvc-check",
    version,
    about = "Conformance test and validation suite for KV-Connect and KIM secure messaging"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check messages against the header and structure rules of a profile.
    Lint(lint::LintArgs),
    /// List the requirement catalogue.
    Requirements(requirements::RequirementsArgs),
    /// Run the conformance suite of a role against a system under test.
    Run(run::RunArgs),
    /// Run reports: `report merge DIR... --out DIR` joins the reports of sharded runs.
    Report(report::ReportArgs),
    /// Run mock servers standalone.
    Mocks(mocks::MocksArgs),
    /// Test PKI: `pki init DIR` writes a root CA and test certificates (PEM + PKCS#12).
    Pki(pki::PkiArgs),
    /// S/MIME: `smime decrypt` / `smime verify` (KOM-LE and KV-Connect).
    Smime(smime::SmimeArgs),
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Lint(args) => lint::run(&args),
        Command::Requirements(args) => requirements::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Mocks(args) => mocks::run(&args),
        Command::Pki(args) => pki::run(&args),
        Command::Smime(args) => smime::run(&args),
    }
}

/// Prints an error to stderr (control characters from inputs shown as `\u{..}`) and returns
/// the usage/I/O exit code.
pub fn fail(message: impl std::fmt::Display) -> ExitCode {
    let message = crate::report::sanitize::terminal_text(&message.to_string());
    eprintln!("kvc-check: {message}");
    ExitCode::from(EXIT_USAGE)
}
