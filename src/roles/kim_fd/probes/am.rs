//! Probes of the Account Manager (AccountManager.yaml, AccountLimit, ServiceInformation;
//! KIM-FACTS §1.3): the sender's account with a card token (PS256 from its C.AUT key, `x5c`)
//! and the base64 `password` header.

use std::time::SystemTime;

use base64::Engine;
use hyper::Method;
use kvc_mocks::kim::account_manager::{AM_BASE, INFO_BASE, LIMIT_BASE};
use kvc_smime::pki::CertifiedKey;

use super::super::target::Participant;
use super::{ProbeCtx, Request};

pub const INTERFACE: &str = "am_interface";
pub const TOKEN: &str = "am_token";
pub const REVOKE: &str = "am_revoke";

/// The out-of-office text of the UTF-8 round trip: umlauts, ß, a combining accent, a dash
/// and a non-Latin script.
pub const UTF8_TEXT: &str = "Praxis geschlossen – Grüße aus Weißenfels, Zoë (Zoe\u{0308}), 東京";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A card token with these claims, or why there is none.
fn token(aut: Option<&CertifiedKey>, claims: serde_json::Value) -> Result<String, String> {
    let aut = aut.ok_or("the SUT configuration gives no C.AUT key for the account")?;
    kvc_smime::jwt::sign_card_jwt(aut, &claims).map_err(|e| format!("signing the token: {e}"))
}

/// The usual claims: issued now, valid five minutes.
fn fresh() -> serde_json::Value {
    let t = now();
    serde_json::json!({"iat": t, "nbf": t, "exp": t + 300})
}

/// `token` with its payload swapped for other claims and the signature kept.
fn forged(token: &str) -> String {
    let mut parts = token.splitn(3, '.');
    let (h, _, s) = (
        parts.next().unwrap_or(""),
        parts.next(),
        parts.next().unwrap_or(""),
    );
    let t = now();
    let claims = serde_json::json!({"iat": t, "nbf": t, "exp": t + 299});
    format!(
        "{h}.{}.{s}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn encoded(address: &str) -> String {
    // The address goes into the path; `@` is allowed there, other characters are escaped.
    address
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                c.to_string()
            } else {
                c.to_string().bytes().map(|b| format!("%{b:02X}")).collect()
            }
        })
        .collect()
}

impl ProbeCtx<'_> {
    fn account_path(&self, who: &Participant, sub: &str) -> String {
        let user = encoded(&who.address);
        if sub.is_empty() {
            format!("{AM_BASE}/account/{user}")
        } else {
            format!("{AM_BASE}/account/{user}/{sub}")
        }
    }

    /// A request to the account `who` with a bearer `token` and the password header.
    fn authorized<'r>(
        &self,
        label: &'r str,
        method: Method,
        path: String,
        bearer: Option<&str>,
        password: Option<&str>,
    ) -> Request<'r> {
        let mut req = Request::new(label, method, path);
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(p) = password {
            req = req.header("password", b64(p));
        }
        req
    }
}

/// A_20063: the operations of the interface files on the sender's account, each response
/// checked against its schema, with a UTF-8 round trip through the out-of-office text.
pub async fn interface(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let am = ctx.target.account_manager;
    let me = ctx.target.sender.clone();
    let pw = Some(me.password.as_str());
    let basic = format!("Basic {}", b64(&format!("{}:{}", me.address, me.password)));
    ctx.send(
        "account-manager",
        am,
        Request::new(
            "getServiceInformation",
            Method::GET,
            format!("{INFO_BASE}/serviceinfo"),
        )
        .header("authorization", basic.clone()),
    )
    .await?;
    ctx.send(
        "account-manager",
        am,
        Request::new("getLimits", Method::GET, format!("{LIMIT_BASE}/limit"))
            .header("authorization", basic),
    )
    .await?;
    let t = token(me.aut.as_ref(), fresh())?;
    let account = ctx
        .send(
            "account-manager",
            am,
            ctx.authorized(
                "getAccount",
                Method::GET,
                ctx.account_path(&me, ""),
                Some(&t),
                pw,
            ),
        )
        .await?;
    // setAccount with the value read, so the account ends as it was.
    let ttl = account
        .json()
        .and_then(|a| a["dataTimeToLive"].as_u64())
        .unwrap_or(90);
    ctx.send(
        "account-manager",
        am,
        ctx.authorized(
            "setAccount",
            Method::PUT,
            ctx.account_path(&me, ""),
            Some(&t),
            pw,
        )
        .body(
            "application/json",
            serde_json::json!({"dataTimeToLive": ttl})
                .to_string()
                .into_bytes(),
        ),
    )
    .await?;
    let notice = serde_json::json!({"active": false, "message": UTF8_TEXT});
    ctx.send(
        "account-manager",
        am,
        ctx.authorized(
            "updateOutOfOffice",
            Method::PUT,
            ctx.account_path(&me, "outofoffice"),
            Some(&t),
            pw,
        )
        .body(
            "application/json; charset=utf-8",
            notice.to_string().into_bytes(),
        ),
    )
    .await?;
    let read = ctx
        .http(
            "account-manager",
            am,
            ctx.authorized(
                "getOutOfOffice",
                Method::GET,
                ctx.account_path(&me, "outofoffice"),
                Some(&t),
                pw,
            ),
        )
        .await?;
    let back = read
        .json()
        .and_then(|j| j["message"].as_str().map(str::to_string));
    let facts = [
        ("utf8_sent", UTF8_TEXT.to_string()),
        (
            "utf8_round_trip",
            (back.as_deref() == Some(UTF8_TEXT)).to_string(),
        ),
    ];
    ctx.record(read, &facts);
    ctx.send(
        "account-manager",
        am,
        ctx.authorized(
            "getOTP",
            Method::GET,
            ctx.account_path(&me, "OTP"),
            Some(&t),
            pw,
        )
        .secret_answer(),
    )
    .await?;
    // createCert: a PKCS#12 with the certificate `<commonName>#CM`, protected by certPassword.
    let params =
        serde_json::json!({"commonName": "kvc-check-probe", "certPassword": b64(CERT_PASSWORD)});
    let cert = ctx
        .http(
            "account-manager",
            am,
            ctx.authorized(
                "createCert",
                Method::POST,
                ctx.account_path(&me, "cert"),
                Some(&t),
                pw,
            )
            .body(
                "application/json; charset=utf-8",
                params.to_string().into_bytes(),
            )
            .secret_answer(),
        )
        .await?;
    let opened = cert
        .json()
        .and_then(|j| j["file"].as_str().map(str::to_string))
        .and_then(|f| {
            base64::engine::general_purpose::STANDARD
                .decode(f.trim())
                .ok()
        })
        .map(
            |der| match kvc_smime::pkcs12::parse(&der, CERT_PASSWORD, "createCert") {
                Ok(p) => match (p.keys.len(), p.certificates.first()) {
                    (0, _) => "opens, but holds no key".to_string(),
                    (_, Some(c)) => format!("opens; subject {}", c.tbs_certificate().subject()),
                    (_, None) => "opens, but holds no certificate".to_string(),
                },
                Err(e) => format!("does not open with certPassword: {e}"),
            },
        )
        .unwrap_or_else(|| "no base64 `file` in the answer".into());
    ctx.record(cert, &[("pkcs12", opened)]);
    Ok(())
}

