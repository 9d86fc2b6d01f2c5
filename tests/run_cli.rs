//! `kvc-check run` end to end (the real binary) against the embedded reference PVS.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::process::{Command, Output};

use kvc_check::catalogue::{Catalogue, Role};
use kvc_mocks::reference::Fault;
use kvc_mocks::reference::kim_cm::CmFault;
use kvc_mocks::reference::kim_fd::FdFault;
use kvc_mocks::reference::kvc_pvs::PvsFault;
use serde_json::Value;

fn kvc_check(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
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

/// Validates with `xmllint --schema` (Debian libxml2-utils).
fn validate_junit(path: &Path) {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/third-party/junit/junit-10.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "xmllint is needed to validate junit.xml against junit-10.xsd but could not be \
                 started ({e}); install it: apt-get install libxml2-utils"
            )
        });
    assert!(
        out.status.success(),
        "junit.xml is not valid against junit-10.xsd:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn default_run_passes_against_the_reference_pvs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let o = kvc_check(&["--role", "kvc-pvs"], &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = report(&out);
    assert_eq!(r["complete"], true);
    for (id, v) in verdicts(&r, "cases") {
        assert!(
            ["pass", "skip", "attest"].contains(&v),
            "case {id} is {v} against the reference PVS"
        );
    }
    // Every kvc-pvs requirement of the catalogue is covered by a case.
    let catalogue = Catalogue::embedded().expect("catalogue");
    let covered: BTreeSet<&str> = verdicts(&r, "requirements")
        .iter()
        .map(|(id, _)| *id)
        .collect();
    for req in catalogue
        .all()
        .iter()
        .filter(|q| q.roles.contains(&Role::KvcPvs))
    {
        assert!(covered.contains(req.id.as_str()), "{} has no case", req.id);
    }
    // Requirements decided by run or lint pass (both transports); attest stays open.
    for (id, v) in verdicts(&r, "requirements") {
        let expected = match id {
            "KVC-Anb020" | "KVC-Anb022" | "KVC-Anb030" | "KVC-Anb040" | "KVC-Anb050"
            | "KVC-Anb060" | "KVC-Anb070" => "attest",
            _ => "pass",
        };
        assert_eq!(v, expected, "requirement {id}");
    }
    for f in ["junit.xml", "report.json", "report.html", "ca.pem"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(
        stdout.contains("requirements: 13 pass, 0 fail, 0 error, 0 skip, 7 attest"),
        "{stdout}"
    );

    // junit.xml: schema-valid, unique names, round-trips through quick-junit.
    let junit_path = out.join("junit.xml");
    validate_junit(&junit_path);
    let xml = std::fs::read_to_string(&junit_path).expect("junit.xml");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("quick-junit parses it");
    let mut names = HashSet::new();
    let mut count = 0;
    for suite in &parsed.test_suites {
        for case in &suite.test_cases {
            count += 1;
            let name = case.name.as_str();
            assert!(
                names.insert(name.to_string()),
                "duplicate testcase name {name}"
            );
            let req = name.split(' ').next().unwrap_or_default();
            assert!(
                catalogue.contains(req),
                "testcase name {name} does not lead with a requirement ID"
            );
            assert_eq!(
                case.classname.as_ref().map(|c| c.as_str()),
                Some("kvc-pvs.kvc")
            );
        }
    }
    assert_eq!(count, 34, "one testcase per (requirement, case)");

    // report.html is one self-contained file with the captured messages embedded.
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("data:message/rfc822;base64,"));
    // Both transports' evidence is shown: the mail transcripts and the REST exchanges.
    for section in ["SMTP transcript", "POP3 transcript", "REST transcript"] {
        assert!(html.contains(section), "report.html has no {section}");
    }
    assert!(!html.contains("<script src") && !html.contains("<link "));
}

