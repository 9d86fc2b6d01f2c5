//! Unit tests of the kim-cm families on hand-made evidence: each passes on what a conforming
//! Clientmodul leaves, fails on the break it is there for, and is `error` when nothing
//! happened that it could judge (no control, no message, no call, no fact).

use std::collections::BTreeMap;

use kvc_mocks::probe::ProbeExchange;
use rstest::rstest;

use crate::catalogue::Catalogue;
use crate::roles::expect::{Scope, evaluate};
use crate::rules::KvcRegistry;
use crate::runner::answers::Answers;
use crate::runner::model::{MessageRecord, Verdict};
use crate::runner::observe::Evidence;
use crate::suite::Case;

fn cat() -> &'static Catalogue {
    Catalogue::embedded().expect("catalogue")
}

fn case(requirement: &str, probe: &str, expect: &str) -> Case {
    let text = format!(
        "id: t/cm\ntitle: t\nrequirements: [{requirement}]\nrole: kim-cm\nprofile: kim-1.5\nsteps:\n  - probe: {probe}\nexpect:\n  - {expect}\n"
    );
    crate::suite::load_case(std::path::Path::new("t.yaml"), &text, cat()).expect("case")
}

fn x(
    label: &str,
    request: &str,
    status: u16,
    reply: &str,
    facts: &[(&str, &str)],
) -> ProbeExchange {
    ProbeExchange {
        probe: "send_auth_plain".into(),
        label: label.into(),
        service: "clientmodul-smtp".into(),
        request: request.into(),
        status,
        body_excerpt: Some(reply.into()),
        facts: facts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..ProbeExchange::default()
    }
}

fn record(delivered: bool, data: &str, inner: Option<&str>) -> MessageRecord {
    MessageRecord {
        reference: "t/cm#1".into(),
        file: "cases/t/cm/message-1.eml".into(),
        size: data.len(),
        mail_from: String::new(),
        rcpt_to: vec!["praxis.musterfrau@kim.telematik-test".into()],
        lint: crate::lint::FileResult::input_error("x", "e".into()),
        opened_with: None,
        decryptable_by: vec![],
        data: data.as_bytes().to_vec(),
        delivered,
        inner: inner.map(|i| i.as_bytes().to_vec()),
    }
}

