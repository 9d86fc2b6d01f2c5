//! `kvc-check pki init DIR`: write a throw-away test PKI (root CA, KIM/KV-Connect-like
//! signature and encryption certificates with e-mail SAN, bad variants, PEM + PKCS#12).

use std::path::PathBuf;
use std::process::ExitCode;

use kvc_smime::keys::read_password_file;
use kvc_smime::pki::{CertVariant, TestPki};

#[derive(Debug, clap::Args)]
pub struct PkiArgs {
    #[command(subcommand)]
    pub command: PkiCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum PkiCommand {
    /// Create a root CA and per identity signature + encryption certificates (RSA 2048) in DIR.
    Init(PkiInitArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VariantArg {
    Valid,
    Expired,
    NotYetValid,
    UntrustedIssuer,
    WrongKeyUsage,
}

impl From<VariantArg> for CertVariant {
    fn from(v: VariantArg) -> Self {
        match v {
            VariantArg::Valid => CertVariant::Valid,
            VariantArg::Expired => CertVariant::Expired,
            VariantArg::NotYetValid => CertVariant::NotYetValid,
            VariantArg::UntrustedIssuer => CertVariant::UntrustedIssuer,
            VariantArg::WrongKeyUsage => CertVariant::WrongKeyUsage,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct PkiInitArgs {
    /// Output directory (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// E-mail address of an identity (repeatable).
    #[arg(long = "email", value_name = "ADDR", default_values_t = [
        "sender@praxis.kim.telematik-test".to_string(),
        "recipient@klinik.kim.telematik-test".to_string(),
    ])]
    pub emails: Vec<String>,
    /// Certificate variants to issue per identity (repeatable; default: all).
    #[arg(long = "variant", value_enum)]
    pub variants: Vec<VariantArg>,
    /// File whose first line is the PKCS#12 password (default password: `kvc-check`).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

pub fn run(args: &PkiArgs) -> ExitCode {
    match &args.command {
        PkiCommand::Init(a) => init(a),
    }
}

fn init(a: &PkiInitArgs) -> ExitCode {
    let password = match &a.password_file {
        Some(p) => match read_password_file(p) {
            Ok(s) => s,
            Err(e) => return super::fail(format!("--password-file {e}")),
        },
        None => "kvc-check".to_string(),
    };
    for e in &a.emails {
        if !e.contains('@') || !e.is_ascii() {
            return super::fail(format!("--email {e:?}: not an ASCII e-mail address"));
        }
    }
    let variants: Vec<CertVariant> = if a.variants.is_empty() {
        CertVariant::ALL.to_vec()
    } else {
        a.variants.iter().map(|v| (*v).into()).collect()
    };
    let pki = match TestPki::generate() {
        Ok(p) => p,
        Err(e) => return super::fail(e),
    };
    let emails: Vec<&str> = a.emails.iter().map(String::as_str).collect();
    match pki.write_dir(&a.dir, &emails, &variants, &password) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}
