//! `kvc-check run --role kim-cm`: the suite as the client system of a KIM Clientmodul. Against
//! the in-process reference every case passes with the Konnektor calls as evidence and no
//! Fachdienst password anywhere; the reference started as a process of its own (`kvc-check
//! mocks serve kim-cm`) and given by a `--sut` config passes the same way, and fails
//! A_23169 with that fault; hostile Clientmoduls (`tests/fixtures/hostile_cm.py`: silent,
//! stalling inside DATA and RETR, answering garbage, or accepting everything and calling no
//! Konnektor) end within the timeout and never get a `pass` for what they did not do; and
//! `run` without `--role` runs every role.
//!
//! Peers: python3 (standard library only) and openssl (the hostile Clientmodul's certificate).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kvc_check::catalogue::Catalogue;
use kvc_check::suite::{self, Case};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kvc-check");
/// A run that takes longer than this is a hang: killed, and the test fails.
const OUTER_TIMEOUT: Duration = Duration::from_secs(120);
/// The two practices of the kim-cm world.
const ME: &str = "praxis.rosenstrauch@kim.telematik-test";
const PEER: &str = "praxis.musterfrau@kim.telematik-test";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The kim-cm cases of the suite in this tree.
fn kim_cm_cases() -> Vec<Case> {
    let catalogue = Catalogue::embedded().expect("catalogue");
    suite::load_dir(&repo().join("suites/kim-cm"), catalogue).expect("suites/kim-cm loads")
}

/// How a bounded process ended.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Finished {
    fn shown(&self) -> String {
        format!(
            "exit {:?} after {:.1} s\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.took.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

fn drain(mut r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// `kvc-check <args>` in `dir`; killed (and the test failed) when it outlives
/// [`OUTER_TIMEOUT`], or when something it started keeps its output open afterwards.
fn kvc_check_in(dir: &Path, args: &[&str]) -> Finished {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kvc-check starts");
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for kvc-check") {
            break s;
        }
        if started.elapsed() > OUTER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
            panic!(
                "kvc-check {} did not end within {OUTER_TIMEOUT:?} (killed); stdout so far:\n{stdout}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    let collect = |rx: mpsc::Receiver<String>, what: &str| {
        rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| {
            panic!(
                "kvc-check {} ended, but its {what} stayed open (a process it started holds it)",
                args.join(" ")
            )
        })
    };
    Finished {
        code: status.code(),
        stdout: collect(out, "stdout"),
        stderr: collect(err, "stderr"),
        took,
    }
}

fn report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("report.json"))
        .unwrap_or_else(|e| panic!("{}/report.json: {e}", out.display()));
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn cases(r: &Value) -> &Vec<Value> {
    r["cases"].as_array().expect("cases")
}

fn case<'a>(r: &'a Value, id: &str) -> &'a Value {
    cases(r)
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("case {id} not in the report"))
}

/// Case ID → verdict.
fn verdicts(r: &Value) -> BTreeMap<String, String> {
    cases(r)
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Whether a case of the report only asks a human (every check `attest`): such a case stays
/// `attest` against any Clientmodul, never `pass`.
fn attest_only(c: &Value) -> bool {
    c["checks"]
        .as_array()
        .is_some_and(|k| !k.is_empty() && k.iter().all(|k| k["verdict"] == "attest"))
}

/// The cases that neither pass nor only ask a human: ID → `verdict: reason`.
fn not_passed(r: &Value) -> BTreeMap<String, String> {
    cases(r)
        .iter()
        .filter(|c| c["verdict"] != "pass" && !(c["verdict"] == "attest" && attest_only(c)))
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{}: {}",
                    c["verdict"].as_str().unwrap_or_default(),
                    c["reason"].as_str().unwrap_or_default()
                ),
            )
        })
        .collect()
}

/// Free ports for the fixed ports of a `--sut` config, none given twice in this process. They
/// lie below the kernel's ephemeral range: a port from there (what binding port 0 hands out)
/// can be taken by any outgoing connection or port-0 bind of a parallel test before the run
/// binds it again for each case.
fn free_ports(n: usize) -> Vec<u16> {
    static NEXT: Mutex<u16> = Mutex::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (12000u16, ephemeral_low.min(32768));
    assert!(
        high > low + 1000,
        "ephemeral ports start at {ephemeral_low}"
    );
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    if *next == 0 {
        *next = low + (std::process::id() % u32::from(high - low - 1000)) as u16;
    }
    let mut ports = Vec::new();
    let mut tried = 0;
    while ports.len() < n {
        let p = *next;
        *next = if p + 1 >= high { low } else { p + 1 };
        tried += 1;
        assert!(tried < 5000, "no free port between {low} and {high}");
        let tcp = TcpListener::bind(("127.0.0.1", p));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", p));
        if tcp.is_ok() && udp.is_ok() {
            ports.push(p);
        }
    }
    ports
}

