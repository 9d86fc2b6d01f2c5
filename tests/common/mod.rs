//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use kvc_check::lint::{LintOptions, ProfileChoice};
use kvc_check::rules::KvcRegistry;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The third-party data the tests use, vendored with SOURCE and LICENSE
/// (`vectors/third-party/README.md`).
pub fn third_party_dir() -> PathBuf {
    repo_root().join("vectors/third-party")
}

pub fn options(profile: ProfileChoice) -> LintOptions {
    LintOptions {
        profile,
        registry: KvcRegistry::builtin().expect("built-in registry loads"),
        max_size: kvc_check::lint::DEFAULT_MAX_SIZE,
        smime: None,
    }
}
