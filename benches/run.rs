//! Per-case overhead of `kvc-check run`: one case (start the mock KV-Connect Client on fresh
//! ports, the reference PVS sends one message over SMTPS, lint it, evaluate, stop the mock) and an
//! attest-only case (no mock) as the floor; two REST cases (mock REST server + directory; the
//! reference PVS looks up certificates, signs, encrypts and posts two messages, which the suite
//! decrypts, verifies and lints; or it fetches, decrypts and verifies four served messages).
//!
//! `cargo bench -p kvc-check --bench run`; figures go into docs/PERFORMANCE.md.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kvc_check::catalogue::Catalogue;
use kvc_check::roles::kvc_pvs::world::KvcMockHost;
use kvc_check::rules::KvcRegistry;
use kvc_check::runner::answers::Answers;
use kvc_check::runner::model::{CaseResult, RunInfo, RunResult, Verdict};
use kvc_check::runner::observe::MockHost;
use kvc_check::runner::{self, RunContext, Sink};
use kvc_check::suite::{self, Case};
use kvc_check::sut::reference::ReferenceAdapter;

struct Discard;

impl Sink for Discard {
    fn case_finished(&mut self, _: &CaseResult, _: &RunResult) {}
}

fn case(id: &str) -> Case {
    let catalogue = Catalogue::embedded().expect("catalogue");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/kvc-pvs");
    suite::load_dir(&dir, catalogue)
        .expect("suite")
        .into_iter()
        .find(|c| c.id == id)
        .expect("case")
}

fn info() -> RunInfo {
    RunInfo {
        tool: "kvc-check".into(),
        version: "bench".into(),
        started: "bench".into(),
        role: "kvc-pvs".into(),
        sut: "reference".into(),
        transport: "smtp-pop3, rest".into(),
        faults: vec![],
        jobs: 1,
        timeout_s: 10.0,
        selection: vec![],
        scope: Default::default(),
        suites: "embedded".into(),
        out: String::new(),
        rerun: String::new(),
        shard: None,
        merged_from: vec![],
        strict: false,
    }
}

fn bench(c: &mut Criterion) {
    let tmp = std::env::temp_dir().join(format!("kvc-check-bench-{}", std::process::id()));
    let host = KvcMockHost::new("localhost", &tmp.join("ca.pem"), None).expect("pki");
    host.prepare_rest().expect("user pki");
    let sut = ReferenceAdapter::new(&[], host.server_name(), host.ca_pem(), host.account())
        .expect("reference");
    let ctx = Arc::new(RunContext {
        sut: Arc::new(sut),
        mocks: Arc::new(host),
        registry: Arc::new(KvcRegistry::builtin().expect("registry")),
        answers: Arc::new(Answers::default()),
        catalogue: Catalogue::embedded().expect("catalogue"),
        jobs: 1,
        timeout: Duration::from_secs(10),
        fixed_ports: Default::default(),
        idle_timeout: Duration::from_secs(10),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("run");
    for id in [
        "kvc-pvs/anb130-fallback",
        "kvc-pvs/anb030-attest",
        "kvc-pvs/anb010-rest",
        "kvc-pvs/anb022-rest",
    ] {
        let case = case(id);
        group.bench_function(id, |b| {
            b.iter(|| {
                let r = rt.block_on(runner::run(
                    vec![case.clone()],
                    ctx.clone(),
                    info(),
                    &mut Discard,
                    std::future::pending(),
                ));
                assert!(matches!(
                    r.cases[0].verdict,
                    Verdict::Pass | Verdict::Attest
                ));
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(tmp);
}

criterion_group!(benches, bench);
criterion_main!(benches);
