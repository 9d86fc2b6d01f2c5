//! KIM profile data (`kim_profiles.yaml`): what each KIM version allows, as data.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::rules::Profile;

/// The profile data as shipped.
pub const KIM_PROFILES_YAML: &str = include_str!("../kim_profiles.yaml");
/// The one table of allowed alternatives of the KIM profiles (where two sources disagree).
pub const KIM_ALTERNATIVES_YAML: &str = include_str!("../kim_alternatives.yaml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KimData {
    pub profiles: Vec<ProfileData>,
    pub tab_verm_sig_pruef_codes: Vec<String>,
    pub known_dienstkennungen: Vec<String>,
    pub attachment_schemas: Vec<AttachmentSchema>,
    pub kas_error_mails: Vec<KasErrorMail>,
    /// The seed's fixed texts, followed (after loading) by the fixed-text alternatives of
    /// kim_alternatives.yaml, marked with their alternative's id.
    pub fixed_texts: Vec<FixedText>,
    /// kim_alternatives.yaml.
    #[serde(skip)]
    pub alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlternativesFile {
    alternatives: Vec<Alternative>,
}

/// An allowed alternative: where two sources disagree, the other reading than the primary
/// (seed) one, with both sources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alternative {
    /// Stable name, quoted in findings.
    pub id: String,
    pub requirement: String,
    pub profiles: Vec<String>,
    /// The primary reading and its source.
    pub primary: String,
    /// Where the alternative comes from.
    pub source: String,
    pub accepts: Accepts,
}

