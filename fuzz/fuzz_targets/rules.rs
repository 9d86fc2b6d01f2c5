//! Any bytes through one profile's rules: the first byte picks the profile (kvc, kim-1.0,
//! kim-1.5, auto), the rest is the message. The registry and options are built once.
#![no_main]

use std::sync::OnceLock;

use kvc_check::lint::{DEFAULT_MAX_SIZE, FileVerdict, LintOptions, ProfileChoice, lint_bytes};
use kvc_check::rules::KvcRegistry;
use libfuzzer_sys::fuzz_target;

const PROFILES: [ProfileChoice; 4] = [
    ProfileChoice::Kvc,
    ProfileChoice::Kim10,
    ProfileChoice::Kim15,
    ProfileChoice::Auto,
];

fn options() -> &'static [LintOptions] {
    static OPTS: OnceLock<Vec<LintOptions>> = OnceLock::new();
    OPTS.get_or_init(|| {
        let registry = KvcRegistry::builtin().expect("built-in registry");
        PROFILES
            .iter()
            .map(|&profile| LintOptions {
                profile,
                registry: registry.clone(),
                max_size: DEFAULT_MAX_SIZE,
                smime: None,
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let opts = &options()[usize::from(selector) % PROFILES.len()];
    let result = lint_bytes("fuzz", message, opts);
    // Without --key every input gets a verdict (a non-message is a finding, not a crash).
    if result.verdict == FileVerdict::Error {
        assert!(result.error.is_some());
    }
    assert!(result.profile.is_some() || result.verdict == FileVerdict::Error);
});
