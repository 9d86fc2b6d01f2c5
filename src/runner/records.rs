//! Captured messages as records of a case: each linted with the same rules as `kvc-check lint`
//! and named by the file the report writes it to.

use super::model::MessageRecord;
use super::observe::{Evidence, MockHost, Via};
use crate::lint::{self, LintOptions, ProfileChoice};
use crate::rules::{KvcRegistry, Profile};
use crate::suite::Case;

/// A path segment safe for the report directory, from a case ID (`/` keeps nesting).
pub fn case_dir(id: &str) -> String {
    let mut out: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_./".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    while out.contains("..") {
        out = out.replace("..", "_");
    }
    out.trim_matches('/').to_string()
}

fn lint_options(profile: Profile, registry: &KvcRegistry) -> LintOptions {
    LintOptions {
        profile: match profile {
            Profile::Kvc => ProfileChoice::Kvc,
            Profile::Kim10 => ProfileChoice::Kim10,
            Profile::Kim15 => ProfileChoice::Kim15,
        },
        registry: registry.clone(),
        max_size: lint::DEFAULT_MAX_SIZE,
        // KV-Connect messages between PVS and KV-Connect Client are plain MIME; S/MIME is the
        // Client's business.
        smime: None,
    }
}

/// Lints captured messages and turns them into records (`cases/<case>/message-N.eml`). A
/// message the role's host can open (kvc-pvs: one posted over REST) is linted as `kvc-check
/// lint --key <recipient key>` would: opened with the key of a recipient account the mocks
/// hold, so decryption and signature results join the header rules.
pub fn message_records(
    case: &Case,
    obs: &Evidence,
    registry: &KvcRegistry,
    mocks: &dyn MockHost,
) -> Vec<MessageRecord> {
    let dir = case_dir(&case.id);
    obs.messages()
        .enumerate()
        .map(|(i, m)| {
            let file = format!("cases/{dir}/message-{}.eml", i + 1);
            let mut opts = lint_options(case.profile, registry);
            let opening = mocks.open_captured(&m);
            let (opened_with, decryptable_by) = match opening {
                Some(o) => {
                    opts.smime = Some(o.keys);
                    (Some(o.recipient), o.decryptable_by)
                }
                None => (None, Vec::new()),
            };
            let mut linted = lint::lint_bytes(&file, m.data, &opts);
            if opts.smime.is_some() && linted.smime.is_none() && linted.error.is_some() {
                // The message does not open (e.g. not encrypted to the key): its header rules
                // still count, the S/MIME failure is kept as a diagnostic.
                opts.smime = None;
                let why = linted.error.take().unwrap_or_default();
                linted = lint::lint_bytes(&file, m.data, &opts);
                linted.diagnostics.push(lint::Diagnostic {
                    line: 1,
                    message: format!("S/MIME: {why}"),
                });
            }
            // The client mail inside, for checks on what the SUT put into it (kim-cm).
            let inner = opts.smime.as_ref().and_then(|k| {
                kvc_smime::message::open_message(m.data, &k.key, &k.trust, k.at)
                    .ok()
                    .and_then(|o| o.inner_message)
            });
            MessageRecord {
                reference: format!("{}#{}", case.id, i + 1),
                lint: linted,
                file,
                size: m.data.len(),
                mail_from: m.mail_from.to_string(),
                rcpt_to: m.rcpt_to.to_vec(),
                opened_with,
                decryptable_by,
                data: m.data.to_vec(),
                delivered: m.via == Via::Delivered,
                inner,
            }
        })
        .collect()
}