/// Requirements a fault also breaks by its nature, besides its own: a PVS that deletes each
/// message before fetching it loses the messages, so it cannot fetch them all (KVC-Anb020).
/// It cannot store the correctly signed one either, which is the positive control of
/// KVC-Anb022's rejections: that case ends `error`, not `fail`.
fn cascade(f: PvsFault) -> &'static [&'static str] {
    match f {
        PvsFault::DeletesBeforeFetch => &["KVC-Anb020"],
        _ => &[],
    }
}

#[test]
fn every_fault_fails_its_requirement_and_nothing_unrelated() {
    // The reference PVS runs both transports; REST-only faults act on its REST cases.
    let faults = <PvsFault as Fault>::all();
    assert!(faults.len() >= 21, "fault list shrank: {faults:?}");
    assert!(faults.iter().any(|f| f.applies_to() == ["rest"]));
    every_fault_fails_its_requirement::<PvsFault>("kvc-pvs", cascade, pvs_transport);
}

/// The transport a kvc-pvs case ran on, from its evidence.
fn pvs_transport(case: &Value) -> &'static str {
    if case["sessions"]["http"].is_null() {
        "smtp-pop3"
    } else {
        "rest"
    }
}

#[test]
fn every_fachdienst_fault_fails_its_requirement_and_nothing_unrelated() {
    let faults = <FdFault as Fault>::all();
    assert!(faults.len() >= 13, "fault list shrank: {faults:?}");
    every_fault_fails_its_requirement::<FdFault>("kim-fd", |_| &[], |_| "fachdienst");
}

/// The KIM 1.5 large-mail requirements: their faults run against the cases with a large mail,
/// the other faults against the rest (the large ones are CPU-heavy: 16 and 30 MB through the
/// KAS, and no other fault touches the KAS path).
const KAS_REQUIREMENTS: &[&str] = &[
    "A_19357",
    "A_19358",
    "A_19359",
    "A_19360",
    "A_19363",
    "A_19364",
    "A_19370",
    "A_19374",
    "A_22412",
    "A_22419",
    "A_23467",
    "KOM-LE-A_2004",
    "A_23171",
    "A_19366",
    "A_19356",
    "A_23512",
    "A_19365",
    "A_22427",
];

/// What a Clientmodul fault also breaks by its nature: one that never uses the KAS cannot
/// report the KAS's refusals or bring a large mail back; data the receiver cannot download,
/// decrypt or check (wrong link, plaintext upload, no hash) does not come back reassembled.
fn cm_cascade(f: CmFault) -> &'static [&'static str] {
    match f {
        CmFault::LargeMailWithoutKas => &[
            "A_19363", "A_22419", "A_19370", "A_19374", "A_22412", "A_22427", "A_19356",
        ],
        // The control of A_23512 is a small KAS mail that comes back reassembled.
        CmFault::DeliversReduced => &["A_23512"],
        // A KAS upload the KAS refuses (400 without Content-Length): no large mail is sent.
        CmFault::UploadWithoutContentLength => {
            &["A_19356", "A_19357", "A_19370", "A_19374", "A_22412"]
        }
        // A reduced mail in clear is no KOM-LE message: the receiver never follows its link.
        CmFault::ReducedSentPlain => &["A_19370", "A_19374", "A_22412"],
        // The recipient-emails the Konnektor is given differ from the list of the recipients
        // and the sender (what KOM-LE-A_2190/2191 compare with).
        CmFault::NotEncryptedForSender | CmFault::ExtraRecipientEmail => {
            &["KOM-LE-A_2190", "KOM-LE-A_2191"]
        }
        CmFault::SignedRecipientEmailsDiffer => &["KOM-LE-A_2190"],
        // Without the attribute in SignDocument no signed recipient-emails exist (2127);
        // without it in EncryptDocument the envelope has no unauthAttrs (2107).
        CmFault::SignWithoutRecipientEmails => &["KOM-LE-A_2127"],
        CmFault::EncryptWithoutRecipientEmails => &["KOM-LE-A_2107"],
        // The unprotected list names the sender by subjectKeyIdentifier, the signed one not.
        CmFault::RecipientEmailBySki => &["KOM-LE-A_2127"],
        // What the receiver cannot download, decrypt or check is not reassembled either.
        CmFault::StructureWithoutHash | CmFault::WrongLink | CmFault::UploadsPlaintext => {
            &["A_19374"]
        }
        _ => &[],
    }
}

