//! The KAS checks, each on the exchanges of its probe (`probes/kas.rs`).

use kvc_mocks::probe::ProbeExchange;

use super::{Probed, control, got_the_data, leaked, lines, probe_family};
use crate::roles::expect::Judge;
use crate::roles::kim_fd::probes::kas as probe;
use crate::runner::model::Check;

probe_family!(
    /// A_19378: the upload at the declared maximum is accepted, one byte more refused with 413.
    KasSizeLimit, "kas_size_limit", probe::SIZE_LIMIT,
    "upload at the maximum accepted; one byte above refused with 413, nothing stored",
    size_limit
);

fn size_limit(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    if let Err(e) = control(p, "upload at the maximum", |_| Ok(())) {
        return judge.error(e);
    }
    let Some(above) = p.get("upload one byte above the maximum") else {
        return judge.error("the upload above the maximum was never made");
    };
    let bad = Probed::violations(&p.all);
    match above.status {
        413 if bad.is_empty() => judge.pass(above.summary()),
        413 => judge.fail(format!("{}; {}", above.summary(), lines(&bad))),
        s if (200..300).contains(&s) => judge.fail(format!(
            "stored although above the maximum: {}",
            above.summary()
        )),
        0 => judge.error(format!(
            "no answer to the upload above the maximum: {}",
            above.summary()
        )),
        _ => judge.fail(format!("refused, but not with 413: {}", above.summary())),
    }
}

probe_family!(
    /// A_19379: the data comes back through its link only; guessed and neighbouring IDs,
    /// listings, path traversal and wrong methods are refused and give nothing away.
    KasAccess, "kas_access_only_by_link", probe::ACCESS,
    "the link serves the data; every other way is refused (4xx) and leaks neither data nor ID",
    access
);

fn access(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    if let Err(e) = control(p, "download through the link", got_the_data) {
        return judge.error(e);
    }
    let attempts: Vec<&ProbeExchange> = p
        .all
        .iter()
        .copied()
        .filter(|e| e.label != "upload" && e.label != "download through the link")
        .collect();
    if attempts.is_empty() {
        return judge.error("no access attempt besides the link was made");
    }
    let wrong: Vec<String> = attempts
        .iter()
        .filter(|e| (e.status != 0 && e.status < 400) || leaked(e))
        .map(|e| {
            let what = if leaked(e) {
                "gave the data or its ID away"
            } else {
                "not refused"
            };
            format!("{what}: {}", e.summary())
        })
        .collect();
    let bad = Probed::violations(&p.all);
    if wrong.is_empty() && bad.is_empty() {
        judge.pass(format!(
            "{} attempts refused: {}",
            attempts.len(),
            attempts
                .iter()
                .map(|e| format!("{} → {}", e.label, e.status))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        judge.fail(lines(&[wrong, bad].concat()))
    }
}

probe_family!(
    /// A_19380: every upload gets its own link on the KAS host, its ID random.
    KasLinks, "kas_links_random", probe::LINKS,
    "distinct links on the KAS host under the attachment path, IDs random (no shared pattern)",
    links
);

fn links(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    let uploads = p.starting("upload ");
    if uploads.len() < probe::LINK_UPLOADS {
        return judge.error(format!(
            "{} of {} uploads made",
            uploads.len(),
            probe::LINK_UPLOADS
        ));
    }
    if let Some(e) = uploads
        .iter()
        .find(|e| !e.succeeded() || e.fact("link").is_none())
    {
        return judge.error(format!("an upload gave no link: {}", e.summary()));
    }
    let links: Vec<&str> = uploads.iter().filter_map(|e| e.fact("link")).collect();
    let mut problems = Vec::new();
    let mut ids = Vec::new();
    for (e, link) in uploads.iter().zip(&links) {
        let host = e.fact("expected_host").unwrap_or_default();
        let rest = link.strip_prefix("https://").unwrap_or("");
        let authority = rest.split('/').next().unwrap_or("");
        let link_host = authority
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(authority);
        if rest.is_empty() {
            problems.push(format!("{}: link `{link}` is no https URL", e.label));
        } else if !link_host.eq_ignore_ascii_case(host) {
            problems.push(format!(
                "{}: link host `{link_host}` is not the KAS FQDN `{host}`",
                e.label
            ));
        }
        ids.push(link.rsplit('/').next().unwrap_or("").to_string());
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != ids.len() {
        problems.push(format!(
            "{} distinct IDs for {} uploads",
            sorted.len(),
            ids.len()
        ));
    }
    problems.extend(randomness_problems(&ids));
    problems.extend(Probed::violations(&uploads));
    if problems.is_empty() {
        judge.pass(format!(
            "{} distinct random IDs, e.g. {}",
            ids.len(),
            links[0]
        ))
    } else {
        judge.fail(lines(&problems))
    }
}

/// Why IDs do not look random: too short to carry 64 bits, or two IDs agreeing in more than
/// half their positions (random hex agrees in about one of sixteen; a counter in nearly all).
pub fn randomness_problems(ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let symbols: std::collections::BTreeSet<char> = id.chars().collect();
        let bits = id.chars().filter(|c| c.is_ascii_alphanumeric()).count() as f64
            * (symbols.len().max(2) as f64).log2();
        if bits < 64.0 {
            out.push(format!("ID `{id}` carries at most {bits:.0} bits"));
            break;
        }
    }
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            let same = a
                .chars()
                .zip(b.chars())
                .filter(|(x, y)| x == y && *x != '-')
                .count();
            let len = a.chars().filter(|c| *c != '-').count().max(1);
            if same * 2 > len {
                out.push(format!(
                    "IDs `{a}` and `{b}` agree in {same} of {len} positions (sequential?)"
                ));
                return out;
            }
        }
    }
    out
}

