//! The send path of the reference Clientmodul: what happens between a client mail accepted over
//! SMTP and the KOM-LE message handed to the Fachdienst's MTA.

use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use kvc_smime::message::{komle_outer_message, komle_signed_entity, komle_signed_input};
use x509_cert::Certificate;

use super::profile_faults;
use super::username::CmUserName;
use super::{CM_VERSION, CmConfig, CmFault, DEFAULT_DIENSTKENNUNG, KON_VERSION, PT_VERSION};
use crate::kim::konnektor::client::{KonnektorClient, KonnektorContext};
use crate::ldap::client::LdapsClient;
use crate::mail::client::MailClient;
use crate::net::client::{client_tls_config, server_name};

/// A recipient (or the sender) with the encryption certificate the VZD holds for it.
#[derive(Debug, Clone)]
pub(crate) struct Addressee {
    pub address: String,
    pub certificate: Certificate,
    /// The KOM-LE version komLeData announces for the address; none means 1.0 (A_19356).
    pub version: String,
    /// The TelematikIDs its encryption certificates name when they are not all the same
    /// (KOM-LE-A_2178); empty when they agree.
    pub conflicting_ids: Vec<String>,
}

impl Addressee {
    /// Whether its Clientmodul takes mails through the KAS: version 1.5 or later (A_19356-05).
    pub fn takes_large_mails(&self) -> bool {
        self.version.starts_with("1.5")
    }
}

/// Why a VZD lookup found no usable encryption certificate.
pub(crate) enum Lookup {
    Found(Box<Addressee>),
    NoCertificate(String),
    Failed(String),
}

fn is_rsa(cert: &Certificate) -> bool {
    cert.tbs_certificate()
        .subject_public_key_info()
        .algorithm
        .oid
        .to_string()
        == "1.2.840.113549.1.1.1"
}

fn is_current(cert: &Certificate) -> bool {
    let v = cert.tbs_certificate().validity();
    let now = SystemTime::now();
    v.not_before.to_system_time() <= now && now <= v.not_after.to_system_time()
}

/// Looks `address` up in the VZD: its current RSA encryption certificate (KOM-LE-A_2176).
pub(crate) async fn lookup(config: &CmConfig, address: &str) -> Lookup {
    let attempt = async {
        let mut ldap =
            LdapsClient::connect(&config.vzd_url, &config.ca_pem, config.backend_timeout).await?;
        let found = ldap
            .search_mail(
                &config.vzd_base_dn,
                &[address],
                &["mail", "userCertificate;binary", "telematikID", "komLeData"],
            )
            .await;
        ldap.unbind().await;
        found
    };
    let entries = match tokio::time::timeout(config.backend_timeout, attempt).await {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return Lookup::Failed(e),
        Err(_) => return Lookup::Failed("the VZD did not answer in time".into()),
    };
    let certificates: Vec<Certificate> = entries
        .iter()
        .flat_map(|e| e.values("userCertificate;binary").iter())
        .filter_map(|der| Certificate::from_der(der).ok())
        .collect();
    let version = entries
        .iter()
        .flat_map(|e| e.values("komLeData").iter())
        .filter_map(|v| std::str::from_utf8(v).ok())
        .filter_map(|v| v.split_once(','))
        .find(|(_, mail)| mail.trim().eq_ignore_ascii_case(address))
        .map(|(version, _)| version.trim().to_string())
        .unwrap_or_else(|| "1.0".into());
    let mut ids: Vec<String> = certificates
        .iter()
        .filter_map(|c| {
            kvc_smime::admission::Admission::of_certificate(c)
                .ok()
                .flatten()
        })
        .filter_map(|a| a.telematik_id)
        .collect();
    ids.sort();
    ids.dedup();
    let conflicting_ids = if ids.len() > 1 { ids } else { Vec::new() };
    match certificates
        .into_iter()
        .find(|c| is_rsa(c) && is_current(c))
    {
        Some(certificate) => Lookup::Found(Box::new(Addressee {
            address: address.to_string(),
            certificate,
            version,
            conflicting_ids,
        })),
        None if entries.is_empty() => Lookup::NoCertificate(format!("{address} is not in the VZD")),
        None => Lookup::NoCertificate(format!(
            "{address} has no current RSA encryption certificate in the VZD"
        )),
    }
}

