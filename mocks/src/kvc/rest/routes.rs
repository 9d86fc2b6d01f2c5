//! The routes of the REST server: path parsing, authentication, the resources of KVC-FACTS §3
//! and their handlers (mails, headers, send, certificates, CSR, account, password).

use std::time::SystemTime;

use axum::http::{Method, Request, header};
use hyper::body::Incoming;

use super::address_book::address_book;
use super::profile::format_date;
use super::profile::{HEADER_FIELDS, KvcRestProfile};
use super::{
    CsrState, Ctx, MAX_RECORDS, RecipientCertFault, Shared, StoredMail, normalise_message_id,
    stored, xml_escape,
};
use crate::http::Reply;
use crate::http::server::{basic_credentials, query_param, read_body};
use crate::kvc::accounts::{KvcRestAccount, password_policy_ok};
use crate::kvc::rest::records::{CsrRecord, PostedMail, RestAuth, RestResource};

/// Path segments after the base path, percent-decoded; `None` if outside the base.
fn segments(base: &str, path: &str) -> Option<Vec<String>> {
    let rest = if let Some(r) = path.strip_prefix(base) {
        if !(r.is_empty() || r.starts_with('/')) {
            return None;
        }
        r
    } else if path.starts_with("/vzd/") || path.starts_with("//vzd/") {
        // MEDYS-REST / INS variants of the address book URL outside the base.
        path
    } else {
        return None;
    };
    Some(
        rest.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .to_string()
            })
            .collect(),
    )
}

