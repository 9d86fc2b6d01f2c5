//! Command adapter: one command template per action. The template is split into words like a
//! shell would (whitespace, '...' and "..." quoting; no other shell syntax), then each
//! `{placeholder}` is replaced inside its word, so values never become extra arguments and no
//! shell is involved. The command runs with stdin closed; a non-zero exit is a failed trigger.
//! The process is killed when the case times out.
//!
//! Placeholders: `{to}` (comma-separated), `{app}`, `{subject}`, `{file}` (a file holding the
//! body), `{smtp_host}`, `{smtp_port}`, `{pop3_host}`, `{pop3_port}`, `{ca_file}`, `{user}`,
//! `{password}`, `{from}`; REST transport: `{rest_url}`, `{rest_host}`, `{rest_port}`,
//! `{ldap_port}`, `{user_key_file}`, `{user_cert_file}`, `{user_ca_file}` (empty in SMTP/POP3
//! cases).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::{SendRequest, StoredReport, SutAdapter};
use crate::runner::observe::{BoxFuture, Endpoints};

pub const PLACEHOLDERS: &[&str] = &[
    "to",
    "app",
    "subject",
    "file",
    "smtp_host",
    "smtp_port",
    "pop3_host",
    "pop3_port",
    "ca_file",
    "user",
    "password",
    "from",
    "rest_url",
    "rest_host",
    "rest_port",
    "ldap_port",
    "user_key_file",
    "user_cert_file",
    "user_ca_file",
];

/// Output kept per stream for the evidence; the rest is read and discarded.
const OUTPUT_LIMIT: usize = 16 * 1024;

pub struct CommandAdapter {
    name: String,
    transport: String,
    send: Vec<String>,
    fetch: Vec<String>,
    stored: Option<Vec<String>>,
    cwd: PathBuf,
}

impl CommandAdapter {
    pub fn new(
        name: &str,
        transport: &str,
        send: &str,
        fetch: &str,
        cwd: PathBuf,
    ) -> Result<Self, String> {
        let send = split_words(send)?;
        let fetch = split_words(fetch)?;
        if send.is_empty() || fetch.is_empty() {
            return Err("empty command template".into());
        }
        Ok(CommandAdapter {
            name: name.to_string(),
            transport: transport.to_string(),
            send,
            fetch,
            stored: None,
            cwd,
        })
    }

    /// A command printing the SUT's local store as JSON (see [`parse_stored`]).
    pub fn with_stored(mut self, template: Option<&str>) -> Result<Self, String> {
        self.stored = match template {
            Some(t) => {
                let words = split_words(t)?;
                if words.is_empty() {
                    return Err("empty command template".into());
                }
                Some(words)
            }
            None => None,
        };
        Ok(self)
    }
}

/// Checks a template: it splits, is non-empty, and names only known placeholders.
pub fn validate_template(template: &str) -> Result<(), String> {
    let words = split_words(template)?;
    if words.is_empty() {
        return Err("empty command template".into());
    }
    for w in &words {
        let mut rest = w.as_str();
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                return Err(format!("unclosed `{{` in `{w}`"));
            };
            let name = &rest[start + 1..start + len];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "unknown placeholder {{{name}}} (known: {})",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            rest = &rest[start + len + 1..];
        }
    }
    Ok(())
}

/// Splits a template into words: whitespace separates, '...' and "..." group, `\` escapes the
/// next character outside single quotes.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) => cur.push(x),
                            None => return Err("trailing backslash".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unclosed double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => return Err("trailing backslash".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Replaces `{name}` placeholders in one word.
pub fn substitute(word: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(len) => {
                let name = &rest[start + 1..start + len];
                match value(name) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[start..start + len + 1]),
                }
                rest = &rest[start + len + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn endpoint_value(ep: &Endpoints, name: &str) -> Option<String> {
    Some(match name {
        "smtp_host" | "pop3_host" => ep.host.clone(),
        "smtp_port" => ep.smtp.port().to_string(),
        "pop3_port" => ep.pop3.port().to_string(),
        "ca_file" => ep.ca_file.display().to_string(),
        "user" => ep.user.clone(),
        "password" => ep.password.clone(),
        "from" => ep.from.clone(),
        "rest_host" => ep
            .rest
            .as_ref()
            .map(|_| ep.host.clone())
            .unwrap_or_default(),
        "rest_url" | "rest_port" | "ldap_port" | "user_key_file" | "user_cert_file"
        | "user_ca_file" => {
            let Some(r) = &ep.rest else {
                return Some(String::new());
            };
            match name {
                "rest_url" => r.base_url.clone(),
                "rest_port" => r.addr.port().to_string(),
                "ldap_port" => r.ldap.port().to_string(),
                "user_key_file" => r.user_key_file.display().to_string(),
                "user_cert_file" => r.user_cert_file.display().to_string(),
                _ => r.user_ca_file.display().to_string(),
            }
        }
        _ => return None,
    })
}

static BODY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes the body file when the trigger ends (also on timeout, when the future is dropped).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn read_limited<R: AsyncRead + Unpin>(mut r: R, limit: usize) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).trim().to_string()
}

/// Runs a command: (exit status success, stdout up to `stdout_limit`, evidence line).
async fn run_capture(
    argv: Vec<String>,
    cwd: PathBuf,
    stdout_limit: usize,
) -> Result<(bool, String, String), String> {
    let shown = argv.join(" ");
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "empty command".to_string())?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("`{shown}`: cannot start: {e}"))?;
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(read_limited(s, stdout_limit)));
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(read_limited(s, OUTPUT_LIMIT)));
    let status = child.wait().await.map_err(|e| format!("`{shown}`: {e}"))?;
    let stdout = match out {
        Some(h) => h.await.unwrap_or_default(),
        None => String::new(),
    };
    let stderr = match err {
        Some(h) => h.await.unwrap_or_default(),
        None => String::new(),
    };
    let mut detail = format!("`{shown}` exited with {status}");
    if !stdout.is_empty() {
        let shown_out: String = stdout.chars().take(OUTPUT_LIMIT).collect();
        detail.push_str(&format!("; stdout: {shown_out}"));
    }
    if !stderr.is_empty() {
        detail.push_str(&format!("; stderr: {stderr}"));
    }
    Ok((status.success(), stdout, detail))
}

