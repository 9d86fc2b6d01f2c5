//! Where cases come from: the suites embedded in the binary (the default, so an installed
//! `kvc-check` needs no source tree), or a folder given with `--suites DIR`. Either way a case's
//! origin and its mailbox files are named relative to the suites root
//! (`kvc-pvs/anb021-expired.yaml:1`), never by the build machine's path.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use super::{Case, MailboxEntry, load_case, validate_controls};
use crate::catalogue::{Catalogue, Role};

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/suites");

#[derive(Debug, Clone)]
pub enum SuiteSource {
    /// The `suites/` folder as it was when the binary was built.
    Embedded,
    /// A folder holding one sub-folder per role.
    Folder(PathBuf),
}

impl SuiteSource {
    pub fn new(folder: Option<&Path>) -> Self {
        match folder {
            Some(p) => SuiteSource::Folder(p.to_path_buf()),
            None => SuiteSource::Embedded,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SuiteSource::Embedded => "the suites embedded in kvc-check".into(),
            SuiteSource::Folder(p) => format!("--suites {}", p.display()),
        }
    }

    /// Roles with at least one case file, in catalogue order.
    pub fn roles(&self) -> Vec<Role> {
        Role::all()
            .iter()
            .copied()
            .filter(|r| {
                self.case_files(Path::new(r.as_str()))
                    .is_ok_and(|f| !f.is_empty())
            })
            .collect()
    }

    /// Suite-relative paths of the `*.yaml` / `*.yml` files under `sub`, sorted.
    pub fn case_files(&self, sub: &Path) -> Result<Vec<PathBuf>, String> {
        let mut out = Vec::new();
        match self {
            SuiteSource::Embedded => {
                let Some(dir) = EMBEDDED.get_dir(sub) else {
                    return Ok(out);
                };
                collect_embedded(dir, &mut out);
            }
            SuiteSource::Folder(root) => {
                let dir = root.join(sub);
                if dir.is_dir() {
                    collect_folder(root, &dir, &mut out)?;
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// A suite-relative file's bytes (from a folder: at most `limit`).
    pub fn read(&self, rel: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
        match self {
            SuiteSource::Embedded => EMBEDDED
                .get_file(rel)
                .map(|f| f.contents().to_vec())
                .ok_or_else(|| format!("{}: no such file in the embedded suites", rel.display())),
            SuiteSource::Folder(root) => {
                crate::input::read_capped_bytes(&root.join(rel), limit, what)
            }
        }
    }

    /// Loads every case under `sub` (a role folder), with its mailbox files read; case IDs are
    /// unique and every control names a case among them.
    pub fn load(&self, sub: &Path, catalogue: &Catalogue) -> Result<Vec<Case>, String> {
        let files = self.case_files(sub)?;
        if files.is_empty() {
            return Err(format!(
                "{}: no case files (*.yaml) found in {}",
                sub.display(),
                self.describe()
            ));
        }
        let mut cases: Vec<Case> = Vec::new();
        for rel in files {
            let bytes = self.read(&rel, crate::input::CONFIG_LIMIT, "configuration files")?;
            let text = String::from_utf8(bytes)
                .map_err(|e| format!("{}: not UTF-8: {e}", rel.display()))?;
            let mut case = load_case(&rel, &text, catalogue)?;
            for entry in &case.setup.mailbox {
                if let MailboxEntry::File(f) = entry {
                    let file = case.dir.join(f);
                    let data = self
                        .read(&file, crate::input::MESSAGE_LIMIT, "mailbox messages")
                        .map_err(|e| format!("{}: mailbox file {e}", case.origin))?;
                    case.mailbox_files.insert(f.clone(), data);
                }
            }
            if let Some(other) = cases.iter().find(|c| c.id == case.id) {
                return Err(format!(
                    "{}: duplicate case id `{}` (first defined at {})",
                    case.origin, case.id, other.origin
                ));
            }
            cases.push(case);
        }
        validate_controls(&cases)?;
        Ok(cases)
    }
}

fn is_case_file(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

fn collect_embedded(dir: &Dir<'static>, out: &mut Vec<PathBuf>) {
    for f in dir.files() {
        if f.path()
            .file_name()
            .is_some_and(|n| is_case_file(&n.to_string_lossy()))
        {
            out.push(f.path().to_path_buf());
        }
    }
    for d in dir.dirs() {
        collect_embedded(d, out);
    }
}

fn collect_folder(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_folder(root, &path, out)?;
        } else if is_case_file(&name) {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_suites_load_with_suite_relative_origins() {
        let cat = Catalogue::embedded().expect("catalogue");
        let source = SuiteSource::Embedded;
        assert_eq!(source.roles(), vec![Role::KvcPvs, Role::KimCm, Role::KimFd]);
        let cases = source.load(Path::new("kvc-pvs"), cat).expect("loads");
        assert!(cases.len() >= 34);
        for c in &cases {
            assert!(c.origin.starts_with("kvc-pvs/"), "{}", c.origin);
        }
        let mailbox = cases
            .iter()
            .find(|c| c.id == "kvc-pvs/anb020-unknown-application")
            .expect("case");
        assert_eq!(mailbox.mailbox_files.len(), 3);
        let folder = SuiteSource::Folder(Path::new(env!("CARGO_MANIFEST_DIR")).join("suites"));
        let from_disk = folder.load(Path::new("kvc-pvs"), cat).expect("loads");
        assert_eq!(
            cases.iter().map(|c| &c.origin).collect::<Vec<_>>(),
            from_disk.iter().map(|c| &c.origin).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_missing_mailbox_file_names_the_case() {
        let dir = tempfile::tempdir().expect("tempdir");
        let role = dir.path().join("kvc-pvs");
        std::fs::create_dir_all(&role).expect("dir");
        std::fs::write(
            role.join("a.yaml"),
            "id: t/a\ntitle: t\nrequirements: [KVC-Anb020]\nrole: kvc-pvs\nprofile: kvc\nsetup:\n  mock: kvc-client\n  mailbox:\n    - file: gone.eml\nsteps:\n  - fetch: {}\nexpect:\n  - pop3_retrieved_all: {}\n",
        )
        .expect("case");
        let cat = Catalogue::embedded().expect("catalogue");
        let e = SuiteSource::Folder(dir.path().to_path_buf())
            .load(Path::new("kvc-pvs"), cat)
            .unwrap_err();
        assert!(e.starts_with("kvc-pvs/a.yaml:1: mailbox file "), "{e}");
        assert!(e.contains("kvc-pvs/gone.eml"), "{e}");
    }
}