pub(crate) async fn route(shared: &Shared, req: Request<Incoming>, ctx: &mut Ctx) -> Reply {
    let p = &shared.profile;
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let method = req.method().clone();
    let Some(seg) = segments(&shared.base_path, &path) else {
        ctx.tag.resource = RestResource::Unknown;
        return Reply::status(404);
    };
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();

    // Routing (method checked per resource).
    let resource = match seg.as_slice() {
        ["server", "version"] => RestResource::Version,
        ["login", u] => RestResource::Login {
            username: u.to_string(),
        },
        ["accounts", uid] => RestResource::Account {
            uid: uid.to_string(),
        },
        ["accounts", uid, "headers"] => RestResource::Headers {
            uid: uid.to_string(),
            short: false,
        },
        ["accounts", uid, "headers(short)"] => RestResource::Headers {
            uid: uid.to_string(),
            short: true,
        },
        ["accounts", uid, "mails"] => RestResource::AllMails {
            uid: uid.to_string(),
        },
        ["accounts", uid, "mails", id @ ..] if !id.is_empty() => RestResource::Mail {
            uid: uid.to_string(),
            message_id: normalise_message_id(&id.join("/")),
        },
        ["accounts", uid, "certificate"] => RestResource::AccountCertificate {
            uid: uid.to_string(),
        },
        ["accounts", uid, "password"] => RestResource::Password {
            uid: uid.to_string(),
        },
        ["mails"] => RestResource::Send,
        ["csr"] => RestResource::CsrSubmit,
        ["csr", id] => RestResource::CsrStatus { id: id.to_string() },
        ["certificates"] => RestResource::Certificates {
            uid: query_param(query.as_deref(), "uid"),
            email: query_param(query.as_deref(), "email"),
        },
        ["vzd", f] if *f == "accounts.json.zip" || *f == "accounts.xml.zip" => {
            RestResource::AddressBook {
                file: f.to_string(),
            }
        }
        _ => RestResource::Unknown,
    };
    ctx.tag.resource = resource.clone();
    let allowed: &[Method] = match &resource {
        RestResource::Mail { .. } => &[Method::GET, Method::DELETE],
        RestResource::Send | RestResource::CsrSubmit | RestResource::Password { .. } => {
            &[Method::POST]
        }
        RestResource::AccountCertificate { .. } => &[Method::DELETE],
        RestResource::Unknown | RestResource::NotRouted => return Reply::status(404),
        _ => &[Method::GET],
    };
    if !allowed.contains(&method) {
        let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        return Reply::status(405).header(header::ALLOW, allow.join(", "));
    }

    // Resources without authentication (R1, R14).
    match &resource {
        RestResource::Version => {
            return Reply::body(
                200,
                &p.text_media_type,
                p.server_version.clone().into_bytes(),
            );
        }
        RestResource::AddressBook { file } => {
            return address_book(shared, file, req.headers());
        }
        _ => {}
    }

    // BASIC authentication.
    let Some((user, password)) = basic_credentials(req.headers()) else {
        ctx.tag.auth = RestAuth::Missing;
        ctx.note = Some("no BASIC credentials".into());
        return unauthorized(p);
    };
    let me = {
        let s = shared.lock();
        s.accounts
            .iter()
            .find(|a| a.account.username == user && a.account.password == password)
            .map(|a| a.account.clone())
    };
    let Some(me) = me else {
        ctx.tag.auth = RestAuth::Failed { user: user.clone() };
        ctx.note = Some(format!("wrong user or password for `{user}`"));
        return unauthorized(p);
    };
    ctx.tag.auth = RestAuth::Ok {
        user: me.username.clone(),
    };
    let owner_check = |uid: &str, ctx: &mut Ctx| -> Option<Reply> {
        if uid != me.uid {
            ctx.note = Some(format!(
                "`{}` is not the owner of account uid `{uid}`",
                me.username
            ));
            return Some(Reply::status(p.forbidden_status));
        }
        None
    };
    if p.enforce_password_change
        && me.password_change_needed
        && !matches!(
            resource,
            RestResource::Login { .. }
                | RestResource::Account { .. }
                | RestResource::Password { .. }
        )
    {
        ctx.note = Some("the initial password must be changed first".into());
        return Reply::status(p.forbidden_status);
    }

    match resource {
        RestResource::Login { username } => {
            if username != me.username {
                ctx.note = Some(format!(
                    "login for `{username}` with the credentials of `{}`",
                    me.username
                ));
                return Reply::status(p.forbidden_status);
            }
            let loc = format!("{}/accounts/{}", shared.base_path, me.uid);
            Reply::status(p.login_redirect_status).header(header::LOCATION, loc)
        }
        RestResource::Account { uid } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            let s = shared.lock();
            let Some(a) = s.accounts.iter().find(|a| a.account.uid == uid) else {
                return Reply::status(404);
            };
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<account uid=\"{}\"><email>{}</email><passwordLastChange>{}</passwordLastChange><passwordChangeNeeded>{}</passwordChangeNeeded></account>\n",
                xml_escape(&a.account.uid),
                xml_escape(&a.account.email),
                format_date(a.password_last_change, p.date_format),
                a.account.password_change_needed
            );
            Reply::body(200, &p.xml_media_type, xml.into_bytes())
        }
        RestResource::Headers { uid, short } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            let mails = mails_of(shared, &uid);
            let n = mails.len();
            let num =
                |k: &str| query_param(query.as_deref(), k).and_then(|v| v.parse::<usize>().ok());
            let (from, to) = if p.header_window_zero_based {
                (num("from").unwrap_or(0), num("to").unwrap_or(n))
            } else {
                (
                    num("from").map(|f| f.saturating_sub(1)).unwrap_or(0),
                    num("to").unwrap_or(n),
                )
            };
            let to = to.min(n);
            let from = from.min(to);
            let fields: Vec<String> = if short {
                p.short_header_fields.clone()
            } else {
                HEADER_FIELDS.iter().map(|s| s.to_string()).collect()
            };
            let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<headers>");
            for m in &mails[from..to] {
                let (h, _) = kvc_smime::mime::split_header_body(&m.raw);
                let hdr = kvc_smime::mime::Headers::parse(h);
                xml.push_str("<header>");
                for f in &fields {
                    let value = if f == "message-id" {
                        Some(m.id.clone())
                    } else {
                        hdr.get(f).map(str::to_string)
                    };
                    if let Some(v) = value {
                        xml.push_str(&format!("<{f}>{}</{f}>", xml_escape(&v)));
                    }
                }
                xml.push_str("</header>");
            }
            xml.push_str("</headers>\n");
            Reply::body(200, &p.xml_media_type, xml.into_bytes())
        }
        RestResource::AllMails { uid } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            let mails = mails_of(shared, &uid);
            let boundary = format!("kvc-mock-{}", uuid::Uuid::new_v4().simple());
            let mut body = Vec::new();
            for m in &mails {
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(&m.raw);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            Reply::body(
                200,
                &format!("multipart/mixed; boundary=\"{boundary}\""),
                body,
            )
        }
        RestResource::Mail { uid, message_id } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            if method == Method::GET {
                let found = mails_of(shared, &uid)
                    .into_iter()
                    .find(|m| m.id == message_id);
                match found {
                    Some(m) => Reply::body(200, &p.mail_media_type, m.raw.to_vec()),
                    None => {
                        ctx.note = Some(format!("no message `{message_id}` in the mailbox"));
                        Reply::status(404)
                    }
                }
            } else {
                let fault = shared.lock().faults.delete_status;
                if let Some(code) = fault {
                    ctx.note = Some(format!("scripted fault: delete answers {code}"));
                    return Reply::status(code);
                }
                let removed = shared.update(|s| {
                    s.accounts
                        .iter_mut()
                        .find(|a| a.account.uid == uid)
                        .and_then(|a| {
                            let i = a.mails.iter().position(|m| m.id == message_id)?;
                            Some(a.mails.remove(i))
                        })
                        .is_some()
                });
                if removed {
                    Reply::status(p.delete_status)
                } else {
                    ctx.note = Some(format!("no message `{message_id}` in the mailbox"));
                    Reply::status(404)
                }
            }
        }
        RestResource::Send => {
            let content_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = match read_body(req, shared.limits.max_body_bytes, ctx).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            send(shared, &me, body, content_type, ctx)
        }
        RestResource::CsrSubmit => {
            let body = match read_body(req, shared.limits.max_body_bytes, ctx).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let pem = String::from_utf8_lossy(&body).to_string();
            if !pem.contains("-----BEGIN CERTIFICATE REQUEST-----")
                && !pem.contains("-----BEGIN NEW CERTIFICATE REQUEST-----")
            {
                ctx.note = Some("body is no PEM certificate request".into());
                return Reply::status(400);
            }
            let id = shared.update(|s| {
                let id = s.next_id.to_string();
                s.next_id += 1;
                let record_index = s.obs.csrs.len();
                s.obs.csrs.push(CsrRecord {
                    id: id.clone(),
                    user: me.username.clone(),
                    pem,
                    statuses: Vec::new(),
                });
                s.csrs.insert(
                    id.clone(),
                    CsrState {
                        record_index,
                        username: me.username.clone(),
                        polls: 0,
                        issued: None,
                    },
                );
                id
            });
            let loc = format!("{}/csr/{id}", shared.base_path);
            Reply::body(
                p.csr_created_status,
                &p.text_media_type,
                loc.clone().into_bytes(),
            )
            .header(header::LOCATION, loc)
        }
        RestResource::CsrStatus { id } => csr_status(shared, &me, &id, ctx),
        RestResource::Certificates { uid, email } => {
            let s = shared.lock();
            let acc = s.accounts.iter().find(|a| {
                uid.as_deref().is_some_and(|u| a.account.uid == u)
                    || email
                        .as_deref()
                        .is_some_and(|e| a.account.email.eq_ignore_ascii_case(e))
            });
            let Some(acc) = acc else {
                ctx.note = Some("no such account".into());
                return Reply::status(404);
            };
            let fault = s.faults.recipient_certificates.iter().find_map(|(k, v)| {
                (k.eq_ignore_ascii_case(&acc.account.username)
                    || k.eq_ignore_ascii_case(&acc.account.email))
                .then_some(v)
            });
            let pem = match fault {
                Some(RecipientCertFault::Missing) => {
                    ctx.note = Some("scripted fault: certificate missing".into());
                    None
                }
                Some(RecipientCertFault::Replace(pem)) => {
                    ctx.note = Some("scripted fault: certificate replaced".into());
                    Some(pem.clone())
                }
                None => acc.account.certificate_pem.clone(),
            };
            let Some(pem) = pem else {
                return Reply::status(404);
            };
            let (id, from, to) = cert_facts(&pem);
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<certificate><id>{}</id><email>{}</email><body>{}</body><validFrom>{}</validFrom><validTo>{}</validTo></certificate>\n",
                xml_escape(&id),
                xml_escape(&acc.account.email),
                xml_escape(pem.trim_end()),
                from.map(|t| format_date(t, p.date_format))
                    .unwrap_or_default(),
                to.map(|t| format_date(t, p.date_format))
                    .unwrap_or_default(),
            );
            Reply::body(200, &p.xml_media_type, xml.into_bytes())
        }
        RestResource::AccountCertificate { uid } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            shared.update(|s| {
                if let Some(a) = s.accounts.iter_mut().find(|a| a.account.uid == uid) {
                    a.account.certificate_pem = None;
                }
                s.last_change = SystemTime::now();
            });
            Reply::status(p.delete_status)
        }
        RestResource::Password { uid } => {
            if let Some(r) = owner_check(&uid, ctx) {
                return r;
            }
            let body = match read_body(req, shared.limits.max_body_bytes, ctx).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let new = String::from_utf8_lossy(&body);
            let new = new.trim_end_matches(['\r', '\n']);
            if new.is_empty() {
                ctx.note = Some("new password empty".into());
                return Reply::status(400);
            }
            if !password_policy_ok(new) {
                ctx.note = Some(
                    "new password violates the policy (>= 8 chars, 2 lower, 2 upper, 1 digit)"
                        .into(),
                );
                return Reply::status(422);
            }
            let new = new.to_string();
            shared.update(|s| {
                if let Some(a) = s.accounts.iter_mut().find(|a| a.account.uid == uid) {
                    a.account.password = new;
                    a.account.password_change_needed = false;
                    a.password_last_change = SystemTime::now();
                }
            });
            Reply::status(p.password_ok_status)
        }
        RestResource::Version
        | RestResource::AddressBook { .. }
        | RestResource::Unknown
        | RestResource::NotRouted => Reply::status(404),
    }
}

