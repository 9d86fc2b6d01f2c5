//! Text the SUT or a linted message controls, made safe for the place it is shown: XML 1.0
//! (junit.xml must stay parseable) and the terminal (no escape sequence from the SUT may reach
//! it). Characters are replaced by a visible `\u{..}` escape, so the evidence stays readable.

use std::fmt::Write;

/// Characters XML 1.0 forbids (C0 controls other than tab, LF, CR; U+FFFE, U+FFFF; lone
/// surrogates cannot occur in a `str`) and those it discourages (DEL, C1 controls,
/// non-characters U+FDD0..U+FDEF and U+xFFFE/U+xFFFF of every plane).
fn xml_unsafe(c: char) -> bool {
    let n = c as u32;
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
        || (0xFDD0..=0xFDEF).contains(&n)
        || (n & 0xFFFE) == 0xFFFE
}

/// Characters a terminal acts on: every control (C0 but tab and LF, DEL, C1; ESC starts escape
/// sequences, CR overwrites a line, BEL rings) and the bidirectional overrides that reorder what
/// is shown.
fn terminal_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_where(s: &str, bad: impl Fn(char) -> bool) -> String {
    if !s.chars().any(&bad) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` with every character XML 1.0 forbids or discourages replaced by `\u{..}`. Applied to a
/// whole rendered document it covers every text and attribute (markup itself is ASCII).
pub fn xml_text(s: &str) -> String {
    escape_where(s, xml_unsafe)
}

/// `s` with every terminal control character (ESC, BEL, CR, ...) replaced by `\u{..}`.
pub fn terminal_text(s: &str) -> String {
    escape_where(s, terminal_unsafe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case::fffe("a\u{fffe}b", "a\\u{fffe}b")]
    #[case::ffff("\u{ffff}", "\\u{ffff}")]
    #[case::plane1_nonchar("\u{1fffe}", "\\u{1fffe}")]
    #[case::fdd0("\u{fdd0}", "\\u{fdd0}")]
    #[case::esc("\u{1b}[31mred", "\\u{1b}[31mred")]
    #[case::bel("\u{7}", "\\u{7}")]
    #[case::nul("\u{0}", "\\u{0}")]
    #[case::c1("\u{9b}", "\\u{9b}")]
    #[case::kept("tab\tlf\ncr\r ä € 😀 \u{fffd}", "tab\tlf\ncr\r ä € 😀 \u{fffd}")]
    fn xml(#[case] input: &str, #[case] expected: &str) {
        assert_eq!(xml_text(input), expected);
    }

    #[rstest::rstest]
    #[case::esc("\u{1b}[31mred\u{1b}[0m", "\\u{1b}[31mred\\u{1b}[0m")]
    #[case::bel_cr("a\u{7}\rb", "a\\u{7}\\u{d}b")]
    #[case::c1_csi("\u{9b}2J", "\\u{9b}2J")]
    #[case::bidi("\u{202e}txt", "\\u{202e}txt")]
    #[case::kept("line\n\tä", "line\n\tä")]
    fn terminal(#[case] input: &str, #[case] expected: &str) {
        assert_eq!(terminal_text(input), expected);
    }

    proptest::proptest! {
        #[test]
        fn xml_output_holds_only_allowed_chars(s in ".*") {
            let out = xml_text(&s);
            proptest::prop_assert!(!out.chars().any(xml_unsafe));
        }

        #[test]
        fn terminal_output_holds_no_control_but_tab_and_lf(s in ".*") {
            let out = terminal_text(&s);
            proptest::prop_assert!(!out.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
        }
    }
}
