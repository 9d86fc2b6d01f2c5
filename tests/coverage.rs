//! Requirement coverage (the Inferno habit): every requirement the catalogue marks as decided by
//! `run` has a case in its role's suite that decides something, and every one marked `lint`
//! has a rule (the S/MIME layer of `lint --key`, `smime/open` and the KOM-LE profile checks, included). Reads the `suites/` folder of the source tree, so a removed case file fails here.

use std::collections::BTreeSet;
use std::path::Path;

use kvc_check::catalogue::{Catalogue, Decision, Role};
use kvc_check::lint::smime_rules;
use kvc_check::rules::all_rules;
use kvc_check::suite::source::SuiteSource;

mod common;

/// Roles whose suite is still to be written (their mocks come first). A role leaves this list
/// with its first case file, and from then on its `run` requirements are checked.
const ROLES_WITHOUT_SUITE: &[Role] = &[];

/// `run` requirements of a role whose case is still to be written, each with what it needs.
/// The list only shrinks: an ID here that has a case fails the test until it is removed.
const PENDING: &[(Role, &str, &str)] = &[];

fn catalogue() -> &'static Catalogue {
    Catalogue::embedded().expect("catalogue")
}

/// Requirement IDs of a role that the catalogue says are decided in a way.
fn decided_by(role: Role, how: Decision) -> Vec<&'static str> {
    catalogue()
        .all()
        .iter()
        .filter(|r| r.roles.contains(&role) && r.decided_by.contains(&how))
        .map(|r| r.id.as_str())
        .collect()
}

#[test]
fn every_run_requirement_of_a_role_has_a_case() {
    let source = SuiteSource::Folder(common::repo_root().join("suites"));
    for &role in Role::all() {
        let files = source
            .case_files(Path::new(role.as_str()))
            .expect("suite folder readable");
        if ROLES_WITHOUT_SUITE.contains(&role) {
            assert!(
                files.is_empty(),
                "suites/{} has case files: remove {} from ROLES_WITHOUT_SUITE so its coverage is checked",
                role.as_str(),
                role.as_str()
            );
            continue;
        }
        let cases = source
            .load(Path::new(role.as_str()), catalogue())
            .expect("suite loads");
        // A case that only skips decides nothing, so it does not cover its requirements.
        let covered: BTreeSet<&str> = cases
            .iter()
            .filter(|c| c.expect.iter().any(|e| e.skip_reason().is_none()))
            .flat_map(|c| c.requirements.iter().map(String::as_str))
            .collect();
        let required = decided_by(role, Decision::Run);
        assert!(
            !required.is_empty(),
            "{}: no requirement is decided by run",
            role.as_str()
        );
        let pending: Vec<&str> = PENDING
            .iter()
            .filter(|(r, _, _)| *r == role)
            .map(|(_, id, _)| *id)
            .collect();
        for id in &pending {
            assert!(
                !covered.contains(id),
                "{id} has a case in suites/{} now: remove it from PENDING",
                role.as_str()
            );
        }
        let missing: Vec<&str> = required
            .into_iter()
            .filter(|id| !covered.contains(id) && !pending.contains(id))
            .collect();
        assert!(
            missing.is_empty(),
            "requirements of role {} decided by `run` without a case in suites/{}/: {missing:?}",
            role.as_str(),
            role.as_str()
        );
    }
}

#[test]
fn every_lint_requirement_has_a_rule() {
    // The S/MIME layer of `lint --key` (rule `smime/open` and the KOM-LE profile checks)
    // counts as rules of its requirements.
    let ruled: BTreeSet<&str> = all_rules()
        .iter()
        .map(|r| r.requirement())
        .chain(smime_rules().into_iter().map(|(_, req)| req))
        .collect();
    for &role in Role::all() {
        let missing: Vec<&str> = decided_by(role, Decision::Lint)
            .into_iter()
            .filter(|id| !ruled.contains(id))
            .collect();
        assert!(
            missing.is_empty(),
            "requirements of role {} decided by `lint` without a rule: {missing:?}",
            role.as_str()
        );
    }
}
