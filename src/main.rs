use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kvc_check::cli::Cli::parse();
    kvc_check::cli::run(cli)
}