/// A reply to the client system (code, enhanced code and text).
#[derive(Debug, Clone)]
pub(crate) struct Refusal(pub String);

fn transient(what: &str, why: impl std::fmt::Display) -> Refusal {
    Refusal(format!("451 4.3.0 {what}: {why}"))
}

/// The header fields of a message, unfolded values kept raw, and the body.
struct Header {
    fields: Vec<(String, String)>,
}

fn split(raw: &[u8]) -> (Header, &[u8]) {
    let (end, body_start) = match memchr::memmem::find(raw, b"\r\n\r\n") {
        Some(i) => (i, i + 4),
        None => (raw.len(), raw.len()),
    };
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push_str("\r\n");
                last.1.push_str(line);
            }
        } else if let Some((n, v)) = line.split_once(':') {
            fields.push((n.to_string(), v.trim_start().to_string()));
        }
    }
    (Header { fields }, &raw[body_start.min(raw.len())..])
}

impl Header {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: &str, value: String) {
        match self
            .fields
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name.to_string(), value)),
        }
    }

    fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn bytes(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 1024);
        for (n, v) in &self.fields {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    }
}

/// The items of an address list (`a@x, "B" <b@y>`), each with the address it names.
fn address_items(value: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let (mut current, mut quoted, mut angle) = (String::new(), false, false);
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
        .into_iter()
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .map(|item| {
            let addr = match (item.rfind('<'), item.rfind('>')) {
                (Some(a), Some(b)) if a < b => item[a + 1..b].trim().to_string(),
                _ => item.clone(),
            };
            (item, addr.to_ascii_lowercase())
        })
        .collect()
}