/// The certPassword of the createCert probe (not a secret: it protects a throwaway certificate).
const CERT_PASSWORD: &str = "kvc-check-probe";

/// KOM-LE-A_2187: getAccount with a valid token (control), then with each broken credential.
pub async fn token_probe(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let am = ctx.target.account_manager;
    let me = ctx.target.sender.clone();
    let path = ctx.account_path(&me, "");
    let pw = me.password.as_str();
    let valid = token(me.aut.as_ref(), fresh())?;
    let t = now();
    let cases: Vec<(&str, Option<String>, Option<String>)> = vec![
        (
            "valid token and password",
            Some(valid.clone()),
            Some(pw.to_string()),
        ),
        (
            "forged signature",
            Some(forged(&valid)),
            Some(pw.to_string()),
        ),
        (
            "certificate not from the card PKI",
            Some(token(ctx.target.untrusted_aut.as_ref(), fresh())?),
            Some(pw.to_string()),
        ),
        (
            "nbf in the future",
            Some(token(
                me.aut.as_ref(),
                serde_json::json!({"iat": t + 3600, "nbf": t + 3600, "exp": t + 3900}),
            )?),
            Some(pw.to_string()),
        ),
        (
            "expired",
            Some(token(
                me.aut.as_ref(),
                serde_json::json!({"iat": t - 900, "nbf": t - 900, "exp": t - 600}),
            )?),
            Some(pw.to_string()),
        ),
        (
            "wrong password",
            Some(valid.clone()),
            Some(format!("{pw}-falsch")),
        ),
        ("no token", None, Some(pw.to_string())),
    ];
    for (label, bearer, password) in cases {
        ctx.send(
            "account-manager",
            am,
            ctx.authorized(
                label,
                Method::GET,
                path.clone(),
                bearer.as_deref(),
                password.as_deref(),
            ),
        )
        .await?;
    }
    Ok(())
}

/// A_23175: deregister the sender and revoke it at once (control: before deregDate), then
/// revoke the deregistration of an account whose deregDate has passed.
pub async fn revoke(ctx: &ProbeCtx<'_>) -> Result<(), String> {
    let am = ctx.target.account_manager;
    let me = ctx.target.sender.clone();
    let t = token(me.aut.as_ref(), fresh())?;
    let pw = Some(me.password.as_str());
    ctx.send(
        "account-manager",
        am,
        ctx.authorized(
            "deregister",
            Method::DELETE,
            ctx.account_path(&me, ""),
            Some(&t),
            pw,
        ),
    )
    .await?;
    ctx.send(
        "account-manager",
        am,
        ctx.authorized(
            "revoke before deregDate",
            Method::PUT,
            ctx.account_path(&me, "revokeDeregistration"),
            Some(&t),
            pw,
        ),
    )
    .await?;
    let Some(old) = ctx.target.deregistered.clone() else {
        return Err("the SUT configuration names no account whose deregDate has passed (`fachdienst.deregistered`)".into());
    };
    let t_old = token(old.aut.as_ref(), fresh())?;
    let pw_old = Some(old.password.as_str());
    let read = ctx
        .http(
            "account-manager",
            am,
            ctx.authorized(
                "read the long-deregistered account",
                Method::GET,
                ctx.account_path(&old, ""),
                Some(&t_old),
                pw_old,
            ),
        )
        .await?;
    let dereg = read
        .json()
        .and_then(|a| a["deregDate"].as_i64())
        .map(|d| d.to_string())
        .unwrap_or_else(|| "none".into());
    ctx.record(read, &[("deregDate", dereg), ("now", now().to_string())]);
    ctx.send(
        "account-manager",
        am,
        ctx.authorized(
            "revoke after deregDate",
            Method::PUT,
            ctx.account_path(&old, "revokeDeregistration"),
            Some(&t_old),
            pw_old,
        ),
    )
    .await?;
    Ok(())
}
