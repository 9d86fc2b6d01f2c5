//! The catalogue covers exactly the requirements in scope, and rules name only catalogue IDs.

mod common;

use std::collections::BTreeSet;

use kvc_check::catalogue::{Catalogue, Decision, Scope};
use kvc_check::lint::{ProfileChoice, lint_bytes, smime_rules};
use kvc_check::rules::{KvcRegistry, Profile, all_rules};

#[test]
fn catalogue_and_registry_load() {
    let catalogue = Catalogue::embedded().expect("embedded catalogue parses");
    assert!(catalogue.all().len() >= 50);
    KvcRegistry::builtin().expect("built-in registry parses");
}

#[test]
fn every_rule_names_a_catalogue_id_decided_by_lint() {
    let catalogue = Catalogue::embedded().unwrap();
    for rule in all_rules() {
        let req = catalogue.get(rule.requirement()).unwrap_or_else(|| {
            panic!(
                "rule {} names {}, which is not in the catalogue",
                rule.id(),
                rule.requirement()
            )
        });
        assert!(
            req.decided_by.contains(&Decision::Lint),
            "rule {} decides {}, which the catalogue does not mark as decided by lint",
            rule.id(),
            req.id
        );
    }
}

/// The project's knowledge folder with the requirement lists, named by `KVC_SHARED_DIR`. Its
/// scope checks are `#[ignore]`d: `cargo test` reads nothing outside the repository; run them
/// with `KVC_SHARED_DIR=<knowledge folder> cargo test --test catalogue -- --ignored`.
fn shared_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("KVC_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .expect("set KVC_SHARED_DIR to the knowledge folder holding REQUIREMENTS.md");
    assert!(
        dir.join("REQUIREMENTS.md").is_file(),
        "set KVC_SHARED_DIR to the knowledge folder holding REQUIREMENTS.md (tried {})",
        dir.display()
    );
    dir
}

/// Requirement IDs (base form) of the table rows of a shared requirements list.
fn listed_ids(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(shared_dir().join(file)).unwrap();
    // Table rows start with `| ID |`; the ID may carry a version suffix (`A_19359-07`, `KOM-LE-A_2050-04/-05`).
    text.lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .filter(|id| id.starts_with("KVC-") || id.starts_with("A_") || id.starts_with("KOM-LE-"))
        .map(|id| kvc_check::catalogue::base_id(id).to_string())
        .collect()
}

fn ids_of_scope(scope: Scope) -> BTreeSet<String> {
    Catalogue::embedded()
        .unwrap()
        .all()
        .iter()
        .filter(|r| r.scope == scope)
        .map(|r| r.id.clone())
        .collect()
}

#[test]
#[ignore = "reads the knowledge folder outside the repository: KVC_SHARED_DIR=… -- --ignored"]
fn seed_scope_equals_the_requirements_of_the_seeds() {
    assert_eq!(ids_of_scope(Scope::Seed), listed_ids("REQUIREMENTS.md"));
}

/// Every requirement of REQUIREMENTS-BEYOND-SEEDS.md is in the catalogue with scope `spec`; a
/// `spec` entry that list does not name is there only because a lint rule checks it.
#[test]
#[ignore = "reads the knowledge folder outside the repository: KVC_SHARED_DIR=… -- --ignored"]
fn spec_scope_covers_the_requirements_beyond_the_seeds() {
    let beyond = listed_ids("REQUIREMENTS-BEYOND-SEEDS.md");
    assert!(beyond.len() >= 27, "{beyond:?}");
    let spec = ids_of_scope(Scope::Spec);
    let missing: Vec<_> = beyond.difference(&spec).collect();
    assert!(
        missing.is_empty(),
        "not in the catalogue as spec: {missing:?}"
    );
    let catalogue = Catalogue::embedded().unwrap();
    for id in spec.difference(&beyond) {
        let r = catalogue.get(id).unwrap();
        assert!(
            !r.rules.is_empty() && r.decided_by.contains(&Decision::Lint),
            "{id} is in scope spec but neither REQUIREMENTS-BEYOND-SEEDS.md lists it nor a rule checks it"
        );
        assert!(
            r.note.is_some(),
            "{id}: say where the ID and its gist come from"
        );
    }
    for id in &spec {
        assert_ne!(catalogue.get(id).unwrap().evidence, "seed", "{id}");
    }
}

