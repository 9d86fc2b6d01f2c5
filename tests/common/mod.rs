//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use kvc_check::lint::{LintOptions, ProfileChoice};
use kvc_check::rules::KvcRegistry;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `shared/` sits beside the repository (CI clones it there too).
pub fn shared_dir() -> PathBuf {
    let dir = repo_root().join("../shared");
    assert!(
        dir.is_dir(),
        "expected the shared knowledge folder at {} (CI places shared/ beside the clone)",
        dir.display()
    );
    dir
}

pub fn options(profile: ProfileChoice) -> LintOptions {
    LintOptions {
        profile,
        registry: KvcRegistry::builtin().expect("built-in registry loads"),
        max_size: kvc_check::lint::DEFAULT_MAX_SIZE,
        smime: None,
    }
}
