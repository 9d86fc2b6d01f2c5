//! Probes of the Fachdienst's MTA (SMTPS with AUTH, KIM-FACTS §8): the suite sends as the
//! sender's account, once as it should (the control), then with one sender field wrong.

use base64::Engine;
use kvc_mocks::mail::client::MailClient;
use kvc_mocks::net::client::{ClientError, server_name};

use super::ProbeCtx;

pub const ENVELOPE_SENDER: &str = "mta_envelope_sender";
pub const HEADER_SENDER: &str = "mta_header_sender";

/// The reply of a command whatever its code (a refusal is an answer, not an error).
async fn command(client: &mut MailClient, line: &str, shown: &str) -> Result<String, String> {
    match client.smtp_cmd_masked(line, shown, 250).await {
        Ok(r) => Ok(r),
        Err(ClientError::Protocol { reply, .. }) => Ok(reply),
        Err(e) => Err(e.to_string()),
    }
}

/// One SMTP transaction: AUTH as the sender, MAIL FROM `envelope`, RCPT TO the recipient,
/// DATA `message`; every step recorded under `label`. Stops at the first refusal.
async fn transaction(
    ctx: &ProbeCtx<'_>,
    label: &str,
    envelope: &str,
    message: &str,
) -> Result<(), String> {
    let Some(addr) = ctx.target.mta else {
        return Err("the SUT configuration names no address for the MTA".into());
    };
    let tls = ctx.tls()?;
    let name = server_name(&ctx.target.host).map_err(|e| e.to_string())?;
    let mut client = match MailClient::connect("SMTP", addr, &name, tls).await {
        Ok(c) => c,
        Err(e) => {
            ctx.smtp(label, "connect", "", Some(e.to_string()));
            return Ok(());
        }
    };
    let greeting = client
        .smtp_expect("greeting", 220)
        .await
        .unwrap_or_default();
    if !greeting.starts_with("220") {
        ctx.smtp(label, "greeting", &greeting, None);
        return Ok(());
    }
    let me = &ctx.target.sender;
    let plain = base64::engine::general_purpose::STANDARD
        .encode(format!("\0{}\0{}", me.address, me.password));
    let steps: Vec<(String, String, bool)> = vec![
        (
            "EHLO kvc-check.test".into(),
            "EHLO kvc-check.test".into(),
            false,
        ),
        (
            format!("AUTH PLAIN {plain}"),
            "AUTH PLAIN ****".into(),
            false,
        ),
        (
            format!("MAIL FROM:<{envelope}>"),
            format!("MAIL FROM:<{envelope}>"),
            true,
        ),
        (
            format!("RCPT TO:<{}>", ctx.target.recipient.address),
            format!("RCPT TO:<{}>", ctx.target.recipient.address),
            true,
        ),
        ("DATA".into(), "DATA".into(), true),
    ];
    for (line, shown, recorded) in steps {
        let reply = command(&mut client, &line, &shown).await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                ctx.smtp(label, &shown, "", Some(e));
                return Ok(());
            }
        };
        let ok = reply.starts_with('2') || reply.starts_with('3');
        if recorded || !ok {
            ctx.smtp(label, &shown, &reply, None);
        }
        if !ok {
            let _ = command(&mut client, "QUIT", "QUIT").await;
            return Ok(());
        }
    }
    let mut data = message.replace('\n', "\r\n").replace("\r\r\n", "\r\n");
    data.push_str("\r\n.");
    let reply = command(&mut client, &data, "(message) .").await;
    match reply {
        Ok(r) => ctx.smtp(label, "end of DATA", &r, None),
        Err(e) => ctx.smtp(label, "end of DATA", "", Some(e)),
    }
    let _ = command(&mut client, "QUIT", "QUIT").await;
    Ok(())
}

fn message(from: &str, extra: &str, to: &str) -> String {
    format!(
        "From: {from}\nTo: {to}\n{extra}Subject: kvc-check probe\nMessage-ID: <{}@kvc-check.test>\nDate: Mon, 7 Dec 2026 12:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nProbe of the Fachdienst MTA.\n",
        uuid::Uuid::new_v4()
    )
}

/// A_23421: MAIL FROM the AUTH user (control), then MAIL FROM another account.
pub async fn envelope_sender(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let me = ctx.target.sender.address.clone();
    let to = ctx.target.recipient.address.clone();
    transaction(ctx, "MAIL FROM the AUTH user", &me, &message(&me, "", &to)).await?;
    transaction(
        ctx,
        "MAIL FROM another address",
        &to,
        &message(&to, "", &to),
    )
    .await
}

/// A_23422: a message whose sender fields agree with MAIL FROM (control), then From, Sender
/// and Reply-To each wrong.
pub async fn header_sender(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let me = ctx.target.sender.address.clone();
    let to = ctx.target.recipient.address.clone();
    let other = ctx.target.outsider.clone();
    transaction(
        ctx,
        "sender fields agree",
        &me,
        &message(&me, &format!("Reply-To: {me}\n"), &to),
    )
    .await?;
    transaction(ctx, "From another address", &me, &message(&other, "", &to)).await?;
    transaction(
        ctx,
        "Sender another address",
        &me,
        &message(&me, &format!("Sender: {other}\n"), &to),
    )
    .await?;
    transaction(
        ctx,
        "Reply-To outside KIM",
        &me,
        &message(&me, "Reply-To: praxis@example.com\n", &to),
    )
    .await
}
