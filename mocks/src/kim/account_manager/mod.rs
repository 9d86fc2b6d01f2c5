//! The mock Account Manager of a KIM Fachdienst (KIM-FACTS §1.3) on the HTTP engine, with the
//! AccountLimit and ServiceInformation endpoints beside it: `AccountManager.yaml` under
//! `/AccountMgmt/v2.4`, `AccountLimit.yaml` under `/AccountLimit/v1.1`, `ServiceInformation.yaml`
//! under `/ServiceInformation/v1.0`.
//!
//! Account operations need a bearer JWT signed with a card's C.AUT key
//! ([`kvc_smime::jwt::verify_card_jwt`]: `x5c` chained to the card CAs, PS256 or brainpool,
//! `iat`/`exp` at most `jwt_expiration` apart, as KIM 1.5.3 has them) whose TelematikID is the
//! account's, and the account password in the `password` header (base64). AccountLimit takes
//! BASIC; ServiceInformation is open. Every request is recorded with the token's outcome.
//!
//! Served: registerAccount (card token; `referenceID` + `iniPassword` from a provisioned
//! registration when the provider requires them, see [`AmRegistration`]; 409/420/422 as the yaml
//! documents), getAccount, setAccount, deregisterAccount (`deregDate` = now + the grace period),
//! revokeDeregistration (403 after `deregDate`, A_23175), getOTP (a new OTP replaces the last,
//! valid for [`AmConfig::otp_validity`]), setTID (token of the *new* card, `otp` header; 403 for
//! a wrong or expired OTP), createCert (a TLS client certificate `<commonName>#CM` from the
//! Fachdienst CA in a base64 PKCS#12, protected by `certPassword` when given, else unprotected),
//! get/updateOutOfOffice, getLimits, getServiceInformation.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, Method, Request, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::json;
use tokio_rustls::TlsAcceptor;
use x509_cert::Certificate;

pub mod records;
pub use records::AmCall;

use crate::error::MockError;
use crate::evidence::{Evidence, Resource};
use crate::http::server::{BoxFuture, RecordingRoutes, basic_credentials, read_body};
use crate::http::{BasicAuth, Exchange, HttpLimits, HttpRecords, HttpRequest, HttpTask, Reply};
use crate::net::recorder::Recorder;
use crate::net::tls::{ClientCertIssuer, ServerCertKind, TlsPki};

const JSON: &str = "application/json; charset=utf-8";
pub const AM_BASE: &str = "/AccountMgmt/v2.4";
pub const LIMIT_BASE: &str = "/AccountLimit/v1.1";
pub const INFO_BASE: &str = "/ServiceInformation/v1.0";

/// One KIM account as the Account Manager keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct AmAccount {
    pub username: String,
    pub password: String,
    pub telematik_id: String,
    pub kim_version: String,
    /// Unix time of the deregistration, when deregistered.
    pub dereg_date: Option<i64>,
    pub data_time_to_live: u16,
    pub no_vzd_mail_entry: bool,
    pub out_of_office: serde_json::Value,
    /// The OTP getOTP issued last and when (unix time); setTID consumes it.
    pub otp: Option<(String, i64)>,
}

impl std::fmt::Debug for AmAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmAccount")
            .field("username", &self.username)
            .field("telematik_id", &self.telematik_id)
            .finish_non_exhaustive()
    }
}

impl AmAccount {
    pub fn new(username: &str, password: &str, telematik_id: &str) -> AmAccount {
        AmAccount {
            username: username.to_string(),
            password: password.to_string(),
            telematik_id: telematik_id.to_string(),
            kim_version: "1.5+".into(),
            dereg_date: None,
            data_time_to_live: 90,
            no_vzd_mail_entry: false,
            out_of_office: json!({"active": false}),
            otp: None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut v = json!({
            "username": self.username,
            "kimVersion": self.kim_version,
            "regStat": if self.dereg_date.is_some() { "deregistered" } else { "registered" },
            "dataTimeToLive": self.data_time_to_live,
            "maxMailSize": super::MAX_MAIL_SIZE as u64,
            "noVzdMailEntry": self.no_vzd_mail_entry,
        });
        if let Some(d) = self.dereg_date {
            v["deregDate"] = json!(d);
        }
        v
    }
}

/// Scripted faults: the account operations answer `status` (401, 404, 423, 502, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AmFaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_delay: Option<Duration>,
}

