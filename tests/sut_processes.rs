//! SUT wiring of the command adapter, end to end with the real binary (issue #10):
//! - item 5: a trigger's forked children do not outlive the trigger, the case or the run;
//! - item 9: path placeholders are absolute, so the documented curl example passes with a
//!   relative `--out`;
//! - item 10: `--sut mypvs.yaml` (a bare name) starts its commands, and a command that cannot
//!   start is named with the folder it was started in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

fn kvc_check(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(cwd)
        .env("TMPDIR", cwd)
        .arg("run")
        .args(args)
        .output()
        .expect("kvc-check runs")
}

fn report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn verdicts(r: &Value) -> Vec<(String, String)> {
    r["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Details of every step of every case, joined.
fn step_details(r: &Value) -> String {
    let mut all = Vec::new();
    for c in r["cases"].as_array().expect("cases") {
        for s in c["steps"].as_array().into_iter().flatten() {
            all.push(format!(
                "{} [{}]: {}",
                c["id"].as_str().unwrap_or_default(),
                s["outcome"],
                s["detail"].as_str().unwrap_or_default()
            ));
        }
        if let Some(reason) = c["reason"].as_str() {
            all.push(format!(
                "{} reason: {reason}",
                c["id"].as_str().unwrap_or_default()
            ));
        }
    }
    all.join("\n")
}

/// Whether `pid` is a live process (a zombie runs nothing and counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn gone_soon(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The pids the trigger scripts wrote (one per line, appended).
fn pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills what a failed test left behind (on the old code the children survive).
struct Reap(PathBuf);

impl Drop for Reap {
    fn drop(&mut self) {
        for pid in pids(&self.0) {
            if alive(pid) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

/// Item 5 (a): `sleep 300 &` holds the command's stdout, yet the trigger returns as soon as
/// the command exited, successfully, and the `sleep` is gone after the run.
#[test]
fn a_backgrounded_child_does_not_hold_the_trigger_and_does_not_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("children.pid");
    let _reap = Reap(pidfile.clone());
    write(
        &dir.path().join("sut.yaml"),
        "name: forking\ntrigger:\n  command:\n    \
         send: \"sh -c 'sleep 300 & echo $! >> children.pid; echo started'\"\n    \
         fetch: \"sh -c 'sleep 300 & echo $! >> children.pid; echo started'\"\n",
    );
    let started = Instant::now();
    let o = kvc_check(
        dir.path(),
        &[
            "--sut",
            "sut.yaml",
            "--case",
            "kvc-pvs/anb010-transport",
            "--timeout",
            "6",
            "--out",
            "out",
        ],
    );
    let took = started.elapsed();
    let r = report(&dir.path().join("out"));
    let details = step_details(&r);
    let steps = r["cases"][0]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let send = steps.first().cloned().unwrap_or_default();
    assert_eq!(send["outcome"], "ok", "{details}");
    assert!(
        send["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("stdout: started"),
        "{details}"
    );
    assert!(
        send["duration_ms"].as_u64().unwrap_or(u64::MAX) < 5_000,
        "the send trigger waited for its background child: {details}"
    );
    let children = pids(&pidfile);
    assert!(
        !children.is_empty(),
        "no trigger ran: {details}\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    for pid in children {
        assert!(
            gone_soon(pid),
            "`sleep 300` ({pid}) outlived kvc-check (run took {took:?})"
        );
    }
}

/// Item 5 (b): a trigger that forks a listener and never returns is killed with its children
/// when the case times out; nothing of it is left after kvc-check exits.
#[test]
fn a_timed_out_trigger_leaves_no_listener_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("children.pid");
    let _reap = Reap(pidfile.clone());
    write(
        &dir.path().join("server.sh"),
        "#!/bin/sh\n# A SUT that starts its own server, then blocks.\n\
         python3 -m http.server 0 --bind 127.0.0.1 >/dev/null 2>&1 &\n\
         echo $! >> children.pid\necho $$ >> children.pid\nsleep 100\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("server.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
    write(
        &dir.path().join("sut.yaml"),
        "name: blocking\ntrigger:\n  command:\n    send: ./server.sh\n    fetch: ./server.sh\n",
    );
    let o = kvc_check(
        dir.path(),
        &[
            "--sut",
            "sut.yaml",
            "--case",
            "kvc-pvs/anb010-transport",
            "--timeout",
            "3",
            "--out",
            "out",
        ],
    );
    let r = report(&dir.path().join("out"));
    let details = step_details(&r);
    assert!(
        details.contains("did not return within"),
        "{details}\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let started = pids(&pidfile);
    assert_eq!(started.len(), 2, "server.sh did not start: {details}");
    for pid in started {
        assert!(
            gone_soon(pid),
            "process {pid} of the timed-out trigger outlived kvc-check"
        );
    }
}

/// Item 10: a bare `--sut` name, run from its own folder, starts `./script` there.
#[test]
fn a_bare_sut_name_runs_its_commands_in_its_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("hello.sh"),
        "#!/bin/sh\necho \"hello from $(pwd)\"\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("hello.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
    write(
        &dir.path().join("mypvs.yaml"),
        "name: bare\ntrigger:\n  command:\n    send: ./hello.sh\n    fetch: ./missing.sh\n",
    );
    let o = kvc_check(
        dir.path(),
        &[
            "--sut",
            "mypvs.yaml",
            "--case",
            "kvc-pvs/anb010-transport",
            "--case",
            "kvc-pvs/anb020-unknown-application",
            "--timeout",
            "3",
            "--out",
            "out",
        ],
    );
    let r = report(&dir.path().join("out"));
    let details = step_details(&r);
    let folder = std::fs::canonicalize(dir.path()).expect("canonical");
    assert!(
        details.contains("stdout: hello from"),
        "{details}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!details.contains("cannot start ./hello.sh"), "{details}");
    // A command that cannot start names itself and the folder.
    let shown = format!("cannot start ./missing.sh in {}", dir.path().display());
    let canonical = format!("cannot start ./missing.sh in {}", folder.display());
    assert!(
        details.contains(&shown) || details.contains(&canonical),
        "want `{shown}`: {details}"
    );
}

/// Item 9: the documented curl example with a relative `--out` (its `{ca_file}` is then
/// `rel-dir/ca.pem`, while the command runs in the example's folder).
#[test]
fn the_curl_example_passes_with_a_relative_out() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is needed for suites/examples/curl-pvs.sh; install it: apt-get install curl");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/examples");
    let sut = dir.path().join("examples");
    std::fs::create_dir(&sut).expect("mkdir");
    for f in ["curl-sut.yaml", "curl-pvs.sh"] {
        std::fs::copy(examples.join(f), sut.join(f)).expect("copy the example");
    }
    let cases = [
        "kvc-pvs/anb010-transport",
        "kvc-pvs/anb020-unknown-application",
        "kvc-pvs/anb021-wrong-name",
    ];
    let mut args = vec!["--sut", "examples/curl-sut.yaml", "--out", "rel-dir"];
    for c in cases {
        args.extend(["--case", c]);
    }
    let o = kvc_check(dir.path(), &args);
    let r = report(&dir.path().join("rel-dir"));
    let want: Vec<(String, String)> = cases
        .iter()
        .map(|c| (c.to_string(), "pass".to_string()))
        .collect();
    assert_eq!(
        verdicts(&r),
        want,
        "{}\n{}",
        step_details(&r),
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(o.status.code(), Some(0));
}
