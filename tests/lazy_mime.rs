//! The lazy MIME tree (`kvc_check::lazy_mime`, large base64 attachments measured, not decoded)
//! against mail-parser's own parse: over every file in `vectors/` (the corpus included) and a
//! generated large KIM message,
//! - the trees are the same part for part (headers, offsets, encoding, bodies), except that a
//!   measured attachment holds zeros of the decoded length;
//! - lint gives the same result (verdict, requirements, findings) in every profile through either
//!   tree.
//!
//! Both run with the threshold at 1 byte too, so that every eligible body of the small vectors is
//! measured and not only those above `LAZY_MIN`.

use std::path::{Path, PathBuf};

use kvc_check::lazy_mime::{LAZY_MIN, parse_lazy, with_lazy_min};
use kvc_check::lint::{DEFAULT_MAX_SIZE, LintOptions, ProfileChoice, lint_bytes};
use kvc_check::message::with_eager_mime;
use kvc_check::rules::KvcRegistry;
use mail_parser::{Message, MessageParser, MessagePart, PartType};

fn files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("vectors readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(
        files.len() > 300,
        "vectors and corpus found: {}",
        files.len()
    );
    files
}

/// A KIM client mail with a text part, an x-kas part and a base64 attachment of `size` bytes.
fn large_kim_message(size: usize) -> Vec<u8> {
    let mut raw = b"From: Praxis A <praxis.a@arzt.kim.telematik-test>\r\n\
To: Praxis B <praxis.b@arzt.kim.telematik-test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <lazy@arzt.kim.telematik-test>\r\nSubject: Befundbericht\r\n\
X-KIM-Dienstkennung: KIM-Mail;Default;V1.0\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nAnbei.\r\n--b1\r\n\
Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let line = b"JVBERi0xLjQKJeLjz9MKMSAwIG9iajw8L1R5cGUvQ2F0YWxvZy9QYWdlcyAyIDAgUj4+ZW5kb2Jq\r\n";
    while raw.len() < size {
        raw.extend_from_slice(line);
    }
    raw.extend_from_slice(b"QUJD\r\nQQ==\r\n--b1--\r\n");
    raw
}

/// Compares two trees; returns how many bodies the lazy one measured instead of decoding.
fn same_tree(path: &str, eager: &Message, lazy: &Message) -> usize {
    assert_eq!(eager.parts.len(), lazy.parts.len(), "{path}: part count");
    assert_eq!(eager.text_body, lazy.text_body, "{path}: text_body");
    assert_eq!(eager.html_body, lazy.html_body, "{path}: html_body");
    assert_eq!(eager.attachments, lazy.attachments, "{path}: attachments");
    assert_eq!(eager.raw_message, lazy.raw_message, "{path}: raw_message");
    let mut measured = 0;
    for (i, (e, l)) in eager.parts.iter().zip(&lazy.parts).enumerate() {
        same_part_frame(path, i, e, l);
        match (&e.body, &l.body) {
            (PartType::Message(em), PartType::Message(lm)) => {
                measured += same_tree(&format!("{path} part {i}"), em, lm);
            }
            (PartType::Binary(eb), PartType::Binary(lb))
            | (PartType::InlineBinary(eb), PartType::InlineBinary(lb)) => {
                assert_eq!(eb.len(), lb.len(), "{path} part {i}: decoded length");
                if eb != lb {
                    assert!(lb.iter().all(|b| *b == 0), "{path} part {i}: measured body");
                    measured += 1;
                }
            }
            (eb, lb) => assert!(eb == lb, "{path} part {i}: body differs"),
        }
    }
    measured
}

fn same_part_frame(path: &str, i: usize, e: &MessagePart, l: &MessagePart) {
    assert_eq!(e.headers, l.headers, "{path} part {i}: headers");
    assert_eq!(e.encoding, l.encoding, "{path} part {i}: encoding");
    assert_eq!(
        e.is_encoding_problem, l.is_encoding_problem,
        "{path} part {i}: encoding problem"
    );
    assert_eq!(
        (e.offset_header, e.offset_body, e.offset_end),
        (l.offset_header, l.offset_body, l.offset_end),
        "{path} part {i}: offsets"
    );
}

fn options(profile: ProfileChoice) -> LintOptions {
    LintOptions {
        profile,
        registry: KvcRegistry::builtin().expect("built-in registry"),
        max_size: DEFAULT_MAX_SIZE,
        smime: None,
    }
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut inputs: Vec<(String, Vec<u8>)> = files()
        .into_iter()
        .map(|p| {
            let raw = std::fs::read(&p).expect("readable");
            (p.display().to_string(), raw)
        })
        .collect();
    inputs.push((
        "generated 1 MiB KIM message".into(),
        large_kim_message(1 << 20),
    ));
    inputs
}

#[test]
fn lazy_tree_is_the_eager_tree_but_for_measured_bodies() {
    let parser = MessageParser::default();
    let mut measured = 0;
    for min in [1, LAZY_MIN] {
        for (path, raw) in inputs() {
            let eager = parser.parse(&raw);
            let lazy = with_lazy_min(min, || parse_lazy(&raw));
            match (&eager, &lazy) {
                (None, None) => {}
                (Some(e), Some(l)) => measured += same_tree(&path, e, l),
                _ => panic!("{path}: one parse failed, the other did not"),
            }
        }
    }
    // Not vacuous: many attachments of the vectors and the generated one were measured.
    assert!(measured > 20, "measured bodies: {measured}");
}

#[test]
fn lazy_lint_gives_the_eager_verdicts() {
    let profiles = [
        ProfileChoice::Auto,
        ProfileChoice::Kvc,
        ProfileChoice::Kim10,
        ProfileChoice::Kim15,
    ];
    let opts: Vec<LintOptions> = profiles.into_iter().map(options).collect();
    for (path, raw) in inputs() {
        for opts in &opts {
            let eager = with_eager_mime(true, || lint_bytes(&path, &raw, opts));
            let eager = serde_json::to_value(&eager).expect("serialisable");
            for min in [1, LAZY_MIN] {
                let lazy = with_lazy_min(min, || lint_bytes(&path, &raw, opts));
                let lazy = serde_json::to_value(&lazy).expect("serialisable");
                assert_eq!(
                    eager, lazy,
                    "{path}: profile {:?}, threshold {min}",
                    opts.profile
                );
            }
        }
    }
}
