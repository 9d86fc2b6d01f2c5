//! The KAS operations over the HTTP engine.

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Method, Request, header};
use hyper::body::Incoming;
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use super::{KasCall, KasUpload, RecipientsForm, Shared, Stored, authenticate};
use crate::http::server::BoxFuture;
use crate::http::server::RecordingRoutes;
use crate::http::{BasicAuth, Exchange, HttpRecords, Reply};

type Ctx = Exchange<(KasCall, BasicAuth)>;

const JSON: &str = "application/json; charset=utf-8";

/// An error answer in the shape of CommonSchemas `Error`, the reason recorded.
fn error(ex: &mut Ctx, status: u16, message: &str) -> Reply {
    ex.tag.0.reason = Some(message.to_string());
    let body = serde_json::json!({
        "message": message,
        "traceId": uuid::Uuid::new_v4().simple().to_string(),
    });
    let mut reply = Reply::body(status, JSON, body.to_string().into_bytes());
    if status == 401 && ex.tag.1 != BasicAuth::NotRequired {
        reply = reply.header(header::WWW_AUTHENTICATE, "Basic realm=\"KAS\"");
    }
    reply
}

impl RecordingRoutes for Shared {
    type Call = KasCall;

    fn new_call(&self) -> KasCall {
        KasCall {
            operation: "unknown",
            attachment_id: None,
            recipient: None,
            reason: None,
        }
    }

    fn route<'a>(&'a self, req: Request<Incoming>, ex: &'a mut Ctx) -> BoxFuture<'a, Reply> {
        Box::pin(route(self, req, ex))
    }

    fn records(&self, f: &mut dyn FnMut(&mut HttpRecords<KasCall>)) {
        self.state.record(|s| f(&mut s.http));
    }

    fn response_delay(&self) -> Option<Duration> {
        self.state.lock().faults.response_delay
    }
}

async fn route(shared: &Shared, req: Request<Incoming>, ex: &mut Ctx) -> Reply {
    shared.expire(SystemTime::now());
    let api = shared.config.api;
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(api.base_path()) else {
        return error(ex, 404, &format!("no resource at {path}"));
    };
    let method = req.method().clone();
    match (rest, &method) {
        ("/attachment/" | "/attachment", &Method::POST) => {
            ex.tag.0.operation = "addMailData";
            add(shared, req, ex).await
        }
        ("/attachment/" | "/attachment", &Method::GET)
            if shared.config.deviations.lists_collection =>
        {
            ex.tag.0.operation = "list";
            let ids: Vec<String> = shared.state.lock().stored.keys().cloned().collect();
            Reply::body(200, JSON, serde_json::json!(ids).to_string().into_bytes())
        }
        (r, m) if r.starts_with("/attachment/") && r.len() > "/attachment/".len() => {
            let id = r["/attachment/".len()..].to_string();
            ex.tag.0.attachment_id = Some(id.clone());
            match *m {
                Method::GET => {
                    ex.tag.0.operation = "readMailData";
                    read(shared, &req, ex, &id, false)
                }
                Method::HEAD if api.has_head() => {
                    ex.tag.0.operation = "headMailData";
                    read(shared, &req, ex, &id, true)
                }
                Method::DELETE if api.has_delete() => {
                    ex.tag.0.operation = "deleteMailData";
                    delete(shared, &req, ex, &id)
                }
                _ => error(ex, 405, &format!("{m} is not an operation on {path}"))
                    .header(header::ALLOW, allowed(api)),
            }
        }
        _ => error(ex, 404, &format!("no resource at {path}")),
    }
}

fn allowed(api: super::KasApi) -> String {
    let mut m = vec!["GET"];
    if api.has_head() {
        m.push("HEAD");
    }
    if api.has_delete() {
        m.push("DELETE");
    }
    m.join(", ")
}

/// An e-mail address as the yaml's `format: email` (one `@`, no spaces, a dot in the domain).
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
}

