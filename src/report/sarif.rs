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
    /// Rule ids in descriptor order (a result's `ruleIndex`).
    rule_ids: Vec<&'static str>,
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

/// The S/MIME layer of `lint --key`: the opening (one rule, several requirements) and the
/// KOM-LE profile checks, as (rule id, description, requirements).
fn smime_rule_list() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let mut list = vec![(
        crate::lint::SMIME_RULE,
        "S/MIME opening (lint --key): decryption and integrity result codes",
        crate::lint::SMIME_REQUIREMENTS.to_vec(),
    )];
    list.extend(
        crate::lint::profile_checks()
            .map(|c| (c.rule(), c.description(), vec![c.base_requirement()])),
    );
    list
}

fn build_descriptors() -> Result<Descriptors, String> {
    let catalogue = Catalogue::embedded().map_err(str::to_string)?;
    // (rule id, description, requirements) of the rules and of the S/MIME layer.
    let all: Vec<(&'static str, &'static str, Vec<&'static str>)> = rules::all_rules()
        .iter()
        .map(|r| (r.id(), r.description(), vec![r.requirement()]))
        .chain(smime_rule_list())
        .collect();
    // One taxon per requirement, in first-use order (several rules may share a requirement).
    let mut requirement_ids: Vec<&str> = Vec::new();
    for id in all.iter().flat_map(|(_, _, reqs)| reqs.iter().copied()) {
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
    let rule_descriptors: Vec<Value> = all
        .iter()
        .map(|(id, description, reqs)| {
            let relationships: Vec<Value> = reqs
                .iter()
                .map(|req| {
                    let index = requirement_ids.iter().position(|x| x == req);
                    json!({
                        "target": {"id": req, "index": index, "toolComponent": {"name": TAXONOMY}},
                        "kinds": ["relevant"]
                    })
                })
                .collect();
            let requirement = match reqs.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            json!({
                "id": id,
                "shortDescription": {"text": description},
                "properties": {"requirement": requirement},
                "relationships": relationships
            })
        })
        .collect();
    Ok(Descriptors {
        rule_ids: all.iter().map(|(id, _, _)| *id).collect(),
        rule_descriptors: Value::Array(rule_descriptors),
        taxa: Value::Array(taxa),
    })
}

pub fn render(results: &[FileResult]) -> Result<String, String> {
    let Descriptors {
        rule_ids,
        rule_descriptors,
        taxa,
    } = descriptors()?;
    let rule_index = |id: &str| rule_ids.iter().position(|r| *r == id);
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
            match &f.location {
                Location::Header { name, .. } => {
                    location["logicalLocations"] = json!([{"name": name, "kind": "member"}]);
                }
                Location::Structure { field, path } => {
                    location["logicalLocations"] =
                        json!([{"name": field, "fullyQualifiedName": path, "kind": "member"}]);
                }
                Location::Message | Location::Line { .. } => {}
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