/// `--case` for every kim-cm case with (`large`) or without a large mail.
fn kim_cm_cases(large: bool) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/kim-cm");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("suites/kim-cm") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("case");
        if [
            "send_large",
            "round_trip_30mb",
            "send_15mib",
            "send_over_15mib",
            "send_text_over_25mib",
            "send_20mb",
            "kas-large",
        ]
        .iter()
        .any(|p| text.contains(p))
            != large
        {
            continue;
        }
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .expect("case id")
            .trim()
            .to_string();
        out.push("--case".to_string());
        out.push(id);
    }
    out
}

#[test]
fn every_clientmodul_fault_fails_its_requirement_and_nothing_unrelated() {
    let faults = <CmFault as Fault>::all();
    assert!(faults.len() >= 70, "fault list shrank: {faults:?}");
    every_fault_fails_its_requirement_with::<CmFault>(
        "kim-cm",
        cm_cascade,
        |_| "clientmodul",
        |f| {
            let mut args = ["--timeout", "30", "--jobs", "2"]
                .map(String::from)
                .to_vec();
            args.extend(kim_cm_cases(KAS_REQUIREMENTS.contains(&f.requirement())));
            args
        },
    );
}

/// The suite's mutation test, the same for every role with a reference system: each fault makes
/// the run fail exactly its requirement (plus its `cascade`), only in cases of a transport it
/// applies to, and keeps the failing cases' messages.
fn every_fault_fails_its_requirement<F: Fault + Send>(
    role: &str,
    cascade: fn(F) -> &'static [&'static str],
    transport_of: fn(&Value) -> &'static str,
) {
    every_fault_fails_its_requirement_with(role, cascade, transport_of, |_| {
        vec!["--timeout".to_string(), "5".to_string()]
    });
}

/// [`every_fault_fails_its_requirement`] with the run's arguments per fault (timeout, case
/// selection).
fn every_fault_fails_its_requirement_with<F: Fault + Send>(
    role: &str,
    cascade: fn(F) -> &'static [&'static str],
    transport_of: fn(&Value) -> &'static str,
    args_of: fn(F) -> Vec<String>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = F::all();
    // Five runs at a time: all 21 at once on two cores starve the REST receive cases past
    // any sensible timeout (the case then ends `error`, not `fail`).
    let queue = std::sync::Arc::new(std::sync::Mutex::new(faults.to_vec()));
    let workers: Vec<_> = (0..5)
        .map(|_| {
            let queue = queue.clone();
            let dir = dir.path().to_path_buf();
            let role = role.to_string();
            std::thread::spawn(move || {
                let role = role.as_str();
                let mut done = Vec::new();
                loop {
                    let next = queue.lock().expect("queue").pop();
                    let Some(f) = next else { break };
                    let out = dir.join(f.id());
                    let id = f.id().to_string();
                    let extra = args_of(f);
                    let mut args = vec!["--role", role, "--fault", &id];
                    args.extend(extra.iter().map(String::as_str));
                    let o = kvc_check(&args, &out);
                    let transports = f.applies_to();
                    done.push((
                        id,
                        f.requirement().to_string(),
                        cascade(f),
                        transports,
                        o,
                        report(&out),
                    ));
                }
                done
            })
        })
        .collect();
    let results: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    for (id, requirement, cascade, transports, o, r) in results {
        let allowed: Vec<&str> = std::iter::once(requirement.as_str())
            .chain(cascade.iter().copied())
            .collect();
        assert_eq!(
            o.status.code(),
            Some(1),
            "--fault {id}: exit code; cases not passing: {:?}",
            r["cases"].as_array().map(|cs| cs
                .iter()
                .filter(|c| c["verdict"] != "pass" && c["verdict"] != "attest")
                .map(|c| format!("{} {} {}", c["id"], c["verdict"], c["reason"]))
                .collect::<Vec<_>>())
        );
        let failing: Vec<&Value> = r["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .filter(|c| c["verdict"] == "fail")
            .collect();
        assert!(!failing.is_empty(), "--fault {id}: no case failed");
        for c in &failing {
            let reqs: Vec<&str> = c["requirements"]
                .as_array()
                .expect("requirements")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                reqs.len() == 1 && allowed.contains(&reqs[0]),
                "--fault {id} failed an unrelated case {}: {}",
                c["id"],
                c["reason"]
            );
            let transport = transport_of(c);
            assert!(
                transports.contains(&transport),
                "--fault {id} applies to {transports:?} but failed the {transport} case {}",
                c["id"]
            );
        }
        let mut failing_reqs: Vec<&str> = r["requirements"]
            .as_array()
            .expect("requirements")
            .iter()
            .filter(|q| q["verdict"] == "fail")
            .filter_map(|q| q["id"].as_str())
            .collect();
        failing_reqs.sort();
        let mut expected_reqs = allowed.clone();
        expected_reqs.sort();
        assert_eq!(failing_reqs, expected_reqs, "--fault {id}");
        // A failing case keeps its captured message for `kvc-check lint` (when one arrived).
        for c in failing {
            for m in c["messages"].as_array().expect("messages") {
                let file = m["file"].as_str().expect("file");
                assert!(
                    dir.path().join(&id).join(file).is_file(),
                    "--fault {id}: {file} not saved"
                );
            }
        }
    }
}

