//! `kvc-check report merge DIR... --out DIR`: the reports of several runs (typically the shards
//! of one run, `run --shard i/n`) joined into one report folder: report.json, junit.xml and
//! report.html rendered from the merged [`RunDoc`], the captured messages copied along.
//!
//! Merging is refused, with the reason, when the runs are not parts of one run: another role,
//! SUT, transport, fault set, scope, suite source or tool version; a case in two reports (it
//! would be counted twice); shards of different splits, one shard twice or one missing.

use std::path::{Path, PathBuf};

use super::doc::{Bodies, RunDoc};
use crate::catalogue::Catalogue;

/// Largest captured message read back for embedding in report.html.
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// One report folder to merge.
pub struct Source {
    pub dir: PathBuf,
    pub doc: RunDoc,
}

/// Reads `<dir>/report.json` of every folder.
pub fn read_sources(dirs: &[PathBuf]) -> Result<Vec<Source>, String> {
    dirs.iter()
        .map(|dir| {
            let path = dir.join("report.json");
            if !path.is_file() {
                return Err(format!(
                    "{}: no report.json (not a kvc-check run folder)",
                    dir.display()
                ));
            }
            Ok(Source {
                dir: dir.clone(),
                doc: RunDoc::read(&path)?,
            })
        })
        .collect()
}

/// Selection lines without the control cases a shard added (they differ between shards).
fn chosen(selection: &[String]) -> Vec<&String> {
    selection
        .iter()
        .filter(|s| !s.starts_with("+ control "))
        .collect()
}

/// Checks that the sources are parts of one run; errors say what differs and where.
pub fn check_compatible(sources: &[Source]) -> Result<(), String> {
    let Some(first) = sources.first() else {
        return Err("nothing to merge: name at least one report folder".into());
    };
    let a = &first.doc.run;
    for s in &sources[1..] {
        let b = &s.doc.run;
        let differ = |what: &str, x: String, y: String| -> Result<(), String> {
            if x == y {
                Ok(())
            } else {
                Err(format!(
                    "{} and {} are not parts of one run: different {what} ({x} vs. {y})",
                    first.dir.display(),
                    s.dir.display()
                ))
            }
        };
        differ("role", a.role.clone(), b.role.clone())?;
        differ("suites", a.suites.clone(), b.suites.clone())?;
        differ("system under test", a.sut.clone(), b.sut.clone())?;
        differ("transport", a.transport.clone(), b.transport.clone())?;
        differ("faults", a.faults.join(","), b.faults.join(","))?;
        differ(
            "scope",
            a.scope.as_str().to_string(),
            b.scope.as_str().to_string(),
        )?;
        differ(
            "kvc-check version",
            format!("{} {}", a.tool, a.version),
            format!("{} {}", b.tool, b.version),
        )?;
        differ(
            "case selection",
            format!("{:?}", chosen(&a.selection)),
            format!("{:?}", chosen(&b.selection)),
        )?;
    }
    // One case in two reports would be counted twice.
    let mut seen: std::collections::BTreeMap<&str, &Path> = Default::default();
    for s in sources {
        for c in &s.doc.cases {
            if let Some(other) = seen.insert(&c.id, &s.dir) {
                return Err(format!(
                    "case {} is in both {} and {}: the reports overlap (the same shard twice, or a run merged with itself); merge each part once",
                    c.id,
                    other.display(),
                    s.dir.display()
                ));
            }
        }
    }
    // Shards: all of one split, each once, none missing.
    let shards: Vec<_> = sources.iter().map(|s| s.doc.run.shard).collect();
    if shards.iter().any(Option::is_some) {
        let Some(count) = shards.iter().flatten().map(|s| s.count).next() else {
            return Ok(());
        };
        for (s, shard) in sources.iter().zip(&shards) {
            match shard {
                None => {
                    return Err(format!(
                        "{} is not a shard, the other reports are shards of {count}: merge the shards of one run",
                        s.dir.display()
                    ));
                }
                Some(x) if x.count != count => {
                    return Err(format!(
                        "{} is shard {x}, the others are shards of {count}: merge the shards of one split",
                        s.dir.display()
                    ));
                }
                Some(_) => {}
            }
        }
        for i in 1..=count {
            let n = shards.iter().flatten().filter(|s| s.index == i).count();
            if n == 0 {
                return Err(format!(
                    "shard {i}/{count} is missing: name every shard's report folder"
                ));
            }
            if n > 1 {
                return Err(format!("shard {i}/{count} is given {n} times"));
            }
        }
    }
    Ok(())
}

