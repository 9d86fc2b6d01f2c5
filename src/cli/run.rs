//! `kvc-check run [--role kvc-pvs] [--sut CONFIG.yaml] [--req ID]... [--case ID]... [--jobs N]
//! [--timeout S] [--out DIR] [--format F] [--fault ID]... [--answers FILE]
//! [--answers-template FILE] [--strict] [--shard I/N]`
//!
//! Without `--sut`, the suite runs against the embedded reference PVS; `--fault` injects its
//! named faults. Exit code: 0 = every decided requirement passes, 1 = a requirement fails (or,
//! with `--strict`, an attest question is open), 2 = a case could not be decided (error), the
//! run was interrupted, or a usage/configuration error.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::catalogue::{Catalogue, Role, ScopeFilter};
use crate::report::run::console::shell_quote;
use crate::report::run::doc::RunDoc;
use crate::report::run::{ReportWriter, console, json, junit};
use crate::rules::KvcRegistry;
use crate::runner::answers::Answers;
use crate::runner::model::RunInfo;
use crate::runner::observe::MockHost;
use crate::runner::{self, RunContext};
use crate::shard::Shard;
use crate::suite::source::SuiteSource;
use crate::suite::{self, Case};
use crate::sut::SutAdapter;
use crate::sut::config::{SutConfig, Trigger};

/// What `run` prints on stdout (the files in --out are always written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunFormat {
    /// Summary table.
    Console,
    /// The report.json model.
    Json,
    /// The junit.xml document.
    Junit,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Role of the system under test: a role that has a suite (built in: kvc-pvs, kim-cm,
    /// kim-fd). Without it every role with a suite runs against its reference system, each
    /// into `<out>/<role>/`.
    #[arg(long, value_parser = parse_role)]
    pub role: Option<Role>,
    /// SUT configuration (adapter, endpoints); without it the embedded reference system runs.
    #[arg(long, value_name = "CONFIG.yaml")]
    pub sut: Option<PathBuf>,
    /// Run only the cases covering this requirement (repeatable).
    #[arg(long = "req", value_name = "ID")]
    pub reqs: Vec<String>,
    /// Run only this case (repeatable).
    #[arg(long = "case", value_name = "ID")]
    pub cases: Vec<String>,
    /// Cases run in parallel.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Per-case timeout in seconds (a case may set its own).
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub timeout: f64,
    /// Report directory (default: reports/<timestamp>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "console")]
    pub format: RunFormat,
    /// Requirements the rollup, the reports and the exit code cover: `seed` (named by the seed
    /// documents), `spec` (wider gematik scope only) or `all`. Cases run either way.
    #[arg(long, value_enum, default_value = "all")]
    pub scope: ScopeFilter,
    /// Inject a named fault into the reference system (repeatable; only without --sut).
    #[arg(long = "fault", value_name = "ID")]
    pub faults: Vec<String>,
    /// Answers to attest questions (YAML; see suites/README.md).
    #[arg(long, value_name = "FILE.yaml")]
    pub answers: Option<PathBuf>,
    /// Folder holding one suite folder per role (default: the suites built into kvc-check).
    #[arg(long, value_name = "DIR")]
    pub suites: Option<PathBuf>,
    /// Write into an --out folder that holds an earlier run, after emptying it.
    #[arg(long)]
    pub force: bool,
    /// Additional application registry entries (as for `lint`).
    #[arg(long, value_name = "FILE")]
    pub registry: Vec<PathBuf>,
    /// After the run, write the attest questions still open as a YAML answers file to fill in
    /// and pass back with --answers.
    #[arg(long, value_name = "FILE.yaml")]
    pub answers_template: Option<PathBuf>,
    /// Open attest questions fail the run (exit 1): a CI gate before certification.
    #[arg(long)]
    pub strict: bool,
    /// Run part I of N of the selected cases (1-based; deterministic; a refusal and its
    /// control stay together). Join the parts with `kvc-check report merge`.
    #[arg(long, value_name = "I/N", value_parser = crate::shard::parse_arg)]
    pub shard: Option<Shard>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        format!(
            "unknown role `{s}` (roles with suites: {})",
            role_list(&SuiteSource::Embedded)
        )
    })
}

