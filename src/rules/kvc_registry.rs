//! Registry of known KV-Connect applications: their Dienstkennungen and Subject rules
//! (KVC-Anb120/130/140). Shipped as `kvc_applications.yaml`; `--registry FILE` adds entries.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use regex::Regex;
use serde::Deserialize;

/// The registry data as shipped.
pub const KVC_APPLICATIONS_YAML: &str = include_str!("kvc_applications.yaml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    fallback_app: Option<String>,
    applications: Vec<Application>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Part 1 of the Dienstkennung without a `-<type>` suffix.
    pub app: String,
    pub title: String,
    /// Allowed `-<type>` suffixes of part 1.
    #[serde(default)]
    pub types: Vec<String>,
    /// True when the list of values is known to be complete: an unknown value is then an error.
    #[serde(default)]
    pub closed: bool,
    pub dienstkennungen: Vec<KnownDienstkennung>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownDienstkennung {
    pub value: String,
    pub subject: Option<SubjectRule>,
    pub evidenced: bool,
    pub source: String,
}

/// How an application specifies the Subject.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SubjectRule {
    Exact(String),
    EqualsDienstkennung(bool),
    Pattern(String),
}

/// The registry: the built-in applications plus those of `--registry` files.
///
/// The built-in YAML is parsed (and its subject patterns compiled) once per process on first
/// use, not when the registry is made: `lint` of KIM messages never asks, and that parse was ~15 % of a one-file
/// lint. Its validity is checked by the tests (`builtin_registry_loads`).
#[derive(Debug, Clone)]
pub struct KvcRegistry {
    /// `None`: the built-in registry alone (one parsed copy per process, [`builtin_entries`]).
    extended: Option<Arc<Entries>>,
}

#[derive(Debug, Clone, Default)]
struct Entries {
    fallback_app: String,
    applications: Vec<Application>,
    patterns: Vec<(String, Regex)>,
}

/// How part 1 of a Dienstkennung relates to the registry.
#[derive(Debug, Clone, Copy)]
pub struct AppMatch<'r> {
    pub application: &'r Application,
    /// The `-<type>` suffix, when part 1 has one.
    pub app_type: Option<&'r str>,
}

impl KvcRegistry {
    /// The registry shipped with the binary (its validity is checked by the test suite), parsed
    /// on first use.
    pub fn builtin() -> Result<Self, String> {
        Ok(KvcRegistry { extended: None })
    }

    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, String> {
        Ok(KvcRegistry {
            extended: Some(Arc::new(Entries::from_yaml(text, origin)?)),
        })
    }

    /// Adds the entries of a user registry file (`--registry FILE`).
    pub fn extend_from_file(&mut self, path: &Path) -> Result<(), String> {
        let origin = path.display().to_string();
        let text = crate::input::read_config(path)?;
        let file: RegistryFile =
            serde_saphyr::from_str(&text).map_err(|e| format!("{origin}: {e}"))?;
        let mut entries = self.entries().clone();
        entries.merge(file, &origin)?;
        self.extended = Some(Arc::new(entries));
        Ok(())
    }

    fn entries(&self) -> &Entries {
        match &self.extended {
            Some(entries) => entries,
            None => builtin_entries(),
        }
    }

    pub fn applications(&self) -> &[Application] {
        &self.entries().applications
    }

    /// The application whose Dienstkennung is the KVC-Anb130 fallback.
    pub fn fallback(&self) -> Option<&Application> {
        self.entries()
            .applications
            .iter()
            .find(|a| a.app == self.entries().fallback_app)
    }

    pub fn fallback_app(&self) -> &str {
        &self.entries().fallback_app
    }

    /// Finds the application named by part 1: the longest registered name equal to part 1 or
    /// followed by `-<type>` (application names may contain `-` themselves, e.g. `LDT-Befund`).
    pub fn find_app<'r>(&'r self, part1: &'r str) -> Option<AppMatch<'r>> {
        self.entries()
            .applications
            .iter()
            .filter_map(|application| {
                if part1 == application.app {
                    Some(AppMatch {
                        application,
                        app_type: None,
                    })
                } else {
                    part1
                        .strip_prefix(application.app.as_str())
                        .and_then(|rest| rest.strip_prefix('-'))
                        .filter(|t| !t.is_empty())
                        .map(|t| AppMatch {
                            application,
                            app_type: Some(t),
                        })
                }
            })
            .max_by_key(|m| m.application.app.len())
    }

    /// The registered application whose name equals part 1 (or its application prefix) when
    /// case is ignored: a spelling error rather than an unknown application.
    pub fn find_app_ignoring_case(&self, part1: &str) -> Option<&Application> {
        let lower = part1.to_ascii_lowercase();
        self.entries()
            .applications
            .iter()
            .filter(|a| {
                let app = a.app.to_ascii_lowercase();
                lower == app || lower.starts_with(&format!("{app}-"))
            })
            .max_by_key(|a| a.app.len())
    }

    /// Whether `subject` satisfies `rule` for Dienstkennung `value`.
    pub fn subject_matches(&self, rule: &SubjectRule, value: &str, subject: &str) -> bool {
        match rule {
            SubjectRule::Exact(expected) => subject == expected,
            SubjectRule::EqualsDienstkennung(true) => subject == value,
            SubjectRule::EqualsDienstkennung(false) => true,
            SubjectRule::Pattern(p) => self
                .entries()
                .patterns
                .iter()
                .find(|(source, _)| source == p)
                .is_some_and(|(_, regex)| regex.is_match(subject)),
        }
    }
}

