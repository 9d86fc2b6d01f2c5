//! `kvc-check requirements [--role R] [--scope seed|spec|all] [--format text|json]`

use std::process::ExitCode;

use crate::catalogue::{Catalogue, Role, ScopeFilter};

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
    /// `seed`: the requirements the seed documents name; `spec`: those only the wider gematik
    /// specification names; `all`: both.
    #[arg(long, value_enum, default_value = "all")]
    pub scope: ScopeFilter,
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
        .filter(|r| args.scope.admits(r.scope))
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
                    "{:<19} {:<4} {:<10} {:<8} {:<16} {}",
                    r.versioned_id(),
                    r.scope.as_str(),
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
