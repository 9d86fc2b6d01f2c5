//! The address book (R14): the directory as a ZIP of JSON served over REST.

use std::time::SystemTime;

use axum::http::{HeaderMap, header};

use super::{Shared, xml_escape};
use crate::http::Reply;

pub(crate) fn address_book(shared: &Shared, file: &str, headers: &HeaderMap) -> Reply {
    let p = &shared.profile;
    let (entries, last_change) = {
        let s = shared.lock();
        (
            s.accounts
                .iter()
                .map(|a| a.account.clone())
                .collect::<Vec<_>>(),
            s.last_change,
        )
    };
    let last_secs = last_change
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let ims_secs = ims
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if ims_secs >= last_secs {
            return Reply::status(304);
        }
    }
    let json = file.contains("json");
    let inner_name = if json {
        "accounts.json"
    } else {
        "accounts.xml"
    };
    let mut inner = String::new();
    if json {
        inner.push('[');
        for (i, a) in entries.iter().enumerate() {
            if i > 0 {
                inner.push(',');
            }
            inner.push_str(&format!(
                "{{\"username\":{},\"mail\":{},\"givenName\":{},\"sn\":{},\"street\":{},\"postalCode\":{},\"l\":{},\"hasCertificate\":{}}}",
                json_str(&a.username),
                json_str(&a.email),
                json_str(&a.given_name),
                json_str(&a.surname),
                json_str(&a.street),
                json_str(&a.postal_code),
                json_str(&a.locality),
                a.certificate_pem.is_some()
            ));
        }
        inner.push(']');
    } else {
        inner.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<accounts>");
        for a in &entries {
            inner.push_str(&format!(
                "<account><username>{}</username><mail>{}</mail><givenName>{}</givenName><sn>{}</sn><street>{}</street><postalCode>{}</postalCode><l>{}</l></account>",
                xml_escape(&a.username),
                xml_escape(&a.email),
                xml_escape(&a.given_name),
                xml_escape(&a.surname),
                xml_escape(&a.street),
                xml_escape(&a.postal_code),
                xml_escape(&a.locality)
            ));
        }
        inner.push_str("</accounts>\n");
    }
    let zip = stored_zip(inner_name, inner.as_bytes());
    let _ = p;
    Reply::body(200, "application/zip", zip)
        .header(header::LAST_MODIFIED, httpdate::fmt_http_date(last_change))
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A ZIP archive with one stored (uncompressed) file.
pub fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(data);
    let size = data.len() as u32;
    let name_b = name.as_bytes();
    let mut out = Vec::with_capacity(data.len() + 128);
    // Local file header.
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes()); // version needed
    out.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: UTF-8 names
    out.extend_from_slice(&0u16.to_le_bytes()); // stored
    out.extend_from_slice(&0u16.to_le_bytes()); // time
    out.extend_from_slice(&0x0021u16.to_le_bytes()); // date 1980-01-01
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&(name_b.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name_b);
    out.extend_from_slice(data);
    let cd_offset = out.len() as u32;
    // Central directory.
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes()); // made by
    out.extend_from_slice(&20u16.to_le_bytes()); // needed
    out.extend_from_slice(&0x0800u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0x0021u16.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&(name_b.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // extra
    out.extend_from_slice(&0u16.to_le_bytes()); // comment
    out.extend_from_slice(&0u16.to_le_bytes()); // disk
    out.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
    out.extend_from_slice(&0u32.to_le_bytes()); // external attrs
    out.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    out.extend_from_slice(name_b);
    let cd_size = out.len() as u32 - cd_offset;
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}
