//! Lints every KIM vector listed in vectors/kim/MANIFEST.yaml and compares profile, file verdict,
//! the exact set of rules that report errors (and warnings, where listed), and the listed
//! per-requirement verdicts. All
//! mismatches are collected and reported together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kvc_check::lint::{FileResult, LintOptions, ProfileChoice, lint_bytes, select_profile};
use kvc_check::message::Message;
use kvc_check::rules::{KvcRegistry, RequirementVerdict, Severity, kim};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    vectors: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    file: Option<String>,
    /// A vector built by this test (large messages are not stored in the repository).
    #[serde(default)]
    generated: Option<String>,
    profile: String,
    #[serde(default)]
    forced_profile: bool,
    verdict: String,
    errors: Vec<String>,
    /// When given: the exact set of rule ids reporting warnings (e.g. an accepted alternative).
    #[serde(default)]
    warnings: Option<Vec<String>>,
    requirements: BTreeMap<String, String>,
    note: String,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/kim")
}

fn choice(profile: &str) -> Option<ProfileChoice> {
    match profile {
        "kim-1.0" => Some(ProfileChoice::Kim10),
        "kim-1.5" => Some(ProfileChoice::Kim15),
        "kvc" => Some(ProfileChoice::Kvc),
        _ => None,
    }
}

const MIB: usize = 1024 * 1024;

/// Base64 lines of `n` decoded bytes (76 characters per line, CRLF).
fn base64_lines(n: usize) -> String {
    let line = "QUFB".repeat(19); // 57 bytes per 76-character line
    let lines = n / 57;
    let mut out = String::with_capacity(lines * 78);
    for _ in 0..lines {
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out
}

const CLIENT_HEADER: &str = "Message-ID: <big-1@arzt.kim.telematik-test>\r\n\
Date: Fri, 9 Sep 2022 15:47:00 +0200\r\n\
From: Praxis A <praxis.a@arzt.kim.telematik-test>\r\n\
To: Praxis B <praxis.b@arzt.kim.telematik-test>\r\n\
Subject: Grosse Nachricht\r\n\
MIME-Version: 1.0\r\n\
X-KIM-Dienstkennung: KIM-Mail;Default;V1.0\r\n\
X-KIM-Sendersystem: Beispiel-PVS;2.81\r\n";

/// A client mail with a text part and a base64 attachment of `attachment` decoded bytes.
fn client_with_attachment(attachment: usize, kom_le: bool) -> Vec<u8> {
    let mut m = String::from(CLIENT_HEADER);
    if kom_le {
        m = m.replace("Subject: Grosse Nachricht", "Subject: KOM-LE-Nachricht");
        m.push_str(
            "X-KOM-LE-Version: 1.0\r\n\
X-KIM-CMVersion: AKNET_1.1.0-0\r\n\
X-KIM-PTVersion: 1.2.1\r\n\
X-KIM-KONVersion: <secunet konnektor 2.0.0><Konnektor PTV5><5.0.2><2.0.0><5.0.5>\r\n\
Expires: Thu, 08 Dec 2022 15:48:35 +0200\r\n\
Content-Type: application/pkcs7-mime; smime-type=authenticated-enveloped-data; name=smime.p7m\r\n\
Content-Disposition: attachment; filename=smime.p7m\r\n\
Content-Transfer-Encoding: base64\r\n\r\n",
        );
        m.push_str(&base64_lines(attachment));
        return m.into_bytes();
    }
    m.push_str("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n");
    m.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\nAnbei die Aufnahme.\r\n--b1\r\n");
    m.push_str("Content-Type: application/octet-stream; name=aufnahme.bin\r\n");
    m.push_str("Content-Disposition: attachment; filename=aufnahme.bin\r\n");
    m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    m.push_str(&base64_lines(attachment));
    m.push_str("--b1--\r\n");
    m.into_bytes()
}

/// A client mail whose inline text body has `n` bytes.
fn client_with_text(n: usize) -> Vec<u8> {
    let mut m = String::from(CLIENT_HEADER);
    m.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    let line = "Befundtext ".repeat(7);
    let line = format!("{}\r\n", line.trim_end());
    while m.len() < n {
        m.push_str(&line);
    }
    m.into_bytes()
}

fn generate(name: &str) -> Option<Vec<u8>> {
    Some(match name {
        // 12 MiB decoded is about 16.2 MiB on the wire: within the net limit.
        "client-12mib-attachment" => client_with_attachment(12 * MIB, false),
        "client-16mib-attachment" => client_with_attachment(16 * MIB, false),
        "komle-1.0-16mib" => client_with_attachment(16 * MIB, true),
        "client-26mib-text" => client_with_text(26 * MIB + 1024),
        _ => return None,
    })
}

fn verdict_str(v: RequirementVerdict) -> &'static str {
    match v {
        RequirementVerdict::Pass => "pass",
        RequirementVerdict::Fail => "fail",
        RequirementVerdict::Skip => "skip",
    }
}