fn verdict(case: &Case, obs: Evidence, own: &[MessageRecord]) -> Verdict {
    let registry = KvcRegistry::builtin().expect("registry");
    let answers = Answers::default();
    let scope = Scope {
        case,
        own,
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
    assert_eq!(checks.len(), 1, "{checks:?}");
    checks[0].verdict
}

fn probes(p: Vec<ProbeExchange>) -> Evidence {
    Evidence {
        probes: p,
        ..Evidence::default()
    }
}

const RCPT: &str = "{probe: send_auth_plain, request: \"RCPT TO:<u\", status: [550], control: {request: \"RCPT TO:<k\", status: [250]}}";

#[rstest]
#[case::refused_next_to_its_control(250, 550, Verdict::Pass)]
#[case::accepted(250, 250, Verdict::Fail)]
#[case::control_refused_too(550, 550, Verdict::Error)]
fn a_refusal_is_judged_next_to_its_control(
    #[case] known: u16,
    #[case] unknown: u16,
    #[case] want: Verdict,
) {
    let c = case(
        "KOM-LE-A_2176",
        "send_auth_plain",
        &format!("reply: {RCPT}"),
    );
    let obs = probes(vec![
        x("s", "RCPT TO:<k@x>", known, "", &[]),
        x("s", "RCPT TO:<u@x>", unknown, "", &[]),
    ]);
    assert_eq!(verdict(&c, obs, &[]), want);
}

#[test]
fn a_refusal_without_its_control_or_any_exchange_is_an_error() {
    let c = case(
        "KOM-LE-A_2176",
        "send_auth_plain",
        &format!("reply: {RCPT}"),
    );
    let only_refusal = probes(vec![x("s", "RCPT TO:<u@x>", 550, "", &[])]);
    assert_eq!(verdict(&c, only_refusal, &[]), Verdict::Error);
    assert_eq!(verdict(&c, probes(vec![]), &[]), Verdict::Error);
}

#[rstest]
#[case::fact_as_expected("true", Verdict::Pass)]
#[case::fact_otherwise("false", Verdict::Fail)]
fn a_fact_must_have_its_value(#[case] value: &str, #[case] want: Verdict) {
    let c = case(
        "A_19360",
        "send_auth_plain",
        "reply: {probe: send_auth_plain, request: message 1, status: [200], fact: kas_decrypts, value: \"true\"}",
    );
    let obs = probes(vec![x(
        "v",
        "message 1",
        200,
        "",
        &[("kas_decrypts", value)],
    )]);
    assert_eq!(verdict(&c, obs, &[]), want);
    let unrecorded = probes(vec![x("v", "message 1", 200, "", &[])]);
    assert_eq!(verdict(&c, unrecorded, &[]), Verdict::Error);
}

#[test]
fn greeting_must_name_esmtp() {
    let c = case(
        "KOM-LE-A_2007",
        "send_auth_plain",
        "reply: {probe: send_auth_plain, request: greeting, status: [220], contains: ESMTP}",
    );
    let run = |reply: &str| verdict(&c, probes(vec![x("s", "greeting", 220, reply, &[])]), &[]);
    assert_eq!(run("220 cm ESMTP ready"), Verdict::Pass);
    assert_eq!(run("220 cm SMTP ready"), Verdict::Fail);
}

#[rstest]
#[case::distinct(&["a", "b"], Verdict::Pass)]
#[case::reused(&["a", "a"], Verdict::Fail)]
#[case::one_only(&["a"], Verdict::Error)]
fn fresh_keys_need_two_distinct_values(#[case] ids: &[&str], #[case] want: Verdict) {
    let c = case(
        "A_19358",
        "send_auth_plain",
        "facts_differ: {probe: send_auth_plain, label: v, fact: kas_key_id}",
    );
    let obs = probes(
        ids.iter()
            .map(|id| x("v", "message", 200, "", &[("kas_key_id", id)]))
            .collect(),
    );
    assert_eq!(verdict(&c, obs, &[]), want);
}

#[test]
fn the_inner_from_is_judged_on_opened_messages_only() {
    let c = case(
        "A_23169",
        "send_auth_plain",
        "sent_inner_header: {header: From, contains: [me@x], excludes: [other@y]}",
    );
    let sent = |inner: Option<&str>| [record(false, "outer", inner)];
    assert_eq!(
        verdict(
            &c,
            Evidence::default(),
            &sent(Some("From: <me@x>\r\n\r\nb"))
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &c,
            Evidence::default(),
            &sent(Some("From: <other@y>\r\n\r\nb"))
        ),
        Verdict::Fail
    );
    assert_eq!(
        verdict(&c, Evidence::default(), &sent(None)),
        Verdict::Error
    );
    assert_eq!(verdict(&c, Evidence::default(), &[]), Verdict::Error);
}

#[test]
fn delivered_headers_and_texts() {
    let c = case(
        "KOM-LE-A_2050",
        "send_auth_plain",
        "delivered: {header: X-KIM-IntegrityCheckResult, equals: \"01\"}",
    );
    let good = [record(
        true,
        "X-KIM-IntegrityCheckResult: 01\r\n\r\nb",
        None,
    )];
    let bad = [record(
        true,
        "X-KIM-IntegrityCheckResult: 02\r\n\r\nb",
        None,
    )];
    let missing = [record(true, "Subject: x\r\n\r\nb", None)];
    assert_eq!(verdict(&c, Evidence::default(), &good), Verdict::Pass);
    assert_eq!(verdict(&c, Evidence::default(), &bad), Verdict::Fail);
    assert_eq!(verdict(&c, Evidence::default(), &missing), Verdict::Fail);
    // Only a captured message, nothing delivered: nothing to judge.
    let captured = [record(
        false,
        "X-KIM-IntegrityCheckResult: 01\r\n\r\nb",
        None,
    )];
    assert_eq!(verdict(&c, Evidence::default(), &captured), Verdict::Error);
}

#[test]
fn the_sender_is_informed_by_a_plain_message() {
    let c = case(
        "A_23165",
        "send_auth_plain",
        "sender_informed: {to: praxis.musterfrau@kim.telematik-test, header: X-KIM-IntegrityCheckResult}",
    );
    let delivered = record(true, "Subject: x\r\n\r\nreplaced", None);
    let dsn = record(
        false,
        "X-KIM-IntegrityCheckResult: 02\r\nContent-Type: multipart/report\r\n\r\nb",
        None,
    );
    let smime = record(
        false,
        "X-KIM-IntegrityCheckResult: 02\r\nContent-Type: application/pkcs7-mime\r\n\r\nb",
        None,
    );
    let e = Evidence::default;
    assert_eq!(verdict(&c, e(), &[delivered.clone(), dsn]), Verdict::Pass);
    assert_eq!(verdict(&c, e(), &[delivered.clone(), smime]), Verdict::Fail);
    assert_eq!(verdict(&c, e(), &[delivered]), Verdict::Fail);
    assert_eq!(verdict(&c, e(), &[]), Verdict::Error);
}

const ME: &str = "praxis.rosenstrauch@kim.telematik-test";
const PEER: &str = "praxis.musterfrau@kim.telematik-test";

fn sent_to(rcpt: &[&str], data: &str) -> MessageRecord {
    MessageRecord {
        rcpt_to: rcpt.iter().map(|r| r.to_string()).collect(),
        ..record(false, data, None)
    }
}

const ENVELOPED: &str =
    "Content-Type: application/pkcs7-mime; smime-type=authenveloped-data\r\n\r\nb";

#[rstest]
#[case::peer_removed(vec![vec![ME]], Verdict::Pass)]
#[case::peer_kept(vec![vec![ME, PEER]], Verdict::Fail)]
#[case::one_of_two_to_the_peer(vec![vec![ME], vec![PEER]], Verdict::Fail)]
#[case::nothing_sent(vec![], Verdict::Error)]
fn the_envelope_names_who_got_the_mail(#[case] sent: Vec<Vec<&str>>, #[case] want: Verdict) {
    let c = case(
        "KOM-LE-A_2178",
        "send_to_peer_and_self",
        &format!("sent_envelope: {{includes: [{ME}], excludes: [{PEER}]}}"),
    );
    let mut own: Vec<MessageRecord> = sent.iter().map(|r| sent_to(r, ENVELOPED)).collect();
    // A plain DSN to the sender is no sent mail: it neither passes nor fails the check.
    own.push(sent_to(&[PEER], "X-KIM-Fehlermeldung: 4005\r\n\r\nb"));
    assert_eq!(verdict(&c, Evidence::default(), &own), want);
}

#[rstest]
#[case::named_with_its_code(
    "X-KIM-Fehlermeldung: 4001\r\n\r\nnicht versendet: praxis.musterfrau@kim.telematik-test",
    Verdict::Pass
)]
#[case::another_code(
    "X-KIM-Fehlermeldung: 4002\r\n\r\nnicht versendet: praxis.musterfrau@kim.telematik-test",
    Verdict::Fail
)]
#[case::recipient_not_named("X-KIM-Fehlermeldung: 4001\r\n\r\nnicht versendet", Verdict::Fail)]
fn the_sender_is_told_which_recipients_were_removed(#[case] dsn: &str, #[case] want: Verdict) {
    let c = case(
        "A_19356",
        "send_20mb",
        &format!(
            "sender_informed: {{to: {ME}, header: X-KIM-Fehlermeldung, value: \"4001\", names: [{PEER}], on_send: true}}"
        ),
    );
    assert_eq!(
        verdict(&c, Evidence::default(), &[sent_to(&[ME], dsn)]),
        want
    );
}
