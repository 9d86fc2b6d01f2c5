//! Unit tests of the KV-Connect families on hand-made observations. The case lists several
//! requirements, so every item names the one it decides.

use crate::catalogue::Catalogue;
use crate::roles::expect::{Scope, evaluate};
use crate::roles::kvc_pvs::expect::tls::client_refused;
use crate::rules::KvcRegistry;
use crate::runner::answers::Answers;
use crate::runner::model::{Check, StoredAnswer, Verdict};
use std::time::Duration;

use crate::runner::observe::{
    Evidence, HttpEvidence, HttpRequest, Resource, RestAuth, RestResource, TlsOutcome,
};
use crate::runner::verdict::CONTROL_FAILED;
use crate::suite::Case;
use kvc_mocks::http::{HttpConnection, HttpExchange};

fn rest_case(expect: &str) -> Case {
    let text = format!(
        "id: t/rest\ntitle: t\nrequirements: [KVC-Anb010, KVC-Anb021, KVC-Anb022, KVC-Anb080]\nrole: kvc-pvs\nprofile: kvc\nsetup:\n  mock: kvc-rest\n  mailbox:\n    - served: valid\n    - served: bad-signature\nsteps:\n  - fetch: {{}}\nexpect:\n  - {expect}\n"
    );
    crate::suite::load_case(std::path::Path::new("t.yaml"), &text, cat()).expect("case")
}

fn cat() -> &'static Catalogue {
    Catalogue::embedded().expect("catalogue")
}

fn peer() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 1))
}

fn req(method: &str, resource: &str, subject: &str, status: u16) -> HttpRequest {
    HttpRequest {
        exchange: HttpExchange {
            peer: peer(),
            method: method.into(),
            target: format!("/kvconnect/rest/{resource}/{subject}"),
            content_type: None,
            status,
            bytes_in: 0,
            bytes_out: 0,
            at: Duration::ZERO,
            duration: Duration::ZERO,
            note: None,
        },
        resource: Resource::KvcRest(match resource {
            "mail" => RestResource::Mail {
                uid: "praxis".into(),
                message_id: subject.into(),
            },
            "version" => RestResource::Version,
            "certificates" => RestResource::Certificates {
                uid: None,
                email: Some(subject.into()),
            },
            other => panic!("no test request for resource {other}"),
        }),
        auth: RestAuth::Ok {
            user: "praxis@kv-connect.test".into(),
        },
    }
}

fn rest(requests: Vec<HttpRequest>) -> Evidence {
    Evidence {
        http: Some(HttpEvidence {
            connections: vec![HttpConnection {
                peer: peer(),
                tls: TlsOutcome::Established {
                    sni: None,
                    client: None,
                },
                at: Duration::ZERO,
            }],
            requests,
            posted: vec![],
            mailbox_ids: vec!["a@x".into(), "b@x".into()],
            remaining_ids: vec![],
            ..HttpEvidence::default()
        }),
        ..Evidence::default()
    }
}

fn run(case: &Case, obs: &Evidence, stored: Option<&StoredAnswer>) -> Vec<Check> {
    let registry = KvcRegistry::builtin().expect("registry");
    let answers = Answers::default();
    let scope = Scope {
        case,
        own: &[],
        run: &[],
        obs,
        mailbox_len: 2,
        registry: &registry,
        answers: &answers,
        catalogue: cat(),
        transport: crate::sut::Transport::Rest,
        stored,
        steps: &[],
    };
    evaluate(&scope).0
}

#[test]
fn delete_before_fetch_fails_and_fetch_then_delete_passes() {
    let case = rest_case("deleted_after_fetch: {entries: [1, 2], requirement: KVC-Anb010}");
    let good = rest(vec![
        req("GET", "mail", "a@x", 200),
        req("DELETE", "mail", "a@x", 204),
        req("GET", "mail", "b@x", 200),
        req("DELETE", "mail", "b@x", 204),
    ]);
    assert_eq!(run(&case, &good, None)[0].verdict, Verdict::Pass);
    let early = rest(vec![
        req("GET", "mail", "a@x", 200),
        req("DELETE", "mail", "a@x", 204),
        req("DELETE", "mail", "b@x", 204),
        req("GET", "mail", "b@x", 404),
    ]);
    let c = &run(&case, &early, None)[0];
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.observed.contains("entry 2"), "{}", c.observed);
    let never = rest(vec![req("GET", "mail", "a@x", 200)]);
    assert_eq!(run(&case, &never, None)[0].verdict, Verdict::Fail);
}

