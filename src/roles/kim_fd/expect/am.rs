//! The Account Manager checks, each on the exchanges of its probe (`probes/am.rs`).

use super::{Probed, control, lines, probe_family};
use crate::roles::expect::Judge;
use crate::roles::kim_fd::probes::am as probe;
use crate::runner::model::Check;

probe_family!(
    /// A_20063: every operation answers as AccountManager.yaml (and AccountLimit,
    /// ServiceInformation) document it, UTF-8 text comes back unchanged.
    AmInterface, "am_interface", probe::INTERFACE,
    "every operation answers 2xx in the documented shape; the UTF-8 out-of-office text round-trips",
    interface
);

fn interface(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    if let Some(e) = p
        .get("getAccount")
        .filter(|e| e.status == 401 || e.status == 403)
    {
        return judge.error(format!(
            "the suite's account credentials or card token were refused, nothing can be judged: {}",
            e.summary()
        ));
    }
    let mut problems: Vec<String> = p
        .all
        .iter()
        .filter(|e| !e.succeeded())
        .map(|e| format!("operation failed: {}", e.summary()))
        .collect();
    problems.extend(Probed::violations(&p.all));
    if let Some(e) = p.get("createCert").filter(|e| e.succeeded()) {
        match e.fact("pkcs12") {
            Some(f) if f.starts_with("opens; subject") && f.contains("#CM") => {}
            other => problems.push(format!(
                "createCert: the PKCS#12 {}",
                other.unwrap_or("was not read")
            )),
        }
    }
    match p
        .get("getOutOfOffice")
        .and_then(|e| e.fact("utf8_round_trip"))
    {
        Some("true") => {}
        Some(_) => problems.push(format!(
            "the out-of-office text came back changed (sent `{}`)",
            probe::UTF8_TEXT
        )),
        None => problems.push("the out-of-office text was not read back".into()),
    }
    if problems.is_empty() {
        judge.pass(format!(
            "{} operations conform: {}",
            p.all.len(),
            p.all
                .iter()
                .map(|e| format!("{} {}", e.label, e.status))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        judge.fail(lines(&problems))
    }
}

probe_family!(
    /// KOM-LE-A_2187: the valid token is accepted; a forged signature, a certificate from
    /// outside the card PKI, `nbf` in the future, an expired token, a wrong password and a
    /// missing token are refused.
    AmToken, "am_token_checked", probe::TOKEN,
    "valid token accepted; each broken token or password refused with 4xx",
    token
);

fn token(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    if let Err(e) = control(p, "valid token and password", |_| Ok(())) {
        return judge.error(e);
    }
    let attempts: Vec<_> = p
        .all
        .iter()
        .copied()
        .filter(|e| e.label != "valid token and password")
        .collect();
    if attempts.is_empty() {
        return judge.error("no broken credential was tried");
    }
    let problems: Vec<String> = attempts
        .iter()
        .filter(|e| !(400..500).contains(&e.status))
        .map(|e| {
            if e.succeeded() {
                format!("accepted: {}", e.summary())
            } else {
                format!("not refused with 4xx: {}", e.summary())
            }
        })
        .collect::<Vec<String>>();
    // Response shapes are A_20063's (am_interface); here only the refusals count.
    if problems.is_empty() {
        judge.pass(
            attempts
                .iter()
                .map(|e| format!("{} → {}", e.label, e.status))
                .collect::<Vec<_>>()
                .join(", "),
        )
    } else {
        judge.fail(lines(&problems))
    }
}

probe_family!(
    /// A_23175: a deregistration is revoked before deregDate; after it, refused.
    AmRevoke, "am_revoke_window", probe::REVOKE,
    "revoke before deregDate accepted; after deregDate refused with 4xx",
    revoke
);

fn revoke(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    if let Err(e) = control(p, "deregister", |_| Ok(())) {
        return judge.error(e);
    }
    if let Err(e) = control(p, "revoke before deregDate", |_| Ok(())) {
        return judge.error(e);
    }
    let Some(read) = p.get("read the long-deregistered account") else {
        return judge.error("the long-deregistered account was not read");
    };
    let dereg = read.fact("deregDate").and_then(|d| d.parse::<i64>().ok());
    let now = read
        .fact("now")
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    match dereg {
        Some(d) if d < now => {}
        _ => {
            return judge.error(format!(
                "the configured account's deregDate has not passed (deregDate {}), so the refusal cannot be tried",
                read.fact("deregDate").unwrap_or("none")
            ));
        }
    }
    let Some(late) = p.get("revoke after deregDate") else {
        return judge.error("the late revocation was never tried");
    };
    // Response shapes are A_20063's (am_interface); here only the refusal counts.
    if late.succeeded() {
        judge.fail(format!("revoked after deregDate: {}", late.summary()))
    } else if !(400..500).contains(&late.status) {
        judge.fail(format!("not refused with 4xx: {}", late.summary()))
    } else {
        judge.pass(late.summary())
    }
}
