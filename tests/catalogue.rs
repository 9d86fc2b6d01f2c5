//! The catalogue covers exactly the requirements in scope, and rules name only catalogue IDs.

mod common;

use std::collections::BTreeSet;

use kvc_check::catalogue::{Catalogue, Decision};
use kvc_check::rules::{KvcRegistry, all_rules};

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

#[test]
fn catalogue_ids_equal_the_requirements_in_scope() {
    let text = std::fs::read_to_string(common::shared_dir().join("REQUIREMENTS.md")).unwrap();
    // Table rows start with `| ID |`; the ID may carry a version suffix (`A_19359-07`, `KOM-LE-A_2050-04/-05`).
    let in_scope: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .filter(|id| id.starts_with("KVC-") || id.starts_with("A_") || id.starts_with("KOM-LE-"))
        .map(|id| kvc_check::catalogue::base_id(id).to_string())
        .collect();
    let catalogue: BTreeSet<String> = Catalogue::embedded()
        .unwrap()
        .all()
        .iter()
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(catalogue, in_scope);
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
