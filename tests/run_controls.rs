//! A refusal proves nothing unless the same SUT, in the same run, accepted the good
//! counterpart. These runs drive SUTs that refuse or fail everything: a practice system whose
//! curl trusts no certificate (every TLS handshake aborts, like a correct refusal would), and
//! one whose triggers never do anything. No refusal case may pass; each ends `error` naming the
//! control that never succeeded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const CONTROL_FAILED: &str = "refusal not meaningful: the control never succeeded";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/examples")
}

fn kvc_check(sut: &Path, out: &Path, tmp: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TMPDIR", tmp)
        .args(["run", "--timeout", "4", "--format", "json", "--sut"])
        .arg(sut)
        .arg("--out")
        .arg(out)
        .output()
        .expect("kvc-check runs")
}

/// A CA nobody uses: a curl that trusts only it refuses every server of the run.
fn foreign_ca(dir: &Path) -> PathBuf {
    let key = dir.join("foreign.key");
    let ca = dir.join("foreign-ca.pem");
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Foreign Test CA",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&ca)
        .output()
        .expect("openssl runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    ca
}

/// The example SUT configuration with `{ca_file}` replaced: the system trusts `ca` only.
fn distrusting_sut(example: &str, ca: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(examples().join(example)).expect("example config");
    assert!(text.contains("{ca_file}"), "{example} passes the CA file");
    let text = text
        .replace("{ca_file}", &ca.display().to_string())
        .replace("./curl", &format!("{}/curl", examples().display()));
    let path = dir.join(example);
    std::fs::write(&path, text).expect("config written");
    path
}

fn cases(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["cases"].as_array().expect("cases").clone()
}

/// Every case with a refusal check (one judged next to a control) is not `pass`; the TLS
/// refusals, which would have passed on their own, say why they are `error`.
fn assert_no_refusal_passes(out: &Path, handshakes_aborted: bool) -> usize {
    let mut refusals = 0;
    for c in cases(out) {
        let checks = c["checks"].as_array().expect("checks");
        let judged: Vec<&Value> = checks
            .iter()
            .filter(|k| k.get("control").is_some())
            .collect();
        let stored = checks.iter().any(|k| k["expectation"] == "stored");
        if judged.is_empty() && !stored {
            continue;
        }
        refusals += 1;
        assert_ne!(c["verdict"], "pass", "{} passed: {c:#}", c["id"]);
        for k in judged {
            assert_ne!(k["verdict"], "pass", "{}: {k:#}", c["id"]);
            // Every handshake was aborted, exactly as a correct refusal looks: only the missing
            // control keeps these from passing.
            if handshakes_aborted
                && k["expectation"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("tls_refused")
            {
                assert_eq!(k["verdict"], "error", "{}: {k:#}", c["id"]);
                assert!(
                    k["observed"]
                        .as_str()
                        .unwrap_or("")
                        .contains(CONTROL_FAILED),
                    "{}: {k:#}",
                    c["id"]
                );
            }
        }
    }
    refusals
}

#[test]
fn a_sut_that_trusts_no_certificate_passes_no_refusal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = foreign_ca(dir.path());
    let smtp = distrusting_sut("curl-sut.yaml", &ca, dir.path());
    let out = dir.path().join("smtp");
    let o = kvc_check(&smtp, &out, dir.path());
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let n = assert_no_refusal_passes(&out, true);
    assert!(n >= 3, "the SMTP/POP3 refusal cases ran ({n})");
    // The KVC-Anb021 cases saw a perfect refusal, and say why that is not enough.
    let all = cases(&out);
    let expired = all
        .iter()
        .find(|c| c["id"] == "kvc-pvs/anb021-expired")
        .expect("anb021-expired ran");
    assert_eq!(expired["verdict"], "error", "{expired:#}");
    let observed = expired["checks"][0]["observed"]
        .as_str()
        .unwrap_or_default();
    assert!(observed.contains(CONTROL_FAILED), "{observed}");
    assert!(observed.contains("kvc-pvs/anb010-transport"), "{observed}");

    let rest = distrusting_sut("curl-rest-sut.yaml", &ca, dir.path());
    let out = dir.path().join("rest");
    let o = kvc_check(&rest, &out, dir.path());
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let n = assert_no_refusal_passes(&out, true);
    assert!(n >= 8, "the REST refusal cases ran ({n})");
}

#[test]
fn a_sut_that_does_nothing_passes_no_refusal() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (transport, name) in [("smtp-pop3", "idle"), ("rest", "idle-rest")] {
        let sut = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &sut,
            format!(
                "name: idle\ntransport: {transport}\ntrigger:\n  command:\n    send: \"true\"\n    fetch: \"true\"\n    stored: \"echo []\"\n"
            ),
        )
        .expect("config");
        let out = dir.path().join(name);
        let o = kvc_check(&sut, &out, dir.path());
        assert_ne!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(assert_no_refusal_passes(&out, false) >= 3);
    }
}
