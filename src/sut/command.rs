//! Command adapter: one command template per action. The template is split into words like a
//! shell would (whitespace, '...' and "..." quoting; no other shell syntax), then each
//! `{placeholder}` is replaced inside its word, so values never become extra arguments and no
//! shell is involved. The command runs with stdin closed; a non-zero exit is a failed trigger.
//! It runs in its own process group, which is killed as a whole when the command returns or
//! the case times out (children it forked included); output still open after the command
//! exited is read for [`OUTPUT_GRACE`] only. The account password is masked (`***`) in the
//! shown command line and output. Path placeholders are absolute.
//!
//! Placeholders: `{to}` (comma-separated), `{app}`, `{subject}`, `{file}` (a file holding the
//! body), `{smtp_host}`, `{smtp_port}`, `{pop3_host}`, `{pop3_port}`, `{ca_file}`, `{user}`,
//! `{password}`, `{from}`; REST transport: `{rest_url}`, `{rest_host}`, `{rest_port}`,
//! `{ldap_port}`, `{user_key_file}`, `{user_cert_file}`, `{user_ca_file}` (empty in SMTP/POP3
//! cases).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::{Reply, Secrets, SendRequest, StoredReport, SutAdapter};
use crate::sut::endpoints::Endpoints;

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
    send: Vec<String>,
    fetch: Vec<String>,
    stored: Option<Vec<String>>,
    cwd: PathBuf,
}

