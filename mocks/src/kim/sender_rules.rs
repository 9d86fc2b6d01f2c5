//! The header sender rules of a KIM Fachdienst MTA (A_23422, KIM-FACTS §8): the address in
//! `From` and, if present, `Sender` must be the envelope sender (MAIL FROM), and every
//! `Reply-To` address must lie in a KIM domain (ending `.kim.telematik` or
//! `.kim.telematik-test`). KIM-FACTS also names an exception for messages to oneself whose
//! wording is not in our material; it is not modelled (a gap recorded in the catalogue note).

use mail_parser::{Address, HeaderName, MessageParser};

use crate::mail::MessageCheck;

const KIM_DOMAINS: [&str; 2] = [".kim.telematik", ".kim.telematik-test"];

/// Why a message breaks the rules (the text of a `550 5.7.1` reply), or `Ok`.
pub fn check(mail_from: &str, data: &[u8]) -> Result<(), String> {
    let Some(message) = MessageParser::new().parse_headers(data) else {
        return Err("550 5.6.0 Message header not readable".into());
    };
    let addresses = |name: HeaderName<'static>| -> Vec<String> {
        message
            .header(name)
            .and_then(|h| h.as_address())
            .map(|a: &Address<'_>| {
                a.iter()
                    .filter_map(|addr| addr.address().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let from = addresses(HeaderName::From);
    if from.len() != 1 || !from[0].eq_ignore_ascii_case(mail_from) {
        return Err(format!(
            "550 5.7.1 From ({}) is not the envelope sender",
            from.join(", ")
        ));
    }
    for sender in addresses(HeaderName::Sender) {
        if !sender.eq_ignore_ascii_case(mail_from) {
            return Err(format!(
                "550 5.7.1 Sender ({sender}) is not the envelope sender"
            ));
        }
    }
    for reply_to in addresses(HeaderName::ReplyTo) {
        let domain = reply_to
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        if !KIM_DOMAINS
            .iter()
            .any(|k| domain.ends_with(k) || domain == k[1..])
        {
            return Err(format!(
                "550 5.7.1 Reply-To ({reply_to}) is not a KIM address"
            ));
        }
    }
    Ok(())
}

/// [`check`] as the mail engine's end-of-DATA policy.
pub fn message_check() -> MessageCheck {
    MessageCheck(std::sync::Arc::new(check))
}

#[cfg(test)]
mod tests {
    use super::check;

    fn message(headers: &str) -> Vec<u8> {
        format!("{headers}Subject: x\r\n\r\nbody\r\n").into_bytes()
    }

    #[test]
    fn from_sender_and_reply_to_against_the_envelope() {
        let me = "praxis@a.kim.telematik-test";
        assert!(check(me, &message(&format!("From: Praxis <{me}>\r\n"))).is_ok());
        // The KIM domain itself, not only its subdomains.
        let plain = "praxis@kim.telematik";
        assert!(
            check(
                plain,
                &message(&format!("From: {plain}\r\nReply-To: {plain}\r\n"))
            )
            .is_ok()
        );
        assert!(
            check(
                me,
                &message(&format!(
                    "From: {me}\r\nSender: {me}\r\nReply-To: b@x.kim.telematik\r\n"
                ))
            )
            .is_ok()
        );
        for bad in [
            "From: other@a.kim.telematik-test\r\n".to_string(),
            format!("From: {me}, other@a.kim.telematik-test\r\n"),
            format!("From: {me}\r\nSender: other@a.kim.telematik-test\r\n"),
            format!("From: {me}\r\nReply-To: someone@gmail.com\r\n"),
            "Subject-only: x\r\n".to_string(),
        ] {
            let refused = check(me, &message(&bad));
            assert!(
                refused.as_ref().is_err_and(|r| r.starts_with("550")),
                "{bad}: {refused:?}"
            );
        }
    }
}
