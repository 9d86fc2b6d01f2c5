//! Lint throughput against the baseline of a bare `mail-parser` parse of the same bytes.
//!
//! `cargo bench --bench lint`; figures go into docs/PERFORMANCE.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kvc_check::lint::{DEFAULT_MAX_SIZE, LintOptions, ProfileChoice, lint_bytes};
use kvc_check::rules::KvcRegistry;
use mail_parser::MessageParser;

/// A KV-Connect message of about `size` bytes: text part plus a base64 attachment, CRLF only.
pub fn generated_message(size: usize) -> Vec<u8> {
    let mut raw = b"From: praxis@kv-safenet.de\r\nTo: empfang@kv-safenet.de\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <bench@pvs.example.de>\r\nSubject: Arztbrief\r\nX-KVC-Sendersystem: IT-Doktor;V1.2\r\n\
X-KVC-Dienstkennung: Arztbrief;VHitG-Versand;V1.0\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnbei.\r\n\
--b1\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let line = b"JVBERi0xLjQKJeLjz9MKMSAwIG9iajw8L1R5cGUvQ2F0YWxvZy9QYWdlcyAyIDAgUj4+ZW5kb2Jq\r\n";
    while raw.len() < size {
        raw.extend_from_slice(line);
    }
    raw.extend_from_slice(b"--b1--\r\n");
    raw
}

fn corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/third-party/corpus");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "eml" || e == "txt") {
                files.push(path);
            }
        }
    }
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn options(profile: ProfileChoice) -> LintOptions {
    LintOptions {
        profile,
        registry: KvcRegistry::builtin().expect("built-in registry"),
        max_size: DEFAULT_MAX_SIZE,
        smime: None,
    }
}

fn bench(c: &mut Criterion) {
    let big = generated_message(25 * 1024 * 1024);
    let mut group = c.benchmark_group("25MB");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("mail-parser parse (baseline)", |b| {
        b.iter(|| black_box(MessageParser::default().parse(black_box(&big)).is_some()))
    });
    for (name, profile) in [
        ("lint kvc", ProfileChoice::Kvc),
        ("lint auto", ProfileChoice::Auto),
        ("lint kim-1.5", ProfileChoice::Kim15),
    ] {
        let opts = options(profile);
        group.bench_function(name, |b| {
            b.iter(|| black_box(lint_bytes("big", black_box(&big), &opts).verdict))
        });
    }
    group.finish();

    let files = corpus();
    let total: usize = files.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("corpus");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("mail-parser parse (baseline)", |b| {
        b.iter(|| {
            files
                .iter()
                .filter(|f| {
                    MessageParser::default()
                        .parse(black_box(f.as_slice()))
                        .is_some()
                })
                .count()
        })
    });
    for (name, profile) in [
        ("lint kvc", ProfileChoice::Kvc),
        ("lint auto", ProfileChoice::Auto),
        ("lint kim-1.5", ProfileChoice::Kim15),
    ] {
        let opts = options(profile);
        group.bench_function(name, |b| {
            b.iter(|| {
                files
                    .iter()
                    .map(|f| lint_bytes("c", black_box(f), &opts).findings.len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