fn role_list(source: &SuiteSource) -> String {
    source
        .roles()
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads and filters the cases of a role; also returns the IDs of the control cases added
/// because a selected refusal needs them.
pub fn select_cases(
    source: &SuiteSource,
    role: Role,
    reqs: &[String],
    case_ids: &[String],
    catalogue: &Catalogue,
) -> Result<(Vec<Case>, Vec<String>), String> {
    if !source.roles().contains(&role) {
        return Err(format!(
            "--role {}: {} hold no suite for this role (roles with suites: {})",
            role.as_str(),
            source.describe(),
            role_list(source)
        ));
    }
    let role_dir = Path::new(role.as_str());
    let all = source.load(role_dir, catalogue)?;
    for c in &all {
        if c.role != role {
            return Err(format!(
                "{}: case {} has role {}, but lives in {}/",
                c.origin,
                c.id,
                c.role.as_str(),
                role.as_str()
            ));
        }
    }
    let mut wanted_reqs = Vec::new();
    for r in reqs {
        let req = catalogue
            .get(r)
            .ok_or_else(|| format!("--req {r}: unknown requirement ID"))?;
        if !all.iter().any(|c| c.requirements.contains(&req.id)) {
            return Err(format!(
                "--req {r}: no case of role {} covers it",
                role.as_str()
            ));
        }
        wanted_reqs.push(req.id.clone());
    }
    for id in case_ids {
        if !all.iter().any(|c| &c.id == id) {
            return Err(format!(
                "--case {id}: no such case in the {} suite",
                role.as_str()
            ));
        }
    }
    let mut selected: Vec<Case> = all
        .iter()
        .filter(|c| {
            (wanted_reqs.is_empty() && case_ids.is_empty())
                || c.requirements.iter().any(|r| wanted_reqs.contains(r))
                || case_ids.contains(&c.id)
        })
        .cloned()
        .collect();
    // A refusal is judged next to its positive control: bring the control cases along.
    let controls = suite::missing_controls(&selected, &all);
    let added = controls.iter().map(|c| c.id.clone()).collect();
    selected.extend(controls);
    Ok((selected, added))
}

/// UTC date and time of `secs` since the epoch: (year, month, day, hour, minute, second).
pub fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn run(args: &RunArgs) -> ExitCode {
    let result = match (args.role, one_role_flags(args).first()) {
        (Some(role), _) => run_inner(args, role, None),
        // A flag that belongs to one role without --role: the role of the cases it names, else
        // kvc-pvs (the default before every role had a suite).
        (None, Some(_)) => run_inner(args, role_of_cases(&args.cases), None),
        (None, None) => run_all_roles(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => super::fail(e),
    }
}

/// The flags given that belong to one role's run (then `run` without `--role` runs one role).
fn one_role_flags(args: &RunArgs) -> Vec<&'static str> {
    [
        ("--sut", args.sut.is_some()),
        ("--fault", !args.faults.is_empty()),
        ("--req", !args.reqs.is_empty()),
        ("--case", !args.cases.is_empty()),
        ("--shard", args.shard.is_some()),
        ("--answers", args.answers.is_some()),
        ("--answers-template", args.answers_template.is_some()),
        ("--format", args.format != RunFormat::Console),
    ]
    .iter()
    .filter(|(_, given)| *given)
    .map(|(flag, _)| *flag)
    .collect()
}

/// The role every `--case` ID names by its prefix (`kim-cm/...`), else kvc-pvs.
fn role_of_cases(cases: &[String]) -> Role {
    let roles: Vec<Role> = cases
        .iter()
        .filter_map(|c| c.split('/').next())
        .filter_map(Role::parse)
        .collect();
    match roles.first() {
        Some(first) if roles.len() == cases.len() && roles.iter().all(|r| r == first) => *first,
        _ => Role::KvcPvs,
    }
}

/// `run` without `--role` and without a flag of one role's run: every role with a suite
/// against its reference system, one after the other, each with its own reports in
/// `<out>/<role>/`; the exit code is the worst.
fn run_all_roles(args: &RunArgs) -> Result<u8, String> {
    let roles = SuiteSource::new(args.suites.as_deref()).roles();
    if roles.is_empty() {
        return Err("no role has a suite".into());
    }
    let (y, mo, d, h, mi, s) = civil(now_secs());
    let root = match &args.out {
        Some(dir) => prepare_out(dir, args.force)?,
        None => unique_dir(
            Path::new("reports"),
            &format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}"),
        )?,
    };
    let mut worst = 0u8;
    let mut lines = Vec::new();
    for role in roles {
        println!("== role {} ==", role.as_str());
        let code = run_inner(args, role, Some(root.join(role.as_str())))?;
        lines.push(format!(
            "{:<8} {} ({})",
            role.as_str(),
            if code == 0 { "pass" } else { "not passed" },
            shown_from_cwd(&root.join(role.as_str()))
        ));
        worst = worst.max(code);
        println!();
    }
    println!("roles:\n{}", lines.join("\n"));
    Ok(worst)
}

