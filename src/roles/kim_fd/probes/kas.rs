//! Probes of the KAS (I_Attachment_Service, KIM-FACTS §1.1): uploads as the sender's account
//! (BASIC auth, multipart form of AttachmentService.yaml), downloads by the `recipient` header.

use std::time::{Duration, SystemTime};

use base64::Engine;
use hyper::Method;

use super::{Answer, ProbeCtx, Request};

pub const SIZE_LIMIT: &str = "kas_size_limit";
pub const ACCESS: &str = "kas_access";
pub const LINKS: &str = "kas_links";
pub const RECIPIENT: &str = "kas_recipient";
pub const RATE_LIMIT: &str = "kas_rate_limit";
pub const CONTENT_LENGTH: &str = "kas_content_length";
pub const EXPIRY: &str = "kas_expiry";

/// Uploads in `kas_links`.
pub const LINK_UPLOADS: usize = 8;
/// Reads of one resource in `kas_rate_limit`.
pub const RATE_READS: usize = 30;
/// Sizes uploaded and read back in `kas_content_length`.
pub const CONTENT_SIZES: [usize; 3] = [1, 1000, 65_536];
/// How far ahead `kas_expiry` sets `expires`.
pub const EXPIRY_AHEAD: Duration = Duration::from_secs(2);

const BOUNDARY: &str = "kvc-check-probe-boundary";

/// `Mon, 15 Aug 2022 15:52:01 +0000` for `t`.
fn rfc5322(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc2822)
                .ok()
        })
        .unwrap_or_default()
}

/// Bytes that look like ciphertext and are different per call.
pub fn payload(len: usize) -> Vec<u8> {
    let seed = uuid::Uuid::new_v4();
    let mut out = Vec::with_capacity(len);
    let mut block = 0u64;
    while out.len() < len {
        use sha2::Digest;
        let h = sha2::Sha256::new()
            .chain_update(seed.as_bytes())
            .chain_update(block.to_be_bytes())
            .finalize();
        out.extend_from_slice(&h);
        block += 1;
    }
    out.truncate(len);
    out
}

/// The addMailData form: messageID, expires, recipients (one part per address), attachment.
fn upload_form(data: &[u8], recipients: &[&str], expires: SystemTime) -> Vec<u8> {
    let mut body = Vec::with_capacity(data.len() + 1024);
    let mut field = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    field(
        "messageID",
        &format!("<{}@kvc-check.kim.telematik-test>", uuid::Uuid::new_v4()),
    );
    field("expires", &rfc5322(expires));
    for r in recipients {
        field("recipients", r);
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"attachment\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

impl ProbeCtx<'_> {
    fn kas_base(&self) -> &'static str {
        self.target.kas_api.base_path()
    }

    fn basic(&self) -> String {
        let s = &self.target.sender;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", s.address, s.password))
        )
    }

    /// Uploads `data` for the recipient; records `sharedLink` as fact `link`.
    pub async fn upload(
        &self,
        label: &str,
        data: &[u8],
        expires: SystemTime,
    ) -> Result<Answer, String> {
        let recipient = self.target.recipient.address.clone();
        let req = Request::new(
            label,
            Method::POST,
            format!("{}/attachment/", self.kas_base()),
        )
        .header("authorization", self.basic())
        .body(
            format!("multipart/form-data; boundary={BOUNDARY}"),
            upload_form(data, &[&recipient], expires),
        );
        let answer = self.http("kas", self.target.kas, req).await?;
        let link = answer
            .json()
            .and_then(|j| j["sharedLink"].as_str().map(str::to_string));
        let mut facts = vec![
            ("size", data.len().to_string()),
            ("expected_host", self.target.host.clone()),
        ];
        if let Some(l) = link {
            facts.push(("link", l));
        }
        Ok(self.record(answer, &facts))
    }

    /// An hour from now: the usual `expires`.
    fn later(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(3600)
    }

    /// The path of a link (what follows the authority), if the link is a URL.
    fn link_path(link: &str) -> Option<String> {
        let rest = link
            .strip_prefix("https://")
            .or_else(|| link.strip_prefix("http://"))?;
        let at = rest.find('/')?;
        Some(rest[at..].to_string())
    }

    /// GET (or HEAD) of `path` as `recipient`; fact `body_equals_upload` when `expected`.
    async fn download(
        &self,
        label: &str,
        method: Method,
        path: &str,
        recipient: Option<&str>,
        expected: Option<&[u8]>,
    ) -> Result<Answer, String> {
        self.download_hiding(label, method, path, recipient, expected, None)
            .await
    }

    /// [`ProbeCtx::download`], also recording whether the body names `id` (fact
    /// `contains_id`: a listing that gives the resource away).
    async fn download_hiding(
        &self,
        label: &str,
        method: Method,
        path: &str,
        recipient: Option<&str>,
        expected: Option<&[u8]>,
        id: Option<&str>,
    ) -> Result<Answer, String> {
        let mut req = Request::new(label, method, path.to_string());
        if let Some(r) = recipient {
            req = req.header("recipient", r.to_string());
        }
        let answer = self.http("kas", self.target.kas, req).await?;
        let mut facts = Vec::new();
        if let Some(data) = expected {
            facts.push(("body_equals_upload", (answer.body == data).to_string()));
            // Whether any part of the data came back (a leak even if not all of it).
            let probe = &data[..data.len().min(32)];
            let leaked = !probe.is_empty() && answer.body.windows(probe.len()).any(|w| w == probe);
            facts.push(("contains_data", leaked.to_string()));
            facts.push(("expected_size", data.len().to_string()));
        }
        if let Some(id) = id {
            let named = memchr::memmem::find(&answer.body, id.as_bytes()).is_some();
            facts.push(("contains_id", named.to_string()));
        }
        Ok(self.record(answer, &facts))
    }

    /// Uploads one item and returns its link path and the data, or `None` if the upload
    /// was not accepted (recorded; the checks then have no control).
    async fn one_upload(&self, len: usize) -> Result<Option<(String, Vec<u8>)>, String> {
        let data = payload(len);
        let up = self.upload("upload", &data, self.later()).await?;
        Ok(up
            .exchange
            .fact("link")
            .and_then(Self::link_path)
            .filter(|_| up.exchange.succeeded())
            .map(|p| (p, data)))
    }
}