fn unauthorized(p: &KvcRestProfile) -> Reply {
    Reply::status(p.unauthorized_status).header(
        header::WWW_AUTHENTICATE,
        format!("Basic realm=\"{}\"", p.basic_realm),
    )
}

fn mails_of(shared: &Shared, uid: &str) -> Vec<StoredMail> {
    shared
        .lock()
        .accounts
        .iter()
        .find(|a| a.account.uid == uid)
        .map(|a| a.mails.clone())
        .unwrap_or_default()
}

/// Serial (hex) and validity of a PEM certificate (empty/None if it does not parse).
fn cert_facts(pem: &str) -> (String, Option<SystemTime>, Option<SystemTime>) {
    match kvc_smime::keys::parse_certificates(pem.as_bytes(), "account certificate") {
        Ok(certs) if !certs.is_empty() => {
            let tbs = certs[0].tbs_certificate();
            let serial: String = tbs
                .serial_number()
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();
            let v = tbs.validity();
            (
                serial,
                Some(v.not_before.to_system_time()),
                Some(v.not_after.to_system_time()),
            )
        }
        _ => (String::new(), None, None),
    }
}

fn send(
    shared: &Shared,
    me: &KvcRestAccount,
    body: Vec<u8>,
    content_type: Option<String>,
    ctx: &mut Ctx,
) -> Reply {
    let p = &shared.profile;
    let (h, _) = kvc_smime::mime::split_header_body(&body);
    let hdr = kvc_smime::mime::Headers::parse(h);
    let mut rcpts: Vec<String> = Vec::new();
    for name in ["To", "Cc"] {
        for v in hdr.get_all(name) {
            rcpts.extend(kvc_smime::mime::addresses(v));
        }
    }
    let fault = shared.lock().faults.send_status;
    let raw_for_mailbox = body.clone();
    let cost = body.len().saturating_mul(1 + rcpts.len());
    shared.update(|s| {
        let id = s.next_id.to_string();
        s.next_id += 1;
        if s.stored_bytes.saturating_add(cost) > shared.limits.max_stored_bytes {
            ctx.note = Some(format!(
                "mock storage limit of {} bytes reached: body dropped",
                shared.limits.max_stored_bytes
            ));
            return Reply::status(507);
        }
        s.stored_bytes += cost;
        let mut delivered = Vec::new();
        let mut unknown = Vec::new();
        let status = fault.unwrap_or(p.send_status);
        if fault.is_none() {
            for r in &rcpts {
                match s
                    .accounts
                    .iter_mut()
                    .find(|a| a.account.email.eq_ignore_ascii_case(r))
                {
                    Some(a) => {
                        let n = s.next_id;
                        a.mails.push(stored(raw_for_mailbox.clone(), n));
                        delivered.push(a.account.username.clone());
                    }
                    None => unknown.push(r.clone()),
                }
            }
            s.next_id += 1;
        }
        let from_matches = hdr
            .get("From")
            .map(kvc_smime::mime::addresses)
            .unwrap_or_default()
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&me.email));
        let mut notes = Vec::new();
        if let Some(code) = fault {
            notes.push(format!("scripted fault: send answers {code}"));
        }
        if rcpts.is_empty() {
            notes.push("no To/Cc address in the message".to_string());
        }
        if !unknown.is_empty() {
            notes.push(format!("unknown recipients: {}", unknown.join(", ")));
        }
        if !from_matches {
            notes.push(format!("From is not the sender's address {}", me.email));
        }
        if !notes.is_empty() {
            ctx.note = Some(notes.join("; "));
        }
        if s.obs.posted.len() < MAX_RECORDS {
            s.obs.posted.push(PostedMail {
                user: me.username.clone(),
                content_type,
                data: body,
                status,
                delivered_to: delivered,
                unknown_recipients: unknown,
                id: id.clone(),
            });
        } else {
            s.obs.dropped_records += 1;
        }
        let loc = format!("{}/mails/{id}", shared.base_path);
        if fault.is_some() {
            Reply::status(status)
        } else {
            Reply::body(status, &p.text_media_type, loc.clone().into_bytes())
                .header(header::LOCATION, loc)
        }
    })
}

