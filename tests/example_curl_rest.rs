//! The worked REST example: `suites/examples/curl-rest-pvs.sh`, a vendor system written with
//! nothing but `curl` and `openssl cms`, driven through the command adapter
//! (`suites/examples/curl-rest-sut.yaml`). It shows that the REST mock and the REST cases work
//! with a client that owes nothing to this code base.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn kvc_check(args: &[&str], out: &Path, tmp: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // The example keeps its message store under $TMPDIR; keep it inside the test's dir.
        .env("TMPDIR", tmp)
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("kvc-check runs")
}

fn report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn verdicts<'a>(report: &'a Value, of: &str) -> Vec<(&'a str, &'a str)> {
    report[of]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id"),
                c["verdict"].as_str().expect("verdict"),
            )
        })
        .collect()
}

fn require(tool: &str, version_arg: &str, package: &str) {
    if Command::new(tool).arg(version_arg).output().is_err() {
        panic!(
            "{tool} is needed for the REST command-adapter example (suites/examples/curl-rest-pvs.sh); install it: apt-get install {package}"
        );
    }
}

const CASES: &[&str] = &[
    "kvc-pvs/anb010-rest",
    "kvc-pvs/anb010-rest-delete-after-fetch",
    "kvc-pvs/anb010-rest-delete-refused",
    "kvc-pvs/anb010-rest-missing-certificate",
    "kvc-pvs/anb010-rest-send-refused",
    "kvc-pvs/anb010-rest-undecryptable",
    "kvc-pvs/anb020-rest-unknown-application",
    "kvc-pvs/anb021-rest-untrusted-ca",
    "kvc-pvs/anb022-rest",
    "kvc-pvs/anb080-rest",
    "kvc-pvs/anb130-fallback",
    "kvc-pvs/anb170-no-bcc",
];

#[test]
fn curl_and_openssl_pass_the_rest_cases() {
    require("curl", "--version", "curl");
    require("openssl", "version", "openssl");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir tmp");
    let mut args = vec!["--sut", "suites/examples/curl-rest-sut.yaml"];
    for case in CASES {
        args.extend(["--case", case]);
    }
    let o = kvc_check(&args, &out, &tmp);
    let r = report(&out);
    let mut got = verdicts(&r, "cases");
    got.sort_unstable();
    let want: Vec<(&str, &str)> = CASES.iter().map(|c| (*c, "pass")).collect();
    assert_eq!(
        got,
        want,
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(
        r["run"]["sut"]
            .as_str()
            .unwrap_or_default()
            .contains("curl-rest-pvs"),
        "run.sut: {}",
        r["run"]["sut"]
    );
}