/// RFC 5322 date-time, also with a two-digit year as api-kim's example writes it
/// (`Mon, 15 Aug 22 15:52:01 +0000`).
fn parse_expires(s: &str) -> Option<SystemTime> {
    let t = s.trim();
    let parsed = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc2822)
        .ok()
        .or_else(|| {
            // Two-digit year: 20yy.
            let parts: Vec<&str> = t.split_whitespace().collect();
            let year_at = if parts.first().is_some_and(|p| p.ends_with(',')) {
                3
            } else {
                2
            };
            let year = parts.get(year_at)?;
            if year.len() != 2 || !year.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut fixed = parts.clone();
            let four = format!("20{year}");
            fixed[year_at] = &four;
            time::OffsetDateTime::parse(
                &fixed.join(" "),
                &time::format_description::well_known::Rfc2822,
            )
            .ok()
        })?;
    let secs = u64::try_from(parsed.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// The KIM account a BASIC-authenticated request (upload, delete) comes from, or its 401.
fn account(
    shared: &Shared,
    headers: &axum::http::HeaderMap,
    ex: &mut Ctx,
) -> Result<String, Reply> {
    ex.tag.1 = authenticate(shared, headers);
    match &ex.tag.1 {
        BasicAuth::Ok { user } => Ok(user.clone()),
        BasicAuth::Missing => Err(error(
            ex,
            401,
            "BASIC authentication with the KIM account required",
        )),
        _ => Err(error(ex, 401, "KIM account or password wrong")),
    }
}

/// Reads and drops a request body, at most `max` bytes of it.
async fn drain(mut body: Incoming, max: u64) {
    use http_body_util::BodyExt;
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            seen += data.len() as u64;
            if seen > max {
                return;
            }
        }
    }
}