/// RFC 5322 date-time of `t` in UTC.
pub(crate) fn rfc5322_date(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

/// The client mail as it is signed: From = MAIL FROM (A_23169), To/Cc only checked
/// recipients, no Bcc (A_23174), a Dienstkennung (A_19488), Message-ID and Date present.
fn sanitise(config: &CmConfig, raw: &[u8], sender: &str, recipients: &[Addressee]) -> Vec<u8> {
    let (mut header, body) = split(raw);
    if !config.has(CmFault::KeepsClientFrom) {
        header.set("From", format!("<{sender}>"));
    }
    if !config.has(CmFault::KeepsUncheckedRecipients) {
        let allowed: Vec<String> = recipients
            .iter()
            .map(|r| r.address.to_ascii_lowercase())
            .collect();
        for name in ["To", "Cc"] {
            let Some(value) = header.get(name).map(str::to_string) else {
                continue;
            };
            let kept: Vec<String> = address_items(&value)
                .into_iter()
                .filter(|(_, a)| allowed.contains(a))
                .map(|(item, _)| item)
                .collect();
            if kept.is_empty() {
                header.remove(name);
            } else {
                header.set(name, kept.join(", "));
            }
        }
        header.remove("Bcc");
    }
    if config.has(CmFault::DropsSendersystem) {
        header.remove("X-KIM-Sendersystem");
    }
    if header.get("X-KIM-Dienstkennung").is_none() && !config.has(CmFault::NoDefaultDienstkennung) {
        header.set("X-KIM-Dienstkennung", DEFAULT_DIENSTKENNUNG.into());
    }
    if header.get("Message-ID").is_none() {
        header.set(
            "Message-ID",
            format!("<{}@kvc-check-cm.kim.telematik-test>", uuid::Uuid::new_v4()),
        );
    }
    if header.get("Date").is_none() {
        header.set("Date", rfc5322_date(SystemTime::now()));
    }
    header.bytes(body)
}

/// Signs and encrypts the client mail through the Konnektor and builds the outer message.
async fn compose(
    config: &CmConfig,
    user: &CmUserName,
    inner: &[u8],
    sender: &Addressee,
    recipients: &[Addressee],
    kas_size: Option<usize>,
) -> Result<Vec<u8>, Refusal> {
    let context = if config.has(CmFault::ContextFromConfig) {
        config.konnektor_context.clone()
    } else {
        KonnektorContext {
            mandant_id: user.mandant_id.clone(),
            client_system_id: user.client_system_id.clone(),
            workplace_id: user.workplace_id.clone(),
        }
    };
    let konnektor = KonnektorClient::connect(
        &config.konnektor_sds_url,
        &config.ca_pem,
        None,
        context,
        config.backend_timeout,
    )
    .await
    .map_err(|e| transient("Konnektor", e))?;
    let handle = konnektor
        .smcb_handles()
        .await
        .map_err(|e| transient("Konnektor GetCards", e))?
        .into_iter()
        .next()
        .ok_or_else(|| transient("Konnektor", "no SMC-B inserted"))?;
    let mut all: Vec<Addressee> = recipients.to_vec();
    if !all
        .iter()
        .any(|a| a.address.eq_ignore_ascii_case(&sender.address))
        && !config.has(CmFault::NotEncryptedForSender)
    {
        all.push(sender.clone());
    }
    let emails = profile_faults::recipient_emails(config, &all, sender)
        .map_err(|e| transient("building the recipient-emails attribute", e))?;
    let first = &all
        .first()
        .ok_or_else(|| transient("encrypting", "no recipient"))?
        .certificate;
    let signed = konnektor
        .sign_document(
            &handle,
            &komle_signed_input(inner),
            (!config.has(CmFault::SignWithoutRecipientEmails)).then_some(&emails.signed[..]),
        )
        .await
        .map_err(|e| transient("Konnektor SignDocument", e))?;
    let signed = profile_faults::signed_data(config, signed, first)
        .map_err(|e| transient("editing the SignedData", e))?;
    let certificates = all
        .iter()
        .map(|a| a.certificate.to_der())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| transient("encoding a recipient certificate", e))?;
    let envelope = konnektor
        .encrypt_document(
            &certificates,
            (!config.has(CmFault::EncryptWithoutRecipientEmails))
                .then_some(&emails.unprotected[..]),
            &komle_signed_entity(&signed),
        )
        .await
        .map_err(|e| transient("Konnektor EncryptDocument", e))?;
    let envelope = profile_faults::envelope(config, envelope, sender, first)
        .map_err(|e| transient("editing the AuthEnvelopedData", e))?;
    Ok(outer(config, inner, &envelope, kas_size))
}

