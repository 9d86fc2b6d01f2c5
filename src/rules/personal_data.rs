//! Heuristics for personal data in a decoded Subject (KVC-Anb150).
//!
//! Confident signals (a labelled birth date, a health insurance number with a valid check digit,
//! a labelled or addressed person) are reported as errors; weak signals (a bare date, a word
//! pair starting with a common first name, `Surname, Firstname`, a KVNR-shaped token with a wrong
//! check digit) as warnings, since a subject like "Quartal 2024-3" or "Neue Befunde" must not fail.

use std::sync::LazyLock;

use regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub confident: bool,
    /// What was found, for the finding message.
    pub what: String,
    /// The text that matched.
    pub matched: String,
}

const DATE: &str = r"(?:\d{1,2}\.\s?\d{1,2}\.\s?(?:\d{4}|\d{2})(?-u:\b)|\d{4}-\d{2}-\d{2}(?-u:\b))";

// The patterns are fixed at compile time and covered by the tests below.
#[allow(clippy::expect_used)]
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern compiles")
}

static LABELLED_BIRTH_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)(?:(?-u:\b)geb(?:oren|urtsdatum|\.-?\s?datum|\.\s?dat\.?|\.)?|(?-u:\b)dob(?-u:\b)|(?-u:\b)born(?-u:\b)|\*)\s*:?\s*(?:am\s+)?{DATE}"
    ))
});
static LABELLED_INSURANCE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:kranken)?versicherten-?\s?(?:nummer|nr\.?)|(?-u:\b)vers\.?-?\s?nr\.?|(?-u:\b)kvnr(?-u:\b)|(?-u:\b)eGK-?Nr\.?",
    )
});
static KVNR_SHAPE: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u:\b)[A-Z]\d{9}(?-u:\b)"));
static LABELLED_PERSON: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:(?-u:\b)(?i:patient(?:in)?|pat\.|versicherte[rn]?|name)\s*:\s*|(?-u:\b)(?:Herrn?|Frau)\s+)\p{Lu}[\p{L}'-]+",
    )
});
static BARE_DATE: LazyLock<Regex> = LazyLock::new(|| re(DATE));
static SURNAME_COMMA_FIRSTNAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)(\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?),\s*(\p{Lu}\p{Ll}+)(?-u:\b)"));

/// Common German first names (weak signal: a capitalised word pair starting with one of them).
const FIRST_NAMES: &[&str] = &[
    "Alexander",
    "Andrea",
    "Andreas",
    "Angelika",
    "Anna",
    "Anja",
    "Barbara",
    "Bernd",
    "Birgit",
    "Brigitte",
    "Christian",
    "Christina",
    "Christine",
    "Claudia",
    "Daniel",
    "Daniela",
    "David",
    "Dennis",
    "Dieter",
    "Dirk",
    "Elena",
    "Elisabeth",
    "Emma",
    "Erika",
    "Felix",
    "Frank",
    "Gabriele",
    "Gerhard",
    "Hans",
    "Heike",
    "Heinz",
    "Helga",
    "Helmut",
    "Ingrid",
    "Jan",
    "Jana",
    "Jens",
    "Johanna",
    "Jonas",
    "Julia",
    "Jürgen",
    "Karin",
    "Karl",
    "Katharina",
    "Kerstin",
    "Klaus",
    "Laura",
    "Lena",
    "Leon",
    "Lisa",
    "Lukas",
    "Manfred",
    "Manuela",
    "Marco",
    "Maria",
    "Marie",
    "Mario",
    "Markus",
    "Martin",
    "Martina",
    "Matthias",
    "Max",
    "Maximilian",
    "Melanie",
    "Michael",
    "Monika",
    "Nicole",
    "Niklas",
    "Oliver",
    "Paul",
    "Peter",
    "Petra",
    "Ralf",
    "Renate",
    "Sabine",
    "Sandra",
    "Sarah",
    "Sebastian",
    "Silke",
    "Simone",
    "Sophie",
    "Stefan",
    "Stefanie",
    "Susanne",
    "Sven",
    "Thomas",
    "Tim",
    "Tobias",
    "Torsten",
    "Ursula",
    "Ute",
    "Uwe",
    "Werner",
    "Wolfgang",
];

/// Checks the KVNR check digit (Krankenversichertennummer: letter, 8 digits, check digit): the
/// letter becomes its two-digit alphabet position, the 10 digits are weighted 1,2,1,2,…, products
/// above 9 are reduced by their digit sum, and the sum modulo 10 is the check digit.
pub fn kvnr_check_digit_valid(token: &str) -> bool {
    let bytes = token.as_bytes();
    if bytes.len() != 10
        || !bytes[0].is_ascii_uppercase()
        || !bytes[1..].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let letter = u32::from(bytes[0] - b'A' + 1);
    let mut digits = vec![letter / 10, letter % 10];
    digits.extend(bytes[1..9].iter().map(|b| u32::from(b - b'0')));
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = d * if i % 2 == 0 { 1 } else { 2 };
            if p > 9 { p - 9 } else { p }
        })
        .sum();
    sum % 10 == u32::from(bytes[9] - b'0')
}