/// Kills the processes whose pids the `configure` commands wrote, also when an assertion fails.
struct KillOnDrop(Vec<PathBuf>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for file in &self.0 {
            if let Some(pid) = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
                .filter(|p| *p > 1)
            {
                let _ = Command::new("kill")
                    .arg("-9")
                    .arg(pid.to_string())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// A Fachdienst password of the world (`Kim-` and a UUID without dashes).
fn password_pattern() -> regex::Regex {
    let p = regex::Regex::new(r"Kim-[0-9a-fA-F]{32}").expect("regex");
    assert!(p.is_match(&format!("x Kim-{} y", "0a".repeat(16))));
    p
}

/// Every file under `dir` whose text holds a password.
fn files_with_password(dir: &Path, p: &regex::Regex) -> Vec<String> {
    let mut hits = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && let Some(m) = p.find(&String::from_utf8_lossy(&bytes))
            {
                hits.push(format!("{}: {}", path.display(), m.as_str()));
            }
        }
    }
    hits
}

#[test]
fn reference_clientmodul_passes_every_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let run = kvc_check_in(
        repo(),
        &[
            "run",
            "--role",
            "kim-cm",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.shown());
    let r = report(&out);
    assert_eq!(r["complete"], true);
    assert_eq!(r["run"]["role"], "kim-cm");

    // Every case of the suite ran and passed.
    let suite = kim_cm_cases();
    let want: BTreeSet<&str> = suite.iter().map(|c| c.id.as_str()).collect();
    let v = verdicts(&r);
    let got: BTreeSet<&str> = v.keys().map(String::as_str).collect();
    assert_eq!(got, want, "the report's cases are not the suite's");
    let open = not_passed(&r);
    assert!(open.is_empty(), "against the reference: {open:#?}");

    // A Konnektor fault a case selects is on every call it changed, in the report.
    let scripted = cases(&r)
        .iter()
        .find(|c| c["id"] == "kim-cm/a23165-konnektor-4115")
        .expect("the 4115 case");
    let verify_calls: Vec<&Value> = scripted["sessions"]["http"]["requests"]
        .as_array()
        .expect("http requests")
        .iter()
        .filter(|q| q["subject"] == "VerifyDocument")
        .collect();
    assert!(
        !verify_calls.is_empty(),
        "no VerifyDocument call in the report"
    );
    for q in verify_calls {
        let faults = q["call"]["faults"].as_array().expect("the call's faults");
        assert!(faults.iter().any(|f| f == "verify-document-4115"), "{q}");
        assert_eq!(q["call"]["context"]["mandant_id"], "Mandant-KVC", "{q}");
    }

    // Every requirement of those cases has its verdict: pass, or attest where a case of it
    // asks a human.
    let reqs: BTreeMap<&str, &str> = r["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .map(|q| {
            (
                q["id"].as_str().unwrap_or_default(),
                q["verdict"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for c in &suite {
        let asks = v.get(&c.id).is_some_and(|x| x == "attest");
        for q in &c.requirements {
            let got = reqs.get(q.as_str()).copied();
            assert!(
                got == Some("pass") || (asks && got == Some("attest")),
                "requirement {q} of {}: {got:?}",
                c.id
            );
        }
    }

    // KOM-LE-A_2190: the Konnektor calls are the evidence. The check names the recipient-emails
    // attribute the SignDocument call carried; the HTTP record has the call itself; the
    // message that reached the MTA, opened by the suite, carries the same addresses signed.
    let sign = case(&r, "kim-cm/komle-a2190-sign-recipient-emails");
    let check = sign["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["expectation"] == "konnektor_calls SignDocument")
        .expect("the konnektor_calls check");
    assert_eq!(check["verdict"], "pass", "{check}");
    let observed = check["observed"].as_str().expect("observed");
    assert!(
        observed.contains("recipient-emails") && observed.contains(ME) && observed.contains(PEER),
        "{observed}"
    );
    let konnektor: Vec<&Value> = sign["sessions"]["http"]["requests"]
        .as_array()
        .expect("http requests")
        .iter()
        .filter(|q| q["resource"] == "konnektor")
        .collect();
    let subjects: Vec<&str> = konnektor
        .iter()
        .filter_map(|q| q["subject"].as_str())
        .collect();
    for op in ["connector.sds", "SignDocument", "EncryptDocument"] {
        assert!(subjects.contains(&op), "no {op} call in {subjects:?}");
    }
    let sign_call = konnektor
        .iter()
        .find(|q| q["subject"] == "SignDocument")
        .expect("SignDocument");
    assert_eq!(sign_call["method"], "POST");
    assert_eq!(sign_call["status"], 200);
    assert!(
        sign_call["target"]
            .as_str()
            .is_some_and(|t| t.contains("SignatureService")),
        "{sign_call}"
    );
    let signed: Vec<&str> = sign["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| {
            m["lint"]["smime"]["signed_recipient_emails"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
        })
        .collect();
    for who in [ME, PEER] {
        assert!(
            signed.iter().any(|s| s.starts_with(who)),
            "{who} not in the signed recipient-emails {signed:?}"
        );
    }
    // The VZD was asked for both.
    let filters: Vec<&str> = sign["sessions"]["ldap"]["sessions"]
        .as_array()
        .expect("ldap sessions")
        .iter()
        .flat_map(|s| s["searches"].as_array().into_iter().flatten())
        .filter_map(|s| s["filter"].as_str())
        .collect();
    for who in [ME, PEER] {
        assert!(
            filters.iter().any(|f| f.contains(who)),
            "no VZD search for {who}: {filters:?}"
        );
    }

    // No Fachdienst password in any file of the run, nor on the console.
    let p = password_pattern();
    for f in ["report.json", "junit.xml", "report.html"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let hits = files_with_password(&out, &p);
    assert!(hits.is_empty(), "a password in the reports: {hits:?}");
    assert!(!p.is_match(&run.stdout), "a password on stdout");
    assert!(!p.is_match(&run.stderr), "a password on stderr");
}

/// The reference Clientmodul as its own process (`mocks serve kim-cm`, with `faults`), given
/// by a `--sut` config on free ports; killed when the run is over. Returns the run and its
/// report folder, after checking the kim-ti.json the run wrote for the Clientmodul.
fn run_vendor(dir: &Path, name: &str, faults: &[&str], select: &[&str]) -> (Finished, PathBuf) {
    let p = free_ports(8);
    let (smtp, pop3, konnektor, vzd, mta, mailbox) = (p[0], p[1], p[2], p[3], p[4], p[5]);
    let (dns, kas) = (p[6], p[7]);
    let work = dir.join(name);
    std::fs::create_dir_all(&work).expect("mkdir");
    let fault_args: String = faults.iter().map(|f| format!(" --fault {f}")).collect();
    let config = format!(
        r#"name: "reference Clientmodul as a process"
clientmodul:
  smtp: 127.0.0.1:{smtp}
  pop3: 127.0.0.1:{pop3}
  ca_file: cm-ca.pem
  konnektor_port: {konnektor}
  vzd_port: {vzd}
  mta_port: {mta}
  mailbox_port: {mailbox}
  dns_port: {dns}
  kas_port: {kas}
  configure: "rm -f cm-ca.pem; {BIN} mocks serve kim-cm --kim-ti {{kim_ti}} --smtp-port {smtp} --pop3-port {pop3} --ca-out cm-ca.pem{fault_args} > cm.log 2>&1 & echo $! > cm.pid; sleep 0.5"
"#
    );
    std::fs::write(work.join("sut.yaml"), config).expect("write sut.yaml");
    let out = work.join("out");
    let _kill = KillOnDrop(vec![work.join("cm.pid")]);
    let mut args = vec!["run", "--role", "kim-cm", "--sut", "sut.yaml"];
    for c in select {
        args.extend(["--case", c]);
    }
    args.extend(["--out", "out"]);
    let run = kvc_check_in(&work, &args);
    let kim_ti = std::fs::read_to_string(out.join("kim-ti.json"))
        .unwrap_or_else(|e| panic!("kim-ti.json in --out: {e}\n{}", run.shown()));
    let kim_ti: Value = serde_json::from_str(&kim_ti).expect("kim-ti.json is JSON");
    let sds = kim_ti["konnektor"]["sds_url"].as_str().expect("sds_url");
    assert_eq!(sds, format!("https://localhost:{konnektor}/connector.sds"));
    assert!(
        kim_ti["vzd"]["ldap_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!(":{vzd}"))),
        "{kim_ti}"
    );
    (run, out)
}

/// The cases that run within the run's `--timeout`. The large-mail (KAS) cases set 60 s or
/// more of their own: a stalling Clientmodul would hold each that long.
fn timely_cases() -> Vec<String> {
    kim_cm_cases()
        .into_iter()
        .filter(|c| c.timeout.is_none())
        .map(|c| c.id)
        .collect()
}

#[test]
fn vendor_clientmodul_through_sut_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let timely = timely_cases();
    let select: Vec<&str> = timely.iter().map(String::as_str).collect();

    // One large-mail case too: the Clientmodul finds the case's KAS through the DNS-SD server
    // kim-ti.json names (fixed dns_port and kas_port).
    let mut with_kas = select.clone();
    with_kas.push("kim-cm/a19357-large-mail-to-kas");
    let (run, out) = run_vendor(dir.path(), "conforming", &[], &with_kas);
    assert_eq!(run.code, Some(0), "{}", run.shown());
    let r = report(&out);
    let v = verdicts(&r);
    assert_eq!(v.len(), with_kas.len(), "{v:?}");
    assert_eq!(v["kim-cm/a19357-large-mail-to-kas"], "pass");
    let open = not_passed(&r);
    assert!(open.is_empty(), "{open:#?}");
    assert!(
        r["run"]["sut"]
            .as_str()
            .is_some_and(|s| s.contains("reference Clientmodul as a process")),
        "{}",
        r["run"]
    );

    // With A_23169 broken, its case fails and no other.
    let (run, out) = run_vendor(dir.path(), "a23169", &["A_23169"], &select);
    assert_eq!(run.code, Some(1), "{}", run.shown());
    let r = report(&out);
    let v = verdicts(&r);
    assert_eq!(v.len(), select.len(), "{v:?}");
    let failed = not_passed(&r);
    assert_eq!(
        failed.keys().collect::<Vec<_>>(),
        ["kim-cm/a23169-from-is-mail-from"],
        "{failed:#?}"
    );
    assert_eq!(v["kim-cm/a23169-from-is-mail-from"], "fail");
    let c = case(&r, "kim-cm/a23169-from-is-mail-from");
    let from = c["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|k| k["expectation"] == "sent_inner_header From")
        .expect("the From check");
    assert_eq!(from["verdict"], "fail", "{from}");
    assert!(
        from["observed"]
            .as_str()
            .is_some_and(|o| o.contains("jemand.anderes@praxis.example")),
        "{from}"
    );
}

/// The certificate of the hostile Clientmodul: a CA and a `localhost` server certificate
/// issued by it (openssl), in `dir`. Returns (CA, certificate, key).
fn hostile_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("openssl is needed for the hostile Clientmodul's certificate ({e}); install it: apt-get install openssl")
            });
        assert!(
            o.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=kvc-check hostile Clientmodul CA",
    ]);
    openssl(&ca);
    let mut csr = vec!["req", "-new"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// One hostile mode: `shards` runs in parallel (each with its own ports and its own hostile
/// process; with fixed ports a run takes one case at a time), merged with `report merge`.
/// Returns the merged run and report.
fn run_hostile(dir: &Path, mode: &str, shards: usize, select: &[String]) -> (Finished, Value) {
    let (ca, cert, key) = hostile_pki(dir);
    let script = repo().join("tests/fixtures/hostile_cm.py");
    let mut pids = Vec::new();
    let mut outs = Vec::new();
    let mut jobs = Vec::new();
    for i in 1..=shards {
        let p = free_ports(4);
        let pid = dir.join(format!("{mode}-{i}.pid"));
        let config = format!(
            r#"name: "hostile Clientmodul ({mode})"
clientmodul:
  host: localhost
  smtp: 127.0.0.1:{smtp}
  pop3: 127.0.0.1:{pop3}
  ca_file: {ca}
  konnektor_port: {k}
  vzd_port: {v}
  ready_timeout_s: 30
  configure: "python3 {script} {mode} {smtp} {pop3} {cert} {key} > {log} 2>&1 & echo $! > {pid}"
"#,
            smtp = p[0],
            pop3 = p[1],
            k = p[2],
            v = p[3],
            ca = ca.display(),
            script = script.display(),
            cert = cert.display(),
            key = key.display(),
            log = dir.join(format!("{mode}-{i}.log")).display(),
            pid = pid.display(),
        );
        let file = dir.join(format!("sut-{mode}-{i}.yaml"));
        std::fs::write(&file, config).expect("write the config");
        let out = dir.join(format!("out-{mode}-{i}"));
        pids.push(pid);
        outs.push(out.clone());
        let dir = dir.to_path_buf();
        let select = select.to_vec();
        let shard = format!("{i}/{shards}");
        jobs.push(std::thread::spawn(move || {
            let mut args = vec![
                "run".to_string(),
                "--role".into(),
                "kim-cm".into(),
                "--sut".into(),
                file.display().to_string(),
                "--timeout".into(),
                "3".into(),
                "--shard".into(),
                shard,
                "--out".into(),
                out.display().to_string(),
            ];
            for c in select {
                args.extend(["--case".to_string(), c]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kvc_check_in(&dir, &args)
        }));
    }
    let _kill = KillOnDrop(pids);
    let runs: Vec<Finished> = jobs
        .into_iter()
        .map(|j| {
            j.join()
                .unwrap_or_else(|_| panic!("{mode}: a shard's run panicked"))
        })
        .collect();
    for (i, run) in runs.iter().enumerate() {
        // 1 = a requirement fails, 2 = only errors; never a pass, never a crash.
        assert!(
            matches!(run.code, Some(1 | 2)),
            "{mode} shard {}: {}",
            i + 1,
            run.shown()
        );
        assert!(
            !run.stderr.contains("panicked"),
            "{mode} shard {}: {}",
            i + 1,
            run.shown()
        );
    }
    let merged = dir.join(format!("merged-{mode}"));
    let mut args = vec!["report".to_string(), "merge".into()];
    args.extend(outs.iter().map(|o| o.display().to_string()));
    args.extend(["--out".into(), merged.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let merge = kvc_check_in(dir, &args);
    let r = report(&merged);
    (merge, r)
}

/// The expectations that judge what the Clientmodul did behind its SMTP/POP3 replies.
const BEHIND_THE_REPLIES: &[&str] = &[
    "konnektor_calls",
    "sent_inner_header",
    "delivered",
    "sender_informed",
    "lint",
];

#[test]
fn hostile_clientmoduls_end_in_time_and_never_pass_what_they_did_not_do() {
    for peer in ["python3", "openssl"] {
        assert!(
            Command::new(peer)
                .arg(if peer == "openssl" {
                    "version"
                } else {
                    "--version"
                })
                .output()
                .is_ok_and(|o| o.status.success()),
            "{peer} is needed for the hostile Clientmodul; install it (scripts/test does)"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let select = timely_cases();
    let started = Instant::now();
    let modes = [
        ("silent", 4),
        ("stall-data", 4),
        ("garbage", 1),
        ("no-konnektor", 1),
    ];
    let handles: Vec<_> = modes
        .iter()
        .map(|&(mode, shards)| {
            let d = dir.path().join(mode);
            std::fs::create_dir_all(&d).expect("mkdir");
            let select = select.clone();
            (
                mode,
                std::thread::spawn(move || run_hostile(&d, mode, shards, &select)),
            )
        })
        .collect();
    let mut results = BTreeMap::new();
    for (mode, h) in handles {
        let r = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        results.insert(mode, r);
    }
    eprintln!(
        "hostile modes took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let want: BTreeSet<&str> = select.iter().map(String::as_str).collect();
    for (mode, (merge, r)) in &results {
        let v = verdicts(r);
        let got: BTreeSet<&str> = v.keys().map(String::as_str).collect();
        assert_eq!(got, want, "{mode}: not every selected case ran");
        assert_eq!(r["complete"], true, "{mode}");
        // The exit code as documented: 1 when a requirement fails, else 2 (only errors).
        let any_fail = r["requirements"]
            .as_array()
            .expect("requirements")
            .iter()
            .any(|q| q["verdict"] == "fail");
        assert_eq!(
            merge.code,
            Some(if any_fail { 1 } else { 2 }),
            "{mode}: {}",
            merge.shown()
        );
        for c in cases(r) {
            let id = c["id"].as_str().unwrap_or_default();
            let verdict = c["verdict"].as_str().unwrap_or_default();
            let checks = c["checks"].as_array().expect("checks");
            // Nothing the Clientmodul did not do passes.
            for k in checks {
                let e = k["expectation"].as_str().unwrap_or_default();
                if BEHIND_THE_REPLIES.iter().any(|b| e.starts_with(b)) {
                    assert_ne!(
                        k["verdict"], "pass",
                        "{mode}: {id}: check `{e}` passed: {k}"
                    );
                }
                if k["verdict"] != "pass" {
                    assert!(
                        k["observed"].as_str().is_some_and(|o| !o.trim().is_empty()),
                        "{mode}: {id}: check `{e}` without evidence: {k}"
                    );
                }
            }
            match verdict {
                "error" => assert!(
                    c["reason"].as_str().is_some_and(|s| !s.trim().is_empty()),
                    "{mode}: {id}: error without a reason: {c}"
                ),
                "fail" => assert!(
                    checks.iter().any(|k| k["verdict"] == "fail"),
                    "{mode}: {id}: fails without a failing check: {c}"
                ),
                "pass" => {}
                "attest" => assert!(attest_only(c), "{mode}: {id}: attest: {c}"),
                other => panic!("{mode}: {id}: verdict {other}"),
            }
        }
        let passed: Vec<&str> = v
            .iter()
            .filter(|(_, x)| *x == "pass")
            .map(|(id, _)| id.as_str())
            .collect();
        match *mode {
            // A well-formed server that accepts everything: its greeting names ESMTP and it
            // takes AUTH PLAIN and LOGIN (KOM-LE-A_2007, KOM-LE-A_2009), which it did; nothing
            // else.
            "no-konnektor" => {
                for id in &passed {
                    assert!(
                        [
                            "kim-cm/komle-a2007-greeting-esmtp",
                            "kim-cm/komle-a2009-auth-plain-login"
                        ]
                        .contains(id),
                        "{mode}: {id} passes: {}",
                        case(r, id)
                    );
                }
                // It accepts what a Clientmodul must refuse.
                for id in [
                    "kim-cm/komle-a2176-rcpt-checked",
                    "kim-cm/a21518-pop3-user-name",
                ] {
                    assert_eq!(v[id], "fail", "{mode}: {id}: {}", case(r, id)["reason"]);
                }
            }
            _ => assert!(
                passed.is_empty(),
                "{mode}: {passed:?} pass: {:#?}",
                passed.iter().map(|id| case(r, id)).collect::<Vec<_>>()
            ),
        }
    }
    // The hostile Clientmodul answered what the suite recorded as it was said.
    let (_, garbage) = &results["garbage"];
    let greeting = case(garbage, "kim-cm/komle-a2007-greeting-esmtp");
    assert_eq!(greeting["verdict"], "error", "{greeting}");
    let (_, stall) = &results["stall-data"];
    let end = case(stall, "kim-cm/komle-a2098-outer-copies-inner");
    let probes = end["sessions"]["probes"].as_array().expect("probes");
    assert!(
        probes
            .iter()
            .any(|e| e["request"] == "DATA" && e["status"] == 354),
        "{probes:?}"
    );
    assert!(
        end["reason"]
            .as_str()
            .is_some_and(|s| s.contains("did not end within 3.0 s")),
        "{end}"
    );
}

#[test]
fn run_without_role_runs_every_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("all");
    let run = kvc_check_in(repo(), &["run", "--out", out.to_str().expect("utf-8")]);
    assert_eq!(run.code, Some(0), "{}", run.shown());
    for role in ["kvc-pvs", "kim-fd", "kim-cm"] {
        let r = report(&out.join(role));
        assert_eq!(r["run"]["role"], role);
        assert_eq!(r["complete"], true, "{role}");
        assert!(!cases(&r).is_empty(), "{role}: no case");
        assert!(
            run.stdout.contains(&format!("== role {role} ==")),
            "{}",
            run.stdout
        );
    }

    // A flag of one role's run without --role: the role the --case IDs name runs.
    let one = dir.path().join("one");
    let run = kvc_check_in(
        repo(),
        &[
            "run",
            "--case",
            "kim-cm/a23169-from-is-mail-from",
            "--fault",
            "A_23169",
            "--out",
            one.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.shown());
    let r = report(&one);
    assert_eq!(r["run"]["role"], "kim-cm");
    assert_eq!(cases(&r).len(), 1);
}