/// Ways the Account Manager breaks its requirements on purpose (the reference Fachdienst's
/// faults, one requirement each); all off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AmDeviations {
    /// The token's signature is not verified (KOM-LE-A_2187).
    pub skips_jwt_signature: bool,
    /// A token whose `nbf`/`iat` lies in the future is accepted (KOM-LE-A_2187).
    pub ignores_not_before: bool,
    /// revokeDeregistration succeeds after deregDate (A_23175).
    pub revokes_after_dereg_date: bool,
    /// getAccount answers `dataTimeToLive` as a string, against AccountManager.yaml (A_20063).
    pub breaks_schema: bool,
}

/// A registration the provider handed to a KIM participant beforehand: the `referenceID` and
/// initial password registerAccount must present, for the card of `telematik_id`.
#[derive(Clone, PartialEq, Eq)]
pub struct AmRegistration {
    pub reference_id: String,
    pub ini_password: String,
    pub telematik_id: String,
}

impl std::fmt::Debug for AmRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmRegistration")
            .field("reference_id", &self.reference_id)
            .field("telematik_id", &self.telematik_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct AmConfig {
    pub bind: IpAddr,
    pub port: u16,
    pub cert: ServerCertKind,
    pub accounts: Vec<AmAccount>,
    /// The card CAs the token's `x5c` must chain to.
    pub trust: Vec<Certificate>,
    /// `jwtExpiration` (300..21600 s): the longest token lifetime accepted.
    pub jwt_expiration: Duration,
    /// Clock skew allowed on `iat`/`nbf`/`exp`.
    pub leeway: Duration,
    /// Between deregistration and `deregDate`.
    pub deregistration_grace: Duration,
    /// Provisioned registrations. Empty: registerAccount needs only a valid card token (and
    /// ServiceInformation says `referenceIdRequired: false`); otherwise the body's `referenceID`
    /// and the `iniPassword` header must match one for the token's card, which is then used up
    /// (once all are used, registerAccount answers 401).
    pub registrations: Vec<AmRegistration>,
    /// The mail domain new accounts must be in (`<local>@<domain>`).
    pub domain: String,
    /// How long an OTP from getOTP is accepted by setTID.
    pub otp_validity: Duration,
    pub faults: AmFaults,
    pub deviations: AmDeviations,
    pub limits: HttpLimits,
}

impl Default for AmConfig {
    fn default() -> Self {
        AmConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            cert: ServerCertKind::Valid,
            accounts: Vec::new(),
            trust: Vec::new(),
            jwt_expiration: Duration::from_secs(21_600),
            leeway: Duration::from_secs(60),
            deregistration_grace: Duration::from_secs(30 * 86_400),
            registrations: Vec::new(),
            domain: "kim.telematik-test".into(),
            otp_validity: Duration::from_secs(600),
            faults: AmFaults::default(),
            deviations: AmDeviations::default(),
            limits: HttpLimits {
                header_timeout: Duration::from_secs(10),
                request_timeout: Duration::from_secs(30),
                max_connections: 128,
                max_in_flight: 64,
            },
        }
    }
}

struct State {
    accounts: Vec<AmAccount>,
    registrations: Vec<AmRegistration>,
    faults: AmFaults,
    http: HttpRecords<AmCall>,
}

struct Shared {
    state: Recorder<State>,
    config: AmConfig,
    issuer: ClientCertIssuer,
}

/// KIM versions an account may declare (`kimVersion`, AccountManager.yaml).
const KIM_VERSIONS: [&str; 3] = ["1.0", "1.5", "1.5+"];