/// The outer KOM-LE message with the Clientmodul's own fields.
fn outer(config: &CmConfig, inner: &[u8], envelope: &[u8], kas_size: Option<usize>) -> Vec<u8> {
    let cm_version = if config.has(CmFault::MalformedCmVersion) {
        "kvc-check reference 1.0".to_string()
    } else {
        CM_VERSION.to_string()
    };
    let mut overrides = vec![
        ("X-KIM-CMVersion".to_string(), cm_version),
        ("X-KIM-PTVersion".to_string(), PT_VERSION.to_string()),
        ("X-KIM-KONVersion".to_string(), KON_VERSION.to_string()),
    ];
    let mut omit = Vec::new();
    if config.has(CmFault::OuterEnvelopedDataType) {
        overrides.push((
            "Content-Type".to_string(),
            "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m".to_string(),
        ));
    }
    if config.has(CmFault::NoExpires) {
        omit.push("Expires".to_string());
    } else {
        let ttl = Duration::from_secs(u64::from(config.data_time_to_live_days) * 86_400);
        overrides.push(("Expires".to_string(), rfc5322_date(SystemTime::now() + ttl)));
    }
    if config.has(CmFault::OuterXKimNotCopied) {
        omit.push("X-KIM-Sendersystem".to_string());
    }
    if config.has(CmFault::OuterMessageIdFresh) {
        overrides.push((
            "Message-ID".to_string(),
            format!("<{}@outer.kvc-check-cm>", uuid::Uuid::new_v4()),
        ));
    }
    if config.has(CmFault::OuterSubjectCopied) {
        let (header, _) = split(inner);
        let subject = header.get("Subject").unwrap_or("").to_string();
        overrides.push(("Subject".to_string(), subject));
    }
    // X-KOM-LE-Version 1.5 exactly when the KAS carries the client mail (KOM-LE-A_2100).
    let mut version = match kas_size {
        Some(size) => {
            if !config.has(CmFault::NoKasSizeHeader) {
                overrides.push(("X-KIM-KAS-Size".to_string(), size.to_string()));
            }
            "1.5"
        }
        None => config.kom_le_version.as_str(),
    };
    if config.has(CmFault::VersionIsRelease) {
        version = "1.5.2";
    }
    let message = komle_outer_message(inner, version, envelope, &overrides, &omit);
    if !config.has(CmFault::OuterLfLineEnds) {
        return message;
    }
    // The base64 lines of the body end with LF alone.
    match memchr::memmem::find(&message, b"\r\n\r\n") {
        Some(at) => {
            let (head, body) = message.split_at(at + 4);
            let mut out = head.to_vec();
            out.extend(body.iter().copied().filter(|b| *b != b'\r'));
            out
        }
        None => message,
    }
}

/// Hands `message` to the Fachdienst MTA named in the user name, authenticated as the user.
pub(crate) async fn submit(
    config: &CmConfig,
    user: &CmUserName,
    password: &str,
    mail_from: &str,
    rcpt_to: &[String],
    message: &[u8],
) -> Result<(), Refusal> {
    let attempt = async {
        let mut mta = connect_mta(config, user).await?;
        mta.smtp_expect("greeting", 220)
            .await
            .map_err(|e| e.to_string())?;
        mta.smtp_cmd("EHLO kvc-check-cm", 250)
            .await
            .map_err(|e| e.to_string())?;
        auth_plain(&mut mta, &user.address, password).await?;
        mta.smtp_cmd(&format!("MAIL FROM:<{mail_from}>"), 250)
            .await
            .map_err(|e| e.to_string())?;
        for r in rcpt_to {
            mta.smtp_cmd(&format!("RCPT TO:<{r}>"), 250)
                .await
                .map_err(|e| e.to_string())?;
        }
        mta.smtp_cmd("DATA", 354).await.map_err(|e| e.to_string())?;
        mta.write(&crate::net::lineio::dot_stuff(message), "DATA")
            .await
            .map_err(|e| e.to_string())?;
        mta.smtp_expect("end of DATA", 250)
            .await
            .map_err(|e| e.to_string())?;
        let _ = mta.smtp_cmd("QUIT", 221).await;
        Ok::<(), String>(())
    };
    match tokio::time::timeout(config.backend_timeout, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Refusal(format!("451 4.4.1 Fachdienst MTA: {e}"))),
        Err(_) => Err(Refusal(
            "451 4.4.2 Fachdienst MTA did not answer in time".into(),
        )),
    }
}

pub(crate) async fn connect_mta(
    config: &CmConfig,
    user: &CmUserName,
) -> Result<MailClient, String> {
    let addr = tokio::net::lookup_host((user.host.as_str(), user.port))
        .await
        .map_err(|e| format!("{}:{}: {e}", user.host, user.port))?
        .next()
        .ok_or_else(|| format!("{}:{} resolves to no address", user.host, user.port))?;
    let tls = client_tls_config(false, &config.ca_pem).map_err(|e| e.to_string())?;
    let name = server_name(&user.host).map_err(|e| e.to_string())?;
    MailClient::connect("Fachdienst", addr, &name, tls)
        .await
        .map_err(|e| e.to_string())
}