/// Every rule of every profile reports under a catalogue requirement whose entry names it, and
/// every rule an entry names exists and reports under that entry: no rule reports under an ID
/// whose entry does not name the rule.
#[test]
fn every_rule_reports_under_an_entry_that_names_it() {
    let catalogue = Catalogue::embedded().unwrap();
    // (rule id, requirement) for every rule of every profile, plus the S/MIME layer of
    // `lint --key` (the opening and the KOM-LE profile checks).
    let mut reported: BTreeSet<(&str, &str)> = BTreeSet::new();
    for profile in Profile::ALL {
        let rules: Vec<_> = all_rules()
            .into_iter()
            .filter(|r| r.applies_to(profile))
            .collect();
        assert!(!rules.is_empty(), "no rule for {profile}");
        for rule in rules {
            reported.insert((rule.id(), rule.requirement()));
        }
    }
    reported.extend(smime_rules());
    for (rule, req) in &reported {
        let entry = catalogue.get(req).unwrap_or_else(|| {
            panic!("rule {rule} reports under {req}, which is not in the catalogue")
        });
        assert_eq!(entry.id, *req, "rule {rule}: name the base ID");
        assert!(
            entry.rules.iter().any(|r| r == rule),
            "rule {rule} reports under {req}, whose catalogue entry names only {:?}",
            entry.rules
        );
    }
    for entry in catalogue.all() {
        for rule in &entry.rules {
            assert!(
                reported.contains(&(rule.as_str(), entry.id.as_str())),
                "{} names rule {rule}, which does not report under it",
                entry.id
            );
        }
    }
}

/// The same on real findings: linting every vector, each finding's requirement entry names the
/// rule that made it.
#[test]
fn every_finding_of_the_vectors_is_named_by_its_entry() {
    let catalogue = Catalogue::embedded().unwrap();
    let mut seen = 0;
    for dir in ["vectors/kim", "vectors/kim/gematik", "vectors/kvc"] {
        let mut files: Vec<_> = std::fs::read_dir(common::repo_root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x != "yaml" && x != "py"))
            .collect();
        files.sort();
        for path in files {
            let raw = std::fs::read(&path).unwrap();
            let result = lint_bytes("v", &raw, &common::options(ProfileChoice::Auto));
            for f in &result.findings {
                seen += 1;
                let entry = catalogue.get(f.requirement).unwrap();
                assert!(
                    entry.rules.iter().any(|r| r == f.rule),
                    "{}: {} reports under {}, whose entry does not name it",
                    path.display(),
                    f.rule,
                    f.requirement
                );
            }
        }
    }
    assert!(seen > 50, "only {seen} findings");
}

#[test]
fn attest_requirements_carry_a_checklist_question() {
    for r in Catalogue::embedded().unwrap().all() {
        if r.decided_by.contains(&Decision::Attest) {
            assert!(
                r.attest_question.as_deref().is_some_and(|q| q.len() > 20),
                "{} lacks an attest question",
                r.id
            );
        }
    }
}

#[test]
fn lookup_accepts_versioned_ids() {
    let catalogue = Catalogue::embedded().unwrap();
    assert_eq!(
        catalogue.get("A_19359-07").map(|r| r.id.as_str()),
        Some("A_19359")
    );
    assert!(catalogue.get("KVC-Anb999").is_none());
}

fn requirements_json(scope: Option<&str>) -> Vec<serde_json::Value> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kvc-check"));
    cmd.args(["requirements", "--format", "json"]);
    if let Some(s) = scope {
        cmd.args(["--scope", s]);
    }
    let out = cmd.output().expect("run kvc-check");
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

#[test]
fn requirements_command_selects_by_scope() {
    let all = requirements_json(None);
    let seed = requirements_json(Some("seed"));
    let spec = requirements_json(Some("spec"));
    assert_eq!(all.len(), requirements_json(Some("all")).len());
    assert_eq!(all.len(), seed.len() + spec.len());
    assert_eq!(seed.len(), ids_of_scope(Scope::Seed).len());
    assert!(seed.iter().all(|r| r["scope"] == "seed"));
    assert!(spec.iter().all(|r| r["scope"] == "spec"));
    let dienstkennung = spec.iter().find(|r| r["id"] == "A_19488").unwrap();
    assert_eq!(dienstkennung["version"], "02");
    assert_eq!(
        dienstkennung["rules"],
        serde_json::json!(["kim/dienstkennung"])
    );
    assert!(seed.iter().any(|r| r["id"] == "KVC-Anb170"));
}