async fn add(shared: &Shared, req: Request<Incoming>, ex: &mut Ctx) -> Reply {
    let owner = match account(shared, req.headers(), ex) {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    let scripted = shared.state.lock().faults.upload_status;
    if let Some(status) = scripted {
        // The upload is read first, as a server that measures it does: a client still sending
        // gets the answer, not a reset connection.
        drain(
            req.into_body(),
            shared.config.max_attachment_bytes.saturating_add(64 * 1024),
        )
        .await;
        return error(ex, status, "scripted fault");
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(declared) = declared else {
        return error(ex, 400, "Content-Length is required (addMailData)");
    };
    let max = if shared.config.deviations.no_size_check {
        u64::MAX
    } else {
        shared.config.max_attachment_bytes
    };
    // The form fields around the attachment are small: allow 64 KiB for them.
    if declared > max.saturating_add(64 * 1024) {
        ex.close = true;
        return error(
            ex,
            413,
            &format!("Content-Length {declared} exceeds the maximum of {max} bytes"),
        );
    }
    let quota = shared
        .config
        .accounts
        .iter()
        .find(|a| a.user == owner)
        .map(|a| a.quota_bytes)
        .unwrap_or(0);
    let used: u64 = shared
        .state
        .lock()
        .stored
        .values()
        .filter(|s| s.upload.owner == owner)
        .map(|s| s.upload.size)
        .sum();
    let boundary = match req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(multer::parse_boundary)
    {
        Some(Ok(b)) => b,
        _ => {
            return error(
                ex,
                400,
                "Content-Type multipart/form-data with a boundary required",
            );
        }
    };
    let stream = Body::new(req.into_body()).into_data_stream();
    let mut form = multer::Multipart::new(stream, boundary);
    let id = if shared.config.deviations.sequential_ids {
        let n = shared.state.lock().uploads.len() + 1;
        format!("00000000-0000-4000-8000-{n:012}")
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let path = shared.dir.join(format!("{id}.bin"));
    let mut fields = Fields::default();
    let outcome = read_form(&mut form, &path, max, &mut fields).await;
    ex.bytes_in = usize::try_from(fields.size).unwrap_or(usize::MAX);
    let refuse = |ex: &mut Ctx, status: u16, msg: &str| {
        let _ = std::fs::remove_file(&path);
        error(ex, status, msg)
    };
    if let Err((status, msg)) = outcome {
        if status == 413 {
            ex.close = true;
        }
        return refuse(ex, status, &msg);
    }
    let Some(message_id) = fields.message_id.clone() else {
        return refuse(ex, 400, "form field messageID missing");
    };
    let Some(expires) = fields.expires.clone() else {
        return refuse(ex, 400, "form field expires missing");
    };
    if !fields.attachment {
        return refuse(ex, 400, "form field attachment missing");
    }
    if fields.recipients.is_empty() {
        return refuse(ex, 400, "form field recipients missing");
    }
    if let Some(bad) = fields.recipients.iter().find(|r| !is_email(r)) {
        return refuse(
            ex,
            400,
            &format!("recipient `{bad}` is not an e-mail address"),
        );
    }
    if fields.comma_joined && shared.config.strict_recipients {
        return refuse(
            ex,
            400,
            "recipients must be one address per form part (exploded)",
        );
    }
    let Some(expires_at) = parse_expires(&expires) else {
        return refuse(
            ex,
            400,
            &format!("expires `{expires}` is not an RFC 5322 date-time"),
        );
    };
    if expires_at <= SystemTime::now() {
        return refuse(ex, 400, &format!("expires `{expires}` is in the past"));
    }
    if let Some(n) = fields.part_content_length
        && n != fields.size
    {
        return refuse(
            ex,
            400,
            &format!(
                "the attachment part announces Content-Length {n} but carries {} bytes",
                fields.size
            ),
        );
    }
    if used + fields.size > quota {
        return refuse(
            ex,
            507,
            &format!("quota of {quota} bytes for {owner} exhausted"),
        );
    }
    let link = format!(
        "{}{}/attachment/{id}",
        shared.origin,
        shared.config.api.base_path()
    );
    let upload = KasUpload {
        id: id.clone(),
        owner,
        recipients: fields.recipients.clone(),
        recipients_form: if fields.comma_joined {
            RecipientsForm::CommaJoined
        } else {
            RecipientsForm::Exploded
        },
        expires,
        message_id,
        size: fields.size,
        sha256: fields.sha256.clone(),
        part_content_length: fields.part_content_length,
        shared_link: link.clone(),
    };
    shared.state.record(|s| {
        s.uploads.push(upload.clone());
        s.stored.insert(
            id.clone(),
            Stored {
                upload,
                path: path.clone(),
                expires_at,
                downloads: Default::default(),
            },
        );
    });
    ex.tag.0.attachment_id = Some(id);
    // `sharedLink` in every API version since 2.2 (before: `Shared-Link`).
    let body = serde_json::json!({ "sharedLink": link });
    Reply::body(201, JSON, body.to_string().into_bytes())
}

#[derive(Default)]
struct Fields {
    message_id: Option<String>,
    expires: Option<String>,
    recipients: Vec<String>,
    comma_joined: bool,
    attachment: bool,
    part_content_length: Option<u64>,
    size: u64,
    sha256: String,
}

const MAX_FIELD_BYTES: usize = 16 * 1024;

/// Reads the form; the attachment streams into `path` (never whole in memory).
async fn read_form(
    form: &mut multer::Multipart<'static>,
    path: &std::path::Path,
    max: u64,
    f: &mut Fields,
) -> Result<(), (u16, String)> {
    let bad = |e: multer::Error| (400, format!("multipart body not readable: {e}"));
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "attachment" {
            if f.attachment {
                return Err((400, "more than one attachment part".into()));
            }
            f.attachment = true;
            f.part_content_length = field
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let mut file = tokio::fs::File::create(path)
                .await
                .map_err(|e| (500, format!("storage: {e}")))?;
            let mut hash = sha2::Sha256::new();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                f.size += chunk.len() as u64;
                if f.size > max {
                    return Err((
                        413,
                        format!("attachment larger than the maximum of {max} bytes"),
                    ));
                }
                hash.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| (507, format!("storage: {e}")))?;
            }
            file.flush()
                .await
                .map_err(|e| (507, format!("storage: {e}")))?;
            f.sha256 = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
            continue;
        }
        let mut text = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            text.extend_from_slice(&chunk);
            if text.len() > MAX_FIELD_BYTES {
                return Err((
                    400,
                    format!("form field `{name}` longer than {MAX_FIELD_BYTES} bytes"),
                ));
            }
        }
        let text = String::from_utf8(text)
            .map_err(|_| (400, format!("form field `{name}` is not UTF-8")))?;
        match name.as_str() {
            "messageID" => f.message_id = Some(text),
            "expires" => f.expires = Some(text),
            "recipients" => {
                let parts: Vec<String> = text
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect();
                if parts.len() > 1 {
                    f.comma_joined = true;
                }
                f.recipients.extend(parts);
            }
            _ => {}
        }
    }
    Ok(())
}