#[test]
fn a_failing_message_reproduces_with_lint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let o = kvc_check(
        &["--fault", "KVC-Anb170", "--case", "kvc-pvs/anb170-no-bcc"],
        &out,
    );
    assert_eq!(o.status.code(), Some(1));
    let eml = out.join("cases/kvc-pvs/anb170-no-bcc/message-1.eml");
    let lint = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .args(["lint", "--profile", "kvc", "--format", "json"])
        .arg(&eml)
        .output()
        .expect("lint runs");
    assert_eq!(lint.status.code(), Some(1), "lint reproduces the failure");
    let v: Value = serde_json::from_slice(&lint.stdout).expect("json");
    assert!(
        v[0]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["requirement"] == "KVC-Anb170" && f["severity"] == "error")
    );
}

/// A message posted over REST is linted after opening it with the addressee's key; the run
/// writes that test key next to the SUT's, so `kvc-check lint --key` gives the same result.
#[test]
fn a_posted_rest_message_reproduces_with_lint_and_the_addressee_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let o = kvc_check(
        &["--fault", "KVC-Anb170", "--case", "kvc-pvs/anb010-rest"],
        &out,
    );
    assert_eq!(o.status.code(), Some(0), "the transport case itself passes");
    let r = report(&out);
    let record = &r["cases"][0]["messages"][0];
    assert_eq!(record["opened_with"], "empfaenger@kv-connect.test");
    assert_eq!(record["lint"]["smime"]["decryption_result"], "00");
    let eml = out.join(record["file"].as_str().expect("file"));
    let pki = out.join("user-pki");
    let lint = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .args(["lint", "--profile", "kvc", "--format", "json", "--key"])
        .arg(pki.join("empfaenger@kv-connect.test.key.pem"))
        .arg("--trust")
        .arg(pki.join("user-ca.pem"))
        .arg(&eml)
        .output()
        .expect("lint runs");
    assert_eq!(
        lint.status.code(),
        Some(1),
        "lint reproduces the Bcc failure"
    );
    let v: Value = serde_json::from_slice(&lint.stdout).expect("json");
    assert_eq!(v[0]["smime"]["decryption_result"], "00");
    assert_eq!(
        v[0]["smime"]["integrity_check_result"],
        serde_json::json!(["01"])
    );
    assert_eq!(v[0]["requirements"], record["lint"]["requirements"]);
}