probe_family!(
    /// A_22410: a recipient of the upload downloads; anyone else is refused with 401 (403 is
    /// an allowed alternative of the API file, shown as such).
    KasRecipient, "kas_recipient_checked", probe::RECIPIENT,
    "download by a recipient served; by an outsider refused with 401, nothing leaked",
    recipient
);

fn recipient(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    if let Err(e) = control(p, "download by a recipient", got_the_data) {
        return judge.error(e);
    }
    let Some(out) = p.get("download by an outsider") else {
        return judge.error("the outsider's download was never made");
    };
    // The seed's 401 is not in the API file's list for readMailData (KIM-FACTS §1.1): the
    // seed decides, so that one violation is no finding here.
    let bad: Vec<String> = Probed::violations(&p.all)
        .into_iter()
        .filter(|v| {
            !(out.status == 401
                && v.starts_with("download by an outsider:")
                && v.contains("status 401 is not documented"))
        })
        .collect();
    if leaked(out) || out.succeeded() {
        return judge.fail(format!("served to an outsider: {}", out.summary()));
    }
    if !bad.is_empty() {
        return judge.fail(lines(&bad));
    }
    // The allowed alternatives of this case's requirement (kim_alternatives.yaml).
    let requirement = judge.requirement().to_string();
    let alternative = crate::rules::kim::profile::data().ok().and_then(|d| {
        d.alternatives.iter().find(|a| {
            a.requirement == requirement
                && matches!(a.accepts, crate::rules::kim::profile::Accepts::HttpStatus(s) if s == out.status)
        })
    });
    match (out.status, alternative) {
        (401, _) => judge.pass(format!(
            "{}; the seed's 401 decides (the interface file lists 403, the allowed alternative, not 401)",
            out.summary()
        )),
        (_, Some(a)) => judge.pass(format!("{} ({})", out.summary(), a.named())),
        (0, None) => judge.error(format!("no answer to the outsider: {}", out.summary())),
        _ => judge.fail(format!("refused, but not with 401: {}", out.summary())),
    }
}

probe_family!(
    /// A_22411 (KANN): whether the KAS limits repeated reads with 429; informative.
    KasRateLimit, "kas_rate_limit", probe::RATE_LIMIT,
    "informative: repeated reads either all served or limited with 429 (both allowed)",
    rate_limit
);

fn rate_limit(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    if let Err(e) = control(p, "read 1", got_the_data) {
        return judge.error(e);
    }
    let reads = p.starting("read ");
    if let Some(limit) = reads.iter().find(|e| e.status == 429) {
        return judge.pass(format!("limits: {}", limit.summary()));
    }
    if let Some(odd) = reads.iter().find(|e| !e.succeeded()) {
        return judge.fail(format!(
            "a read was refused, but not with 429: {}",
            odd.summary()
        ));
    }
    judge.pass(format!(
        "no limit within {} reads (optional, allowed)",
        reads.len()
    ))
}

probe_family!(
    /// A_22428: every download carries Content-Length equal to its body.
    KasContentLength, "kas_content_length", probe::CONTENT_LENGTH,
    "each download (and HEAD) carries Content-Length = the stored size; no chunked transfer",
    content_length
);

fn content_length(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    let downloads = p.starting("download of ");
    if downloads.len() < probe::CONTENT_SIZES.len() {
        return judge.error(format!(
            "{} of {} downloads made",
            downloads.len(),
            probe::CONTENT_SIZES.len()
        ));
    }
    if let Some(e) = downloads
        .iter()
        .find(|e| !e.succeeded() || got_the_data(e).is_err())
    {
        return judge.error(format!(
            "a download did not return the data: {}",
            e.summary()
        ));
    }
    let mut problems = Vec::new();
    for e in downloads.iter().chain(p.starting("HEAD of ").iter()) {
        let expected = e.fact("expected_size").unwrap_or("?");
        match e.header("content-length") {
            None => problems.push(format!(
                "{}: no Content-Length (transfer-encoding: {})",
                e.label,
                e.header("transfer-encoding").unwrap_or("none")
            )),
            Some(v) if v.trim() != expected => problems.push(format!(
                "{}: Content-Length {v}, stored {expected} bytes",
                e.label
            )),
            Some(_) => {}
        }
    }
    problems.extend(Probed::violations(&p.all));
    if problems.is_empty() {
        judge.pass(format!(
            "{} responses with the right Content-Length",
            downloads.len()
        ))
    } else {
        judge.fail(lines(&problems))
    }
}

probe_family!(
    /// A_19385: data past its `expires` (plus the provider's declared delay) is gone.
    KasExpiry, "kas_expired_deleted", probe::EXPIRY,
    "served before expires; refused and gone after it",
    expiry
);

fn expiry(p: &Probed, judge: Judge) -> Check {
    if let Some(c) = p.nothing(judge.clone()) {
        return c;
    }
    if let Err(e) = control(p, "download before expiry", got_the_data) {
        return judge.error(e);
    }
    let Some(after) = p.get("download after expiry") else {
        return judge.error("the download after expiry was never made");
    };
    if after.succeeded() || leaked(after) {
        return judge.fail(format!("still served after expires: {}", after.summary()));
    }
    if after.status == 0 {
        return judge.error(format!("no answer after expiry: {}", after.summary()));
    }
    judge.pass(after.summary())
}