/// The merged document (rollup recomputed from the cases), with `out` as its report folder
/// as seen from the current folder.
pub fn merge_docs(sources: &[Source], catalogue: &Catalogue, out: &str) -> Result<RunDoc, String> {
    check_compatible(sources)?;
    let Some(first) = sources.first() else {
        return Err("nothing to merge".into());
    };
    let mut doc = first.doc.clone();
    doc.report_format = crate::runner::model::REPORT_FORMAT;
    doc.cases.clear();
    doc.run.shard = None;
    doc.run.out = out.to_string();
    doc.run.merged_from = Vec::new();
    doc.run.selection = Vec::new();
    doc.complete = true;
    doc.duration_ms = 0;
    let mut planned: Vec<String> = Vec::new();
    for (k, s) in sources.iter().enumerate() {
        let d = &s.doc;
        doc.run.merged_from.push(match d.run.shard {
            Some(shard) => format!("{} (shard {shard})", s.dir.display()),
            None => s.dir.display().to_string(),
        });
        if d.run.started < doc.run.started {
            doc.run.started = d.run.started.clone();
        }
        for line in &d.run.selection {
            if !doc.run.selection.contains(line) {
                doc.run.selection.push(line.clone());
            }
        }
        doc.complete &= d.complete;
        doc.duration_ms = doc.duration_ms.max(d.duration_ms);
        planned.extend(d.cases.iter().map(|c| c.id.clone()));
        planned.extend(d.not_run.iter().cloned());
        for c in &d.cases {
            let mut c = c.clone();
            for m in &mut c.messages {
                // Each part has its own keys: they move under shards/<k>/.
                if m.opened_with.is_some() {
                    let pki = m.pki.as_deref().unwrap_or("user-pki");
                    m.pki = Some(format!("shards/{}/{pki}", k + 1));
                }
            }
            doc.cases.push(c);
        }
    }
    planned.sort();
    planned.dedup();
    doc.rollup(catalogue, &planned);
    Ok(doc)
}

/// Copies what the merged report names into `out`: every captured message and, per source,
/// the key folders of messages opened with a key; returns the messages' bytes for report.html.
pub fn copy_files(sources: &[Source], out: &Path) -> Result<Bodies, String> {
    let mut bodies = Bodies::new();
    for (k, s) in sources.iter().enumerate() {
        let mut pkis: Vec<&str> = Vec::new();
        for c in &s.doc.cases {
            for m in &c.messages {
                let relative = inside(&s.dir, &m.file)?;
                let from = s.dir.join(relative);
                let to = out.join(relative);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("{}: {e}", parent.display()))?;
                }
                std::fs::copy(&from, &to)
                    .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
                if let Ok(bytes) =
                    crate::input::read_capped_bytes(&from, BODY_LIMIT, "captured messages")
                {
                    bodies.insert(m.reference.clone(), bytes);
                }
                if m.opened_with.is_some() {
                    let pki = m.pki.as_deref().unwrap_or("user-pki");
                    inside(&s.dir, pki)?;
                    if !pkis.contains(&pki) {
                        pkis.push(pki);
                    }
                }
            }
        }
        for pki in pkis {
            let from = s.dir.join(pki);
            if from.is_dir() {
                copy_dir(&from, &out.join(format!("shards/{}/{pki}", k + 1)))?;
            }
        }
    }
    Ok(bodies)
}

/// `path` (from a report.json) as a path inside the report folder `dir`: relative, without
/// `..`; a report naming anything else is refused.
fn inside<'a>(dir: &Path, path: &'a str) -> Result<&'a Path, String> {
    let relative = Path::new(path);
    let escapes = relative.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if path.is_empty() || escapes {
        return Err(format!(
            "{}: report.json names `{path}`, which lies outside the report folder",
            dir.display()
        ));
    }
    Ok(relative)
}

/// Copies the files of a folder tree (permissions kept: private keys stay 0600).
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if kind.is_dir() {
            copy_dir(&path, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&path, &target)
                .map_err(|e| format!("copying {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_a_report_stay_inside_its_folder() {
        let dir = Path::new("r");
        assert!(inside(dir, "cases/a/message-1.eml").is_ok());
        assert!(inside(dir, "shards/1/user-pki").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "cases/../../x",
            "cases/a/../../../x",
        ] {
            let e = inside(dir, bad).unwrap_err();
            assert!(e.contains("outside the report folder"), "{bad}: {e}");
        }
    }
}