#[test]
fn keeping_needs_a_fetch_and_no_delete() {
    let case = rest_case(
        "kept_on_server: {entries: [2], requirement: KVC-Anb010, control: {case: t/control, check: deleted_after_fetch}}",
    );
    let idle = rest(vec![]);
    assert_eq!(run(&case, &idle, None)[0].verdict, Verdict::Error);
    let kept = rest(vec![req("GET", "mail", "b@x", 200)]);
    assert_eq!(run(&case, &kept, None)[0].verdict, Verdict::Pass);
    let deleted = rest(vec![
        req("GET", "mail", "b@x", 200),
        req("DELETE", "mail", "b@x", 204),
    ]);
    assert_eq!(run(&case, &deleted, None)[0].verdict, Verdict::Fail);
}

#[test]
fn a_refusal_over_https_means_no_request_at_all() {
    let case = rest_case(
        "tls_refused: {service: https, requirement: KVC-Anb021, control: {case: t/control, check: transport rest}}",
    );
    let mut refused = rest(vec![]);
    if let Some(r) = refused.http.as_mut() {
        r.connections[0].tls =
            TlsOutcome::HandshakeFailed("received fatal alert: UnknownCA".into());
    }
    assert_eq!(run(&case, &refused, None)[0].verdict, Verdict::Pass);
    let mut version_only = rest(vec![req("GET", "version", "", 200)]);
    if let Some(r) = version_only.http.as_mut() {
        r.requests[0].auth = RestAuth::NotRequired;
    }
    assert_eq!(run(&case, &version_only, None)[0].verdict, Verdict::Fail);
    let never = Evidence {
        http: Some(HttpEvidence::default()),
        ..Evidence::default()
    };
    assert_eq!(run(&case, &never, None)[0].verdict, Verdict::Error);
}

#[test]
fn expired_certificate_check_needs_a_lookup() {
    let case = rest_case(
        "not_encrypted_to: {recipient: abgelaufen@kv-connect.test, requirement: KVC-Anb080, control: {case: t/control, check: transport rest}}",
    );
    assert_eq!(run(&case, &rest(vec![]), None)[0].verdict, Verdict::Error);
    let looked_up = rest(vec![req(
        "GET",
        "certificates",
        "abgelaufen@kv-connect.test",
        200,
    )]);
    assert_eq!(run(&case, &looked_up, None)[0].verdict, Verdict::Pass);
}

#[test]
fn store_reports_decide_kvc_anb022_and_silence_is_attested() {
    let case = rest_case("stored: {requirement: KVC-Anb022, rejected: [2], valid: [1]}");
    let obs = rest(vec![]);
    let report = |valid_b: bool, warning: Option<&str>| StoredAnswer::Reported {
        messages: vec![
            crate::sut::StoredReport {
                message_id: "<a@x>".into(),
                valid: true,
                warning: None,
            },
            crate::sut::StoredReport {
                message_id: "b@x".into(),
                valid: valid_b,
                warning: warning.map(str::to_string),
            },
        ],
    };
    let good = report(false, Some("Signatur ungültig"));
    assert_eq!(run(&case, &obs, Some(&good))[0].verdict, Verdict::Pass);
    let kept = report(true, None);
    assert_eq!(run(&case, &obs, Some(&kept))[0].verdict, Verdict::Fail);
    let silent = report(false, None);
    assert_eq!(run(&case, &obs, Some(&silent))[0].verdict, Verdict::Fail);
    let unsupported = StoredAnswer::Unsupported;
    assert_eq!(
        run(&case, &obs, Some(&unsupported))[0].verdict,
        Verdict::Attest
    );
    // A SUT that stores nothing "rejects" the bad message too: without the valid entry
    // stored (the control) that proves nothing.
    let nothing = StoredAnswer::Reported { messages: vec![] };
    let c = &run(&case, &obs, Some(&nothing))[0];
    assert_eq!(c.verdict, Verdict::Error, "{}", c.observed);
    assert!(c.observed.contains(CONTROL_FAILED), "{}", c.observed);
    let refuses_all = StoredAnswer::Reported {
        messages: vec![
            crate::sut::StoredReport {
                message_id: "a@x".into(),
                valid: false,
                warning: Some("Signatur ungültig".into()),
            },
            crate::sut::StoredReport {
                message_id: "b@x".into(),
                valid: false,
                warning: Some("Signatur ungültig".into()),
            },
        ],
    };
    assert_eq!(
        run(&case, &obs, Some(&refuses_all))[0].verdict,
        Verdict::Error
    );
}