async fn run_command(argv: Vec<String>, cwd: PathBuf) -> Result<String, String> {
    let (ok, _, detail) = run_capture(argv, cwd, OUTPUT_LIMIT).await?;
    if ok { Ok(detail) } else { Err(detail) }
}

/// Largest store report a `stored` command may print.
const STORED_LIMIT: usize = 1024 * 1024;

/// Parses a store report: a JSON array of `{"message_id", "valid", "warning"}`.
pub fn parse_stored(text: &str) -> Result<Vec<StoredReport>, String> {
    serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "the store report is not a JSON array of {{\"message_id\", \"valid\", \"warning\"}}: {e}"
        )
    })
}

impl SutAdapter for CommandAdapter {
    fn describe(&self) -> String {
        format!("{} (command: {})", self.name, self.send.join(" "))
    }

    fn transports(&self) -> Vec<String> {
        vec![self.transport.clone()]
    }

    fn send<'a>(
        &'a self,
        ep: &'a Endpoints,
        req: &'a SendRequest,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let n = BODY_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("kvc-check-{}-{n}.txt", std::process::id()));
            std::fs::write(&path, req.body.as_bytes())
                .map_err(|e| format!("writing the body file {}: {e}", path.display()))?;
            let file = TempFile(path);
            let value = |name: &str| -> Option<String> {
                match name {
                    "to" => Some(req.to.join(",")),
                    "app" => Some(req.application.clone()),
                    "subject" => Some(req.subject.clone().unwrap_or_default()),
                    "file" => Some(file.0.display().to_string()),
                    other => endpoint_value(ep, other),
                }
            };
            let argv = self.send.iter().map(|w| substitute(w, &value)).collect();
            let result = run_command(argv, self.cwd.clone()).await;
            drop(file);
            result
        })
    }

    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let value = |name: &str| endpoint_value(ep, name);
            let argv = self.fetch.iter().map(|w| substitute(w, &value)).collect();
            run_command(argv, self.cwd.clone()).await
        })
    }

    fn stored<'a>(
        &'a self,
        ep: &'a Endpoints,
    ) -> BoxFuture<'a, Result<Option<Vec<StoredReport>>, String>> {
        Box::pin(async move {
            let Some(template) = &self.stored else {
                return Ok(None);
            };
            let value = |name: &str| endpoint_value(ep, name);
            let argv = template.iter().map(|w| substitute(w, &value)).collect();
            let (ok, stdout, detail) = run_capture(argv, self.cwd.clone(), STORED_LIMIT).await?;
            if !ok {
                return Err(detail);
            }
            parse_stored(&stdout)
                .map(Some)
                .map_err(|e| format!("{e}; {detail}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_reports_parse_or_say_why() {
        let r = parse_stored(
            r#"[{"message_id":"a@b","valid":true},{"message_id":"c@d","valid":false,"warning":"Signatur ungültig"}]"#,
        )
        .expect("parses");
        assert_eq!(r.len(), 2);
        assert!(r[0].valid && r[0].warning.is_none());
        assert_eq!(r[1].warning.as_deref(), Some("Signatur ungültig"));
        let e = parse_stored("stored 2 messages").unwrap_err();
        assert!(e.contains("not a JSON array"), "{e}");
        assert!(parse_stored(r#"[{"message_id":"a"}]"#).is_err());
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_words(r#"a 'b c' "d \"e\"" f\ g"#).expect("splits"),
            vec!["a", "b c", "d \"e\"", "f g"]
        );
        assert!(split_words("a 'b").is_err());
    }

    #[test]
    fn substitutes_inside_words() {
        let v = |n: &str| (n == "smtp_port").then(|| "465".to_string());
        assert_eq!(
            substitute("--smtp=localhost:{smtp_port}", &v),
            "--smtp=localhost:465"
        );
        assert_eq!(substitute("{x}", &v), "{x}");
    }

    #[test]
    fn a_value_with_spaces_stays_one_argument() {
        let v = |_: &str| Some("a b; rm -rf /".to_string());
        let words: Vec<String> = split_words("tool --subject {subject}")
            .expect("splits")
            .iter()
            .map(|w| substitute(w, &v))
            .collect();
        assert_eq!(words.len(), 3);
        assert_eq!(words[2], "a b; rm -rf /");
    }
}
