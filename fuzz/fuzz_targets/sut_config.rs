//! Any text as a `--sut` file (src/sut/config.rs): YAML, trigger templates, HTTP URLs.
#![no_main]

use kvc_check::sut::config::SutConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = SutConfig::parse("fuzz.yaml", text) {
        // Every error names the file.
        assert!(e.starts_with("--sut fuzz.yaml"), "{e}");
    }
});