#[test]
fn refusal_classification() {
    assert!(client_refused("received fatal alert: UnknownCA"));
    assert!(client_refused(
        "peer closed connection without sending TLS close_notify: unexpected eof"
    ));
    assert!(!client_refused(
        "received corrupt message of type InvalidContentType"
    ));
    assert!(!client_refused("timeout"));
}

#[test]
fn the_requirement_comes_from_the_case() {
    let case = rest_case("fetched_all: {requirement: KVC-Anb021}");
    let c = &run(&case, &rest(vec![]), None)[0];
    assert_eq!(c.requirement.as_deref(), Some("KVC-Anb021"));
    // Several requirements and none named: the loader asks for one.
    let text = "id: t/rest\ntitle: t\nrequirements: [KVC-Anb010, KVC-Anb020]\nrole: kvc-pvs\nprofile: kvc\nsetup:\n  mock: kvc-rest\nsteps:\n  - fetch: {}\nexpect:\n  - fetched_all: {}\n";
    let e = crate::suite::load_case(std::path::Path::new("t.yaml"), text, cat()).unwrap_err();
    assert!(
        e.starts_with("t.yaml:11: fetched_all: the case lists several requirements"),
        "{e}"
    );
    let named = text.replace("fetched_all: {}", "fetched_all: {requirement: KVC-Anb030}");
    let e = crate::suite::load_case(std::path::Path::new("t.yaml"), &named, cat()).unwrap_err();
    assert!(e.contains("does not list in `requirements`"), "{e}");
    // One requirement: it is the one decided.
    let one = text.replace("[KVC-Anb010, KVC-Anb020]", "[KVC-Anb020]");
    let case = crate::suite::load_case(std::path::Path::new("t.yaml"), &one, cat()).expect("case");
    let c = &run(&case, &rest(vec![]), None)[0];
    assert_eq!(c.requirement.as_deref(), Some("KVC-Anb020"));
}

#[test]
fn rest_evidence_shows_the_directory_binds_and_searches() {
    use kvc_mocks::ldap::{BindRecord, LdapSession, SearchRecord};
    let mut obs = rest(vec![req("GET", "version", "", 200)]);
    let directory = obs.ldap.get_or_insert_with(Default::default);
    directory.sessions.push(LdapSession {
        peer: peer(),
        tls: TlsOutcome::Established {
            sni: None,
            client: None,
        },
        binds: vec![BindRecord {
            dn: String::new(),
            success: true,
        }],
        searches: vec![SearchRecord {
            base: "ou=users,dc=kv-safenet,dc=de".into(),
            scope: "sub".into(),
            filter: "(mail=empfaenger@kv-connect.test)".into(),
            attributes: vec!["userCertificate;binary".into()],
            bound_as: String::new(),
            entries_returned: 1,
            result_code: 0,
        }],
        other_ops: vec![],
        end: kvc_mocks::SessionEnd::Quit,
    });
    let text = super::evidence::rest_summary(&obs);
    assert!(
        text.contains("directory connection from 127.0.0.1:1"),
        "{text}"
    );
    assert!(text.contains("bind as anonymous: accepted"), "{text}");
    assert!(
        text.contains("search base `ou=users,dc=kv-safenet,dc=de` scope sub filter (mail=empfaenger@kv-connect.test) -> 1 entry (result 0)"),
        "{text}"
    );
}
