//! The whole default `kvc-check run --role kim-cm` (every case against the in-process reference
//! Clientmodul) and, in the same run as its baseline, a one-case run
//! (`--case kim-cm/komle-a2007-greeting-esmtp`). Both are the release binary as a process, as a
//! user starts it: staging (TLS and card PKI), every case's world (Konnektor, VZD, Fachdienst
//! MTA and mailbox, KAS, DNS) and reference Clientmodul, the probes, the reports. Per-case
//! overhead = (whole − single) / (cases − 1), printed at the end from criterion's medians.
//!
//! `cargo bench --bench kim_cm_run`; figures go into docs/PERFORMANCE.md ("kim-cm run").

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use serde_json::Value;

const SINGLE: &str = "kim-cm/komle-a2007-greeting-esmtp";

/// One `kvc-check run --role kim-cm <extra> --out <out> --force`; returns the report's case
/// count. Panics unless the run completed (a run that stopped early would be measured short).
fn run(out: &Path, extra: &[&str]) -> usize {
    let o = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--role", "kim-cm"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg("--force")
        .output()
        .expect("kvc-check runs");
    let text = std::fs::read_to_string(out.join("report.json")).unwrap_or_else(|e| {
        panic!(
            "no report.json ({e}); exit {:?}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let r: Value = serde_json::from_str(&text).expect("report.json");
    assert_eq!(
        r["complete"],
        true,
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    if o.status.code() != Some(0) {
        eprintln!(
            "note: kvc-check run --role kim-cm {} exited {:?}: {}",
            extra.join(" "),
            o.status.code(),
            r["case_counts"]
        );
    }
    r["cases"].as_array().map_or(0, Vec::len)
}

/// criterion's median of a benchmark of group `kim_cm_run`, in seconds.
fn median(id: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let file = target
        .join("criterion/kim_cm_run")
        .join(id)
        .join("new/estimates.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64().map(|ns| ns / 1e9)
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let whole_out = tmp.path().join("whole");
    let single_out = tmp.path().join("single");
    let cases = run(&whole_out, &[]);
    assert!(cases > 1, "the kim-cm suite has {cases} case(s)");

    let mut group = c.benchmark_group("kim_cm_run");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("single-case", |b| {
        b.iter(|| assert_eq!(run(&single_out, &["--case", SINGLE]), 1))
    });
    group.bench_function("whole-role", |b| {
        b.iter(|| assert_eq!(run(&whole_out, &[]), cases))
    });
    group.finish();

    if let (Some(single), Some(whole)) = (median("single-case"), median("whole-role")) {
        println!(
            "kim-cm run: {cases} cases; median whole {whole:.2} s, single case {single:.2} s, \
             per-case overhead (whole - single) / (cases - 1) = {:.0} ms",
            (whole - single) / (cases as f64 - 1.0) * 1000.0
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