/// The built-in registry, parsed once per process on first use. Cannot fail for the shipped
/// file (tested by `builtin_registry_loads`); an empty registry otherwise.
fn builtin_entries() -> &'static Entries {
    static BUILTIN: OnceLock<Entries> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        Entries::from_yaml(KVC_APPLICATIONS_YAML, "built-in kvc_applications.yaml")
            .unwrap_or_default()
    })
}

impl Entries {
    fn from_yaml(text: &str, origin: &str) -> Result<Self, String> {
        let file: RegistryFile =
            serde_saphyr::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        let mut entries = Entries::default();
        entries.merge(file, origin)?;
        if entries.fallback_app.is_empty() {
            return Err(format!("{origin}: `fallback_app` is missing"));
        }
        Ok(entries)
    }

    fn merge(&mut self, file: RegistryFile, origin: &str) -> Result<(), String> {
        if let Some(fallback) = file.fallback_app {
            self.fallback_app = fallback;
        }
        for app in file.applications {
            for known in &app.dienstkennungen {
                if let Some(SubjectRule::Pattern(p)) = &known.subject {
                    let anchored = format!("^(?:{p})$");
                    let regex = Regex::new(&anchored).map_err(|e| {
                        format!("{origin}: subject pattern of `{}`: {e}", known.value)
                    })?;
                    self.patterns.push((p.clone(), regex));
                }
            }
            match self.applications.iter_mut().find(|a| a.app == app.app) {
                Some(existing) => {
                    existing.types.extend(app.types);
                    existing.closed = existing.closed && app.closed;
                    existing.dienstkennungen.extend(app.dienstkennungen);
                }
                None => self.applications.push(app),
            }
        }
        Ok(())
    }
}

impl SubjectRule {
    /// Human description for findings.
    pub fn describe(&self, value: &str) -> String {
        match self {
            SubjectRule::Exact(s) => format!("exactly `{s}`"),
            SubjectRule::EqualsDienstkennung(_) => format!("the Dienstkennung itself, `{value}`"),
            SubjectRule::Pattern(p) => format!("text matching `{p}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
fallback_app: eNachricht
applications:
  - app: eNachricht
    title: eNachricht
    dienstkennungen:
      - {value: "eNachricht;Nachricht;V1.0", subject: null, evidenced: false, source: "test"}
  - app: LDT-Befund
    title: LDT
    dienstkennungen:
      - {value: "LDT-Befund;Trigger;V1.0", subject: {exact: "LDT-Laborbefund-Befundabruf"}, evidenced: true, source: "t"}
  - app: eDokumentation
    title: eDoku
    types: [QSHLT]
    dienstkennungen:
      - {value: "eDokumentation-QSHLT;Lieferung;V2.0", subject: {equals_dienstkennung: true}, evidenced: false, source: "t"}
      - {value: "eDokumentation;Status;V2.0", subject: {pattern: "Status [0-9]+"}, evidenced: false, source: "t"}
"#;

    #[test]
    fn longest_app_prefix_wins_and_types_split() {
        let reg = KvcRegistry::from_yaml(SAMPLE, "sample").unwrap();
        let m = reg.find_app("LDT-Befund").unwrap();
        assert_eq!(m.application.app, "LDT-Befund");
        assert!(m.app_type.is_none());
        let m = reg.find_app("eDokumentation-QSHLT").unwrap();
        assert_eq!(m.application.app, "eDokumentation");
        assert_eq!(m.app_type, Some("QSHLT"));
        assert!(reg.find_app("LDT").is_none());
        assert!(reg.find_app("eDokumentation-").is_none());
        assert_eq!(reg.fallback().unwrap().app, "eNachricht");
    }

    #[test]
    fn subject_rules() {
        let reg = KvcRegistry::from_yaml(SAMPLE, "sample").unwrap();
        let pat = SubjectRule::Pattern("Status [0-9]+".into());
        assert!(reg.subject_matches(&pat, "x", "Status 12"));
        assert!(!reg.subject_matches(&pat, "x", "Status 12 extra"));
        assert!(reg.subject_matches(
            &SubjectRule::EqualsDienstkennung(true),
            "a;b;V1.0",
            "a;b;V1.0"
        ));
        assert!(!reg.subject_matches(&SubjectRule::Exact("A".into()), "v", "a"));
    }

    #[test]
    fn bad_registry_names_origin() {
        let err = KvcRegistry::from_yaml("applications: [{app: x}]", "my.yaml").unwrap_err();
        assert!(err.starts_with("my.yaml"), "{err}");
        let err = KvcRegistry::from_yaml(
            "fallback_app: a\napplications:\n  - {app: a, title: a, dienstkennungen: [{value: v, subject: {pattern: \"(\"}, evidenced: true, source: s}]}\n",
            "p.yaml",
        )
        .unwrap_err();
        assert!(err.contains("subject pattern of `v`"), "{err}");
    }

    #[test]
    fn builtin_registry_loads() {
        Entries::from_yaml(KVC_APPLICATIONS_YAML, "built-in").unwrap();
        let reg = KvcRegistry::builtin().unwrap();
        assert!(
            reg.fallback().is_some(),
            "fallback application must be registered"
        );
        assert!(reg.find_app("Arztbrief").is_some());
    }
}