/// `<local>@<domain>` with the local part of the KIM FAQ (`[A-Za-z0-9._-]`, at most 64).
fn address_in_domain(address: &str, domain: &str) -> bool {
    let Some((local, dom)) = address.rsplit_once('@') else {
        return false;
    };
    (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && dom.eq_ignore_ascii_case(domain)
}

/// The password policy this Fachdienst announces in ServiceInformation: 12 to 256 characters.
const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 12..=256;

/// `passwordPolicyRegEx` of ServiceInformation, from [`PASSWORD_CHARS`].
fn password_policy_regex() -> String {
    format!("^.{{{},{}}}$", PASSWORD_CHARS.start(), PASSWORD_CHARS.end())
}

/// `dataTimeToLive` in days (AccountManager.yaml: minimum 10, maximum 365).
const DATA_TIME_TO_LIVE_DAYS: std::ops::RangeInclusive<u64> = 10..=365;

/// Applies the writable fields of an `Account` body (registerAccount, setAccount) to `account`,
/// or says which status the yaml documents for the first one that does not comply: 420 for the
/// password policy, 422 for an unknown `kimVersion`, 400 for a `dataTimeToLive` out of range.
fn apply_account_fields(
    account: &mut AmAccount,
    body: &serde_json::Value,
) -> Result<(), (u16, String)> {
    if let Some(pw) = body.get("password") {
        match pw.as_str().and_then(b64_text) {
            Some(p) if PASSWORD_CHARS.contains(&p.chars().count()) => account.password = p,
            _ => {
                return Err((
                    420,
                    format!(
                        "password must be base64 of {} to {} characters",
                        PASSWORD_CHARS.start(),
                        PASSWORD_CHARS.end()
                    ),
                ));
            }
        }
    }
    if let Some(k) = body.get("kimVersion") {
        match k.as_str().filter(|k| KIM_VERSIONS.contains(k)) {
            Some(k) => account.kim_version = k.to_string(),
            None => return Err((422, format!("kimVersion {k} is not supported"))),
        }
    }
    if let Some(ttl) = body.get("dataTimeToLive") {
        match ttl.as_u64().filter(|n| DATA_TIME_TO_LIVE_DAYS.contains(n)) {
            Some(n) => account.data_time_to_live = n as u16,
            None => {
                return Err((
                    400,
                    format!(
                        "dataTimeToLive must be {}..{}",
                        DATA_TIME_TO_LIVE_DAYS.start(),
                        DATA_TIME_TO_LIVE_DAYS.end()
                    ),
                ));
            }
        }
    }
    if let Some(b) = body.get("noVzdMailEntry").and_then(|b| b.as_bool()) {
        account.no_vzd_mail_entry = b;
    }
    Ok(())
}

/// A base64 header or body value as UTF-8 text.
fn b64_text(value: &str) -> Option<String> {
    B64.decode(value.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

type Ctx = Exchange<(AmCall, BasicAuth)>;

fn error(ex: &mut Ctx, status: u16, message: &str) -> Reply {
    ex.tag.0.reason = Some(message.to_string());
    let body = json!({"message": message, "traceId": uuid::Uuid::new_v4().simple().to_string()});
    Reply::body(status, JSON, body.to_string().into_bytes())
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Shared {
    /// The bearer token's TelematikID, or the 401 refusal (recorded either way).
    fn card_token(&self, headers: &HeaderMap, ex: &mut Ctx) -> Result<String, Reply> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        let Some(token) = bearer else {
            ex.tag.0.token = Some("missing".into());
            return Err(error(ex, 401, "bearer JWT required"));
        };
        let deviations = self.config.deviations;
        let checked = kvc_smime::jwt::verify_card_jwt_omitting(
            token,
            &self.config.trust,
            SystemTime::now(),
            self.config.jwt_expiration,
            self.config.leeway,
            kvc_smime::jwt::Omissions {
                signature: deviations.skips_jwt_signature,
                not_before: deviations.ignores_not_before,
            },
        );
        let jwt = match checked {
            Ok(j) => j,
            Err(e) => {
                ex.tag.0.token = Some(format!("refused: {e}"));
                return Err(error(ex, 401, &format!("bearer JWT refused: {e}")));
            }
        };
        let tid = jwt.telematik_id.clone().unwrap_or_default();
        ex.tag.0.token = Some(format!("ok {} {tid}", jwt.alg));
        Ok(tid)
    }

    /// Bearer token and `password` header for `username`: the account index, or the refusal.
    /// The token's card must be the account's, except for setTID, which the new card signs.
    fn authorize(&self, headers: &HeaderMap, username: &str, ex: &mut Ctx) -> Result<usize, Reply> {
        let tid = self.card_token(headers, ex)?;
        let password = headers
            .get("password")
            .and_then(|v| v.to_str().ok())
            .and_then(b64_text);
        let s = self.state.lock();
        let Some(i) = s
            .accounts
            .iter()
            .position(|a| a.username.eq_ignore_ascii_case(username))
        else {
            return Err(error(ex, 404, &format!("no account `{username}`")));
        };
        let a = &s.accounts[i];
        if password.as_deref() != Some(a.password.as_str()) {
            return Err(error(ex, 401, "password header missing or wrong"));
        }
        if ex.tag.0.operation == "setTID" {
            ex.tag.0.new_telematik_id = Some(tid);
        } else if a.telematik_id != tid {
            return Err(error(
                ex,
                401,
                &format!("the token's card ({tid}) is not the account's TelematikID"),
            ));
        }
        Ok(i)
    }

    /// registerAccount: `POST /account`.
    async fn register(&self, req: Request<Incoming>, ex: &mut Ctx) -> Reply {
        ex.tag.0.operation = "registerAccount";
        if let Some(status) = self.state.lock().faults.status {
            return error(ex, status, "scripted fault");
        }
        let tid = match self.card_token(req.headers(), ex) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let ini = req
            .headers()
            .get("iniPassword")
            .and_then(|v| v.to_str().ok())
            .map(|v| b64_text(v).ok_or(()));
        let ini = match ini {
            None => return error(ex, 400, "header iniPassword required"),
            Some(Err(())) => return error(ex, 400, "header iniPassword is not base64 of UTF-8"),
            Some(Ok(p)) => p,
        };
        let body = match read_body(req, 64 * 1024, ex).await {
            Ok(b) => match serde_json::from_slice::<serde_json::Value>(&b) {
                Ok(v) if v.is_object() => v,
                _ => return error(ex, 400, "body is not a JSON Account object"),
            },
            Err(r) => return r,
        };
        let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let username = text("username").unwrap_or_default();
        ex.tag.0.username = Some(username.clone());
        let reference = text("referenceID");
        let domain = &self.config.domain;
        let required = !self.config.registrations.is_empty();
        let result: Result<(), (u16, String)> = self.state.record(|s| {
            let registration = if !required {
                None
            } else {
                let found = s.registrations.iter().position(|r| {
                    Some(&r.reference_id) == reference.as_ref()
                        && r.ini_password == ini
                        && r.telematik_id == tid
                });
                match found {
                    Some(i) => Some(i),
                    None => {
                        return Err((
                            401,
                            "referenceID and iniPassword do not match a registration for the token's card"
                                .into(),
                        ));
                    }
                }
            };
            if !address_in_domain(&username, domain) {
                return Err((420, format!("username must be <local part>@{domain}")));
            }
            if body.get("password").is_none() {
                return Err((420, "password required".into()));
            }
            let mut account = AmAccount::new(&username, "", &tid);
            apply_account_fields(&mut account, &body)?;
            if s
                .accounts
                .iter()
                .any(|a| a.username.eq_ignore_ascii_case(&username))
            {
                return Err((409, format!("`{username}` is already taken")));
            }
            s.accounts.push(account);
            if let Some(i) = registration {
                s.registrations.remove(i);
            }
            Ok(())
        });
        match result {
            Ok(()) => Reply::status(204),
            Err((status, msg)) => error(ex, status, &msg),
        }
    }

    /// createCert: a client certificate `<commonName>#CM` from the Fachdienst CA as PKCS#12.
    fn create_cert(&self, body: serde_json::Value, ex: &mut Ctx) -> Reply {
        let Some(cn) = body
            .get("commonName")
            .and_then(|v| v.as_str())
            .filter(|c| !c.trim().is_empty())
        else {
            return error(ex, 400, "commonName required");
        };
        let cn = format!("{cn}#CM");
        // X.520 ub-common-name.
        if cn.chars().count() > 64 {
            return error(ex, 400, "commonName longer than 61 characters");
        }
        let password = match body.get("certPassword").and_then(|v| v.as_str()) {
            None => None,
            Some(p) => match b64_text(p) {
                Some(p) => Some(p),
                None => return error(ex, 400, "certPassword is not base64 of UTF-8"),
            },
        };
        let built = self.issuer.issue(&cn).and_then(|id| {
            let chain = [id.certificate.as_ref(), self.issuer.ca_der().as_ref()]
                .into_iter()
                .map(|d| {
                    <x509_cert::Certificate as x509_cert::der::Decode>::from_der(d)
                        .map_err(|e| MockError::Pki(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let p12 = match &password {
                Some(p) => kvc_smime::pkcs12::build(&id.key_pkcs8, &chain, p, &cn),
                None => kvc_smime::pkcs12::build_unprotected(&id.key_pkcs8, &chain, &cn),
            };
            p12.map_err(|e| MockError::Pki(e.to_string()))
        });
        match built {
            Ok(p12) => {
                ex.tag.0.issued_certificate = Some(format!(
                    "CN={cn}{}",
                    if password.is_some() {
                        " (PKCS#12 with certPassword)"
                    } else {
                        " (PKCS#12 without password)"
                    }
                ));
                let body = json!({"file": B64.encode(p12)});
                Reply::body(200, JSON, body.to_string().into_bytes())
            }
            Err(e) => error(ex, 500, &format!("certificate not issued: {e}")),
        }
    }

    async fn handle(&self, req: Request<Incoming>, ex: &mut Ctx) -> Reply {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        if path == format!("{INFO_BASE}/serviceinfo") && method == Method::GET {
            ex.tag.0.operation = "getServiceInformation";
            let required = !self.config.registrations.is_empty();
            let body = json!({
                "kimServiceVersion": "1.5.3",
                "passwordPolicyRegEx": password_policy_regex(),
                "passwordPolicyDisplay": format!(
                    "Minimum length {} characters, maximum length {} characters.",
                    PASSWORD_CHARS.start(),
                    PASSWORD_CHARS.end()
                ),
                "jwtExpiration": self.config.jwt_expiration.as_secs(),
                "referenceIdRequired": required,
                "initialPasswordRequired": required,
            });
            return Reply::body(200, JSON, body.to_string().into_bytes());
        }
        if path == format!("{LIMIT_BASE}/limit") && method == Method::GET {
            ex.tag.0.operation = "getLimits";
            let creds = basic_credentials(req.headers());
            let s = self.state.lock();
            let found = creds.as_ref().and_then(|(u, p)| {
                s.accounts
                    .iter()
                    .find(|a| a.username.eq_ignore_ascii_case(u) && &a.password == p)
            });
            ex.tag.1 = match (&creds, found) {
                (None, _) => BasicAuth::Missing,
                (Some((u, _)), None) => BasicAuth::Failed { user: u.clone() },
                (Some((u, _)), Some(_)) => BasicAuth::Ok { user: u.clone() },
            };
            let Some(a) = found else {
                drop(s);
                return error(
                    ex,
                    401,
                    "BASIC authentication with the KIM account required",
                );
            };
            let body = json!({
                "dataTimeToLive": a.data_time_to_live,
                "maxMailSize": super::MAX_MAIL_SIZE as u64,
                "quota": -1,
                "remainQuota": -1,
            });
            return Reply::body(200, JSON, body.to_string().into_bytes());
        }
        if path == format!("{AM_BASE}/account") && method == Method::POST {
            return self.register(req, ex).await;
        }
        let Some(rest) = path.strip_prefix(&format!("{AM_BASE}/account/")) else {
            return error(ex, 404, &format!("no resource at {path}"));
        };
        let mut parts = rest.splitn(2, '/');
        let username = percent_encoding::percent_decode_str(parts.next().unwrap_or(""))
            .decode_utf8_lossy()
            .to_string();
        let sub = parts.next().unwrap_or("");
        ex.tag.0.username = Some(username.clone());
        ex.tag.0.operation = match (sub, &method) {
            ("", &Method::GET) => "getAccount",
            ("", &Method::PUT) => "setAccount",
            ("", &Method::DELETE) => "deregisterAccount",
            ("revokeDeregistration", &Method::PUT) => "revokeDeregistration",
            ("OTP", &Method::GET) => "getOTP",
            ("telematikID", &Method::PUT) => "setTID",
            ("cert", &Method::POST) => "createCert",
            ("outofoffice", &Method::GET) => "getOutOfOffice",
            ("outofoffice", &Method::PUT) => "updateOutOfOffice",
            _ => return error(ex, 404, &format!("no operation {method} {path}")),
        };
        if let Some(status) = self.state.lock().faults.status {
            return error(ex, status, "scripted fault");
        }
        let i = match self.authorize(req.headers(), &username, ex) {
            Ok(i) => i,
            Err(reply) => return reply,
        };
        let otp = req
            .headers()
            .get("otp")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let takes_body = matches!(
            ex.tag.0.operation,
            "setAccount" | "updateOutOfOffice" | "createCert"
        );
        let body = if takes_body {
            match read_body(req, 64 * 1024, ex).await {
                Ok(b) => match serde_json::from_slice::<serde_json::Value>(&b) {
                    Ok(v) if v.is_object() => Some(v),
                    _ => return error(ex, 400, "body is not a JSON object"),
                },
                Err(r) => return r,
            }
        } else {
            None
        };
        if ex.tag.0.operation == "createCert" {
            return self.create_cert(body.unwrap_or_default(), ex);
        }
        let now = unix(SystemTime::now());
        let grace = self.config.deregistration_grace.as_secs() as i64;
        let otp_validity = self.config.otp_validity.as_secs() as i64;
        let new_tid = ex.tag.0.new_telematik_id.clone().unwrap_or_default();
        let op = ex.tag.0.operation;
        let breaks_schema = self.config.deviations.breaks_schema;
        let revokes_late = self.config.deviations.revokes_after_dereg_date;
        let result: Result<Reply, (u16, String)> = self.state.record(|s| {
            let a = &mut s.accounts[i];
            match op {
                "getAccount" => {
                    let mut account = a.to_json();
                    if breaks_schema {
                        account["dataTimeToLive"] = json!(a.data_time_to_live.to_string());
                    }
                    Ok(Reply::body(200, JSON, account.to_string().into_bytes()))
                }
                "setAccount" => {
                    // All or nothing: a refused field leaves the account as it was.
                    let mut changed = a.clone();
                    apply_account_fields(&mut changed, &body.unwrap_or_default())?;
                    *a = changed;
                    Ok(Reply::status(204))
                }
                "deregisterAccount" => {
                    a.dereg_date = Some(now + grace);
                    Ok(Reply::status(204))
                }
                "revokeDeregistration" => match a.dereg_date {
                    // AccountManager.yaml documents 403 for this case.
                    None => Err((403, "the account is not deregistered".into())),
                    Some(d) if now > d && !revokes_late => {
                        Err((403, format!("deregDate {d} has passed (A_23175)")))
                    }
                    Some(_) => {
                        a.dereg_date = None;
                        Ok(Reply::status(204))
                    }
                },
                "getOTP" => {
                    // A new OTP replaces the last one (KIM FAQ).
                    let otp = B64.encode(uuid::Uuid::new_v4().simple().to_string());
                    a.otp = Some((otp.clone(), now));
                    Ok(Reply::body(
                        200,
                        JSON,
                        json!({"otp": otp}).to_string().into_bytes(),
                    ))
                }
                "setTID" => {
                    let Some(given) = otp else {
                        return Err((400, "header otp required".into()));
                    };
                    match &a.otp {
                        Some((o, _)) if o != given.trim() => {
                            Err((403, "otp is not the one getOTP issued last".into()))
                        }
                        None => Err((403, "no OTP was issued for this account".into())),
                        Some((_, at)) if now - at > otp_validity => {
                            Err((403, format!("otp expired ({otp_validity} s)")))
                        }
                        Some(_) if new_tid == a.telematik_id => {
                            Err((400, "the token's card already holds this address".into()))
                        }
                        Some(_) => {
                            a.telematik_id = new_tid;
                            a.otp = None;
                            Ok(Reply::status(204))
                        }
                    }
                }
                "getOutOfOffice" => Ok(Reply::body(
                    200,
                    JSON,
                    a.out_of_office.to_string().into_bytes(),
                )),
                _ => {
                    // Without `active` the notice is off (KIM FAQ).
                    let mut v = body.unwrap_or_default();
                    if v.get("active").is_none() {
                        v["active"] = json!(false);
                    }
                    a.out_of_office = v;
                    Ok(Reply::status(204))
                }
            }
        });
        match result {
            Ok(r) => r,
            Err((status, msg)) => error(ex, status, &msg),
        }
    }
}

impl RecordingRoutes for Shared {
    type Call = AmCall;

    fn new_call(&self) -> AmCall {
        AmCall {
            operation: "unknown",
            username: None,
            token: None,
            reason: None,
            new_telematik_id: None,
            issued_certificate: None,
        }
    }

    fn route<'a>(&'a self, req: Request<Incoming>, ex: &'a mut Ctx) -> BoxFuture<'a, Reply> {
        Box::pin(self.handle(req, ex))
    }

    fn records(&self, f: &mut dyn FnMut(&mut HttpRecords<AmCall>)) {
        self.state.record(|s| f(&mut s.http));
    }

    fn response_delay(&self) -> Option<Duration> {
        self.state.lock().faults.response_delay
    }
}

/// The running mock Account Manager (service `account-manager`).
pub struct AccountManagerMock {
    shared: Arc<Shared>,
    server: HttpTask,
}

impl std::fmt::Debug for AccountManagerMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountManagerMock")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl AccountManagerMock {
    pub async fn start(config: AmConfig, pki: &TlsPki) -> Result<AccountManagerMock, MockError> {
        let secs = config.jwt_expiration.as_secs();
        if !(300..=21_600).contains(&secs) {
            return Err(MockError::Config(format!(
                "jwt_expiration {secs} s is outside 300..21600 (ServiceInformation.yaml)"
            )));
        }
        let addr = SocketAddr::new(config.bind, config.port);
        let tls = TlsAcceptor::from(pki.server_config(config.cert));
        let limits = config.limits.clone();
        let shared = Arc::new(Shared {
            state: Recorder::new(State {
                accounts: config.accounts.clone(),
                registrations: config.registrations.clone(),
                faults: config.faults.clone(),
                http: HttpRecords::default(),
            }),
            config,
            issuer: pki.client_cert_issuer(),
        });
        let what = "Account Manager (HTTPS)";
        let server = HttpTask::bind(what, addr, tls, shared.clone(), limits).await?;
        Ok(AccountManagerMock { shared, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `https://localhost:<port>/AccountMgmt/v2.4`.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}{AM_BASE}", self.server.addr().port())
    }

    pub fn set_faults(&self, faults: AmFaults) {
        self.shared.state.record(|s| s.faults = faults);
    }

    /// Moves an account's deregistration date (e.g. into the past, to test A_23175).
    pub fn set_dereg_date(&self, username: &str, unix_time: Option<i64>) -> bool {
        self.shared.state.record(|s| {
            s.accounts
                .iter_mut()
                .find(|a| a.username.eq_ignore_ascii_case(username))
                .map(|a| a.dereg_date = unix_time)
                .is_some()
        })
    }

    /// The accounts as they are now (registerAccount adds, setTID re-assigns).
    pub fn accounts(&self) -> Vec<AmAccount> {
        self.shared.state.lock().accounts.clone()
    }

    /// Moves the time the last OTP of `username` was issued (e.g. into the past, to test its
    /// expiry).
    pub fn set_otp_issued_at(&self, username: &str, unix_time: i64) -> bool {
        self.shared.state.record(|s| {
            s.accounts
                .iter_mut()
                .find(|a| a.username.eq_ignore_ascii_case(username))
                .and_then(|a| a.otp.as_mut())
                .map(|o| o.1 = unix_time)
                .is_some()
        })
    }

    pub fn calls(&self) -> Vec<HttpRequest<AmCall>> {
        self.shared.state.lock().http.requests.clone()
    }

    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}

impl crate::server::MockServer for AccountManagerMock {
    fn services(&self) -> Vec<crate::server::ServiceEndpoint> {
        vec![crate::server::ServiceEndpoint {
            name: "account-manager",
            kind: crate::server::ServiceKind::Https,
            addr: self.server.addr(),
        }]
    }

    fn evidence(&self) -> Evidence {
        let s = self.shared.state.lock();
        s.http.evidence(|c| Resource::AccountManager(Box::new(c)))
    }

    fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.state.subscribe()
    }

    fn shutdown(self: Box<Self>) -> crate::server::BoxFuture<'static, ()> {
        Box::pin(AccountManagerMock::shutdown(*self))
    }
}
