//! The requirement catalogue: every requirement ID in scope, loaded from `requirements.yaml`
//! (embedded at build time). Rules, cases and reports refer to requirements by these IDs.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The catalogue data as shipped.
pub const REQUIREMENTS_YAML: &str = include_str!("requirements.yaml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Level {
    #[serde(rename = "MUSS")]
    Muss,
    #[serde(rename = "DARF NICHT")]
    DarfNicht,
    #[serde(rename = "KANN")]
    Kann,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Muss => "MUSS",
            Level::DarfNicht => "DARF NICHT",
            Level::Kann => "KANN",
        }
    }
}

/// The role of a system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    KvcPvs,
    KimCm,
    KimFd,
}

impl Role {
    pub fn all() -> &'static [Role] {
        &[Role::KvcPvs, Role::KimCm, Role::KimFd]
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::all().iter().copied().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::KvcPvs => "kvc-pvs",
            Role::KimCm => "kim-cm",
            Role::KimFd => "kim-fd",
        }
    }
}

/// How the suite decides a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Lint,
    Run,
    Attest,
}

/// Where a requirement comes into scope: named by a seed document (`shared/REQUIREMENTS.md`)
/// or only by the wider gematik specification (`shared/REQUIREMENTS-BEYOND-SEEDS.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Seed,
    Spec,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Seed => "seed",
            Scope::Spec => "spec",
        }
    }
}

/// Which scope a listing or report shows (`--scope seed|spec|all`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ScopeFilter {
    Seed,
    Spec,
    #[default]
    All,
}

impl ScopeFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeFilter::Seed => "seed",
            ScopeFilter::Spec => "spec",
            ScopeFilter::All => "all",
        }
    }

    pub fn is_all(&self) -> bool {
        *self == ScopeFilter::All
    }

    pub fn admits(self, scope: Scope) -> bool {
        match self {
            ScopeFilter::All => true,
            ScopeFilter::Seed => scope == Scope::Seed,
            ScopeFilter::Spec => scope == Scope::Spec,
        }
    }

    /// Whether a requirement ID (with or without version suffix) is shown. An ID the catalogue
    /// does not know is shown only with `all`.
    pub fn admits_id(self, catalogue: &Catalogue, id: &str) -> bool {
        match catalogue.get(id) {
            Some(r) => self.admits(r.scope),
            None => self == ScopeFilter::All,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub version: Option<String>,
    pub title: Option<String>,
    pub source: String,
    /// `seed` (named by a seed document) or `spec` (wider gematik specification only).
    pub scope: Scope,
    pub section: Option<String>,
    pub level: Level,
    pub roles: Vec<Role>,
    pub profiles: Vec<String>,
    pub decided_by: Vec<Decision>,
    /// The lint rules (ids such as `kim/dienstkennung`, or `smime/open`) that report under
    /// this requirement; a rule reports only under the requirement whose list names it.
    #[serde(default)]
    pub rules: Vec<String>,
    pub transport: Option<Vec<String>>,
    pub summary: String,
    pub attest_question: Option<String>,
    pub evidence: String,
    pub note: Option<String>,
}

impl Requirement {
    /// The ID with its version suffix as the source gives it, e.g. `A_19359-07`.
    pub fn versioned_id(&self) -> String {
        match &self.version {
            Some(v) => format!("{}-{}", self.id, v),
            None => self.id.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Catalogue {
    requirements: Vec<Requirement>,
}

impl Catalogue {
    /// Parses catalogue YAML; errors carry the YAML location.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let requirements: Vec<Requirement> =
            serde_saphyr::from_str(text).map_err(|e| format!("requirement catalogue: {e}"))?;
        let mut seen = std::collections::HashSet::new();
        for r in &requirements {
            if !seen.insert(r.id.as_str()) {
                return Err(format!("requirement catalogue: duplicate ID {}", r.id));
            }
        }
        Ok(Catalogue { requirements })
    }

    /// The catalogue shipped with the binary. Its validity is checked by the test suite, so a
    /// broken file cannot be released; should it still fail, the error names the YAML location.
    pub fn embedded() -> Result<&'static Catalogue, &'static str> {
        static CATALOGUE: OnceLock<Result<Catalogue, String>> = OnceLock::new();
        CATALOGUE
            .get_or_init(|| Catalogue::from_yaml(REQUIREMENTS_YAML))
            .as_ref()
            .map_err(|e| e.as_str())
    }

    pub fn all(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Looks an ID up; accepts it with or without its version suffix (`A_19359`, `A_19359-07`).
    pub fn get(&self, id: &str) -> Option<&Requirement> {
        let base = base_id(id);
        self.requirements
            .iter()
            .find(|r| r.id == id || r.id == base)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }
}

/// Strips a trailing version suffix `-NN` (and `-NN/-NN`) from a requirement ID.
pub fn base_id(id: &str) -> &str {
    let mut base = id;
    while let Some((head, tail)) = base.rsplit_once('-') {
        let tail = tail.trim_start_matches('/');
        if !tail.is_empty() && tail.len() <= 2 && tail.bytes().all(|b| b.is_ascii_digit()) {
            base = head.trim_end_matches('/');
        } else {
            break;
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_ids() {
        assert_eq!(base_id("A_19359-07"), "A_19359");
        assert_eq!(base_id("KOM-LE-A_2050-04/-05"), "KOM-LE-A_2050");
        assert_eq!(base_id("KVC-Anb010"), "KVC-Anb010");
        assert_eq!(base_id("KOM-LE-A_2004-01"), "KOM-LE-A_2004");
    }
}
