//! `kvc-check report merge DIR... [--out DIR] [--force] [--format F] [--strict]`: joins the
//! report folders of several runs (the shards of one run) into one report folder (junit.xml,
//! report.json, report.html, the captured messages). Exit code as for `run`, from the merged
//! rollup; 2 when the reports cannot be merged.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::catalogue::Catalogue;
use crate::cli::run::{RunFormat, prepare_out, shown_from_cwd};
use crate::report::run::{ReportWriter, console, json_doc, junit, merge};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Merge the report folders of several runs (e.g. `run --shard i/n`) into one.
    Merge(MergeArgs),
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Report folders of the runs (each holds a report.json).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Folder for the merged report (created; must not hold another run unless --force).
    #[arg(long, value_name = "DIR", default_value = "reports/merged")]
    pub out: PathBuf,
    /// Empty an --out folder that holds an earlier run first.
    #[arg(long)]
    pub force: bool,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "console")]
    pub format: RunFormat,
    /// Open attest questions fail the merged run (exit 1).
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &ReportArgs) -> ExitCode {
    match &args.command {
        ReportCommand::Merge(m) => match merge_inner(m) {
            Ok(code) => ExitCode::from(code),
            Err(e) => super::fail(e),
        },
    }
}

fn merge_inner(args: &MergeArgs) -> Result<u8, String> {
    let catalogue = Catalogue::embedded().map_err(str::to_string)?;
    let sources = merge::read_sources(&args.dirs)?;
    if let Ok(out) = args.out.canonicalize() {
        for s in &sources {
            if s.dir.canonicalize().is_ok_and(|d| d == out) {
                return Err(format!(
                    "--out {}: is one of the folders to merge; choose another folder",
                    args.out.display()
                ));
            }
        }
    }
    // Check before touching --out.
    merge::check_compatible(&sources)?;
    let out = prepare_out(&args.out, args.force)?;
    let mut doc = merge::merge_docs(&sources, catalogue, &shown_from_cwd(&out))?;
    doc.run.strict = args.strict;
    let bodies = merge::copy_files(&sources, &out)?;
    ReportWriter::write_doc(&out, &doc, &bodies)?;
    let rendered = match args.format {
        RunFormat::Console => console::summary(&doc, args.strict),
        RunFormat::Json => json_doc(&doc)?,
        RunFormat::Junit => junit::render(&doc)?,
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(rendered.as_bytes());
    let _ = stdout.flush();
    Ok(doc.exit_code(args.strict))
}
