//! The guessed parts of the KV-Connect REST interface as configuration (KVC-FACTS §13 "[G]"),
//! and the date formats they choose between.

use std::time::SystemTime;

/// How dates are written in XML bodies (`passwordLastChange`, `validFrom`, `validTo`). The real
/// format is NOT FOUND (KVC-FACTS §4.1/§4.3: the client parses them with JavaScript `new Date`,
/// which accepts all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// RFC 3339 / ISO 8601 UTC, `2026-11-23T16:00:00Z` (default).
    Iso8601,
    /// RFC 1123, `Mon, 23 Nov 2026 16:00:00 GMT`.
    Rfc1123,
    /// Milliseconds since the epoch.
    EpochMillis,
}

/// The guessed parts of the interface (KVC-FACTS §13 "[G]"), one field each. The defaults are
/// the §13 proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvcRestProfile {
    /// Media type of XML responses (account, headers, certificate, csr-status). [G]
    pub xml_media_type: String,
    /// Media type of `GET accounts/{uid}/mails/{id}` (the raw e-mail). [G]
    pub mail_media_type: String,
    /// Media type of `GET server/version` and other text responses. [G]
    pub text_media_type: String,
    /// Body of `GET server/version`. [G]
    pub server_version: String,
    /// Date format in XML. [G]
    pub date_format: DateFormat,
    /// Status of the `GET login/{username}` redirect. [E: a redirect; G: the code]
    pub login_redirect_status: u16,
    /// Missing or wrong BASIC credentials. [G]
    pub unauthorized_status: u16,
    /// Realm in `WWW-Authenticate: Basic realm="..."`. [G]
    pub basic_realm: String,
    /// Authenticated, but not the owner of `accounts/{uid}` (or login for another user). [G]
    pub forbidden_status: u16,
    /// `POST mails` accepted. [E: 2xx; G: the code]
    pub send_status: u16,
    /// `POST csr` accepted. [G]
    pub csr_created_status: u16,
    /// `DELETE accounts/{uid}/mails/{id}` and `DELETE accounts/{uid}/certificate`. [G]
    pub delete_status: u16,
    /// `POST accounts/{uid}/password` accepted. [G]
    pub password_ok_status: u16,
    /// `headers?from=&to=`: `from` inclusive, `to` exclusive, 0-based. When false, 1-based and
    /// `to` inclusive. [G]
    pub header_window_zero_based: bool,
    /// Child elements of `headers(short)`. [G]
    pub short_header_fields: Vec<String>,
    /// CSR status progression, one step per `GET csr/{id}`; the last one is final. [E codes, G order]
    pub csr_progression: Vec<u16>,
    /// Accounts with `password_change_needed` get [`KvcRestProfile::forbidden_status`] on
    /// everything except login, account and password until they change it. [I, TOMEDO]
    pub enforce_password_change: bool,
    /// Attribute under which the directory mock publishes the DER certificate. NOT FOUND
    /// (§10.1); also read by [`crate::kvc::directory::KvcDirectoryConfig::from_accounts`]. [G]
    pub ldap_certificate_attribute: String,
}

impl Default for KvcRestProfile {
    fn default() -> Self {
        KvcRestProfile {
            xml_media_type: "application/xml; charset=UTF-8".into(),
            mail_media_type: "message/rfc822".into(),
            text_media_type: "text/plain; charset=UTF-8".into(),
            server_version: "2.7.0".into(),
            date_format: DateFormat::Iso8601,
            login_redirect_status: 303,
            unauthorized_status: 401,
            basic_realm: "kvconnect".into(),
            forbidden_status: 403,
            send_status: 201,
            csr_created_status: 201,
            delete_status: 200,
            password_ok_status: 200,
            header_window_zero_based: true,
            short_header_fields: [
                "from",
                "to",
                "subject",
                "message-id",
                "date",
                "x-kvc-dienstkennung",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            csr_progression: vec![100, 210, 299, 399, 999],
            enforce_password_change: false,
            ldap_certificate_attribute: "userCertificate;binary".into(),
        }
    }
}

/// Header elements of `GET accounts/{uid}/headers` (KVC-FACTS §4.2, evidenced), in this order.
pub const HEADER_FIELDS: &[&str] = &[
    "from",
    "to",
    "subject",
    "message-id",
    "in-reply-to",
    "date",
    "x-kvc-sendersystem",
    "x-kvc-dienstkennung",
    "return-path",
    "disposition-notification-to",
    "content-type",
];

pub(crate) fn format_date(t: SystemTime, f: DateFormat) -> String {
    match f {
        DateFormat::Iso8601 => time::OffsetDateTime::from(t)
            .replace_nanosecond(0)
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default(),
        DateFormat::Rfc1123 => httpdate::fmt_http_date(t),
        DateFormat::EpochMillis => t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis().to_string())
            .unwrap_or_else(|_| "0".into()),
    }
}