fn csr_status(shared: &Shared, me: &KvcRestAccount, id: &str, ctx: &mut Ctx) -> Reply {
    let p = &shared.profile;
    let issuer = shared
        .csr_issuer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let step = shared.update(|s| {
        let final_fault = s.faults.csr_final_status;
        let st = s.csrs.get_mut(id)?;
        if st.username != me.username {
            return Some(Err(()));
        }
        let mut prog = p.csr_progression.clone();
        if let Some(f) = final_fault
            && let Some(last) = prog.last_mut()
        {
            *last = f;
        }
        let i = st.polls.min(prog.len() - 1);
        st.polls += 1;
        let code = prog[i];
        let idx = st.record_index;
        let statuses = s.obs.csrs.get_mut(idx).map(|r| {
            if r.statuses.last() != Some(&code) || r.statuses.len() <= i {
                r.statuses.push(code);
            }
            r.statuses.clone()
        });
        let pem = s.obs.csrs.get(idx).map(|r| r.pem.clone());
        let issued = s.csrs.get(id).and_then(|st| st.issued.clone());
        Some(Ok((code, statuses.unwrap_or_default(), pem, issued)))
    });
    let (code, mut statuses, pem, issued) = match step {
        None => {
            ctx.note = Some(format!("no CSR `{id}`"));
            return Reply::status(404);
        }
        Some(Err(())) => {
            ctx.note = Some("CSR of another account".into());
            return Reply::status(p.forbidden_status);
        }
        Some(Ok(x)) => x,
    };
    let mut outcome = issued;
    if code == 999
        && outcome.is_none()
        && let (Some(issuer), Some(pem)) = (issuer, pem)
    {
        let r = issuer(&pem, me);
        if let Ok(cert) = &r {
            let cert = cert.clone();
            shared.update(|s| {
                if let Some(a) = s
                    .accounts
                    .iter_mut()
                    .find(|a| a.account.username == me.username)
                {
                    a.account.certificate_pem = Some(cert);
                }
                s.last_change = SystemTime::now();
            });
        }
        let r = r.map(|_| ());
        shared.update(|s| {
            if let Some(st) = s.csrs.get_mut(id) {
                st.issued = Some(r.clone());
                if r.is_err()
                    && let Some(rec) = s.obs.csrs.get_mut(st.record_index)
                {
                    rec.statuses.push(903);
                }
            }
        });
        outcome = Some(r);
    }
    if let Some(Err(e)) = outcome {
        ctx.note = Some(format!("CSR refused by the issuer: {e}"));
        if statuses.last() != Some(&903) {
            statuses.push(903);
        }
    }
    let mut xml =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<csr-status><status-entries>");
    for c in statuses.iter().rev() {
        xml.push_str(&format!("<status-entry status=\"{c}\"/>"));
    }
    xml.push_str("</status-entries></csr-status>\n");
    Reply::body(200, &p.xml_media_type, xml.into_bytes())
}
