//! `lint` judges messages only: a named file that is not an RFC 5322 message (NUL bytes, DER,
//! binary, no header field) is an input error (exit 2) naming the file; a directory walk skips
//! such files and lists them on stderr. Path arguments need not be UTF-8.

mod common;

use std::process::{Command, Output};

use kvc_check::lint::not_a_message;

fn lint(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .args(["lint", "--format", "json"])
        .args(args)
        .output()
        .expect("run kvc-check")
}

fn elf_like() -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    b.extend((0..200u8).map(|i| i % 7));
    b
}

/// A DER SEQUENCE with a long length, as a CMS blob or certificate starts.
fn der() -> Vec<u8> {
    let mut b = vec![0x30, 0x82, 0x01, 0x10, 0x06, 0x09, 0x2a, 0x86, 0x48];
    b.extend(std::iter::repeat_n(b'A', 256));
    b
}

#[rstest::rstest]
#[case::nul_in_header(b"From: a@b\0c\r\n\r\nbody".to_vec(), "NUL bytes")]
#[case::executable(elf_like(), "NUL bytes")]
#[case::der(der(), "DER/BER")]
#[case::binary_no_nul(vec![0x01; 100], "binary data")]
#[case::plain_text(b"just some notes\nsecret\n".to_vec(), "no header field")]
#[case::password(b"hunter2\n".to_vec(), "no header field")]
#[case::body_only(b"\r\nHello\r\n".to_vec(), "no header field")]
fn non_messages_are_recognised(#[case] raw: Vec<u8>, #[case] why: &str) {
    let reason = not_a_message(&raw).expect("not a message");
    assert!(reason.contains(why), "{reason}");
}

#[rstest::rstest]
#[case::crlf(b"From: a@b\r\nTo: c@d\r\n\r\nbody\r\n".as_slice())]
#[case::lf_only(b"Subject: x\n\nbody\n".as_slice())]
#[case::mbox_from_line(b"From a@b Thu Jan  1 00:00:00 2026\nFrom: a@b\n\nbody\n".as_slice())]
#[case::space_before_colon(b"Subject : x\n\nbody".as_slice())]
#[case::header_defects_first(b"garbage line\nFrom: a@b\n\nbody".as_slice())]
#[case::no_body(b"X-Only: header".as_slice())]
#[case::binary_body(b"Content-Transfer-Encoding: binary\n\n\0\0\0\x01\x02\x03\x04".as_slice())]
#[case::eight_bit_header("Subject: Grüße\n\nä".as_bytes())]
fn malformed_messages_still_count_as_messages(#[case] raw: &[u8]) {
    assert_eq!(not_a_message(raw), None);
}

#[test]
fn every_vector_and_corpus_message_still_counts_as_a_message() {
    // The files in these folders that are not messages (documentation, DER blobs, PEM).
    let not_messages = [
        "MANIFEST.tsv",
        "smime-certs__smroot.pem",
        "smime-certs__smrsa1.pem",
        "recipes__80-test_cms_data__ct_multiple_attr.cms",
        "recipes__80-test_cms_data__bad_signtime_attr.cms",
        "recipes__80-test_cms_data__no_md_attr.cms",
        "recipes__80-test_cms_data__no_ct_attr.cms",
        // cpython's test of a message without any header (body only)
        "msg_19.txt",
    ];
    let mut checked = 0;
    let mut stack = vec![
        common::repo_root().join("vectors"),
        common::third_party_dir().join("corpus"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                // Interface files (WSDL/XSD, OpenAPI) of gematik, not messages.
                if !path.ends_with("third-party") {
                    stack.push(path);
                }
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "eml" | "txt" | "msg" | "mime" | "cms" | "pem" | "tsv") {
                continue;
            }
            let raw = std::fs::read(&path).expect("read");
            if raw.is_empty() {
                continue;
            }
            let verdict = not_a_message(&raw);
            assert_eq!(
                verdict.is_some(),
                not_messages.contains(&name),
                "{}: {verdict:?}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 380, "only {checked} files checked");
}

#[test]
fn a_named_non_message_is_an_input_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("tool.eml");
    std::fs::write(&bin, elf_like()).expect("write");
    let o = lint(&[bin.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!("{}: NUL bytes", bin.display())),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json[0]["verdict"], "error");
    assert!(json[0]["findings"].as_array().expect("array").is_empty());
}

#[test]
fn a_directory_walk_skips_and_lists_non_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        common::repo_root().join("vectors/kvc/pass-arztbrief.eml"),
        dir.path().join("a.eml"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("password.txt"), "hunter2\n").expect("write");
    std::fs::write(dir.path().join("SOURCE.txt"), "Copied from elsewhere.\n").expect("write");
    std::fs::write(dir.path().join("blob.msg"), der()).expect("write");
    let o = lint(&[dir.path().as_os_str()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    for name in ["password.txt", "SOURCE.txt", "blob.msg"] {
        let shown = dir.path().join(name).display().to_string();
        assert!(
            stderr.contains(&format!("skipped {shown}: ")),
            "{name}: {stderr}"
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let paths: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert!(paths[0].ends_with("a.eml"));
}

#[test]
fn a_directory_of_only_non_messages_is_an_input_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "nothing here\n").expect("write");
    let o = lint(&[dir.path().as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("every file was skipped"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn a_missing_non_utf8_path_is_named_in_the_error() {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"/nonexistent/caf\xe9.eml");
    let o = lint(&[name]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("/nonexistent/caf\u{fffd}.eml: no such file or directory"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn an_existing_non_utf8_path_is_linted() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9.eml"));
    std::fs::copy(
        common::repo_root().join("vectors/kvc/pass-arztbrief.eml"),
        &path,
    )
    .expect("copy");
    let o = lint(&[path.as_os_str()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
