//! Every lint report format (text, JSON, SARIF, JUnit) on lint results built from the input.
//! Byte 0: bits 0-1 pick the format; bit 2 set = lint the rest as a message (auto profile);
//! clear = the rest, split at NUL, fills a synthetic result's strings (path, finding, header
//! name, skip reason, diagnostic, error), so every character reaches every renderer.
//! Oracles: JSON and SARIF parse back as JSON; JUnit is well-formed XML 1.0.
//! `KVC_FUZZ_ALLOW=xml-chars` skips the XML 1.0 character check (a known open defect, issue 10
//! item 8) so a campaign can look for other failures meanwhile; see docs/RELIABILITY.md.
#![no_main]

use std::sync::OnceLock;

use kvc_check::lint::{
    DEFAULT_MAX_SIZE, Diagnostic, FileResult, FileVerdict, LintOptions, ProfileChoice, lint_bytes,
};
use kvc_check::report::{LintFormat, render_lint};
use kvc_check::rules::{
    Finding, KvcRegistry, Location, Profile, RequirementResult, RequirementVerdict, Severity,
};
use libfuzzer_sys::fuzz_target;

const FORMATS: [LintFormat; 4] = [
    LintFormat::Text,
    LintFormat::Json,
    LintFormat::Sarif,
    LintFormat::Junit,
];

fn options() -> &'static LintOptions {
    static OPTS: OnceLock<LintOptions> = OnceLock::new();
    OPTS.get_or_init(|| LintOptions {
        profile: ProfileChoice::Auto,
        registry: KvcRegistry::builtin().expect("built-in registry"),
        max_size: DEFAULT_MAX_SIZE,
        smime: None,
    })
}

fn synthetic(rest: &[u8]) -> FileResult {
    let mut parts = rest
        .split(|&b| b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let mut next = || parts.next().unwrap_or_default();
    let path = next();
    let message = next();
    let header = next();
    let reason = next();
    let diagnostic = next();
    let error = next();
    let line = rest.len();
    FileResult {
        path,
        verdict: if error.is_empty() {
            FileVerdict::Fail
        } else {
            FileVerdict::Error
        },
        profile: Some(Profile::Kvc),
        size: rest.len() as u64,
        requirements: vec![
            RequirementResult {
                requirement: "KVC-Anb023",
                verdict: RequirementVerdict::Fail,
                reason: None,
            },
            RequirementResult {
                requirement: "KVC-Anb170",
                verdict: RequirementVerdict::Skip,
                reason: Some(reason),
            },
            RequirementResult {
                requirement: "KVC-Anb160",
                verdict: RequirementVerdict::Pass,
                reason: None,
            },
        ],
        findings: vec![
            Finding {
                rule: "kvc/crlf",
                requirement: "KVC-Anb023",
                severity: Severity::Error,
                message: message.clone(),
                location: Location::Header { name: header, line },
            },
            Finding {
                rule: "kvc/crlf",
                requirement: "KVC-Anb023",
                severity: Severity::Warning,
                message,
                location: Location::Line { line },
            },
        ],
        diagnostics: vec![Diagnostic {
            line,
            message: diagnostic,
        }],
        error: (!error.is_empty()).then_some(error),
        smime: None,
    }
}

fn xml10_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// XML 1.0 well-formedness as far as a CI server's parser cares: it parses, end tags match, and
/// every character, literal or as a reference (`&#x1B;` is as fatal as the raw byte), is one
/// XML 1.0 allows (quick-xml does not check the character ranges itself).
fn assert_xml(xml: &str) {
    use quick_xml::events::Event;
    static ALLOW_CHARS: OnceLock<bool> = OnceLock::new();
    let allow_chars = *ALLOW_CHARS.get_or_init(|| {
        std::env::var("KVC_FUZZ_ALLOW").is_ok_and(|v| v.split(',').any(|a| a == "xml-chars"))
    });
    let check = |text: &str, what: &str| {
        if let Some(c) = text.chars().find(|&c| !allow_chars && !xml10_char(c)) {
            panic!(
                "JUnit {what} contains U+{:04X}, forbidden in XML 1.0",
                c as u32
            );
        }
    };
    check(xml, "output");
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::GeneralRef(r)) => match r.resolve_char_ref() {
                Ok(Some(c)) => check(&c.to_string(), "character reference"),
                Ok(None) => {
                    let name = r.decode().unwrap_or_default();
                    assert!(
                        matches!(&*name, "lt" | "gt" | "amp" | "apos" | "quot"),
                        "JUnit output uses undeclared entity &{name};"
                    );
                }
                Err(e) => panic!("JUnit character reference: {e}"),
            },
            Ok(Event::Start(e) | Event::Empty(e)) => {
                for attr in e.attributes() {
                    let attr = match attr {
                        Ok(a) => a,
                        Err(err) => panic!("JUnit attribute: {err}"),
                    };
                    match attr.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                        Ok(v) => check(&v, "attribute"),
                        Err(err) => panic!("JUnit attribute value: {err}"),
                    }
                }
            }
            Ok(_) => {}
            Err(e) => panic!("JUnit output is not well-formed XML: {e}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector & 3)];
    let result = if selector & 4 != 0 {
        lint_bytes("fuzz.eml", rest, options())
    } else {
        synthetic(rest)
    };
    let out = match render_lint(std::slice::from_ref(&result), format) {
        Ok(out) => out,
        Err(e) => panic!("{format:?} rendering failed: {e}"),
    };
    match format {
        LintFormat::Json | LintFormat::Sarif => {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&out) {
                panic!("{format:?} output is not JSON: {e}");
            }
        }
        LintFormat::Junit => assert_xml(&out),
        LintFormat::Text => {}
    }
});
