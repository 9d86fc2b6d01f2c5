//! Property tests for the KIM rules: arbitrary bytes and mutated KIM vectors never make lint
//! panic or return `error` under kim-1.0 or kim-1.5, and the spelling (case) of a field name never
//! changes a verdict.

mod common;

use kvc_check::lint::{FileVerdict, ProfileChoice, lint_bytes};
use kvc_check::report::{LintFormat, render_lint};
use kvc_check::rules::RequirementVerdict;
use proptest::prelude::*;

const PROFILES: [ProfileChoice; 2] = [ProfileChoice::Kim10, ProfileChoice::Kim15];

/// Vectors that reach every rule family (outer header, x-kas, delivered, error mails, DSN).
const VECTORS: &[&str] = &[
    "client-mail-pass.eml",
    "komle-1.5-pass.eml",
    "kas-body-pass.eml",
    "kas-in-multipart.eml",
    "delivered-repeated-results-pass.eml",
    "a19369-pass.eml",
    "a19372-pass.eml",
    "a23165-dsn-pass.eml",
    "a22412-pass.eml",
];

/// KIM header names the rules read.
const KIM_FIELDS: &[&str] = &[
    "X-KIM-Dienstkennung",
    "X-KIM-Sendersystem",
    "X-KIM-CMVersion",
    "X-KIM-PTVersion",
    "X-KIM-KONVersion",
    "X-KOM-LE-Version",
    "X-KIM-DecryptionResult",
    "X-KIM-IntegrityCheckResult",
    "X-KIM-Fehlermeldung",
    "Content-Type",
    "Content-Disposition",
    "Subject",
    "Date",
    "Expires",
    "Message-ID",
];

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(common::repo_root().join("vectors/kim").join(name))
        .unwrap_or_else(|e| panic!("vectors/kim/{name}: {e}"))
}

fn lint_ok(raw: &[u8]) -> Result<(), TestCaseError> {
    for profile in PROFILES {
        let r = lint_bytes("p", raw, &common::options(profile));
        prop_assert_ne!(r.verdict, FileVerdict::Error);
        for f in [
            LintFormat::Text,
            LintFormat::Json,
            LintFormat::Sarif,
            LintFormat::Junit,
        ] {
            prop_assert!(render_lint(std::slice::from_ref(&r), f).is_ok());
        }
    }
    Ok(())
}

fn verdicts(raw: &[u8], profile: ProfileChoice) -> Vec<(&'static str, RequirementVerdict)> {
    lint_bytes("p", raw, &common::options(profile))
        .requirements
        .into_iter()
        .map(|r| (r.requirement, r.verdict))
        .collect()
}

/// Replaces the value of the first field `name` (case-insensitive) with `value`, or appends the
/// field to the header when absent.
fn set_field(raw: &[u8], name: &str, value: &[u8]) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let (head, rest) = raw.split_at(end);
    let mut lines: Vec<Vec<u8>> = head.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut field = name.as_bytes().to_vec();
    field.extend_from_slice(b": ");
    field.extend_from_slice(value);
    field.push(b'\r');
    match lines
        .iter()
        .position(|l| l.to_ascii_lowercase().starts_with(prefix.as_bytes()))
    {
        Some(i) => lines[i] = field,
        None => lines.insert(0, field),
    }
    let mut out = lines.join(&b"\n"[..]);
    out.extend_from_slice(rest);
    out
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Plausible-looking values built from the characters the formats use.
        "[A-Za-z0-9 ;<>._:=/@\"{}X-]{0,60}".prop_map(String::into_bytes),
        // Unicode, encoded-words, folding.
        "(=\\?utf-8\\?[bq]\\?[A-Za-z0-9=+/]{0,20}\\?=|[äöüß€ ]|\r\n |\t){0,8}"
            .prop_map(String::into_bytes),
        // Raw bytes.
        proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 1..4096)) {
        lint_ok(&raw)?;
    }

    #[test]
    fn header_like_bytes_never_panic(
        lines in proptest::collection::vec(
            (proptest::sample::select(KIM_FIELDS), header_value()), 1..12),
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut raw = Vec::new();
        for (name, value) in lines {
            raw.extend_from_slice(name.as_bytes());
            raw.extend_from_slice(b": ");
            raw.extend_from_slice(&value);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(&body);
        lint_ok(&raw)?;
    }

    #[test]
    fn mutated_kim_vectors_never_panic(
        vector_name in proptest::sample::select(VECTORS),
        field in proptest::sample::select(KIM_FIELDS),
        value in header_value(),
        cut in any::<prop::sample::Index>(),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let raw = vector(vector_name);
        let mutated = set_field(&raw, field, &value);
        lint_ok(&mutated)?;
        // Truncated anywhere, and with noise spliced in.
        let at = cut.index(mutated.len().max(1)).min(mutated.len());
        lint_ok(&mutated[..at])?;
        let mut spliced = mutated[..at].to_vec();
        spliced.extend_from_slice(&noise);
        spliced.extend_from_slice(&mutated[at..]);
        lint_ok(&spliced)?;
    }

    #[test]
    fn field_name_case_never_changes_a_verdict(
        vector_name in proptest::sample::select(VECTORS),
        flips in proptest::collection::vec(any::<bool>(), 32),
    ) {
        let raw = vector(vector_name);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let mut changed = text.clone();
        for (i, name) in KIM_FIELDS.iter().enumerate() {
            let spelled: String = name
                .chars()
                .enumerate()
                .map(|(j, c)| if flips[(i + j) % flips.len()] { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            changed = changed.replace(&format!("\r\n{name}:"), &format!("\r\n{spelled}:"));
        }
        for profile in PROFILES {
            prop_assert_eq!(verdicts(text.as_bytes(), profile), verdicts(changed.as_bytes(), profile));
        }
    }
}
