//! Inputs the fuzz campaign (docs/RELIABILITY.md) found crashing, kept as regression tests.
//! They run in the test profile, i.e. with debug assertions, where the crashes showed.

use kvc_check::lint::{DEFAULT_MAX_SIZE, FileVerdict, LintOptions, ProfileChoice, lint_bytes};
use kvc_check::message::Message;
use kvc_check::rules::KvcRegistry;
use rstest::rstest;

/// A multipart whose first part is a message/rfc822 holding another message/rfc822 with an
/// unterminated header block: mail-parser 0.11.9 reaches `debug_assert!(false, "Invalid part
/// ID, could not find multipart.")` (parsers/message.rs:485), so every dev/test build of
/// kvc-check panicked linting it under a KIM profile. Fixed by turning mail-parser's debug
/// assertions off in the dev profile (Cargo.toml), which makes it behave as in release.
const MULTIPART_RFC822: &[u8] =
    include_bytes!("data/fuzz/mail-parser-multipart-rfc822-debug-assert.eml");

#[rstest]
#[case::kvc(ProfileChoice::Kvc)]
#[case::kim10(ProfileChoice::Kim10)]
#[case::kim15(ProfileChoice::Kim15)]
#[case::auto(ProfileChoice::Auto)]
fn nested_rfc822_without_header_end_is_linted(#[case] profile: ProfileChoice) {
    let opts = LintOptions {
        profile,
        registry: KvcRegistry::builtin().expect("built-in registry"),
        max_size: DEFAULT_MAX_SIZE,
        smime: None,
    };
    let result = lint_bytes("fuzz.eml", MULTIPART_RFC822, &opts);
    // Bare LF line ends and missing fields: a finding, never an input error or a panic.
    assert_eq!(result.verdict, FileVerdict::Fail, "{:?}", result.findings);
}

#[test]
fn nested_rfc822_without_header_end_has_a_mime_tree() {
    let msg = Message::new(MULTIPART_RFC822);
    let parsed = msg.parsed().expect("mail-parser parses it");
    assert!(parsed.parts.len() >= 2, "{} parts", parsed.parts.len());
}
