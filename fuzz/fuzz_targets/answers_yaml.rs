//! Any text as an `--answers` file (kvc_check::runner::answers::Answers::parse).
#![no_main]

use kvc_check::catalogue::Catalogue;
use kvc_check::runner::answers::Answers;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(catalogue) = Catalogue::embedded() else {
        return;
    };
    let _ = Answers::parse("fuzz.yaml", text, catalogue);
});
