//! Loader tests: good cases, strictness, `file:line` errors, refusals and their controls.

use super::*;

fn cat() -> &'static Catalogue {
    Catalogue::embedded().expect("catalogue")
}

const GOOD: &str = "id: t/one
title: A case
requirements: [KVC-Anb170]
role: kvc-pvs
profile: kvc
setup:
  mock: kvc-client
steps:
  - send: {to: [a@b.kv-safenet.de], application: Arztbrief}
  - wait_messages: {count: 1}
expect:
  - lint: {requirements: [KVC-Anb170]}
";

#[test]
fn loads_a_good_case() {
    let c = load_case(Path::new("s/one.yaml"), GOOD, cat()).expect("loads");
    assert_eq!(c.id, "t/one");
    assert_eq!(c.requirements, vec!["KVC-Anb170"]);
    assert_eq!(c.steps.len(), 2);
    assert_eq!(c.origin, "s/one.yaml:1");
}

#[test]
fn unknown_key_names_file_and_line() {
    let text = GOOD.replace("profile: kvc\n", "profile: kvc\nbogus: 1\n");
    let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
    assert!(e.starts_with("s/one.yaml:6:"), "{e}");
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn unknown_step_key_is_rejected() {
    let text = GOOD.replace("{count: 1}", "{count: 1, colour: red}");
    let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
    assert!(e.starts_with("s/one.yaml:10:"), "{e}");
}

#[test]
fn unknown_requirement_names_file_and_line() {
    let text = GOOD.replace("[KVC-Anb170]\nrole", "[KVC-Anb999]\nrole");
    let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
    assert!(e.starts_with("s/one.yaml:3:"), "{e}");
    assert!(e.contains("KVC-Anb999"), "{e}");
}

#[test]
fn expectation_outside_the_case_requirements_is_rejected() {
    let text = GOOD.replace(
        "lint: {requirements: [KVC-Anb170]}",
        "lint: {requirements: [KVC-Anb160]}",
    );
    let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
    assert!(e.starts_with("s/one.yaml:12:"), "{e}");
}

#[test]
fn role_mismatch_is_rejected() {
    let text = GOOD.replace("[KVC-Anb170]\nrole", "[A_23165]\nrole");
    let e = load_case(Path::new("s/one.yaml"), &text, cat()).unwrap_err();
    assert!(e.contains("does not apply to role kvc-pvs"), "{e}");
}

const REST: &str = "id: t/rest
title: A REST case
requirements: [KVC-Anb010]
role: kvc-pvs
profile: kvc
setup:
  mock: kvc-rest
  mailbox:
    - served: encrypted-to-someone-else
steps:
  - fetch: {may_fail: true}
expect:
  - kept_on_server: {entries: [1], control: {case: t/control, check: deleted_after_fetch}}
";

const CONTROL: &str = "id: t/control
title: The control
requirements: [KVC-Anb010]
role: kvc-pvs
profile: kvc
setup:
  mock: kvc-rest
  mailbox:
    - served: valid
steps:
  - fetch: {}
expect:
  - deleted_after_fetch: {entries: [1]}
";

#[test]
fn a_refusal_names_its_positive_control() {
    let e = load_case(
        Path::new("s/rest.yaml"),
        &REST.replace(
            ", control: {case: t/control, check: deleted_after_fetch}",
            "",
        ),
        cat(),
    )
    .unwrap_err();
    assert!(e.starts_with("s/rest.yaml:13:"), "{e}");
    assert!(
        e.contains("refusal check: name its positive control"),
        "{e}"
    );
    let e = load_case(
        Path::new("s/c.yaml"),
        &CONTROL.replace(
            "deleted_after_fetch: {entries: [1]}",
            "deleted_after_fetch: {entries: [1], control: {case: t/rest, check: x}}",
        ),
        cat(),
    )
    .unwrap_err();
    assert!(
        e.contains("not a refusal check and takes no control"),
        "{e}"
    );
    let stored = CONTROL.replace(
        "requirements: [KVC-Anb010]",
        "requirements: [KVC-Anb010, KVC-Anb022]",
    );
    let e = load_case(
        Path::new("s/c.yaml"),
        &stored.replace(
            "deleted_after_fetch: {entries: [1]}",
            "stored: {requirement: KVC-Anb022, rejected: [1]}",
        ),
        cat(),
    )
    .unwrap_err();
    assert!(e.contains("positive control of the rejected ones"), "{e}");

    let refusal = load_case(Path::new("s/rest.yaml"), REST, cat()).expect("refusal");
    let control = load_case(Path::new("s/c.yaml"), CONTROL, cat()).expect("control");
    validate_controls(&[refusal.clone(), control.clone()]).expect("valid pair");
    let e = validate_controls(std::slice::from_ref(&refusal)).unwrap_err();
    assert!(
        e.contains("control case `t/control` is not in this suite"),
        "{e}"
    );
    let other = load_case(
        Path::new("s/c.yaml"),
        &CONTROL.replace("deleted_after_fetch: {entries: [1]}", "fetched_all: {}"),
        cat(),
    )
    .expect("other control");
    let e = validate_controls(&[refusal.clone(), other]).unwrap_err();
    assert!(
        e.contains("has no `deleted_after_fetch` expectation"),
        "{e}"
    );
    let mut mixed = control.clone();
    mixed.expect.push(refusal.expect[0].clone());
    let e = validate_controls(&[refusal.clone(), mixed]).unwrap_err();
    assert!(e.contains("holds a refusal check itself"), "{e}");
    assert_eq!(
        missing_controls(std::slice::from_ref(&refusal), &[refusal.clone(), control])
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        vec!["t/control"]
    );
}

#[test]
fn loads_a_rest_case() {
    let c = load_case(Path::new("s/rest.yaml"), REST, cat()).expect("loads");
    assert_eq!(c.setup.mock, MockKind::KvcRest);
    assert_eq!(
        c.setup.mock.transport(crate::sut::Transport::SmtpPop3),
        Some(crate::sut::Transport::Rest)
    );
    assert!(matches!(
        c.setup.mailbox[0],
        MailboxEntry::Served(ServedVariant::EncryptedToSomeoneElse)
    ));
}

#[test]
fn rest_mistakes_are_rejected() {
    let e = load_case(
        Path::new("s/rest.yaml"),
        &REST.replace("mock: kvc-rest", "mock: kvc-client"),
        cat(),
    )
    .unwrap_err();
    assert!(e.contains("`served:` entries need `mock: kvc-rest`"), "{e}");
    let e = load_case(
        Path::new("s/rest.yaml"),
        &REST.replace("entries: [1]", "entries: [2]"),
        cat(),
    )
    .unwrap_err();
    assert!(e.starts_with("s/rest.yaml:13:"), "{e}");
    assert!(e.contains("entry 2 is not in the mailbox"), "{e}");
    let e = load_case(
        Path::new("s/rest.yaml"),
        &REST.replace("served: encrypted-to-someone-else", "served: forged"),
        cat(),
    )
    .unwrap_err();
    assert!(e.contains("forged"), "{e}");
    let e = load_case(
        Path::new("s/rest.yaml"),
        &REST.replace(
            "profile: kvc\n",
            "profile: kvc\napplicability: {transport: [smtp-pop3]}\n",
        ),
        cat(),
    )
    .unwrap_err();
    assert!(e.contains("could never run"), "{e}");
}

#[test]
fn crlf_conversion() {
    assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
}