/// What an alternative allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accepts {
    /// Another fixed text for the same use (compared by the rules like the seed's).
    FixedText(AlternativeText),
    /// The code carried in another header than the primary one.
    HeaderCode { header: String, code: String },
    /// Another HTTP status of a KAS (decided by a run).
    HttpStatus(u16),
    /// The behaviour of another version of the requirement (decided by a run).
    Version(String),
    /// Another reaction of the Clientmodul to an SMTP command (decided by a run).
    SmtpReply(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlternativeText {
    #[serde(rename = "use")]
    pub usage: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub fragments: Vec<String>,
}

impl Alternative {
    pub fn applies_to(&self, profile: Profile) -> bool {
        self.profiles.iter().any(|p| profile_of(p) == Some(profile))
    }

    /// How a finding names it: `allowed alternative <id> (<source>)`.
    pub fn named(&self) -> String {
        format!("allowed alternative {} ({})", self.id, self.source)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileData {
    pub profile: String,
    pub kom_le_versions: Vec<String>,
    pub outer_required_headers: Vec<RequiredHeader>,
    pub client_mail_limit: ClientMailLimit,
    pub body_limit: Option<SizeLimit>,
    pub attachment_schemas: Vec<String>,
    pub decryption_results: Vec<String>,
    pub integrity_results: Vec<String>,
    pub integrity_failure_results: Vec<String>,
    pub fehlermeldung_codes: Vec<String>,
}

/// A header field the outer KOM-LE message must carry, with the requirement that asks for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredHeader {
    pub header: String,
    pub requirement: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverLimit {
    /// The Clientmodul refuses a larger client mail (X.3.4).
    Reject,
    /// A larger client mail goes through the KAS.
    Kas,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMailLimit {
    pub bytes: u64,
    pub requirement: String,
    pub over_limit: OverLimit,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeLimit {
    pub bytes: u64,
    pub requirement: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSchema {
    pub name: String,
    pub origin: String,
    pub fields: BTreeMap<String, FieldType>,
    pub required: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KasErrorMail {
    pub requirement: String,
    pub fehlermeldung: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedText {
    pub requirement: String,
    #[serde(rename = "use")]
    pub usage: String,
    pub profiles: Vec<String>,
    pub origin: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub fragments: Vec<String>,
    /// The id of the allowed alternative (kim_alternatives.yaml) this text comes from; `None`
    /// for the seed's (primary) texts. Never written in kim_profiles.yaml.
    #[serde(skip)]
    pub alternative: Option<String>,
}

impl FixedText {
    /// The exact pieces that must appear in order (one piece for a complete text).
    pub fn pieces(&self) -> Vec<&str> {
        match &self.text {
            Some(text) => vec![text.as_str()],
            None => self.fragments.iter().map(String::as_str).collect(),
        }
    }

    /// The text for messages (fragments joined with `…`).
    pub fn shown(&self) -> String {
        self.pieces().join("…")
    }

    /// Where the text comes from, marked when it is an allowed alternative.
    pub fn source(&self) -> String {
        match &self.alternative {
            Some(id) => format!("{}; allowed alternative {id} to the seed", self.origin),
            None => self.origin.clone(),
        }
    }
}

impl KimData {
    /// The profile data with the alternatives table folded in (fixed-text alternatives join
    /// `fixed_texts`, marked).
    pub fn load(profiles: &str, alternatives: &str) -> Result<Self, String> {
        let mut data = KimData::from_yaml(profiles)?;
        let file: AlternativesFile = serde_saphyr::from_str(alternatives)
            .map_err(|e| format!("kim_alternatives.yaml: {e}"))?;
        let mut ids = std::collections::HashSet::new();
        for a in &file.alternatives {
            let bad = |what: String| Err(format!("kim_alternatives.yaml: {}: {what}", a.id));
            if !ids.insert(a.id.as_str()) {
                return bad("duplicate id".into());
            }
            if a.profiles.is_empty() {
                return bad("no profile".into());
            }
            if let Some(p) = a.profiles.iter().find(|p| profile_of(p).is_none()) {
                return bad(format!("unknown profile `{p}`"));
            }
            if let Accepts::FixedText(t) = &a.accepts {
                if t.text.is_some() != t.fragments.is_empty() {
                    return bad("needs exactly one of text/fragments".into());
                }
                // An alternative stands beside a primary text of the same requirement and use.
                if !data
                    .fixed_texts
                    .iter()
                    .any(|f| f.requirement == a.requirement && f.usage == t.usage)
                {
                    return bad(format!(
                        "no primary fixed text of {} for `{}` in kim_profiles.yaml",
                        a.requirement, t.usage
                    ));
                }
                data.fixed_texts.push(FixedText {
                    requirement: a.requirement.clone(),
                    usage: t.usage.clone(),
                    profiles: a.profiles.clone(),
                    origin: a.source.clone(),
                    text: t.text.clone(),
                    fragments: t.fragments.clone(),
                    alternative: Some(a.id.clone()),
                });
            }
        }
        data.alternatives = file.alternatives;
        Ok(data)
    }

    /// The alternatives of a requirement that a profile allows.
    pub fn alternatives_of<'d, 'r>(
        &'d self,
        profile: Profile,
        requirement: &'r str,
    ) -> impl Iterator<Item = &'d Alternative> + use<'d, 'r> {
        self.alternatives
            .iter()
            .filter(move |a| a.requirement == requirement && a.applies_to(profile))
    }

    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let data: KimData =
            serde_saphyr::from_str(text).map_err(|e| format!("kim_profiles.yaml: {e}"))?;
        for p in &data.profiles {
            if profile_of(&p.profile).is_none() {
                return Err(format!(
                    "kim_profiles.yaml: unknown profile `{}`",
                    p.profile
                ));
            }
            for s in &p.attachment_schemas {
                if !data.attachment_schemas.iter().any(|a| &a.name == s) {
                    return Err(format!(
                        "kim_profiles.yaml: unknown attachment schema `{s}`"
                    ));
                }
            }
        }
        for t in &data.fixed_texts {
            if t.text.is_some() != t.fragments.is_empty() {
                return Err(format!(
                    "kim_profiles.yaml: fixed text of {} ({}) needs exactly one of text/fragments",
                    t.requirement, t.usage
                ));
            }
        }
        Ok(data)
    }

    pub fn profile(&self, profile: Profile) -> Option<&ProfileData> {
        self.profiles
            .iter()
            .find(|p| profile_of(&p.profile) == Some(profile))
    }

    /// Fixed texts for a use that the profile accepts.
    pub fn texts<'d, 'u>(
        &'d self,
        profile: Profile,
        usage: &'u str,
    ) -> impl Iterator<Item = &'d FixedText> + use<'d, 'u> {
        self.fixed_texts.iter().filter(move |t| {
            t.usage == usage && t.profiles.iter().any(|p| profile_of(p) == Some(profile))
        })
    }

    /// Fixed texts for a use, whatever the profile (to recognise a message kind).
    pub fn texts_any<'d, 'u>(
        &'d self,
        usage: &'u str,
    ) -> impl Iterator<Item = &'d FixedText> + use<'d, 'u> {
        self.fixed_texts.iter().filter(move |t| t.usage == usage)
    }

    pub fn schema(&self, name: &str) -> Option<&AttachmentSchema> {
        self.attachment_schemas.iter().find(|s| s.name == name)
    }
}

fn profile_of(name: &str) -> Option<Profile> {
    match name {
        "kim-1.0" => Some(Profile::Kim10),
        "kim-1.5" => Some(Profile::Kim15),
        _ => None,
    }
}

/// The shipped data, parsed once. `Err` only if the YAML is broken (a unit test guards this).
pub fn data() -> Result<&'static KimData, &'static str> {
    static DATA: OnceLock<Result<KimData, String>> = OnceLock::new();
    DATA.get_or_init(|| KimData::load(KIM_PROFILES_YAML, KIM_ALTERNATIVES_YAML))
        .as_ref()
        .map_err(String::as_str)
}

/// The data of one KIM profile.
pub fn profile_data(profile: Profile) -> Option<&'static ProfileData> {
    data().ok()?.profile(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_data_loads_and_covers_both_profiles() {
        let data = data().expect("kim_profiles.yaml");
        assert!(data.profile(Profile::Kim10).is_some());
        assert!(data.profile(Profile::Kim15).is_some());
        assert!(data.profile(Profile::Kvc).is_none());
    }

    #[test]
    fn every_fixed_text_is_quoted_once() {
        let data = data().expect("kim_profiles.yaml");
        let mut seen = std::collections::HashSet::new();
        for t in &data.fixed_texts {
            for piece in t.pieces() {
                assert!(
                    seen.insert(piece.to_string()),
                    "duplicate fixed text `{piece}`"
                );
            }
        }
    }

    #[test]
    fn requirements_named_in_data_are_in_the_catalogue() {
        let data = data().expect("kim_profiles.yaml");
        let catalogue = crate::catalogue::Catalogue::embedded().expect("catalogue");
        let mut ids: Vec<&str> = data
            .fixed_texts
            .iter()
            .map(|t| t.requirement.as_str())
            .collect();
        ids.extend(data.kas_error_mails.iter().map(|m| m.requirement.as_str()));
        for p in &data.profiles {
            ids.push(&p.client_mail_limit.requirement);
            if let Some(b) = &p.body_limit {
                ids.push(&b.requirement);
            }
            ids.extend(
                p.outer_required_headers
                    .iter()
                    .map(|h| h.requirement.as_str()),
            );
        }
        ids.extend(data.alternatives.iter().map(|a| a.requirement.as_str()));
        for id in ids {
            assert!(catalogue.get(id).is_some(), "{id} is not in the catalogue");
        }
    }

    /// The conflicts between sources live in the one table, each with both sources, under a
    /// catalogue requirement; those only a run can decide name a run-decided requirement.
    #[test]
    fn alternatives_table_holds_the_known_conflicts() {
        use crate::catalogue::Decision;
        let data = data().expect("kim data");
        let catalogue = crate::catalogue::Catalogue::embedded().expect("catalogue");
        for (id, requirement) in [
            ("A_22410-403", "A_22410"),
            ("A_19356-06", "A_19356"),
            ("A_19370-subject-cm116", "A_19370"),
            ("A_23165-text-cm116", "A_23165"),
            ("A_19372-4012-fehlermeldung", "A_19372"),
        ] {
            let alt = data
                .alternatives
                .iter()
                .find(|a| a.id == id)
                .unwrap_or_else(|| panic!("{id} not in kim_alternatives.yaml"));
            assert_eq!(alt.requirement, requirement);
        }
        for alt in &data.alternatives {
            let entry = catalogue
                .get(&alt.requirement)
                .unwrap_or_else(|| panic!("{}: {} not in the catalogue", alt.id, alt.requirement));
            assert!(
                !alt.primary.is_empty() && !alt.source.is_empty(),
                "{}",
                alt.id
            );
            let decision = match alt.accepts {
                Accepts::FixedText(_) | Accepts::HeaderCode { .. } => Decision::Lint,
                _ => Decision::Run,
            };
            assert!(
                entry.decided_by.contains(&decision),
                "{}: {decision:?}",
                alt.id
            );
            if let Accepts::FixedText(_) = alt.accepts {
                let texts: Vec<_> = data
                    .fixed_texts
                    .iter()
                    .filter(|t| t.alternative.as_deref() == Some(alt.id.as_str()))
                    .collect();
                assert_eq!(texts.len(), 1, "{}", alt.id);
                assert!(texts[0].source().contains(&alt.id));
            }
        }
    }

    /// `alternative` is no key of kim_profiles.yaml: an alternative text can only come from
    /// the table, and one without a primary text beside it is refused.
    #[test]
    fn alternatives_come_only_from_the_table() {
        let marked = KIM_PROFILES_YAML.replacen(
            "    use: error-subject\n",
            "    use: error-subject\n    alternative: true\n",
            1,
        );
        assert_ne!(marked, KIM_PROFILES_YAML);
        assert!(KimData::from_yaml(&marked).is_err());
        let orphan = KIM_ALTERNATIVES_YAML.replacen("use: error-subject", "use: no-such-use", 1);
        let err = KimData::load(KIM_PROFILES_YAML, &orphan).expect_err("orphan alternative");
        assert!(err.contains("no primary fixed text"), "{err}");
        let twice = KIM_ALTERNATIVES_YAML.replacen("id: A_22410-403", "id: A_19356-06", 1);
        assert!(KimData::load(KIM_PROFILES_YAML, &twice).is_err());
    }

    #[test]
    fn rejects_unknown_fields() {
        let broken = KIM_PROFILES_YAML.replacen("profiles:", "profiles:\n  - surprise: 1", 1);
        assert!(KimData::from_yaml(&broken).is_err());
    }
}