/// A_19378: an upload of exactly the declared maximum, then one byte more.
pub async fn size_limit(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let max = usize::try_from(ctx.target.kas_max_bytes)
        .map_err(|_| "the declared KAS maximum does not fit in memory".to_string())?;
    let later = ctx.later();
    ctx.upload("upload at the maximum", &payload(max), later)
        .await?;
    ctx.upload(
        "upload one byte above the maximum",
        &payload(max + 1),
        later,
    )
    .await?;
    Ok(())
}

/// A_19379: the data through its link (control), then every other way to reach it.
pub async fn access(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let Some((path, data)) = ctx.one_upload(4096).await? else {
        return Ok(());
    };
    let recipient = ctx.target.recipient.address.clone();
    let r = Some(recipient.as_str());
    let base = ctx.kas_base();
    ctx.download(
        "download through the link",
        Method::GET,
        &path,
        r,
        Some(&data),
    )
    .await?;
    let id = path.rsplit('/').next().unwrap_or_default().to_string();
    let neighbour = neighbour_id(&id);
    let random = uuid::Uuid::new_v4().to_string();
    let attempts: Vec<(&str, Method, String)> = vec![
        (
            "neighbouring ID",
            Method::GET,
            format!("{base}/attachment/{neighbour}"),
        ),
        (
            "random ID",
            Method::GET,
            format!("{base}/attachment/{random}"),
        ),
        (
            "ID prefix",
            Method::GET,
            format!("{base}/attachment/{}", half(&id)),
        ),
        (
            "listing the collection",
            Method::GET,
            format!("{base}/attachment/"),
        ),
        (
            "listing without slash",
            Method::GET,
            format!("{base}/attachment"),
        ),
        ("listing the base", Method::GET, format!("{base}/")),
        (
            "path traversal",
            Method::GET,
            format!("{base}/attachment/..%2f..%2fattachment%2f{id}"),
        ),
        (
            "dot segments",
            Method::GET,
            format!("{base}/x/../attachment/{id}"),
        ),
        ("wrong method PUT", Method::PUT, path.clone()),
        ("wrong method POST", Method::POST, path.clone()),
        ("wrong method PATCH", Method::PATCH, path.clone()),
    ];
    for (label, method, p) in attempts {
        // An answer that repeats the ID the request itself named gives nothing away.
        let hidden = (!p.contains(&id)).then_some(id.as_str());
        ctx.download_hiding(label, method, &p, r, Some(&data), hidden)
            .await?;
    }
    Ok(())
}