pub(crate) async fn auth_plain(
    client: &mut MailClient,
    user: &str,
    password: &str,
) -> Result<(), String> {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    client
        .smtp_cmd_masked(&format!("AUTH PLAIN {token}"), "AUTH PLAIN ****", 235)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The whole send of one client mail: sanitise, move a large one to the KAS, compose, submit;
/// the reply for the client system.
pub(crate) async fn send(
    config: &CmConfig,
    user: &CmUserName,
    password: &str,
    sender: &Addressee,
    recipients: &[Addressee],
    raw: &[u8],
) -> Result<(), Refusal> {
    let large = config.kas.is_some() && raw.len() > config.kas_threshold_bytes;
    let (kept, dropped) = reachable(config, recipients, large);
    if !dropped.is_empty() {
        // A_19356, KOM-LE-A_2178: the sender learns which recipients were removed.
        let (original, _) = split(raw);
        let dsn = removed_recipients_dsn(&sender.address, &original, &dropped);
        let _ = submit(
            config,
            user,
            password,
            &sender.address,
            std::slice::from_ref(&sender.address),
            &dsn,
        )
        .await;
    }
    if kept.is_empty() {
        let names: Vec<&str> = dropped.iter().map(|d| d.address.as_str()).collect();
        // A_19356: nobody left for a large mail: 451 (no MTA dialogue was opened to RSET).
        return Err(if dropped.iter().all(|d| d.code == FEHLERMELDUNG_VERSION) {
            Refusal(format!(
                "451 4.3.0 no recipient can receive a mail above 15 MiB: {}",
                names.join(", ")
            ))
        } else {
            Refusal(format!(
                "554 5.7.1 no recipient can be encrypted to: {}",
                names.join(", ")
            ))
        });
    }
    let recipients = &kept[..];
    // Header edits happen before an upload (A_19363).
    let inner = sanitise(config, raw, &sender.address, recipients);
    let rcpt: Vec<String> = recipients.iter().map(|r| r.address.clone()).collect();
    let (inner, kas_size) = match &config.kas {
        Some(link) if raw.len() > config.kas_threshold_bytes => {
            let size = inner.len();
            let reduced =
                to_kas(config, link, user, password, &sender.address, &rcpt, &inner).await?;
            (reduced, Some(size))
        }
        _ => (inner, None),
    };
    let message = if kas_size.is_some() && config.has(CmFault::ReducedSentPlain) {
        inner
    } else {
        compose(config, user, &inner, sender, recipients, kas_size).await?
    };
    submit(config, user, password, &sender.address, &rcpt, &message).await
}

/// X-KIM-Fehlermeldung of a recipient removed for its KIM version (A_19356) and of one whose
/// encryption certificates name different TelematikIDs (KOM-LE-A_2178) (Tab_Fehlercodes,
/// A_20650-05).
const FEHLERMELDUNG_VERSION: &str = "4001";
const FEHLERMELDUNG_TELEMATIK_IDS: &str = "4005";

/// A recipient taken out of a mail, with the code and reason the DSN names.
struct Removed {
    address: String,
    code: &'static str,
    reason: String,
}

/// The recipients a mail can go to, and those it cannot: encryption certificates of different
/// TelematikIDs (KOM-LE-A_2178), a KIM version below 1.5 for a large mail (A_19356).
fn reachable(
    config: &CmConfig,
    recipients: &[Addressee],
    large: bool,
) -> (Vec<Addressee>, Vec<Removed>) {
    let (mut kept, mut removed) = (Vec::new(), Vec::new());
    for r in recipients {
        if !r.conflicting_ids.is_empty() && !config.has(CmFault::SendsToConflictingRecipient) {
            removed.push(Removed {
                address: r.address.clone(),
                code: FEHLERMELDUNG_TELEMATIK_IDS,
                reason: format!(
                    "Die Verschlüsselungszertifikate nennen verschiedene TelematikIDs ({})",
                    r.conflicting_ids.join(", ")
                ),
            });
        } else if large && !r.takes_large_mails() && !config.has(CmFault::IgnoresRecipientVersion) {
            removed.push(Removed {
                address: r.address.clone(),
                code: FEHLERMELDUNG_VERSION,
                reason: format!(
                    "KOM-LE-Version {} des Empfängers unterstützt keine Nachrichten über 15 MiB",
                    r.version
                ),
            });
        } else {
            kept.push(r.clone());
        }
    }
    (kept, removed)
}

/// The unsigned, unencrypted DSN (RFC 3464) that names every removed recipient.
fn removed_recipients_dsn(sender: &str, original: &Header, removed: &[Removed]) -> Vec<u8> {
    let mut codes: Vec<&str> = removed.iter().map(|r| r.code).collect();
    codes.dedup();
    let lines: Vec<String> = removed
        .iter()
        .map(|r| format!("{}: {}", r.address, r.reason))
        .collect();
    let reports: Vec<String> = removed
        .iter()
        .map(|r| {
            format!(
                "Final-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: 5.7.1\r\n",
                r.address
            )
        })
        .collect();
    let text = format!(
        "Die Nachricht {} wurde an folgende Empfänger nicht versendet:\r\n{}",
        original.get("Message-ID").unwrap_or(""),
        lines.join("\r\n")
    );
    delivery_status(sender, original, &codes, &text, &reports.join("\r\n"))
}

/// A_19357..A_19365: the whole client mail sealed (fresh key and IV), uploaded, and the client
/// mail reduced to its header and the KIM-Attachment structure.
async fn to_kas(
    config: &CmConfig,
    link: &super::kas::KasLink,
    user: &CmUserName,
    password: &str,
    sender: &str,
    rcpt: &[String],
    inner: &[u8],
) -> Result<Vec<u8>, Refusal> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut sealed =
        kvc_smime::kas::seal(inner).map_err(|e| transient("sealing for the KAS", e))?;
    if config.has(CmFault::FixedKasKey) {
        sealed = kvc_smime::kas::seal_with(inner, &[7u8; 32], &[7u8; kvc_smime::kas::IV_BYTES])
            .map_err(|e| transient("sealing for the KAS", e))?;
    }
    let upload: &[u8] = if config.has(CmFault::UploadsPlaintext) {
        inner
    } else {
        &sealed.data
    };
    let (header, _) = split(inner);
    let message_id = header.get("Message-ID").unwrap_or("").to_string();
    let ttl = Duration::from_secs(u64::from(config.data_time_to_live_days) * 86_400);
    let expires = rfc5322_date(SystemTime::now() + ttl);
    let uploaded = super::kas::upload(
        link,
        &config.ca_pem,
        &user.address,
        password,
        &message_id,
        rcpt,
        &expires,
        upload,
        config.backend_timeout,
        config.has(CmFault::UploadWithoutContentLength),
    )
    .await;
    let shared_link = match uploaded {
        Ok(l) if config.has(CmFault::WrongLink) => format!("{}0", l.trim_end_matches('/')),
        Ok(l) => l,
        // A_22419: the KAS has no room: 521, and the MTA connection (not opened yet) is not used.
        Err(f) if f.status == 507 && !config.has(CmFault::Kas507As451) => {
            return Err(Refusal(format!(
                "521 5.3.4 the KAS refused the mail data (507: {})",
                f.message
            )));
        }
        Err(f) => {
            // A_19363: the sender is told by an unsigned, unencrypted DSN; the original is not sent.
            if !config.has(CmFault::NoUploadFailureDsn) {
                let dsn = upload_failed_dsn(sender, &header, &f.message);
                let _ = submit(config, user, password, sender, &[sender.to_string()], &dsn).await;
            }
            return Err(Refusal(format!(
                "451 4.3.0 the mail data could not be stored on the KAS: {}",
                f.message
            )));
        }
    };
    let mut structure = serde_json::json!({
        "link": shared_link,
        "k": b64.encode(sealed.key),
        "hash": b64.encode(sealed.hash),
        "size": sealed.size,
    });
    if config.has(CmFault::StructureWithoutHash)
        && let Some(o) = structure.as_object_mut()
    {
        o.remove("hash");
    }
    let mut reduced = Header {
        fields: header
            .fields
            .iter()
            .filter(|(n, _)| {
                ![
                    "Content-Type",
                    "Content-Transfer-Encoding",
                    "Content-Disposition",
                ]
                .iter()
                .any(|c| c.eq_ignore_ascii_case(n))
            })
            .cloned()
            .collect(),
    };
    reduced.set("MIME-Version", "1.0".into());
    reduced.set("Content-Type", "text/plain; charset=utf-8".into());
    reduced.set("Content-Disposition", "x-kas".into());
    Ok(reduced.bytes(format!("{structure}\r\n").as_bytes()))
}