#[test]
fn attest_answers_decide_attest_items_and_unanswered_stay_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let answers = dir.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "answers:\n  - requirement: KVC-Anb030\n    answer: yes\n    evidence: \"QA-Handbuch 4.2, ticket KVC-17\"\n    by: QA\n  - case: kvc-pvs/anb040-attest\n    answer: no\n",
    )
    .expect("write");
    let out = dir.path().join("r");
    let o = kvc_check(
        &[
            "--answers",
            answers.to_str().expect("utf-8"),
            "--req",
            "KVC-Anb030",
            "--req",
            "KVC-Anb040",
            "--req",
            "KVC-Anb050",
        ],
        &out,
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "a `no` answer fails its requirement"
    );
    let r = report(&out);
    let reqs = verdicts(&r, "requirements");
    assert_eq!(
        reqs,
        vec![
            ("KVC-Anb030", "pass"),
            ("KVC-Anb040", "fail"),
            ("KVC-Anb050", "attest")
        ]
    );
    let case = r["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["id"] == "kvc-pvs/anb030-attest")
        .expect("case");
    assert_eq!(
        case["attest"][0]["evidence"],
        "QA-Handbuch 4.2, ticket KVC-17"
    );
}

#[test]
fn only_attest_open_is_exit_0_but_never_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let o = kvc_check(&["--req", "KVC-Anb060"], &out);
    assert_eq!(o.status.code(), Some(0));
    let r = report(&out);
    assert_eq!(verdicts(&r, "requirements"), vec![("KVC-Anb060", "attest")]);
}

#[test]
fn bad_case_file_is_a_configuration_error_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let suites = dir.path().join("suites/kvc-pvs");
    std::fs::create_dir_all(&suites).expect("mkdir");
    std::fs::write(
        suites.join("bad.yaml"),
        "id: x/bad\ntitle: t\nrequirements: [KVC-Anb010, KVC-Anb404]\nrole: kvc-pvs\nprofile: kvc\nexpect:\n  - skip: no\n",
    )
    .expect("write");
    let o = kvc_check(
        &[
            "--suites",
            dir.path().join("suites").to_str().expect("utf-8"),
        ],
        &dir.path().join("r"),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:3: unknown requirement ID `KVC-Anb404`"),
        "{err}"
    );
}

#[test]
fn unknown_fault_and_filters_are_configuration_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = kvc_check(&["--fault", "KVC-Anb999"], &dir.path().join("a"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("KVC-Anb170"),
        "lists known faults"
    );
    let o = kvc_check(&["--req", "A_23165"], &dir.path().join("b"));
    assert_eq!(o.status.code(), Some(2));
    let o = kvc_check(&["--case", "kvc-pvs/nope"], &dir.path().join("c"));
    assert_eq!(o.status.code(), Some(2));
}

fn require_curl() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!(
            "curl is needed for the command-adapter example (suites/examples/curl-pvs.sh); install it: apt-get install curl"
        );
    }
}

#[test]
fn command_adapter_drives_an_external_client() {
    require_curl();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    let o = kvc_check(
        &[
            "--sut",
            "suites/examples/curl-sut.yaml",
            "--case",
            "kvc-pvs/anb010-transport",
            "--case",
            "kvc-pvs/anb020-unknown-application",
            "--case",
            "kvc-pvs/anb021-wrong-name",
            "--case",
            "kvc-pvs/anb130-fallback",
        ],
        &out,
    );
    let r = report(&out);
    assert_eq!(
        verdicts(&r, "cases"),
        vec![
            ("kvc-pvs/anb010-transport", "pass"),
            ("kvc-pvs/anb020-unknown-application", "pass"),
            ("kvc-pvs/anb021-wrong-name", "pass"),
            ("kvc-pvs/anb130-fallback", "pass"),
        ],
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(
        r["run"]["sut"]
            .as_str()
            .unwrap_or_default()
            .contains("curl-pvs")
    );
}

#[test]
fn a_failing_trigger_command_is_an_error_with_its_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sut = dir.path().join("sut.yaml");
    std::fs::write(
        &sut,
        "name: broken\ntrigger:\n  command:\n    send: \"sh -c 'echo no licence >&2; exit 3'\"\n    fetch: \"true\"\n",
    )
    .expect("write");
    let out = dir.path().join("r");
    let o = kvc_check(
        &[
            "--sut",
            sut.to_str().expect("utf-8"),
            "--case",
            "kvc-pvs/anb130-fallback",
        ],
        &out,
    );
    assert_eq!(o.status.code(), Some(2), "an undecided case is exit 2");
    let r = report(&out);
    let case = &r["cases"][0];
    assert_eq!(case["verdict"], "error");
    let reason = case["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("exit status: 3") && reason.contains("no licence"),
        "{reason}"
    );
}

