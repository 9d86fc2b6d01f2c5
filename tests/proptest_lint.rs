//! Property tests: lint never panics or errors on any bytes, and header spelling/folding that
//! RFC 5322 treats as equivalent never changes a verdict.

mod common;

use kvc_check::lint::{FileVerdict, ProfileChoice, lint_bytes};
use kvc_check::report::{LintFormat, render_lint};
use kvc_check::rules::RequirementVerdict;
use proptest::prelude::*;

fn vector_bytes(name: &str) -> Vec<u8> {
    std::fs::read(common::repo_root().join("vectors/kvc").join(name)).unwrap()
}

fn verdicts(raw: &[u8]) -> Vec<(&'static str, RequirementVerdict)> {
    let opts = common::options(ProfileChoice::Kvc);
    lint_bytes("p", raw, &opts)
        .requirements
        .into_iter()
        .map(|r| (r.requirement, r.verdict))
        .collect()
}

/// Splits a message into header lines (without CRLF) and the rest.
fn split(raw: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let lines = raw[..end]
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect();
    (lines, raw[end..].to_vec())
}

fn join(lines: &[Vec<u8>], rest: &[u8]) -> Vec<u8> {
    let mut out = lines.join(&b"\r\n"[..]);
    out.extend_from_slice(rest);
    out
}

const VECTORS: &[&str] = &[
    "pass-arztbrief.eml",
    "pass-enachricht-fallback.eml",
    "fail-170-bcc.eml",
    "fail-160-no-angle-brackets.eml",
    "fail-150-birth-date.eml",
    "fail-120-wrong-case.eml",
    "fail-100-no-version.eml",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 1..4096)) {
        for profile in [ProfileChoice::Auto, ProfileChoice::Kvc, ProfileChoice::Kim15] {
            let r = lint_bytes("p", &raw, &common::options(profile));
            prop_assert_ne!(r.verdict, FileVerdict::Error);
            for f in [LintFormat::Text, LintFormat::Json, LintFormat::Sarif, LintFormat::Junit] {
                prop_assert!(render_lint(std::slice::from_ref(&r), f).is_ok());
            }
        }
    }

    #[test]
    fn header_like_text_never_panics(
        lines in proptest::collection::vec("[A-Za-z-]{0,12}:?[ \t]?[ -~]{0,40}", 0..12),
        body in "[ -~\r\n]{0,200}",
        eol in prop_oneof![Just("\r\n"), Just("\n"), Just("\r")],
    ) {
        let raw = format!("{}{eol}{eol}{body}", lines.join(eol)).into_bytes();
        let r = lint_bytes("p", &raw, &common::options(ProfileChoice::Auto));
        prop_assert_ne!(r.verdict, FileVerdict::Error);
    }

    #[test]
    fn field_name_case_never_changes_verdicts(v in 0..VECTORS.len(), flips in proptest::collection::vec(any::<bool>(), 64)) {
        let raw = vector_bytes(VECTORS[v]);
        let (mut lines, rest) = split(&raw);
        for line in &mut lines {
            let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
            for (i, b) in line[..colon].iter_mut().enumerate() {
                if flips[i % flips.len()] {
                    *b = if b.is_ascii_uppercase() { b.to_ascii_lowercase() } else { b.to_ascii_uppercase() };
                }
            }
        }
        prop_assert_eq!(verdicts(&join(&lines, &rest)), verdicts(&raw));
    }

    #[test]
    fn folding_after_the_colon_never_changes_verdicts(v in 0..VECTORS.len(), which in proptest::collection::vec(any::<bool>(), 32), tab in any::<bool>()) {
        let raw = vector_bytes(VECTORS[v]);
        let (lines, rest) = split(&raw);
        let ws: &[u8] = if tab { b"\t" } else { b" " };
        let folded: Vec<Vec<u8>> = lines.iter().enumerate().map(|(i, line)| {
            match line.windows(2).position(|w| w == b": ") {
                Some(p) if which[i % which.len()] => [&line[..=p], b"\r\n", ws, &line[p + 2..]].concat(),
                _ => line.clone(),
            }
        }).collect();
        prop_assert_eq!(verdicts(&join(&folded, &rest)), verdicts(&raw));
    }

    #[test]
    fn any_bare_lf_fails_line_endings(v in 0..VECTORS.len(), pick in any::<prop::sample::Index>()) {
        let mut raw = vector_bytes(VECTORS[v]);
        let crlfs: Vec<usize> = raw.windows(2).enumerate().filter(|(_, w)| *w == b"\r\n").map(|(i, _)| i).collect();
        let at = crlfs[pick.index(crlfs.len())];
        raw.remove(at);
        let v = verdicts(&raw);
        prop_assert!(v.contains(&("KVC-Anb023", RequirementVerdict::Fail)));
    }

    #[test]
    fn mutated_headers_never_panic(
        v in 0..VECTORS.len(),
        ops in proptest::collection::vec((0u8..5, any::<prop::sample::Index>(), proptest::collection::vec(any::<u8>(), 0..16)), 1..6),
    ) {
        let raw = vector_bytes(VECTORS[v]);
        let (mut lines, rest) = split(&raw);
        for (op, idx, bytes) in ops {
            if lines.is_empty() { break; }
            let i = idx.index(lines.len());
            match op {
                0 => { lines.remove(i); }
                1 => { let l = lines[i].clone(); lines.insert(i, l); }
                2 => { let at = idx.index(lines[i].len() + 1); lines[i].splice(at..at, bytes); }
                3 => { let keep = idx.index(lines[i].len() + 1); lines[i].truncate(keep); }
                _ => { lines.insert(i, bytes); }
            }
        }
        let r = lint_bytes("p", &join(&lines, &rest), &common::options(ProfileChoice::Auto));
        prop_assert_ne!(r.verdict, FileVerdict::Error);
    }
}
