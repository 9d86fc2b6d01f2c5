//! HTTP adapter: each action is a `POST` of a JSON document to a URL the vendor provides
//! (plain `http://`, typically a test hook on localhost). A 2xx answer is a successful trigger.
//!
//! Body of `send`: `{"action":"send","to":[..],"application":..,"subject":..,"body":..,
//! "endpoints":{"transport":..,"host":..,"smtp_port":..,"pop3_port":..,"ca_file":..,"user":..,"password":..,"from":..,
//! "rest":{"base_url":..,"port":..,"ldap_port":..,"user_key_file":..,"user_cert_file":..,"user_ca_file":..}}}`
//! (`rest` only in REST cases);
//! `fetch` sends `{"action":"fetch","endpoints":{..}}`. Paths are absolute. A URL may carry
//! `user:password@` (sent as `Authorization: Basic`); evidence shows the URL without it, and
//! the account password is masked (`***`) in the answer shown.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Reply, Secrets, SendRequest, SutAdapter};
use crate::sut::endpoints::Endpoints;

/// Answer bytes kept for the evidence.
const ANSWER_LIMIT: u64 = 16 * 1024;

pub struct HttpAdapter {
    send: String,
    fetch: String,
}

impl HttpAdapter {
    pub fn new(send: &str, fetch: &str) -> Result<Self, String> {
        parse_url(send)?;
        parse_url(fetch)?;
        Ok(HttpAdapter {
            send: send.into(),
            fetch: fetch.into(),
        })
    }
}

/// Splits `http://[user:password@]host[:port][/path]` into (host, port, path).
pub fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    parse_url_with_userinfo(url).map(|(host, port, path, _)| (host, port, path))
}