#[test]
fn http_adapter_posts_json_and_a_claimed_send_that_never_arrives_fails_anb010() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        let mut len = 0usize;
        let mut request_line = String::new();
        r.read_line(&mut request_line).expect("line");
        loop {
            let mut h = String::new();
            r.read_line(&mut h).expect("header");
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).expect("body");
        s.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .expect("answer");
        (request_line, String::from_utf8(body).expect("utf-8"))
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let sut = dir.path().join("sut.yaml");
    std::fs::write(
        &sut,
        format!(
            "name: hook\ntrigger:\n  http:\n    send: http://127.0.0.1:{port}/kvc/send\n    fetch: http://127.0.0.1:{port}/kvc/fetch\n"
        ),
    )
    .expect("write");
    let out = dir.path().join("r");
    let o = kvc_check(
        &[
            "--sut",
            sut.to_str().expect("utf-8"),
            "--case",
            "kvc-pvs/anb010-transport",
            "--timeout",
            "1",
        ],
        &out,
    );
    let (request_line, body) = server.join().expect("server");
    assert!(
        request_line.starts_with("POST /kvc/send "),
        "{request_line}"
    );
    let json: Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(json["action"], "send");
    assert_eq!(json["application"], "Arztbrief");
    assert!(
        json["endpoints"]["smtp_port"]
            .as_u64()
            .is_some_and(|p| p > 0)
    );
    assert_eq!(o.status.code(), Some(1));
    let r = report(&out);
    assert_eq!(r["cases"][0]["verdict"], "fail");
    assert!(
        r["cases"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no message arrived over SMTP")
    );
}

/// KVC-Anb100 compares X-KVC-Sendersystem across ALL messages of the run, including those
/// captured by other run-scoped cases that ran at the same time.
#[test]
fn sendersystem_consistency_covers_every_message_of_the_run() {
    require_curl();
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/examples");
    let wrapper = dir.path().join("pvs.sh");
    // Spelled differently only in the messages the no-Bcc case sends.
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif grep -q 'ohne spezifizierte' \"$4\" 2>/dev/null; then export CURL_PVS_SENDERSYSTEM='Curl-PVS;1.0'; fi\nexec {}/curl-pvs.sh \"$@\"\n",
            examples.display()
        ),
    )
    .expect("write");
    let mut perm = std::fs::metadata(&wrapper).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&wrapper, perm).expect("chmod");
    let sut = dir.path().join("sut.yaml");
    std::fs::write(
        &sut,
        "name: inconsistent\ntrigger:\n  command:\n    send: \"./pvs.sh send {to} {app} {file} {smtp_host} {smtp_port} {ca_file} {user} {password} {from}\"\n    fetch: \"true\"\n",
    )
    .expect("write");
    let out = dir.path().join("r");
    let o = kvc_check(
        &[
            "--sut",
            sut.to_str().expect("utf-8"),
            "--case",
            "kvc-pvs/anb100-sendersystem",
            "--case",
            "kvc-pvs/anb170-no-bcc",
        ],
        &out,
    );
    let r = report(&out);
    assert_eq!(
        verdicts(&r, "cases"),
        vec![
            ("kvc-pvs/anb100-sendersystem", "fail"),
            ("kvc-pvs/anb170-no-bcc", "pass")
        ],
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let reason = r["cases"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("sendersystem_consistent"), "{reason}");
}
