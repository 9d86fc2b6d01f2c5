//! RFC 5322 §3.6.4 `msg-id` syntax, strict (no obsolete forms):
//!
//! ```text
//! msg-id          = [CFWS] "<" id-left "@" id-right ">" [CFWS]
//! id-left         = dot-atom-text
//! id-right        = dot-atom-text / no-fold-literal
//! no-fold-literal = "[" *dtext "]"
//! ```

use super::{Emitter, Location, header_location, single_field};
use crate::message::Message;

/// Header name as RFC 5322 spells it (KVC-Anb160).
pub const MESSAGE_ID: &str = "Message-ID";

/// The Message-ID field of a message: present, exactly once, RFC 5322 msg-id syntax.
/// Shared by KV-Connect (KVC-Anb160) and KIM header rules.
pub fn check_message_id_field(msg: &Message, out: &mut Emitter) {
    let Some(field) = single_field(msg, MESSAGE_ID, out) else {
        out.error(Location::Message, "the header field Message-ID is missing");
        return;
    };
    if let Err(why) = check_msg_id(&msg.unfolded_value(field)) {
        out.error(
            header_location(field),
            format!("{} is not an RFC 5322 msg-id: {why}", field.name),
        );
    }
}

/// Checks one unfolded field value; the error says what is wrong and at which character.
pub fn check_msg_id(value: &str) -> Result<(), String> {
    let inner = strip_cfws(value)?;
    if inner.is_empty() {
        return Err("the value is empty".into());
    }
    let Some(rest) = inner.strip_prefix('<') else {
        return Err(format!(
            "`{}` does not start with `<`: a msg-id is enclosed in angle brackets",
            shorten(inner)
        ));
    };
    let Some(close) = rest.find('>') else {
        return Err("the closing `>` is missing".into());
    };
    let (id, after) = (&rest[..close], &rest[close + 1..]);
    if !after.is_empty() {
        return Err(format!(
            "unexpected `{}` after the closing `>`: exactly one msg-id is allowed",
            shorten(after)
        ));
    }
    let Some(at) = id.rfind('@') else {
        return Err(format!(
            "`<{}>` has no `@` between id-left and id-right",
            shorten(id)
        ));
    };
    let (left, right) = (&id[..at], &id[at + 1..]);
    if let Err(e) = check_dot_atom_text(left) {
        return Err(format!("id-left `{}` {e}", shorten(left)));
    }
    if let Some(literal) = right.strip_prefix('[') {
        let Some(body) = literal.strip_suffix(']') else {
            return Err(format!(
                "id-right `{}` opens `[` but does not close it",
                shorten(right)
            ));
        };
        if let Some(c) = body.chars().find(|c| !is_dtext(*c)) {
            return Err(format!(
                "id-right literal contains `{}`, which is not dtext",
                c.escape_default()
            ));
        }
        return Ok(());
    }
    check_dot_atom_text(right).map_err(|e| format!("id-right `{}` {e}", shorten(right)))
}

fn check_dot_atom_text(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.starts_with('.') || s.ends_with('.') || s.contains("..") {
        return Err("has an empty atom (leading, trailing or doubled `.`)".into());
    }
    match s.chars().find(|c| *c != '.' && !is_atext(*c)) {
        Some(c) => Err(format!(
            "contains `{}`, which is not allowed in dot-atom-text",
            c.escape_default()
        )),
        None => Ok(()),
    }
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn is_dtext(c: char) -> bool {
    matches!(c as u32, 33..=90 | 94..=126)
}

/// Removes surrounding whitespace and (non-nested) comments.
fn strip_cfws(value: &str) -> Result<&str, String> {
    let mut s = value.trim_matches([' ', '\t']);
    loop {
        if let Some(rest) = s.strip_prefix('(') {
            let end = rest.find(')').ok_or("an unclosed comment `(`")?;
            s = rest[end + 1..].trim_start_matches([' ', '\t']);
        } else if s.ends_with(')') {
            let start = s.rfind('(').ok_or("a stray `)`")?;
            s = s[..start].trim_end_matches([' ', '\t']);
        } else {
            return Ok(s);
        }
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("<abc.def@example.org>")]
    #[case("  <1234@kv-safenet.de>")]
    #[case("<a+b=c@[127.0.0.1]>")]
    #[case("(comment) <x@y> (trailing)")]
    #[case("<E1ABC-0003ab-Ez@mail.example.com>")]
    fn valid(#[case] v: &str) {
        assert_eq!(check_msg_id(v), Ok(()));
    }

    #[rstest]
    #[case("", "empty")]
    #[case("abc@example.org", "angle brackets")]
    #[case("<abc@example.org", "closing")]
    #[case("<abc.example.org>", "no `@`")]
    #[case("<a b@example.org>", "not allowed")]
    #[case("<a..b@example.org>", "empty atom")]
    #[case("<@example.org>", "id-left")]
    #[case("<a@>", "id-right")]
    #[case("<a@b> <c@d>", "exactly one")]
    #[case("<\"quoted\"@example.org>", "not allowed")]
    #[case("<a@[1.2.3.4>", "does not close")]
    #[case("<ä@example.org>", "not allowed")]
    fn invalid(#[case] v: &str, #[case] why: &str) {
        let err = check_msg_id(v).unwrap_err();
        assert!(err.contains(why), "{v}: {err}");
    }
}