/// The first half of an ID (by characters: the ID comes from the SUT and may be anything).
pub fn half(id: &str) -> String {
    id.chars().take(id.chars().count() / 2).collect()
}

/// The ID with its last hex digit changed.
pub fn neighbour_id(id: &str) -> String {
    let mut chars: Vec<char> = id.chars().collect();
    if let Some(last) = chars.last_mut() {
        *last = match last.to_digit(16) {
            Some(d) => std::char::from_digit((d + 1) % 16, 16).unwrap_or('0'),
            None => '0',
        };
    }
    chars.into_iter().collect()
}

/// A_19380: several uploads; their links.
pub async fn links(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let later = ctx.later();
    for i in 0..LINK_UPLOADS {
        ctx.upload(&format!("upload {}", i + 1), &payload(512), later)
            .await?;
    }
    Ok(())
}

/// A_22410: a download by a recipient of the upload (control), then by an outsider.
pub async fn recipient(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let Some((path, data)) = ctx.one_upload(2048).await? else {
        return Ok(());
    };
    let recipient = ctx.target.recipient.address.clone();
    ctx.download(
        "download by a recipient",
        Method::GET,
        &path,
        Some(&recipient),
        Some(&data),
    )
    .await?;
    let outsider = ctx.target.outsider.clone();
    ctx.download(
        "download by an outsider",
        Method::GET,
        &path,
        Some(&outsider),
        Some(&data),
    )
    .await?;
    Ok(())
}

/// A_22411: many reads of one resource by its recipient.
pub async fn rate_limit(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let Some((path, data)) = ctx.one_upload(256).await? else {
        return Ok(());
    };
    let recipient = ctx.target.recipient.address.clone();
    for i in 0..RATE_READS {
        let a = ctx
            .download(
                &format!("read {}", i + 1),
                Method::GET,
                &path,
                Some(&recipient),
                Some(&data),
            )
            .await?;
        if a.exchange.status == 429 {
            break;
        }
    }
    Ok(())
}

/// A_22428: downloads of several sizes (and HEAD where the API has it).
pub async fn content_length(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let recipient = ctx.target.recipient.address.clone();
    for size in CONTENT_SIZES {
        let Some((path, data)) = ctx.one_upload(size).await? else {
            continue;
        };
        ctx.download(
            &format!("download of {size} bytes"),
            Method::GET,
            &path,
            Some(&recipient),
            Some(&data),
        )
        .await?;
        if ctx.target.kas_api.has_head() {
            let head = ctx
                .http(
                    "kas",
                    ctx.target.kas,
                    Request::new(&format!("HEAD of {size} bytes"), Method::HEAD, path.clone())
                        .header("recipient", recipient.clone()),
                )
                .await?;
            ctx.record(head, &[("expected_size", size.to_string())]);
        }
    }
    Ok(())
}

/// A_19385: data with a short `expires`, read before and after it (plus the declared delay).
pub async fn expiry(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let data = payload(1024);
    let expires = SystemTime::now() + EXPIRY_AHEAD;
    let up = ctx
        .upload("upload with a short expiry", &data, expires)
        .await?;
    let Some(path) = up
        .exchange
        .fact("link")
        .and_then(ProbeCtx::link_path)
        .filter(|_| up.exchange.succeeded())
    else {
        return Ok(());
    };
    let recipient = ctx.target.recipient.address.clone();
    ctx.download(
        "download before expiry",
        Method::GET,
        &path,
        Some(&recipient),
        Some(&data),
    )
    .await?;
    // `expires` has a resolution of one second: wait one more.
    let gone_by = expires + ctx.target.deletion_delay + Duration::from_secs(1);
    if let Ok(wait) = gone_by.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    ctx.download(
        "download after expiry",
        Method::GET,
        &path,
        Some(&recipient),
        Some(&data),
    )
    .await?;
    Ok(())
}