/// The SUT adapter and the ports by service it is configured with, if any.
type Adapter = (Arc<dyn SutAdapter>, BTreeMap<String, u16>);

/// Builds the adapter for `--sut`, or the reference system.
fn adapter(args: &RunArgs, role: Role, host: &dyn MockHost) -> Result<Adapter, String> {
    let Some(path) = &args.sut else {
        return Ok((host.reference(&args.faults)?, BTreeMap::new()));
    };
    if !args.faults.is_empty() {
        return Err(
            "--fault applies to the embedded reference system only (not with --sut)".into(),
        );
    }
    let (config, dir) = SutConfig::load(path)?;
    if let Some(configured) = host.configured() {
        return Ok((configured, host.fixed_ports()));
    }
    let Some(trigger) = &config.trigger else {
        return Err(format!(
            "--sut {}: role {} needs `trigger:` (how the system under test is made to act)",
            path.display(),
            role.as_str()
        ));
    };
    let trigger: Box<dyn SutAdapter> = match trigger {
        Trigger::Command(c) => Box::new(
            crate::sut::command::CommandAdapter::new(
                &c.send,
                &c.fetch,
                c.cwd.as_ref().map(|d| dir.join(d)).unwrap_or(dir.clone()),
            )?
            .with_stored(c.stored.as_deref())?,
        ),
        Trigger::Http(h) => Box::new(crate::sut::http::HttpAdapter::new(&h.send, &h.fetch)?),
        Trigger::Manual => Box::new(crate::sut::manual::ManualAdapter::new(&config.name)),
    };
    let adapter: Arc<dyn SutAdapter> = Arc::new(crate::sut::Configured::new(
        &config.name,
        config.transport,
        trigger,
    ));
    Ok((adapter, config.fixed_ports()))
}

