//! Unit tests of the kim-fd families on hand-made exchanges: the conforming answers pass, a
//! provider that refuses everything gets `error` (no control), one that accepts everything
//! `fail`.

use std::collections::BTreeMap;

use kvc_mocks::probe::ProbeExchange;

use super::kas::randomness_problems;
use crate::catalogue::Catalogue;
use crate::roles::expect::{Scope, evaluate};
use crate::rules::KvcRegistry;
use crate::runner::answers::Answers;
use crate::runner::model::Verdict;
use crate::runner::observe::Evidence;
use crate::suite::Case;

fn case(requirement: &str, probe: &str, expect: &str) -> Case {
    let text = format!(
        "id: t/fd\ntitle: t\nrequirements: [{requirement}]\nrole: kim-fd\nprofile: kim-1.5\nsteps:\n  - probe: {probe}\nexpect:\n  - {expect}: {{}}\n"
    );
    crate::suite::load_case(std::path::Path::new("t.yaml"), &text, cat()).expect("case")
}

fn cat() -> &'static Catalogue {
    Catalogue::embedded().expect("catalogue")
}

fn x(probe: &str, label: &str, status: u16, facts: &[(&str, &str)]) -> ProbeExchange {
    ProbeExchange {
        probe: probe.into(),
        label: label.into(),
        service: "kas".into(),
        request: format!("GET /{label}"),
        status,
        facts: facts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..ProbeExchange::default()
    }
}

fn verdict(case: &Case, probes: Vec<ProbeExchange>) -> (Verdict, String) {
    let obs = Evidence {
        probes,
        ..Evidence::default()
    };
    let registry = KvcRegistry::builtin().expect("registry");
    let answers = Answers::default();
    let scope = Scope {
        case,
        own: &[],
        run: &[],
        obs: &obs,
        mailbox_len: 0,
        registry: &registry,
        answers: &answers,
        catalogue: cat(),
        transport: crate::sut::Transport::SmtpPop3,
        stored: None,
        steps: &[],
    };
    let checks = evaluate(&scope).0;
    assert_eq!(checks.len(), 1);
    (checks[0].verdict, checks[0].observed.clone())
}

const GOT: &[(&str, &str)] = &[("body_equals_upload", "true"), ("contains_data", "true")];
const NOTHING: &[(&str, &str)] = &[("body_equals_upload", "false"), ("contains_data", "false")];

#[test]
fn recipient_check_passes_on_401_allows_403_and_needs_its_control() {
    let c = case("A_22410", "kas_recipient", "kas_recipient_checked");
    let run = |control: u16, outsider: u16, facts: &[(&str, &str)]| {
        verdict(
            &c,
            vec![
                x("kas_recipient", "upload", 201, &[]),
                x(
                    "kas_recipient",
                    "download by a recipient",
                    control,
                    if control == 200 { GOT } else { NOTHING },
                ),
                x("kas_recipient", "download by an outsider", outsider, facts),
            ],
        )
    };
    assert_eq!(run(200, 401, NOTHING).0, Verdict::Pass);
    let (v, why) = run(200, 403, NOTHING);
    assert_eq!(v, Verdict::Pass);
    assert!(why.contains("A_22410-403"), "{why}");
    assert_eq!(run(200, 200, GOT).0, Verdict::Fail);
    assert_eq!(run(200, 404, NOTHING).0, Verdict::Fail);
    // Refusing everyone proves nothing.
    let (v, why) = run(401, 401, NOTHING);
    assert_eq!(v, Verdict::Error);
    assert!(why.contains("refusal not meaningful"), "{why}");
}

