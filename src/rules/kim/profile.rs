//! KIM profile data (`kim_profiles.yaml`): what each KIM version allows, as data.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::rules::Profile;

/// The profile data as shipped.
pub const KIM_PROFILES_YAML: &str = include_str!("../kim_profiles.yaml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KimData {
    pub profiles: Vec<ProfileData>,
    pub tab_verm_sig_pruef_codes: Vec<String>,
    pub known_dienstkennungen: Vec<String>,
    pub attachment_schemas: Vec<AttachmentSchema>,
    pub kas_error_mails: Vec<KasErrorMail>,
    pub fixed_texts: Vec<FixedText>,
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
    /// An allowed alternative from a later spec version where it differs from the seed: the
    /// seed's text (without this mark) is the primary one; a finding names the alternative
    /// it accepted.
    #[serde(default)]
    pub alternative: bool,
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
        if self.alternative {
            format!("{}; allowed alternative to the seed", self.origin)
        } else {
            self.origin.clone()
        }
    }
}

impl KimData {
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
    DATA.get_or_init(|| KimData::from_yaml(KIM_PROFILES_YAML))
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
        for id in ids {
            assert!(catalogue.get(id).is_some(), "{id} is not in the catalogue");
        }
    }

    #[test]
    fn rejects_unknown_fields() {
        let broken = KIM_PROFILES_YAML.replacen("profiles:", "profiles:\n  - surprise: 1", 1);
        assert!(KimData::from_yaml(&broken).is_err());
    }
}
