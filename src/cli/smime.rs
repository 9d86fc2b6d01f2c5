//! `kvc-check smime decrypt|verify`: decrypt a CMS blob or .eml byte for byte, verify a signed
//! (or, with --key, an encrypted) message and print the KIM result codes.
//!
//! Exit codes: 0 ok / valid, 1 decryption or verification failed, 2 usage or input error
//! (the message names the bad input).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kvc_smime::keys::{
    PrivateKeyMaterial, load_certificates, load_private_key, read_password_file,
};
use kvc_smime::message::{SmimeOutcome, cms_from_message, open_message_named, verify_message};
use kvc_smime::{ErrorKind, SmimeError};

#[derive(Debug, clap::Args)]
pub struct SmimeArgs {
    #[command(subcommand)]
    pub command: SmimeCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SmimeCommand {
    /// Decrypt EnvelopedData / AuthEnvelopedData (CMS blob or .eml) and write the content byte for byte.
    Decrypt(DecryptArgs),
    /// Verify a signed message (or decrypt and verify an encrypted one with --key) and print the result.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// Private key: PEM (PKCS#8/PKCS#1, optionally with its certificate), DER or PKCS#12.
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// File whose first line is the PKCS#12 / encrypted-key password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Output file (default: stdout).
    #[arg(short = 'o', long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// CMS blob (DER/BER/PEM) or .eml with an application/pkcs7-mime body.
    #[arg(value_name = "IN")]
    pub input: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Trust anchor certificate file(s), PEM or DER (repeatable).
    #[arg(
        long,
        value_name = "CA",
        required_unless_present = "trust_embedded_signer"
    )]
    pub trust: Vec<PathBuf>,
    /// Also trust the certificates embedded in a signed (not encrypted) CMS input, e.g. to check
    /// gematik's sample against its own signer certificate. Proves integrity, not identity.
    #[arg(long)]
    pub trust_embedded_signer: bool,
    /// Check certificate validity at this time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Private key, if the message is encrypted.
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// File whose first line is the PKCS#12 / encrypted-key password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Signed or encrypted message: CMS blob, MIME entity or .eml.
    #[arg(value_name = "IN")]
    pub input: PathBuf,
}

pub fn run(args: &SmimeArgs) -> ExitCode {
    match &args.command {
        SmimeCommand::Decrypt(a) => decrypt(a),
        SmimeCommand::Verify(a) => verify(a),
    }
}

fn input_error(e: &SmimeError) -> ExitCode {
    super::fail(e)
}

fn load_key(key: &Path, password_file: Option<&Path>) -> Result<PrivateKeyMaterial, SmimeError> {
    let password = match password_file {
        Some(p) => Some(read_password_file(p)?),
        None => None,
    };
    load_private_key(key, password.as_deref())
}

/// The message or CMS blob, at most as large as `lint` accepts by default.
fn read_input(p: &Path) -> Result<Vec<u8>, SmimeError> {
    use kvc_smime::files::{ReadCappedError, describe_limit, read_capped};
    read_capped(p, crate::input::MESSAGE_LIMIT).map_err(|e| match e {
        ReadCappedError::Io(e) => SmimeError::io(p, &e),
        ReadCappedError::TooLarge { limit } => SmimeError::bad_input(
            p.display().to_string(),
            format!(
                "larger than the {} limit for S/MIME input",
                describe_limit(limit)
            ),
        ),
    })
}

