//! `kvc-check requirements [--role R] [--format text|json]`

use std::process::ExitCode;

use crate::catalogue::{Catalogue, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct RequirementsArgs {
    /// Only requirements for this role of system under test.
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ListFormat,
}

pub fn run(args: &RequirementsArgs) -> ExitCode {
    let catalogue = match Catalogue::embedded() {
        Ok(c) => c,
        Err(e) => return super::fail(e),
    };
    let selected: Vec<_> = catalogue
        .all()
        .iter()
        .filter(|r| args.role.is_none_or(|role| r.roles.contains(&role)))
        .collect();
    match args.format {
        ListFormat::Json => match serde_json::to_string_pretty(&selected) {
            Ok(s) => println!("{s}"),
            Err(e) => return super::fail(e),
        },
        ListFormat::Text => {
            for r in &selected {
                let decided: Vec<_> = r
                    .decided_by
                    .iter()
                    .map(|d| format!("{d:?}").to_lowercase())
                    .collect();
                let roles: Vec<_> = r.roles.iter().map(|x| x.as_str()).collect();
                println!(
                    "{:<18} {:<10} {:<8} {:<16} {}",
                    r.versioned_id(),
                    r.level.as_str(),
                    roles.join(","),
                    decided.join("+"),
                    r.summary
                );
            }
            println!("{} requirement(s)", selected.len());
        }
    }
    ExitCode::SUCCESS
}