/// A common first name followed by a capitalised word, e.g. `Max Mustermann`.
fn first_name_pair(subject: &str) -> Option<String> {
    let words: Vec<&str> = subject
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | ',' | ':' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).find_map(|pair| {
        let capitalised = pair[1].chars().next().is_some_and(char::is_uppercase)
            && pair[1]
                .chars()
                .skip(1)
                .all(|c| c.is_lowercase() || c == '-');
        (FIRST_NAMES.contains(&pair[0]) && capitalised).then(|| pair.join(" "))
    })
}

/// What every pattern needs at least, tested before the pattern so that a subject that cannot
/// match never compiles it (compiling all six costs ~7 ms, 40 % of a one-file lint). Each test
/// is a superset of its pattern: `\d` is a Unicode digit (`char::is_numeric` covers it), and
/// `(?i)` folds `ſ` to `s` and the Kelvin sign to `k`, which `folded` does too.
struct Needs {
    digit: bool,
    comma: bool,
    insurance_label: bool,
    person_label: bool,
}

impl Needs {
    fn of(subject: &str) -> Needs {
        let folded = subject.to_lowercase().replace('ſ', "s");
        let has = |needle: &str| folded.contains(needle);
        Needs {
            digit: subject.chars().any(char::is_numeric),
            comma: subject.contains(','),
            insurance_label: has("vers") || has("kvnr") || has("egk"),
            person_label: has("pat")
                || has("versicherte")
                || has("name")
                || subject.contains("Herr")
                || subject.contains("Frau"),
        }
    }
}

/// Looks for personal data in a decoded subject; confident signals first.
pub fn scan_subject(subject: &str) -> Vec<Signal> {
    let needs = Needs::of(subject);
    let mut signals = Vec::new();
    let push = |signals: &mut Vec<Signal>, confident: bool, what: &str, matched: &str| {
        signals.push(Signal {
            confident,
            what: what.to_string(),
            matched: matched.to_string(),
        })
    };
    if let Some(m) = needs
        .digit
        .then(|| LABELLED_BIRTH_DATE.find(subject))
        .flatten()
    {
        push(&mut signals, true, "a labelled birth date", m.as_str());
    }
    for m in needs
        .digit
        .then(|| KVNR_SHAPE.find_iter(subject))
        .into_iter()
        .flatten()
    {
        if kvnr_check_digit_valid(m.as_str()) {
            push(
                &mut signals,
                true,
                "a health insurance number (KVNR with valid check digit)",
                m.as_str(),
            );
        } else {
            push(
                &mut signals,
                false,
                "a token shaped like a health insurance number (KVNR)",
                m.as_str(),
            );
        }
    }
    if let Some(m) = needs
        .insurance_label
        .then(|| LABELLED_INSURANCE_NUMBER.find(subject))
        .flatten()
    {
        push(
            &mut signals,
            true,
            "a labelled insurance number",
            m.as_str(),
        );
    }
    if let Some(m) = needs
        .person_label
        .then(|| LABELLED_PERSON.find(subject))
        .flatten()
    {
        push(
            &mut signals,
            true,
            "a labelled or addressed person",
            m.as_str(),
        );
    }
    if !signals.iter().any(|s| s.confident) {
        if let Some(m) = needs.digit.then(|| BARE_DATE.find(subject)).flatten() {
            push(
                &mut signals,
                false,
                "a date (a birth date would be personal data)",
                m.as_str(),
            );
        }
        if let Some(pair) = first_name_pair(subject) {
            push(
                &mut signals,
                false,
                "a word pair that looks like a person's name",
                &pair,
            );
        }
        if let Some(caps) = needs
            .comma
            .then(|| SURNAME_COMMA_FIRSTNAME.captures(subject))
            .flatten()
            && FIRST_NAMES.contains(&&caps[2])
        {
            push(&mut signals, false, "`Surname, Firstname`", &caps[0]);
        }
    }
    signals
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("A123456780", true)]
    #[case("A123456781", false)]
    #[case("X110411319", true)]
    #[case("a123456780", false)]
    #[case("A12345678", false)]
    fn kvnr(#[case] token: &str, #[case] valid: bool) {
        assert_eq!(kvnr_check_digit_valid(token), valid);
    }

    #[rstest]
    #[case("Befund geb. 01.02.1960")]
    #[case("Arztbrief Geburtsdatum: 1960-02-01")]
    #[case("Laborwerte * 3.4.75")]
    #[case("Befund A123456780")]
    #[case("Befund Versichertennummer folgt")]
    #[case("Rückfrage Patient: Mustermann")]
    #[case("Befund Frau Müller")]
    fn confident(#[case] subject: &str) {
        let signals = scan_subject(subject);
        assert!(
            signals.iter().any(|s| s.confident),
            "{subject}: {signals:?}"
        );
    }

    #[rstest]
    #[case("Befund vom 01.02.2024")]
    #[case("Rückfrage Max Mustermann")]
    #[case("Mustermann, Erika")]
    #[case("Befund A123456781")]
    fn weak_only(#[case] subject: &str) {
        let signals = scan_subject(subject);
        assert!(!signals.is_empty(), "{subject}");
        assert!(
            signals.iter().all(|s| !s.confident),
            "{subject}: {signals:?}"
        );
    }

    #[rstest]
    #[case("Arztbrief")]
    #[case("Neue Befunde")]
    #[case("Abrechnung Quartal 2024-3")]
    #[case("eTS;Vermittlungscode-Anforderung-Muster06;V2.0")]
    #[case("Terminanfrage Kardiologie")]
    fn clean(#[case] subject: &str) {
        assert_eq!(scan_subject(subject), vec![]);
    }
}