/// The parts of [`parse_url`] and the userinfo (`user:password`, as written), if any. Errors
/// show the URL without its userinfo.
fn parse_url_with_userinfo(url: &str) -> Result<(String, u16, String, Option<String>), String> {
    let shown = shown_url(url);
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{shown}`: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (userinfo, authority) = match authority.rsplit_once('@') {
        Some((u, a)) => (Some(u.to_string()), a),
        None => (None, authority),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("`{shown}`: bad port `{p}`"))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("`{shown}`: no host"));
    }
    Ok((host.to_string(), port, path.to_string(), userinfo))
}

/// The URL as evidence shows it: a userinfo (`user:password@`) replaced by `***@`.
pub fn shown_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    match url[scheme_end..authority_end].rfind('@') {
        Some(at) => format!(
            "{}{}{}",
            &url[..scheme_end],
            super::MASK,
            &url[scheme_end + at..]
        ),
        None => url.to_string(),
    }
}

/// Paths as the SUT gets them: absolute (it does not run in kvc-check's folder).
fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn endpoints_json(ep: &Endpoints) -> serde_json::Value {
    let mut v = json!({
        "transport": ep.transport,
        "host": ep.host, "smtp_port": ep.port("smtp"), "pop3_port": ep.port("pop3"),
        "ca_file": absolute(&ep.ca_file), "user": ep.user,
        "password": ep.password, "from": ep.from,
    });
    if let (Some(r), Some(map)) = (&ep.rest, v.as_object_mut()) {
        map.insert(
            "rest".into(),
            json!({
                "base_url": r.base_url, "port": ep.port("rest"), "ldap_port": ep.port("directory"),
                "user_key_file": absolute(&r.user_key_file),
                "user_cert_file": absolute(&r.user_cert_file),
                "user_ca_file": absolute(&r.user_ca_file),
            }),
        );
    }
    v
}

async fn post(url: &str, body: &serde_json::Value, secrets: Secrets) -> Result<String, String> {
    let (host, port, path, userinfo) = parse_url_with_userinfo(url)?;
    let shown = shown_url(url);
    let authorization = match &userinfo {
        Some(u) => {
            use base64::Engine;
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(u)
            )
        }
        None => String::new(),
    };
    // The URL's own password is as secret as the account's.
    let secrets = match userinfo.as_deref().and_then(|u| u.split_once(':')) {
        Some((user, password)) => secrets.and(Secrets::new(user, password)),
        None => secrets,
    };
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("POST {shown}: cannot connect: {e}"))?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{authorization}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("POST {shown}: {e}"))?;
    let mut answer = Vec::new();
    (&mut stream)
        .take(ANSWER_LIMIT)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("POST {shown}: reading the answer: {e}"))?;
    // A test hook may echo what it was sent (the password in `endpoints`).
    let text = secrets.mask(&String::from_utf8_lossy(&answer));
    let status_line = text.lines().next().unwrap_or_default().to_string();
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("POST {shown}: not an HTTP answer: `{status_line}`"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim())
        .unwrap_or("");
    let detail = format!(
        "POST {shown}: {status_line}{}",
        if body.is_empty() {
            String::new()
        } else {
            format!("; {body}")
        }
    );
    if (200..300).contains(&code) {
        Ok(detail)
    } else {
        Err(detail)
    }
}

impl SutAdapter for HttpAdapter {
    fn describe(&self) -> String {
        format!("http: {}", shown_url(&self.send))
    }

    fn send<'a>(&'a self, ep: &'a Endpoints, req: &'a SendRequest) -> Reply<'a> {
        Box::pin(async move {
            let body = json!({
                "action": "send", "to": req.to, "application": req.application,
                "subject": req.subject, "body": req.body, "endpoints": endpoints_json(ep),
            });
            post(&self.send, &body, Secrets::of(ep)).await
        })
    }

    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a> {
        Box::pin(async move {
            let body = json!({"action": "fetch", "endpoints": endpoints_json(ep)});
            post(&self.fetch, &body, Secrets::of(ep)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/hook/send").expect("ok"),
            ("127.0.0.1".into(), 8080, "/hook/send".into())
        );
        assert_eq!(
            parse_url("http://h").expect("ok"),
            ("h".into(), 80, "/".into())
        );
        assert!(parse_url("https://h/").is_err());
        assert!(parse_url("http://h:x/").is_err());
        assert_eq!(
            parse_url_with_userinfo("http://hook:pw@127.0.0.1:8080/send").expect("ok"),
            (
                "127.0.0.1".into(),
                8080,
                "/send".into(),
                Some("hook:pw".into())
            )
        );
        let e = parse_url("http://hook:S3cr3t@h:x/").unwrap_err();
        assert!(!e.contains("S3cr3t"), "{e}");
    }

    #[rstest::rstest]
    #[case("http://hook:S3cr3t@h:1/send", "http://***@h:1/send")]
    #[case("http://h:1/a@b", "http://h:1/a@b")]
    #[case("http://h/", "http://h/")]
    fn urls_are_shown_without_userinfo(#[case] url: &str, #[case] shown: &str) {
        assert_eq!(shown_url(url), shown);
    }

    /// A test hook that echoes the request it got: neither the account password nor the
    /// URL's BASIC credential may reach the evidence.
    #[tokio::test]
    async fn no_credential_in_the_evidence() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hook = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut req = vec![0u8; 64 * 1024];
            let mut n = 0;
            // Read up to the end of the JSON body (Connection: close, so the client waits).
            while !String::from_utf8_lossy(&req[..n]).trim_end().ends_with('}') {
                let m = s.read(&mut req[n..]).await.expect("read");
                if m == 0 {
                    break;
                }
                n += m;
            }
            let text = String::from_utf8_lossy(&req[..n]).to_string();
            let answer = format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{text}");
            s.write_all(answer.as_bytes()).await.expect("write");
            text
        });
        let body = json!({"action": "fetch", "password": "acc0unt-pw"});
        let url = format!("http://hook:b4sic-pw@127.0.0.1:{port}/fetch");
        let detail = post(&url, &body, Secrets::new("praxis", "acc0unt-pw"))
            .await
            .expect("2xx");
        let request = hook.await.expect("hook");
        // The hook got the credential (BASIC) and the password (endpoints)...
        assert!(
            request.contains("Authorization: Basic aG9vazpiNHNpYy1wdw=="),
            "{request}"
        );
        assert!(request.contains("acc0unt-pw"), "{request}");
        // ...the evidence shows neither.
        for secret in ["acc0unt-pw", "b4sic-pw", "aG9vazpiNHNpYy1wdw=="] {
            assert!(!detail.contains(secret), "{secret} in {detail}");
        }
        assert!(detail.contains("Authorization: Basic ***"), "{detail}");
    }
}