/// The DSN of a failed KAS upload (A_19363): unsigned, unencrypted, naming the mail and the
/// KAS's message as `Fehlertext: <message>`.
fn upload_failed_dsn(sender: &str, original: &Header, message: &str) -> Vec<u8> {
    let text = format!(
        "Die E-Mail-Daten der Nachricht {} konnten nicht zum KAS übertragen werden.\r\nFehlertext: {message}",
        original.get("Message-ID").unwrap_or(""),
    );
    let report =
        format!("Final-Recipient: rfc822; {sender}\r\nAction: failed\r\nStatus: 4.3.0\r\n");
    delivery_status(sender, original, &["4002"], &text, &report)
}

/// A multipart/report DSN to `sender` about `original`: `text` for people, `reports` (the
/// per-recipient fields) for machines, an X-KIM-Fehlermeldung for each of `codes`.
fn delivery_status(
    sender: &str,
    original: &Header,
    codes: &[&str],
    text: &str,
    reports: &str,
) -> Vec<u8> {
    let boundary = format!("kvc-check-dsn-{}", uuid::Uuid::new_v4().simple());
    let fehlermeldung: String = codes
        .iter()
        .map(|c| format!("X-KIM-Fehlermeldung: {c}\r\n"))
        .collect();
    format!(
        "From: <{sender}>\r\nTo: <{sender}>\r\nDate: {}\r\nMessage-ID: <{}@kvc-check-cm.kim.telematik-test>\r\nSubject: Nachricht nicht zugestellt: {}\r\n{fehlermeldung}MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; kvc-check-cm.kim.telematik-test\r\n\r\n{reports}--{boundary}--\r\n",
        rfc5322_date(SystemTime::now()),
        uuid::Uuid::new_v4(),
        original.get("Subject").unwrap_or(""),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_items_keep_display_names_and_find_addresses() {
        let items = address_items("\"Dr. A, B\" <A@x.de>, c@y.de ,<d@z.de>");
        let addrs: Vec<&str> = items.iter().map(|(_, a)| a.as_str()).collect();
        assert_eq!(addrs, ["a@x.de", "c@y.de", "d@z.de"]);
        assert_eq!(items[0].0, "\"Dr. A, B\" <A@x.de>");
    }

    #[test]
    fn split_unfolds_and_rebuilds() {
        let raw = b"From: a@x\r\nTo: b@y,\r\n c@z\r\nSubject: s\r\n\r\nbody\r\n";
        let (h, body) = split(raw);
        assert_eq!(h.get("to"), Some("b@y,\r\n c@z"));
        assert_eq!(body, b"body\r\n");
        assert_eq!(h.bytes(body), raw.to_vec());
    }
}
