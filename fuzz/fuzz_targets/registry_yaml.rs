//! Any text as a `--registry` file (KV-Connect applications; subject patterns compile to
//! regexes), then every lookup the rules make on what was loaded.
#![no_main]

use kvc_check::rules::KvcRegistry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(registry) = KvcRegistry::from_yaml(text, "fuzz.yaml") else {
        return;
    };
    let _ = registry.fallback_app();
    let _ = registry.fallback();
    for app in registry.applications() {
        let _ = registry.find_app(&app.app);
        let _ = registry.find_app_ignoring_case(&app.app);
        for dk in &app.dienstkennungen {
            if let Some(rule) = &dk.subject {
                let _ = registry.subject_matches(rule, &dk.value, &dk.value);
                let _ = registry.subject_matches(rule, &dk.value, &app.title);
                let _ = rule.describe(&dk.value);
            }
        }
    }
});