#[test]
fn size_limit_needs_413_above_and_the_maximum_accepted() {
    let c = case("A_19378", "kas_size_limit", "kas_size_limit");
    let run = |at: u16, above: u16| {
        verdict(
            &c,
            vec![
                x("kas_size_limit", "upload at the maximum", at, &[]),
                x(
                    "kas_size_limit",
                    "upload one byte above the maximum",
                    above,
                    &[],
                ),
            ],
        )
        .0
    };
    assert_eq!(run(201, 413), Verdict::Pass);
    assert_eq!(run(201, 201), Verdict::Fail);
    assert_eq!(run(201, 400), Verdict::Fail);
    assert_eq!(run(413, 413), Verdict::Error);
    assert_eq!(verdict(&c, vec![]).0, Verdict::Error);
}

#[test]
fn access_attempts_must_be_refused_without_giving_the_data_or_id_away() {
    let c = case("A_19379", "kas_access", "kas_access_only_by_link");
    let run = |listing: u16, facts: &[(&str, &str)]| {
        verdict(
            &c,
            vec![
                x("kas_access", "upload", 201, &[]),
                x("kas_access", "download through the link", 200, GOT),
                x("kas_access", "random ID", 404, NOTHING),
                x("kas_access", "listing the collection", listing, facts),
            ],
        )
        .0
    };
    assert_eq!(run(404, NOTHING), Verdict::Pass);
    assert_eq!(run(200, &[("contains_id", "true")]), Verdict::Fail);
    assert_eq!(run(405, &[("contains_id", "true")]), Verdict::Fail);
}

#[test]
fn expiry_and_content_length() {
    let c = case("A_19385", "kas_expiry", "kas_expired_deleted");
    let run = |after: u16, facts: &[(&str, &str)]| {
        verdict(
            &c,
            vec![
                x("kas_expiry", "download before expiry", 200, GOT),
                x("kas_expiry", "download after expiry", after, facts),
            ],
        )
        .0
    };
    assert_eq!(run(404, NOTHING), Verdict::Pass);
    assert_eq!(run(200, GOT), Verdict::Fail);

    let c = case("A_22428", "kas_content_length", "kas_content_length");
    let download = |size: &str, header: Option<&str>| {
        let mut e = x(
            "kas_content_length",
            &format!("download of {size} bytes"),
            200,
            &[("body_equals_upload", "true"), ("expected_size", size)],
        );
        if let Some(h) = header {
            e.headers.push(("content-length".into(), h.into()));
        }
        e
    };
    let all = |h: fn(&str) -> Option<&str>| {
        verdict(
            &c,
            ["1", "1000", "65536"]
                .iter()
                .map(|s| download(s, h(s)))
                .collect(),
        )
        .0
    };
    assert_eq!(all(|s| Some(s)), Verdict::Pass);
    assert_eq!(all(|_| None), Verdict::Fail);
    assert_eq!(all(|_| Some("7")), Verdict::Fail);
}

#[test]
fn token_refusals_and_revocation_window() {
    let c = case("KOM-LE-A_2187", "am_token", "am_token_checked");
    let run = |valid: u16, forged: u16| {
        verdict(
            &c,
            vec![
                x("am_token", "valid token and password", valid, &[]),
                x("am_token", "forged signature", forged, &[]),
            ],
        )
        .0
    };
    assert_eq!(run(200, 401), Verdict::Pass);
    assert_eq!(run(200, 200), Verdict::Fail);
    assert_eq!(run(200, 500), Verdict::Fail);
    assert_eq!(run(401, 401), Verdict::Error);

    let c = case("A_23175", "am_revoke", "am_revoke_window");
    let run = |dereg: &str, late: u16| {
        verdict(
            &c,
            vec![
                x("am_revoke", "deregister", 204, &[]),
                x("am_revoke", "revoke before deregDate", 204, &[]),
                x(
                    "am_revoke",
                    "read the long-deregistered account",
                    200,
                    &[("deregDate", dereg), ("now", "2000")],
                ),
                x("am_revoke", "revoke after deregDate", late, &[]),
            ],
        )
        .0
    };
    assert_eq!(run("1000", 403), Verdict::Pass);
    assert_eq!(run("1000", 204), Verdict::Fail);
    // An account whose deregDate has not passed cannot show the refusal.
    assert_eq!(run("3000", 403), Verdict::Error);
}