fn run_inner(args: &RunArgs, role: Role, out: Option<PathBuf>) -> Result<u8, String> {
    let catalogue = Catalogue::embedded().map_err(str::to_string)?;
    if !(args.timeout > 0.0 && args.timeout <= 3600.0) {
        return Err(format!(
            "--timeout {}: must be > 0 and <= 3600",
            args.timeout
        ));
    }
    if args.jobs == 0 {
        return Err("--jobs must be at least 1".into());
    }
    let (cases, controls_added) = select_cases(
        &SuiteSource::new(args.suites.as_deref()),
        role,
        &args.reqs,
        &args.cases,
        catalogue,
    )?;
    let mut registry = KvcRegistry::builtin()?;
    for path in &args.registry {
        registry
            .extend_from_file(path)
            .map_err(|e| format!("--registry {e}"))?;
    }
    let answers = match &args.answers {
        Some(p) => Answers::load(p, catalogue).map_err(|e| format!("--answers {e}"))?,
        None => Answers::default(),
    };
    let cases = match args.shard {
        Some(shard) => shard_cases(cases, shard),
        None => cases,
    };
    for (case, origin) in answers.case_ids() {
        // A shard's answers file names the cases of the other shards too.
        if args.shard.is_none() && !cases.iter().any(|c| c.id == case) {
            eprintln!(
                "kvc-check: warning: {origin}: answer for case `{case}`, which is not in this run"
            );
        }
    }
    let started = now_secs();
    let (y, mo, d, h, mi, s) = civil(started);
    let out = match (out, &args.out) {
        (Some(dir), _) => prepare_out(&dir, false)?,
        (None, Some(dir)) => prepare_out(dir, args.force)?,
        (None, None) => unique_dir(
            Path::new("reports"),
            &format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}"),
        )?,
    };

    let sut_config = match &args.sut {
        Some(p) => Some(SutConfig::load(p)?.0),
        None => None,
    };
    // The role's world and reference system (only kvc-pvs has a suite so far; `--role` is
    // refused earlier for a role without one).
    let host = crate::roles::stage(role, sut_config.as_ref(), &out)?;
    let (sut, fixed_ports) = adapter(args, role, &*host)?;
    host.prepare(sut.as_ref(), &cases)?;

    let mut faults = args.faults.clone();
    faults.sort();
    let info = RunInfo {
        tool: "kvc-check".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        started: format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        role: role.as_str().into(),
        sut: sut.describe(),
        transport: crate::sut::Transport::list(&sut.transports()),
        faults,
        jobs: args.jobs,
        timeout_s: args.timeout,
        selection: args
            .reqs
            .iter()
            .map(|r| format!("--req {r}"))
            .chain(args.cases.iter().map(|c| format!("--case {c}")))
            .chain(controls_added.iter().map(|c| format!("+ control {c}")))
            .collect(),
        scope: args.scope,
        suites: args
            .suites
            .as_ref()
            .map_or_else(|| "embedded".into(), |d| d.display().to_string()),
        out: shown_from_cwd(&out),
        rerun: rerun_command(args, role),
        shard: args.shard,
        merged_from: vec![],
        strict: args.strict,
    };
    let timeout = Duration::from_secs_f64(args.timeout);
    let ctx = Arc::new(RunContext {
        sut,
        mocks: host,
        registry: Arc::new(registry),
        answers: Arc::new(answers),
        catalogue,
        jobs: args.jobs,
        timeout,
        fixed_ports,
        idle_timeout: timeout,
    });
    let progress = console::progress(cases.len());
    let mut writer = ReportWriter::new(out.clone(), Some(progress))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    let result = runtime.block_on(runner::run(cases, ctx, info, &mut writer, interrupted()));
    runtime.shutdown_timeout(Duration::from_secs(2));
    // The summary is printed even when a report could not be written (the error follows).
    let write_result = writer.finish(&result);
    let doc = match &write_result {
        Ok(doc) => doc.clone(),
        Err(_) => RunDoc::of(&result)?,
    };
    let rendered = match args.format {
        RunFormat::Console => console::summary(&doc, args.strict),
        RunFormat::Json => json::render(&result)?,
        RunFormat::Junit => junit::render(&doc)?,
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(rendered.as_bytes());
    let _ = stdout.flush();
    write_result.map_err(|e| format!("writing reports: {e}"))?;
    if let Some(path) = &args.answers_template {
        let (text, open) = crate::runner::answers::template(&doc);
        crate::report::run::write_atomic(path, text.as_bytes())
            .map_err(|e| format!("--answers-template {e}"))?;
        eprintln!(
            "kvc-check: {open} open attest question(s) written to {}; answer them and pass the file with --answers",
            path.display()
        );
    }
    Ok(result.exit_code(args.strict))
}