fn read(shared: &Shared, req: &Request<Incoming>, ex: &mut Ctx, id: &str, head: bool) -> Reply {
    let recipient = req
        .headers()
        .get("recipient")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string());
    ex.tag.0.recipient = recipient.clone();
    if !head && let Some(status) = shared.state.lock().faults.read_status {
        return error(ex, status, "scripted fault");
    }
    let Some(recipient) = recipient.filter(|r| !r.is_empty()) else {
        // HEAD documents 200 and 404 only: without a recipient nothing is available.
        let status = if head { 404 } else { 400 };
        return error(ex, status, "header `recipient` is required");
    };
    let forbidden = shared.config.forbidden_status;
    let max = shared.config.max_downloads;
    let found = shared.state.record(|s| {
        let st = s.stored.get_mut(id)?;
        let allowed = shared.config.deviations.serves_any_recipient
            || st.upload.owner.eq_ignore_ascii_case(&recipient)
            || st
                .upload
                .recipients
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&recipient));
        if !allowed {
            return Some(Err(forbidden));
        }
        if head {
            return Some(Ok(st.path.clone()));
        }
        let n = st
            .downloads
            .entry(recipient.to_ascii_lowercase())
            .or_insert(0);
        if *n >= max {
            return Some(Err(429));
        }
        *n += 1;
        Some(Ok(st.path.clone()))
    });
    match found {
        None => error(ex, 404, &format!("no mail data under `{id}`")),
        Some(Err(429)) => {
            let status = if shared.config.deviations.limits_with_403 {
                403
            } else {
                429
            };
            error(
                ex,
                status,
                &format!("downloaded {max} times by {recipient}"),
            )
        }
        Some(Err(status)) => error(
            ex,
            // HEAD documents 200 and 404 only: a stranger learns nothing.
            if head { 404 } else { status },
            &format!("{recipient} is not among the recipients of this mail data"),
        ),
        Some(Ok(path)) => {
            let mut r = Reply::file(200, "application/octet-stream", path);
            r.head_only = head;
            r.chunked = shared.config.deviations.no_content_length;
            r
        }
    }
}

fn delete(shared: &Shared, req: &Request<Incoming>, ex: &mut Ctx, id: &str) -> Reply {
    let user = match account(shared, req.headers(), ex) {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    let removed = shared.state.record(|s| match s.stored.get(id) {
        None => Err(404),
        Some(st) if st.upload.owner != user => Err(401),
        Some(_) => Ok(s.stored.remove(id).map(|st| st.path)),
    });
    match removed {
        Err(404) => error(ex, 404, &format!("no mail data under `{id}`")),
        Err(_) => error(ex, 401, &format!("{user} did not upload `{id}`")),
        Ok(path) => {
            if let Some(p) = path {
                let _ = std::fs::remove_file(p);
            }
            Reply::status(200)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_rfc_5322_with_four_or_two_digit_years() {
        let a = parse_expires("Mon, 15 Aug 2022 15:52:01 +0000").unwrap();
        let b = parse_expires("Mon, 15 Aug 22 15:52:01 +0000").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_660_578_721
        );
        assert!(parse_expires("2022-08-15T15:52:01Z").is_none());
        assert!(parse_expires("").is_none());
    }

    #[test]
    fn emails_as_the_yaml_formats_them() {
        assert!(is_email("praxis@kim.telematik-test"));
        for bad in [
            "",
            "praxis",
            "@kim.telematik",
            "a@b",
            "a b@c.de",
            "a@.de",
            "a@b@c.de",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
