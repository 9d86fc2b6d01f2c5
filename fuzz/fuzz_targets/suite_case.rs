//! Any text as a suite case file (kvc_check::suite::load_case) against the embedded catalogue.
#![no_main]

use std::path::Path;

use kvc_check::catalogue::Catalogue;
use kvc_check::suite::load_case;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(catalogue) = Catalogue::embedded() else {
        return;
    };
    if let Err(e) = load_case(Path::new("kvc-pvs/fuzz.yaml"), text, catalogue) {
        // Errors read `path:line: ...` or `path: ...`.
        assert!(e.starts_with("kvc-pvs/fuzz.yaml"), "{e}");
    }
});
