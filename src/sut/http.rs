//! HTTP adapter: each action is a `POST` of a JSON document to a URL the vendor provides
//! (plain `http://`, typically a test hook on localhost). A 2xx answer is a successful trigger.
//!
//! Body of `send`: `{"action":"send","to":[..],"application":..,"subject":..,"body":..,
//! "endpoints":{"transport":..,"host":..,"smtp_port":..,"pop3_port":..,"ca_file":..,"user":..,"password":..,"from":..,
//! "rest":{"base_url":..,"port":..,"ldap_port":..,"user_key_file":..,"user_cert_file":..,"user_ca_file":..}}}`
//! (`rest` only in REST cases);
//! `fetch` sends `{"action":"fetch","endpoints":{..}}`.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{SendRequest, SutAdapter};
use crate::runner::observe::{BoxFuture, Endpoints};

/// Answer bytes kept for the evidence.
const ANSWER_LIMIT: u64 = 16 * 1024;

pub struct HttpAdapter {
    name: String,
    transport: String,
    send: String,
    fetch: String,
}

impl HttpAdapter {
    pub fn new(name: &str, transport: &str, send: &str, fetch: &str) -> Result<Self, String> {
        parse_url(send)?;
        parse_url(fetch)?;
        Ok(HttpAdapter {
            name: name.into(),
            transport: transport.into(),
            send: send.into(),
            fetch: fetch.into(),
        })
    }
}

/// Splits `http://host[:port][/path]` into (host, port, path).
pub fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("`{url}`: bad port `{p}`"))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("`{url}`: no host"));
    }
    Ok((host.to_string(), port, path.to_string()))
}

fn endpoints_json(ep: &Endpoints) -> serde_json::Value {
    let mut v = json!({
        "transport": ep.transport,
        "host": ep.host, "smtp_port": ep.smtp.port(), "pop3_port": ep.pop3.port(),
        "ca_file": ep.ca_file.display().to_string(), "user": ep.user,
        "password": ep.password, "from": ep.from,
    });
    if let (Some(r), Some(map)) = (&ep.rest, v.as_object_mut()) {
        map.insert(
            "rest".into(),
            json!({
                "base_url": r.base_url, "port": r.addr.port(), "ldap_port": r.ldap.port(),
                "user_key_file": r.user_key_file.display().to_string(),
                "user_cert_file": r.user_cert_file.display().to_string(),
                "user_ca_file": r.user_ca_file.display().to_string(),
            }),
        );
    }
    v
}

async fn post(url: &str, body: &serde_json::Value) -> Result<String, String> {
    let (host, port, path) = parse_url(url)?;
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("POST {url}: cannot connect: {e}"))?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let mut answer = Vec::new();
    (&mut stream)
        .take(ANSWER_LIMIT)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("POST {url}: reading the answer: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default().to_string();
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("POST {url}: not an HTTP answer: `{status_line}`"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim())
        .unwrap_or("");
    let detail = format!(
        "POST {url}: {status_line}{}",
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
        format!("{} (http: {})", self.name, self.send)
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
            let body = json!({
                "action": "send", "to": req.to, "application": req.application,
                "subject": req.subject, "body": req.body, "endpoints": endpoints_json(ep),
            });
            post(&self.send, &body).await
        })
    }

    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let body = json!({"action": "fetch", "endpoints": endpoints_json(ep)});
            post(&self.fetch, &body).await
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
    }
}