fn decrypt(a: &DecryptArgs) -> ExitCode {
    let key = match load_key(&a.key, a.password_file.as_deref()) {
        Ok(k) => k,
        Err(e) => return input_error(&e),
    };
    let name = a.input.display().to_string();
    let raw = match read_input(&a.input) {
        Ok(r) => r,
        Err(e) => return input_error(&e),
    };
    let blob = match cms_from_message(&raw, &name) {
        Ok(b) => b,
        Err(e) => return input_error(&e),
    };
    let dec = match kvc_smime::cms::decrypt(&blob, &key, &name) {
        Ok(d) => d,
        Err(e) if e.kind == ErrorKind::Tampered => {
            eprintln!("kvc-check: {e}");
            return ExitCode::from(1);
        }
        Err(e) => return input_error(&e),
    };
    let written = match &a.output {
        Some(p) => std::fs::write(p, &dec.content).map_err(|e| SmimeError::io(p, &e)),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&dec.content)
                .and_then(|_| out.flush())
                .map_err(|e| SmimeError::io(Path::new("stdout"), &e))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.message.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => input_error(&e),
    }
}

fn verify(a: &VerifyArgs) -> ExitCode {
    let mut trust = Vec::new();
    for t in &a.trust {
        match load_certificates(t) {
            Ok(c) => trust.extend(c),
            Err(e) => return super::fail(format!("--trust {e}")),
        }
    }
    let at = match a.at.as_deref().map(kvc_smime::parse_time).transpose() {
        Ok(t) => t,
        Err(e) => return input_error(&e),
    };
    let name = a.input.display().to_string();
    let raw = match read_input(&a.input) {
        Ok(r) => r,
        Err(e) => return input_error(&e),
    };
    if a.trust_embedded_signer {
        match cms_from_message(&raw, &name)
            .and_then(|b| kvc_smime::cms::embedded_certificates(&b, &name))
        {
            Ok(c) => trust.extend(c),
            Err(e) => return input_error(&e),
        }
    }
    let outcome = if kvc_smime::message::is_smime_encrypted(&raw) {
        let Some(key_path) = &a.key else {
            return super::fail(format!("{name}: the message is encrypted: give --key"));
        };
        let key = match load_key(key_path, a.password_file.as_deref()) {
            Ok(k) => k,
            Err(e) => return input_error(&e),
        };
        open_message_named(&raw, &key, &trust, at, &name)
    } else {
        verify_message(&raw, &trust, at, &name)
    };
    match outcome {
        Ok(o) => {
            // Subjects and addresses come from the message: no terminal controls.
            print!(
                "{}",
                crate::report::sanitize::terminal_text(&render(&name, &o))
            );
            if o.is_valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => input_error(&e),
    }
}

/// Human-readable rendering of an outcome.
pub fn render(name: &str, o: &SmimeOutcome) -> String {
    let mut s = format!("{name}: {:?} message\n", o.profile);
    if !o.decryption_result.is_empty() {
        s += &format!(
            "  X-KIM-DecryptionResult: {}  {}\n",
            o.decryption_result, o.decryption_explanation
        );
    }
    for c in &o.integrity_explanations {
        s += &format!(
            "  X-KIM-IntegrityCheckResult: {}  {}\n",
            c.code, c.explanation
        );
    }
    if let Some(subj) = &o.signer_subject {
        s += &format!("  signer: {subj} <{}>\n", o.signer_emails.join(", "));
    }
    for (label, list) in [
        ("signed", &o.signed_recipient_emails),
        ("unprotected", &o.unprotected_recipient_emails),
    ] {
        if let Some(list) = list {
            let items: Vec<String> = list.iter().map(|e| e.describe()).collect();
            s += &format!("  recipient-emails ({label}): {}\n", items.join(", "));
        }
    }
    for f in &o.findings {
        s += &format!("  {:?} [{}] {}\n", f.severity, f.requirement, f.message);
    }
    // KOM-LE S/MIME profile breaks, each at its ASN.1 path (kvc_smime::profile).
    for f in o.komle_profile.iter().flat_map(|p| &p.findings) {
        s += &format!(
            "  {:?} [{}] {}: {}\n",
            f.severity,
            f.requirement,
            f.path,
            f.message()
        );
    }
    s += &format!(
        "  result: {}\n",
        if o.is_valid() { "VALID" } else { "NOT VALID" }
    );
    s
}
