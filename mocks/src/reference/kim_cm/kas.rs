//! The reference Clientmodul's client of the KAS (KIM 1.5 large mails): found by DNS-SD
//! (`_kas._tcp.<domain>`), add_Attachment with Basic auth and the form the AttachmentService
//! yaml asks for (A_19363, A_22427: Content-Length of the whole body), read_Attachment with the
//! `recipient` header (A_19370).

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{HeaderName, Method, header};
use base64::Engine;

use crate::http::client::{HttpsClient, HttpsTarget};
use crate::kim::discovery::discover;
use crate::net::client::{client_tls_config, server_name};

/// Where the reference Clientmodul finds the KAS: the DNS server and domain of DNS-SD.
#[derive(Debug, Clone)]
pub struct KasLink {
    pub dns: SocketAddr,
    pub domain: String,
}

/// Largest download read back from the KAS.
const MAX_DOWNLOAD: usize = 1024 * 1024 * 1024;

/// How a KAS request ended when it did not succeed: the HTTP status (0 = no answer) and text.
#[derive(Debug, Clone)]
pub struct KasFailure {
    pub status: u16,
    pub message: String,
}

impl KasFailure {
    fn none(message: impl Into<String>) -> KasFailure {
        KasFailure {
            status: 0,
            message: message.into(),
        }
    }
}

async fn client(
    ca_pem: &str,
    host: &str,
    port: u16,
    auth: Option<(&str, &str)>,
) -> Result<HttpsClient, KasFailure> {
    let addr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| KasFailure::none(format!("{host}:{port}: {e}")))?
        .next()
        .ok_or_else(|| KasFailure::none(format!("{host}:{port} resolves to no address")))?;
    let tls = client_tls_config(false, ca_pem).map_err(|e| KasFailure::none(e.to_string()))?;
    let name = server_name(host).map_err(|e| KasFailure::none(e.to_string()))?;
    let mut headers = vec![(header::HOST, format!("{host}:{port}"))];
    if let Some((user, password)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.push((header::AUTHORIZATION, format!("Basic {token}")));
    }
    Ok(HttpsClient::new(HttpsTarget {
        what: "KAS",
        connect_to: addr,
        name,
        tls,
        headers,
        max_response_bytes: MAX_DOWNLOAD,
    }))
}

/// The multipart/form-data body of add_Attachment.
fn form(
    boundary: &str,
    message_id: &str,
    recipients: &[String],
    expires: &str,
    data: &[u8],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(data.len() + 1024);
    let mut text = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    text("messageID", message_id);
    for r in recipients {
        text("recipients", r);
    }
    text("expires", expires);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"attachment.enc\"\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            data.len()
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// Uploads the sealed client mail; the share link on 201 (A_19364). `chunked`: without
/// Content-Length (the A_22427 fault).
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    link: &KasLink,
    ca_pem: &str,
    user: &str,
    password: &str,
    message_id: &str,
    recipients: &[String],
    expires: &str,
    data: &[u8],
    timeout: Duration,
    chunked: bool,
) -> Result<String, KasFailure> {
    let (dns, domain) = (link.dns, link.domain.clone());
    let found = tokio::task::spawn_blocking(move || discover(dns, &domain, "kas", timeout))
        .await
        .map_err(|e| KasFailure::none(e.to_string()))?
        .map_err(|e| KasFailure::none(format!("DNS-SD of the KAS: {e}")))?;
    let base = found.path.unwrap_or_else(|| "/attachments/v2.4".into());
    let c = client(ca_pem, &found.host, found.port, Some((user, password))).await?;
    let boundary = format!("kvc-check-cm-{}", uuid::Uuid::new_v4().simple());
    let body = form(&boundary, message_id, recipients, expires, data);
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let path = format!("{}/attachment/", base.trim_end_matches('/'));
    let extra = if chunked {
        vec![(header::TRANSFER_ENCODING, "chunked".to_string())]
    } else {
        Vec::new()
    };
    let r = tokio::time::timeout(
        timeout,
        c.request_with(Method::POST, &path, &extra, Some((&content_type, body))),
    )
    .await
    .map_err(|_| KasFailure::none("the KAS did not answer in time"))?
    .map_err(|e| KasFailure::none(e.to_string()))?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&r.body).ok();
    if r.status != 201 {
        let message = json
            .as_ref()
            .and_then(|j| j["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("HTTP {}", r.status));
        return Err(KasFailure {
            status: r.status,
            message,
        });
    }
    json.and_then(|j| j["sharedLink"].as_str().map(str::to_string))
        .ok_or_else(|| KasFailure {
            status: r.status,
            message: "201 without sharedLink".into(),
        })
}

/// Downloads the data behind a share link as `recipient`.
pub async fn download(
    ca_pem: &str,
    shared_link: &str,
    recipient: &str,
    timeout: Duration,
) -> Result<Vec<u8>, KasFailure> {
    let rest = shared_link
        .strip_prefix("https://")
        .ok_or_else(|| KasFailure::none(format!("link `{shared_link}` is not https")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| KasFailure::none(format!("link `{shared_link}`: bad port")))?,
        ),
        None => (authority, 443),
    };
    let c = client(ca_pem, host, port, None).await?;
    let name = HeaderName::from_static("recipient");
    let r = tokio::time::timeout(
        timeout,
        c.request_with(Method::GET, path, &[(name, recipient.to_string())], None),
    )
    .await
    .map_err(|_| KasFailure::none("the KAS did not answer in time"))?
    .map_err(|e| KasFailure::none(e.to_string()))?;
    if r.status == 200 {
        Ok(r.body)
    } else {
        Err(KasFailure {
            status: r.status,
            message: format!("HTTP {}", r.status),
        })
    }
}

/// The KIM-Attachment structures of a client mail (the JSON of each x-kas part).
pub fn attachment_structures(inner: &[u8]) -> Vec<serde_json::Value> {
    let text = String::from_utf8_lossy(inner);
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("content-disposition: x-kas") {
        let at = from + i;
        let body_start = lower[at..].find("\r\n\r\n").map(|j| at + j + 4);
        if let Some(b) = body_start
            && let Some(open) = text[b..].find('{')
        {
            let start = b + open;
            let mut depth = 0usize;
            for (k, c) in text[start..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            if let Ok(v) = serde_json::from_str(&text[start..=start + k]) {
                                out.push(v);
                            }
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        from = at + 1;
    }
    out
}
