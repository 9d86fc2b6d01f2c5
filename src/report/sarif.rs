//! SARIF 2.1.0 output. Each rule has a stable id; the requirement it decides is a taxon of the
//! `kvc-requirements` taxonomy, linked from the rule through a relationship, so code-scanning
//! tools can group findings by requirement ID.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::catalogue::Catalogue;
use crate::lint::FileResult;
use crate::rules::{self, Location, Severity};

const TAXONOMY: &str = "kvc-requirements";

/// The rule descriptors and the requirement taxa: the same for every report, so built once
/// (a SARIF report of one finding used to spend most of its time rebuilding them).
struct Descriptors {
    rules: Vec<&'static dyn rules::Rule>,
    rule_descriptors: Value,
    taxa: Value,
}

fn descriptors() -> Result<&'static Descriptors, String> {
    static DESCRIPTORS: OnceLock<Result<Descriptors, String>> = OnceLock::new();
    DESCRIPTORS
        .get_or_init(build_descriptors)
        .as_ref()
        .map_err(Clone::clone)
}

fn build_descriptors() -> Result<Descriptors, String> {
    let catalogue = Catalogue::embedded().map_err(str::to_string)?;
    let rules = rules::all_rules();
    // One taxon per requirement, in first-use order (several rules may share a requirement).
    let mut requirement_ids: Vec<&str> = Vec::new();
    // The S/MIME opening (`lint --key`, rule `smime/open`) reports under its own requirements.
    let smime = crate::lint::SMIME_REQUIREMENTS.iter().copied();
    for id in rules.iter().map(|r| r.requirement()).chain(smime) {
        if !requirement_ids.contains(&id) {
            requirement_ids.push(id);
        }
    }
    let taxa: Vec<Value> = requirement_ids
        .iter()
        .map(|id| {
            let summary = catalogue.get(id).map(|r| r.summary.as_str()).unwrap_or("");
            let versioned = catalogue
                .get(id)
                .map(|r| r.versioned_id())
                .unwrap_or_else(|| id.to_string());
            json!({"id": id, "name": versioned, "shortDescription": {"text": summary}})
        })
        .collect();
    let rule_descriptors: Vec<Value> = rules
        .iter()
        .map(|r| {
            let index = requirement_ids.iter().position(|id| *id == r.requirement());
            json!({
                "id": r.id(),
                "shortDescription": {"text": r.description()},
                "properties": {"requirement": r.requirement()},
                "relationships": [{
                    "target": {"id": r.requirement(), "index": index, "toolComponent": {"name": TAXONOMY}},
                    "kinds": ["relevant"]
                }]
            })
        })
        .collect();
    Ok(Descriptors {
        rules,
        rule_descriptors: Value::Array(rule_descriptors),
        taxa: Value::Array(taxa),
    })
}

pub fn render(results: &[FileResult]) -> Result<String, String> {
    let Descriptors {
        rules,
        rule_descriptors,
        taxa,
    } = descriptors()?;
    let rule_index = |id: &str| rules.iter().position(|r| r.id() == id);
    let mut sarif_results = Vec::new();
    let mut notifications = Vec::new();
    for file in results {
        if let Some(error) = &file.error {
            notifications.push(json!({
                "level": "error",
                "message": {"text": format!("{}: {error}", file.path)},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(&file.path)}}}]
            }));
        }
        for f in &file.findings {
            let mut physical = json!({"artifactLocation": {"uri": uri(&file.path)}});
            if let Location::Header { line, .. } | Location::Line { line } = &f.location {
                physical["region"] = json!({"startLine": line});
            }
            let mut location = json!({"physicalLocation": physical});
            if let Location::Header { name, .. } = &f.location {
                location["logicalLocations"] = json!([{"name": name, "kind": "member"}]);
            }
            sarif_results.push(json!({
                "ruleId": f.rule,
                "ruleIndex": rule_index(f.rule),
                "level": match f.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": {"text": format!("{}: {}", f.requirement, f.message)},
                "locations": [location],
                "taxa": [{"id": f.requirement, "toolComponent": {"name": TAXONOMY}}],
                "properties": {"requirement": f.requirement}
            }));
        }
    }
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kvc-check",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/kvc-check/kvc-check",
                "rules": rule_descriptors,
                "supportedTaxonomies": [{"name": TAXONOMY}]
            }},
            "taxonomies": [{
                "name": TAXONOMY,
                "shortDescription": {"text": "Requirement IDs of KV-Connect (Anbindung an KV-Connect V4.1) and KIM (gemSpec_CM_KOMLE)"},
                "taxa": taxa
            }],
            "invocations": [{"executionSuccessful": notifications.is_empty(), "toolExecutionNotifications": notifications}],
            "results": sarif_results
        }]
    });
    serde_json::to_string_pretty(&doc)
        .map(|s| s + "\n")
        .map_err(|e| format!("SARIF output: {e}"))
}

/// A relative URI reference for a path (SARIF wants URIs; spaces etc. are percent-encoded).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
