//! Any bytes through the message model, every profile's rules and every report format.
#![no_main]

use kvc_check::lint::{DEFAULT_MAX_SIZE, FileVerdict, LintOptions, ProfileChoice, lint_bytes};
use kvc_check::report::{LintFormat, render_lint};
use kvc_check::rules::KvcRegistry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(registry) = KvcRegistry::builtin() else {
        return;
    };
    for profile in [
        ProfileChoice::Auto,
        ProfileChoice::Kvc,
        ProfileChoice::Kim10,
        ProfileChoice::Kim15,
    ] {
        let opts = LintOptions {
            profile,
            registry: registry.clone(),
            max_size: DEFAULT_MAX_SIZE,
            smime: None,
        };
        let result = lint_bytes("fuzz", data, &opts);
        assert_ne!(result.verdict, FileVerdict::Error);
        for format in [
            LintFormat::Text,
            LintFormat::Json,
            LintFormat::Sarif,
            LintFormat::Junit,
        ] {
            assert!(render_lint(std::slice::from_ref(&result), format).is_ok());
        }
    }
});