impl CommandAdapter {
    pub fn new(send: &str, fetch: &str, cwd: PathBuf) -> Result<Self, String> {
        let send = split_words(send)?;
        let fetch = split_words(fetch)?;
        if send.is_empty() || fetch.is_empty() {
            return Err("empty command template".into());
        }
        Ok(CommandAdapter {
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
        "smtp_port" => ep.port("smtp").to_string(),
        "pop3_port" => ep.port("pop3").to_string(),
        "ca_file" => absolute(&ep.ca_file),
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
                "rest_port" => ep.port("rest").to_string(),
                "ldap_port" => ep.port("directory").to_string(),
                "user_key_file" => absolute(&r.user_key_file),
                "user_cert_file" => absolute(&r.user_cert_file),
                _ => absolute(&r.user_ca_file),
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

/// A path as the SUT gets it: absolute, because the command runs in another folder than the
/// one kvc-check was started in (where relative paths such as `--out` were meant).
fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The process group of one trigger command (its leader's pid). Dropping it kills the whole
/// group, so children the command forked (`server &`) do not outlive the trigger: on return,
/// on timeout (the future is dropped) and when the run ends.
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.0.and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: killpg takes plain integers and touches no memory of this process; the
            // group is the one spawn() created for this command (process_group(0)).
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

/// How long output is still read once the command itself has exited: a backgrounded child
/// holding stdout open must not turn a finished command into a timeout.
const OUTPUT_GRACE: Duration = Duration::from_millis(200);

/// Reads `r` to its end, keeping the first `limit` bytes in `kept`.
async fn read_into<R: AsyncRead + Unpin>(r: Option<R>, kept: &mut Vec<u8>, limit: usize) {
    let Some(mut r) = r else { return };
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
}

/// Output as shown in evidence: secrets masked, then cut to `limit` bytes (bytes beyond the
/// cut were kept so a secret straddling it is masked whole).
fn shown_output(raw: &[u8], secrets: &Secrets, limit: usize) -> String {
    let text = secrets.mask(String::from_utf8_lossy(raw).trim());
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Why a command did not start, naming the program and the folder it was started in.
fn start_error(shown: &str, program: &str, cwd: &Path, e: std::io::Error) -> String {
    if !cwd.is_dir() {
        return format!(
            "`{shown}`: cannot start {program}: the working directory {} does not exist",
            cwd.display()
        );
    }
    format!(
        "`{shown}`: cannot start {program} in {}: {e}",
        cwd.display()
    )
}

/// Runs a command: (exit status success, stdout up to `stdout_limit`, evidence line). The
/// returned stdout is the command's own; the evidence line has `secrets` masked.
async fn run_capture(
    argv: Vec<String>,
    cwd: PathBuf,
    stdout_limit: usize,
    secrets: &Secrets,
) -> Result<(bool, String, String), String> {
    let shown = secrets.mask(&argv.join(" "));
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "empty command".to_string())?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| start_error(&shown, &secrets.mask(program), &cwd, e))?;
    let _group = ProcessGroup(child.id());
    let slack = secrets.longest();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let mut reading = Box::pin(async {
        tokio::join!(
            read_into(stdout, &mut out, stdout_limit + slack),
            read_into(stderr, &mut err, OUTPUT_LIMIT + slack)
        )
    });
    let mut read_done = false;
    let status = loop {
        tokio::select! {
            s = child.wait() => break s,
            _ = &mut reading, if !read_done => read_done = true,
        }
    };
    if !read_done {
        let _ = tokio::time::timeout(OUTPUT_GRACE, &mut reading).await;
    }
    drop(reading);
    let status = status.map_err(|e| format!("`{shown}`: {e}"))?;
    let stdout = String::from_utf8_lossy(&out[..out.len().min(stdout_limit)])
        .trim()
        .to_string();
    let mut detail = format!("`{shown}` exited with {status}");
    let shown_out = shown_output(&out, secrets, OUTPUT_LIMIT);
    if !shown_out.is_empty() {
        detail.push_str(&format!("; stdout: {shown_out}"));
    }
    let shown_err = shown_output(&err, secrets, OUTPUT_LIMIT);
    if !shown_err.is_empty() {
        detail.push_str(&format!("; stderr: {shown_err}"));
    }
    Ok((status.success(), stdout, detail))
}

async fn run_command(argv: Vec<String>, cwd: PathBuf, secrets: &Secrets) -> Result<String, String> {
    let (ok, _, detail) = run_capture(argv, cwd, OUTPUT_LIMIT, secrets).await?;
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
        format!("command: {}", self.send.join(" "))
    }

    fn send<'a>(&'a self, ep: &'a Endpoints, req: &'a SendRequest) -> Reply<'a> {
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
                    "file" => Some(absolute(&file.0)),
                    other => endpoint_value(ep, other),
                }
            };
            let argv = self.send.iter().map(|w| substitute(w, &value)).collect();
            let result = run_command(argv, self.cwd.clone(), &Secrets::of(ep)).await;
            drop(file);
            result
        })
    }

    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a> {
        Box::pin(async move {
            let value = |name: &str| endpoint_value(ep, name);
            let argv = self.fetch.iter().map(|w| substitute(w, &value)).collect();
            run_command(argv, self.cwd.clone(), &Secrets::of(ep)).await
        })
    }

    fn stored<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a, Option<Vec<StoredReport>>> {
        Box::pin(async move {
            let Some(template) = &self.stored else {
                return Ok(None);
            };
            let value = |name: &str| endpoint_value(ep, name);
            let argv = template.iter().map(|w| substitute(w, &value)).collect();
            let secrets = Secrets::of(ep);
            let (ok, stdout, detail) =
                run_capture(argv, self.cwd.clone(), STORED_LIMIT, &secrets).await?;
            if !ok {
                return Err(detail);
            }
            let mut stored = parse_stored(&stdout).map_err(|e| format!("{e}; {detail}"))?;
            // The store report ends up in the report too.
            for s in &mut stored {
                s.message_id = secrets.mask(&s.message_id);
                s.warning = s.warning.as_deref().map(|w| secrets.mask(w));
            }
            Ok(Some(stored))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Whether `pid` is a live process (a zombie counts as gone: it runs nothing).
    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Waits up to 3 s for `pid` to die (SIGKILL delivery is asynchronous).
    fn gone(pid: u32) -> bool {
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if !alive(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn read_pid(path: &Path) -> u32 {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            assert!(Instant::now() < until, "{} not written", path.display());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn a_background_child_neither_blocks_nor_survives_the_trigger() {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(20),
            run_command(
                sh("sleep 300 & echo $! > child.pid; echo started"),
                dir.path().to_path_buf(),
                &Secrets::default(),
            ),
        )
        .await
        .expect("the trigger returns although `sleep 300` holds its stdout");
        let detail = result.expect("the command succeeded");
        assert!(detail.contains("started"), "{detail}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let child = read_pid(&dir.path().join("child.pid"));
        assert!(
            gone(child),
            "the backgrounded `sleep 300` ({child}) still runs"
        );
    }

    #[tokio::test]
    async fn a_timed_out_trigger_takes_its_children_along() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = tokio::time::timeout(
            Duration::from_millis(1500),
            run_command(
                sh("sleep 100 & echo $! > child.pid; echo $$ > sh.pid; sleep 100"),
                dir.path().to_path_buf(),
                &Secrets::default(),
            ),
        )
        .await;
        assert!(result.is_err(), "the trigger should time out: {result:?}");
        for file in ["sh.pid", "child.pid"] {
            let pid = read_pid(&dir.path().join(file));
            assert!(
                gone(pid),
                "{file}: process {pid} outlived the timed-out trigger"
            );
        }
    }

    #[tokio::test]
    async fn the_password_is_masked_in_the_command_line_and_its_output() {
        let secrets = Secrets::new("praxis", "S3cr3t-pw");
        let argv = vec![
            "sh".to_string(),
            "-c".into(),
            "echo \"out $1\"; echo \"err $1\" >&2; exit 3".into(),
            "sh".into(),
            "S3cr3t-pw".into(),
        ];
        let detail = run_command(argv, PathBuf::from("."), &secrets)
            .await
            .expect_err("exit 3 is a failed trigger");
        assert!(!detail.contains("S3cr3t"), "{detail}");
        assert!(detail.contains("sh ***`"), "{detail}");
        assert!(detail.contains("stdout: out ***"), "{detail}");
        assert!(detail.contains("stderr: err ***"), "{detail}");
    }

    #[tokio::test]
    async fn a_password_across_the_output_cut_is_masked_whole() {
        let secrets = Secrets::new("praxis", "S3cr3t-pw");
        let script = format!(
            "head -c {} /dev/zero | tr '\\0' x; printf S3cr3t-pw",
            OUTPUT_LIMIT - 4
        );
        let detail = run_command(sh(&script), PathBuf::from("."), &secrets)
            .await
            .expect("succeeds");
        assert!(!detail.contains("S3cr"), "{}", &detail[detail.len() - 40..]);
    }

    #[tokio::test]
    async fn a_command_that_cannot_start_names_the_program_and_the_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = run_command(
            vec!["./missing.sh".into(), "send".into()],
            dir.path().to_path_buf(),
            &Secrets::default(),
        )
        .await
        .expect_err("no such program");
        let want = format!("cannot start ./missing.sh in {}:", dir.path().display());
        assert!(e.contains(&want), "{e}");
        let e = run_command(
            vec!["true".into()],
            dir.path().join("nowhere"),
            &Secrets::default(),
        )
        .await
        .expect_err("no such folder");
        assert!(e.contains("nowhere does not exist"), "{e}");
    }

    #[test]
    fn path_placeholders_are_absolute() {
        let ep = Endpoints {
            transport: crate::sut::Transport::Rest,
            host: "localhost".into(),
            services: [("rest", "127.0.0.1:3"), ("directory", "127.0.0.1:4")]
                .into_iter()
                .map(|(n, a)| (n.to_string(), a.parse().expect("addr")))
                .collect(),
            rest: Some(crate::sut::endpoints::RestEndpoints {
                base_url: "https://localhost:3/kvconnect/rest".into(),
                user_key_file: "rel/user-pki/sut-key.pem".into(),
                user_cert_file: "rel/user-pki/sut-cert.pem".into(),
                user_ca_file: "rel/user-pki/user-ca.pem".into(),
            }),
            ca_file: "rel/ca.pem".into(),
            ca_pem: String::new(),
            user: "u".into(),
            password: "p".into(),
            from: "u@x".into(),
        };
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(endpoint_value(&ep, "rest_port").as_deref(), Some("3"));
        assert_eq!(endpoint_value(&ep, "ldap_port").as_deref(), Some("4"));
        assert_eq!(endpoint_value(&ep, "smtp_port").as_deref(), Some("0"));
        for (name, rel) in [
            ("ca_file", "rel/ca.pem"),
            ("user_key_file", "rel/user-pki/sut-key.pem"),
            ("user_cert_file", "rel/user-pki/sut-cert.pem"),
            ("user_ca_file", "rel/user-pki/user-ca.pem"),
        ] {
            let got = endpoint_value(&ep, name).expect("known placeholder");
            assert_eq!(PathBuf::from(&got), cwd.join(rel), "{{{name}}}");
        }
    }

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