#[test]
fn mta_sender_rules_need_the_control_delivered() {
    let c = case("A_23421", "mta_envelope_sender", "mta_envelope_sender");
    let step = |label: &str, request: &str, status: u16| {
        let mut e = x("mta_envelope_sender", label, status, &[]);
        e.service = "mta".into();
        e.request = request.into();
        e
    };
    let ok = step("MAIL FROM the AUTH user", "end of DATA", 250);
    assert_eq!(
        verdict(
            &c,
            vec![
                ok.clone(),
                step("MAIL FROM another address", "MAIL FROM:<b@x>", 550)
            ]
        )
        .0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &c,
            vec![ok, step("MAIL FROM another address", "end of DATA", 250)]
        )
        .0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(
            &c,
            vec![
                step("MAIL FROM the AUTH user", "MAIL FROM:<a@x>", 550),
                step("MAIL FROM another address", "MAIL FROM:<b@x>", 550)
            ]
        )
        .0,
        Verdict::Error
    );
}

#[test]
fn rate_limit_allows_429_or_none_but_not_another_refusal() {
    let c = case("A_22411", "kas_rate_limit", "kas_rate_limit");
    let run = |second: u16| {
        verdict(
            &c,
            vec![
                x("kas_rate_limit", "read 1", 200, GOT),
                x(
                    "kas_rate_limit",
                    "read 2",
                    second,
                    if second == 200 { GOT } else { NOTHING },
                ),
            ],
        )
        .0
    };
    assert_eq!(run(200), Verdict::Pass);
    assert_eq!(run(429), Verdict::Pass);
    assert_eq!(run(403), Verdict::Fail);
    assert_eq!(
        verdict(&c, vec![x("kas_rate_limit", "read 1", 401, NOTHING)]).0,
        Verdict::Error
    );
}

#[test]
fn counters_and_short_ids_are_not_random() {
    let uuids: Vec<String> = (0..8).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    assert_eq!(randomness_problems(&uuids), Vec::<String>::new());
    let counted: Vec<String> = (1..=8)
        .map(|n| format!("00000000-0000-4000-8000-{n:012}"))
        .collect();
    assert!(!randomness_problems(&counted).is_empty());
    let short: Vec<String> = (1..=3).map(|n| format!("{n}")).collect();
    assert!(randomness_problems(&short)[0].contains("bits"));
}

proptest::proptest! {
    /// IDs, links and response bodies come from the SUT: nothing in their handling panics.
    #[test]
    fn hostile_ids_and_responses_never_panic(
        ids in proptest::collection::vec(".{0,40}", 0..6),
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
        status in 0u16..700,
        content_type in "[a-z/;= -]{0,40}",
        path_tail in ".{0,30}",
    ) {
        let _ = randomness_problems(&ids);
        for id in &ids {
            let _ = crate::roles::kim_fd::probes::kas::neighbour_id(id);
            let _ = crate::roles::kim_fd::probes::kas::half(id);
        }
        let files = crate::roles::kim_fd::openapi::InterfaceFiles::embedded(
            kvc_mocks::kim::kas::KasApi::V2_4,
        )
        .expect("files");
        let headers = vec![("content-type".to_string(), content_type)];
        for (service, method, path) in [
            ("account-manager", "GET", format!("/AccountMgmt/v2.4/account/{path_tail}")),
            ("kas", "GET", format!("/attachments/v2.4/attachment/{path_tail}")),
            ("kas", "POST", "/attachments/v2.4/attachment/".to_string()),
        ] {
            let _ = files.check(service, method, &path, status, &headers, &body);
        }
        let _ = kvc_mocks::kim::sender_rules::check("a@b.kim.telematik", &body);
    }
}
