//! `kvc-check lint [--profile P] [--format F] [--registry FILE] [--shard I/N] FILE...`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::catalogue::ScopeFilter;
use crate::lint::{self, DEFAULT_MAX_SIZE, LintOptions, ProfileChoice};
use crate::report::sanitize::terminal_text;
use crate::report::{self, LintFormat};
use crate::rules::KvcRegistry;

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Profile to check against.
    #[arg(long, value_enum, default_value = "auto")]
    pub profile: ProfileChoice,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: LintFormat,
    /// Requirements to report: `seed` (named by the seed documents), `spec` (wider gematik
    /// scope only) or `all`. Findings of other requirements are left out, and the verdict and
    /// exit code follow what is shown.
    #[arg(long, value_enum, default_value = "all")]
    pub scope: ScopeFilter,
    /// Additional application registry entries (YAML, same schema as the built-in registry).
    #[arg(long, value_name = "FILE")]
    pub registry: Vec<PathBuf>,
    /// Refuse inputs larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_SIZE)]
    pub max_size: u64,
    /// Private key (PEM, DER or PKCS#12) to decrypt S/MIME messages before linting.
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// File whose first line is the password of --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub password_file: Option<PathBuf>,
    /// Trust anchor certificate(s) for signature verification (repeatable).
    #[arg(long, value_name = "CA", requires = "key")]
    pub trust: Vec<PathBuf>,
    /// Check certificate validity at this time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC).
    #[arg(long, value_name = "TIME", requires = "key")]
    pub at: Option<String>,
    /// Lint part I of N of the inputs (1-based; after directories are expanded and sorted;
    /// deterministic, so N jobs with 1/N .. N/N together lint every input once).
    #[arg(long, value_name = "I/N", value_parser = crate::shard::parse_arg)]
    pub shard: Option<crate::shard::Shard>,
    /// Messages to check: files, directories (walked for *.eml, *.msg, *.mime, *.txt) or `-` for stdin.
    ///
    /// Not a message (NUL bytes, DER, no header field): an input error when named, skipped
    /// (and listed on stderr) when a directory walk finds it.
    #[arg(value_name = "FILE", required = true)]
    pub inputs: Vec<PathBuf>,
}

pub fn run(args: &LintArgs) -> ExitCode {
    let mut registry = match KvcRegistry::builtin() {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    for path in &args.registry {
        if let Err(e) = registry.extend_from_file(path) {
            return super::fail(format!("--registry {e}"));
        }
    }
    let smime = match smime_keys(args) {
        Ok(k) => k,
        Err(e) => return super::fail(e),
    };
    let opts = LintOptions {
        smime,
        profile: args.profile,
        registry,
        max_size: args.max_size,
    };
    let lint::LintRun {
        mut results,
        skipped,
    } = lint::lint_run_sharded(&args.inputs, &opts, args.shard);
    let hidden: usize = results
        .iter_mut()
        .map(|r| lint::restrict_to_scope(r, args.scope))
        .sum();
    if hidden > 0 {
        eprintln!(
            "kvc-check: --scope {}: {hidden} finding(s) under requirements outside the scope not shown",
            args.scope.as_str()
        );
    }
    for s in &skipped {
        eprintln!(
            "kvc-check: skipped {}: {}",
            terminal_text(&s.path),
            terminal_text(&s.reason)
        );
    }
    for r in &results {
        if let Some(e) = &r.error {
            eprintln!(
                "kvc-check: {}: {}",
                terminal_text(&r.path),
                terminal_text(e)
            );
        }
    }
    let rendered = match report::render_lint(&results, args.format) {
        Ok(s) => s,
        Err(e) => return super::fail(e),
    };
    // Only the text view carries styles; JSON, SARIF and JUnit go to stdout as they are, not
    // through anstream's stripping stream (which looks at every byte when stdout is no terminal).
    let written = if args.format == LintFormat::Text {
        let mut stdout = anstream::stdout().lock();
        stdout
            .write_all(rendered.as_bytes())
            .and_then(|_| stdout.flush())
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(rendered.as_bytes())
            .and_then(|_| stdout.flush())
    };
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return super::fail(format!("writing output: {e}"));
    }
    if let Some(shard) = args.shard
        && results.is_empty()
    {
        // More shards than inputs: this part is empty, which is not an error.
        eprintln!(
            "kvc-check: --shard {shard}: no input in this part ({} skipped as not a message)",
            skipped.len()
        );
        return ExitCode::SUCCESS;
    }
    ExitCode::from(lint::exit_code(&results))
}

/// Loads --key/--password-file/--trust/--at; errors name the file that was wrong.
fn smime_keys(args: &LintArgs) -> Result<Option<lint::SmimeKeys>, String> {
    let Some(key_path) = &args.key else {
        return Ok(None);
    };
    let password = args
        .password_file
        .as_deref()
        .map(kvc_smime::keys::read_password_file)
        .transpose()
        .map_err(|e| format!("--password-file {e}"))?;
    let key = kvc_smime::keys::load_private_key(key_path, password.as_deref())
        .map_err(|e| format!("--key {e}"))?;
    let mut trust = Vec::new();
    for path in &args.trust {
        trust.extend(kvc_smime::keys::load_certificates(path).map_err(|e| format!("--trust {e}"))?);
    }
    let at = args
        .at
        .as_deref()
        .map(kvc_smime::parse_time)
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(Some(lint::SmimeKeys { key, trust, at }))
}
