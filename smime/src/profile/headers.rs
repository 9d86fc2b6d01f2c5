//! The header checks: the outer header against the inner message (the eContent's
//! message/rfc822) and the fixed outer Subject.

use super::{COPIED_FIELDS, Check, OUTER_SUBJECT, ProfileReport};
use crate::mime::{self, Headers};

pub(super) fn outer_subject_into(report: &mut ProfileReport, outer: &Headers) {
    let subjects = outer.get_all("Subject");
    let ok = subjects.len() == 1 && subjects[0].trim() == OUTER_SUBJECT;
    if !ok {
        let observed = match subjects.as_slice() {
            [] => "absent".to_string(),
            [one] => format!("`{one}`"),
            many => format!("{} Subject fields", many.len()),
        };
        report.error(
            Check::OuterSubject,
            "Subject",
            "outer header Subject",
            observed,
            "exactly `KOM-LE-Nachricht` (KOM-LE-A_2102)",
        );
    }
}

pub(super) fn headers_into(report: &mut ProfileReport, outer: &Headers, inner: &[u8]) {
    outer_subject_into(report, outer);
    let ih = Headers::parse(mime::split_header_body(inner).0);
    let path = |name: &str| {
        format!(
            "outer header {name} vs SignedData.encapContentInfo.eContent (message/rfc822) header {name}"
        )
    };
    // Message-ID (KOM-LE-A_2101-01).
    let (o, i) = (outer.get_all("Message-ID"), ih.get_all("Message-ID"));
    if let Some(inner_id) = i.first() {
        let same = o.len() == 1 && o[0].trim() == inner_id.trim();
        if !same {
            report.error(
                Check::OuterMessageId,
                "Message-ID",
                &path("Message-ID"),
                match o.as_slice() {
                    [] => "absent".to_string(),
                    [one] => format!("`{one}`"),
                    many => format!("{} Message-ID fields", many.len()),
                },
                &format!("`{}` (the inner Message-ID)", inner_id.trim()),
            );
        }
    }
    // The copied fields (KOM-LE-A_2098-03).
    for name in COPIED_FIELDS {
        let (o, i) = (outer.get_all(name), ih.get_all(name));
        if o.is_empty() && i.is_empty() {
            continue;
        }
        let expected = match i.as_slice() {
            [] => "absent (the inner message has none)".to_string(),
            many => format!(
                "{} (copied from the inner header)",
                many.iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let shown = |v: &[&str]| match v {
            [] => "absent".to_string(),
            many => many
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        if o.len() != i.len() {
            report.error(
                Check::OuterHeaderCopy,
                name,
                &path(name),
                shown(&o),
                &expected,
            );
            continue;
        }
        if normalise(&o) == normalise(&i) {
            continue;
        }
        let verdict = if name == "Date" {
            compare_dates(&o, &i)
        } else {
            let addrs = |v: &[&str]| {
                let mut a: Vec<String> = v.iter().flat_map(|x| mime::addresses(x)).collect();
                a.sort();
                a
            };
            if addrs(&o) == addrs(&i) {
                Ok("the same addresses, written differently".to_string())
            } else {
                Err(String::new())
            }
        };
        match verdict {
            Ok(why) => report.warning(
                Check::OuterHeaderCopy,
                name,
                &path(name),
                format!("{} ({why})", shown(&o)),
                &expected,
            ),
            Err(why) => report.error(
                Check::OuterHeaderCopy,
                name,
                &path(name),
                format!("{}{why}", shown(&o)),
                &expected,
            ),
        }
    }
    // Every inner X-KIM-* field, copied with its value.
    for (name, value) in &ih.fields {
        if !name.to_ascii_lowercase().starts_with("x-kim-") {
            continue;
        }
        let outside = outer.get_all(name);
        if outside.iter().any(|v| v.trim() == value.trim()) {
            continue;
        }
        report.error(
            Check::OuterHeaderCopy,
            name,
            &path(name),
            if outside.is_empty() {
                "absent".to_string()
            } else {
                outside
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            &format!(
                "`{}` (every inner X-KIM-* field is copied outside)",
                value.trim()
            ),
        );
    }
}

/// Values with runs of whitespace collapsed.
fn normalise(v: &[&str]) -> Vec<String> {
    v.iter()
        .map(|x| x.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Two Date fields that differ as text: `Ok(why)` when they name the same instant (a
/// warning), `Err(addendum)` when not.
fn compare_dates(outer: &[&str], inner: &[&str]) -> std::result::Result<String, String> {
    fn parse<'a>(v: Option<&&'a str>) -> Option<(&'a str, mail_parser::DateTime)> {
        let v: &'a str = v?;
        mail_parser::DateTime::parse_rfc822(v)
            .filter(mail_parser::DateTime::is_valid)
            .map(|d| (v, d))
    }
    let (Some(o), Some(i)) = (parse(outer.first()), parse(inner.first())) else {
        return Err(" (not comparable as RFC 5322 date-times)".into());
    };
    if o.1.to_timestamp() != i.1.to_timestamp() {
        return Err(" (another point in time)".into());
    }
    const DOW: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let mut why = "the same point in time, written differently".to_string();
    for (which, (text, date)) in [("outer", o), ("inner", i)] {
        // The day of week as written against the date as written (in its own zone).
        let Some(actual) = DOW.get(usize::from(date.day_of_week())) else {
            continue;
        };
        if let Some((stated, _)) = text.trim().split_once(',')
            && DOW.iter().any(|d| d.eq_ignore_ascii_case(stated.trim()))
            && !stated.trim().eq_ignore_ascii_case(actual)
        {
            why.push_str(&format!(
                "; the {which} day of week `{}` is wrong, {:04}-{:02}-{:02} is a {actual}",
                stated.trim(),
                date.year,
                date.month,
                date.day
            ));
        }
    }
    Ok(why)
}