fn describe(result: &FileResult) -> String {
    result
        .findings
        .iter()
        .map(|f| {
            format!(
                "      {} {} [{}] {}: {}",
                f.severity.as_str(),
                f.rule,
                f.requirement,
                f.location,
                f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn kim_vectors_match_the_manifest() {
    let dir = vectors_dir();
    let text =
        std::fs::read_to_string(dir.join("MANIFEST.yaml")).expect("vectors/kim/MANIFEST.yaml");
    let manifest: Manifest = serde_saphyr::from_str(&text).expect("MANIFEST.yaml parses");
    let registry = KvcRegistry::builtin().expect("registry");
    let mut mismatches = Vec::new();
    let mut failing_rules: BTreeSet<String> = BTreeSet::new();
    let mut listed_files = BTreeSet::new();
    for entry in &manifest.vectors {
        let (name, raw) = match (&entry.file, &entry.generated) {
            (Some(file), None) => {
                listed_files.insert(file.clone());
                match std::fs::read(dir.join(file)) {
                    Ok(raw) => (file.clone(), raw),
                    Err(e) => {
                        mismatches.push(format!("{file}: cannot read: {e}"));
                        continue;
                    }
                }
            }
            (None, Some(g)) => match generate(g) {
                Some(raw) => (format!("generated:{g}"), raw),
                None => {
                    mismatches.push(format!("generated:{g}: unknown generator"));
                    continue;
                }
            },
            _ => {
                mismatches.push(format!("{entry:?}: needs exactly one of file/generated"));
                continue;
            }
        };
        let Some(expected_choice) = choice(&entry.profile) else {
            mismatches.push(format!("{name}: unknown profile {}", entry.profile));
            continue;
        };
        let auto = select_profile(ProfileChoice::Auto, &Message::new(&raw));
        let use_choice = if entry.forced_profile {
            expected_choice
        } else {
            if auto.as_str() != entry.profile {
                mismatches.push(format!(
                    "{name}: --profile auto picks {}, manifest says {}",
                    auto.as_str(),
                    entry.profile
                ));
            }
            ProfileChoice::Auto
        };
        let opts = LintOptions {
            profile: use_choice,
            registry: registry.clone(),
            max_size: 64 * MIB as u64,
            smime: None,
        };
        let result = lint_bytes(&name, &raw, &opts);
        let mut problems = Vec::new();
        let verdict = format!("{:?}", result.verdict).to_lowercase();
        if verdict != entry.verdict {
            problems.push(format!(
                "file verdict {verdict}, expected {}",
                entry.verdict
            ));
        }
        let errors: BTreeSet<String> = result
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.rule.to_string())
            .collect();
        let expected: BTreeSet<String> = entry.errors.iter().cloned().collect();
        if errors != expected {
            problems.push(format!(
                "rules with errors {errors:?}, expected {expected:?}"
            ));
        }
        failing_rules.extend(expected);
        if let Some(want) = &entry.warnings {
            let warned: BTreeSet<String> = result
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .map(|f| f.rule.to_string())
                .collect();
            let want: BTreeSet<String> = want.iter().cloned().collect();
            if warned != want {
                problems.push(format!("rules with warnings {warned:?}, expected {want:?}"));
            }
        }
        for (req, want) in &entry.requirements {
            let got = result
                .requirements
                .iter()
                .find(|r| r.requirement == req.as_str())
                .map(|r| verdict_str(r.verdict))
                .unwrap_or("absent");
            if got != want {
                problems.push(format!("requirement {req}: {got}, expected {want}"));
            }
        }
        if !problems.is_empty() {
            mismatches.push(format!(
                "{name} ({}): {}\n{}",
                entry.note,
                problems.join("; "),
                describe(&result)
            ));
        }
    }
    // Every file in vectors/kim is listed, and every KIM rule has a vector that makes it fail.
    for entry in walk(&dir) {
        let rel = entry
            .strip_prefix(&dir)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        if (rel.ends_with(".eml") || rel.ends_with(".txt")) && !listed_files.contains(&rel) {
            mismatches.push(format!("{rel}: not listed in MANIFEST.yaml"));
        }
    }
    for rule in kim::RULES {
        if !failing_rules.contains(rule.id()) {
            mismatches.push(format!("rule {} has no failing vector", rule.id()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatch(es):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