/// The cases of one shard: the selected cases in groups that must run in one process (a
/// refusal and its positive control, transitively), the groups ordered by their first case
/// ID, and every `count`-th group from the `index`-th on.
pub fn shard_cases(cases: Vec<Case>, shard: Shard) -> Vec<Case> {
    let mut ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    // Union-find over the sorted IDs: a case joins the group of each control it names.
    let mut parent: Vec<usize> = (0..ids.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let index = |id: &str| ids.binary_search_by(|x| x.as_str().cmp(id)).ok();
    for case in &cases {
        let Some(a) = index(&case.id) else { continue };
        for control in case.expect.iter().filter_map(|e| e.control()) {
            if let Some(b) = index(&control.case) {
                let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                // The smaller index stays the root: a group is named by its first case.
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    let roots: Vec<usize> = (0..ids.len()).map(|i| root(&mut parent, i)).collect();
    // Groups in the order of their first case; group k belongs to shard k mod n + 1.
    let mut firsts = roots.clone();
    firsts.sort();
    firsts.dedup();
    let wanted: Vec<&String> = (0..ids.len())
        .filter(|&i| {
            firsts
                .binary_search(&roots[i])
                .is_ok_and(|group| shard.holds(group))
        })
        .map(|i| &ids[i])
        .collect();
    cases
        .into_iter()
        .filter(|c| wanted.contains(&&c.id))
        .collect()
}

/// `dir` as seen from the current folder: relative when it lies below it, else as given.
pub fn shown_from_cwd(dir: &Path) -> String {
    if dir.is_relative() {
        return dir.display().to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => match dir.strip_prefix(&cwd) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
            _ => dir.display().to_string(),
        },
        Err(_) => dir.display().to_string(),
    }
}

/// The command that runs one case of this run again (the case ID is appended).
fn rerun_command(args: &RunArgs, role: Role) -> String {
    let mut parts = vec![
        "kvc-check".to_string(),
        "run".into(),
        "--role".into(),
        role.as_str().into(),
    ];
    let mut path = |flag: &str, p: &Path| {
        parts.push(flag.into());
        parts.push(shell_quote(&p.display().to_string()));
    };
    if let Some(p) = &args.sut {
        path("--sut", p);
    }
    if let Some(p) = &args.suites {
        path("--suites", p);
    }
    for p in &args.registry {
        path("--registry", p);
    }
    if let Some(p) = &args.answers {
        path("--answers", p);
    }
    for f in &args.faults {
        parts.push("--fault".into());
        parts.push(shell_quote(f));
    }
    parts.join(" ")
}

/// Resolves on SIGINT or SIGTERM (a CI job being cancelled sends SIGTERM). The run then stops
/// its cases (dropping a case kills its SUT commands' process groups and removes temporary
/// files) and writes the reports, marked incomplete.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What a kvc-check run leaves in its report folder.
const RUN_ARTIFACTS: &[&str] = &["report.json", "junit.xml", "report.html", "ca.pem", "cases"];

/// An explicit `--out`: created if missing; an earlier run in it is refused (its messages
/// would mix with this run's) unless `force`, which empties it first. A folder with other
/// content is never emptied.
pub fn prepare_out(dir: &Path, force: bool) -> Result<PathBuf, String> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
        return Ok(dir.to_path_buf());
    }
    if !dir.is_dir() {
        return Err(format!(
            "--out {}: exists and is not a folder",
            dir.display()
        ));
    }
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .map_err(|e| format!("--out {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .collect();
    if entries.is_empty() {
        return Ok(dir.to_path_buf());
    }
    let earlier_run = entries
        .iter()
        .any(|e| RUN_ARTIFACTS.contains(&e.file_name().to_string_lossy().as_ref()));
    if !earlier_run {
        return Err(format!(
            "--out {}: the folder is not empty and holds no kvc-check report; choose an empty or new folder",
            dir.display()
        ));
    }
    if !force {
        return Err(format!(
            "--out {}: holds an earlier run (report.json, cases/ ...); choose a new folder, or add --force to empty it first",
            dir.display()
        ));
    }
    for e in entries {
        let path = e.path();
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|err| format!("--out {}: emptying it: {err}", path.display()))?;
    }
    Ok(dir.to_path_buf())
}

/// A new folder `<parent>/<stamp>`, or `<stamp>-2`, `-3` ... when a run started in the same
/// second took it (creating the folder is the reservation, so two runs never share one).
pub fn unique_dir(parent: &Path, stamp: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    for n in 1..10_000 {
        let dir = if n == 1 {
            parent.join(stamp)
        } else {
            parent.join(format!("{stamp}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
    Err(format!(
        "{}: no free report folder for {stamp}",
        parent.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_folders_are_never_shared() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = unique_dir(tmp.path(), "20261202-010000").expect("first");
        let b = unique_dir(tmp.path(), "20261202-010000").expect("second");
        assert_ne!(a, b);
        assert!(b.ends_with("20261202-010000-2"));

        let out = tmp.path().join("out");
        prepare_out(&out, false).expect("new folder");
        prepare_out(&out, false).expect("empty folder");
        std::fs::write(out.join("report.json"), "{}").expect("write");
        std::fs::create_dir_all(out.join("cases/x")).expect("mkdir");
        std::fs::write(out.join("cases/x/message-1.eml"), "old").expect("write");
        let e = prepare_out(&out, false).unwrap_err();
        assert!(
            e.contains("holds an earlier run") && e.contains("--force"),
            "{e}"
        );
        prepare_out(&out, true).expect("forced");
        assert_eq!(std::fs::read_dir(&out).expect("dir").count(), 0);

        let other = tmp.path().join("home");
        std::fs::create_dir_all(&other).expect("mkdir");
        std::fs::write(other.join("notes.txt"), "mine").expect("write");
        let e = prepare_out(&other, true).unwrap_err();
        assert!(e.contains("holds no kvc-check report"), "{e}");
        assert!(other.join("notes.txt").is_file(), "never emptied");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(1_795_392_000), (2026, 11, 23, 0, 0, 0));
        assert_eq!(civil(951_782_400 + 3661), (2000, 2, 29, 1, 1, 1));
    }
}
