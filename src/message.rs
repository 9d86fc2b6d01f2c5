//! The message model: the raw bytes, the raw header block as it was written, and (on demand) the
//! MIME tree from `mail-parser`.
//!
//! Conformance rules need what a lenient parser throws away: the exact line endings, duplicate
//! fields, the original spelling of field names and the folding. So the header block is scanned
//! here, byte for byte, and every field keeps its name, its raw value range and its line number.
//! `mail-parser` is used for the MIME structure and for RFC 2047 decoding only.

use std::any::{Any, TypeId};
use std::cell::{Cell, OnceCell, RefCell};
use std::ops::Range;

use mail_parser::{HeaderValue, MessageParser};

/// One header field as written in the raw header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField {
    /// The field name exactly as spelled (case preserved, trailing whitespace before the colon
    /// removed; see `space_before_colon`).
    pub name: String,
    /// Byte range of the value: from after the colon up to (not including) the line break that
    /// ends the field. Folded continuation lines are included.
    pub value: Range<usize>,
    /// 1-based line number of the line that starts the field.
    pub line: usize,
    /// Number of physical lines the field occupies (> 1 when folded).
    pub lines: usize,
    /// True when whitespace stands between the name and the colon (obsolete RFC 5322 syntax).
    pub space_before_colon: bool,
}

/// A line of the header block that is neither a field nor a continuation of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderDefect {
    pub line: usize,
    pub kind: HeaderDefectKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderDefectKind {
    /// A line starting with whitespace before any field started.
    ContinuationWithoutField,
    /// A line without a colon, or whose name contains characters not allowed in a field name.
    NotAField,
}

/// A message ready for the rules: raw bytes plus the scanned header block.
pub struct Message<'a> {
    raw: &'a [u8],
    fields: Vec<RawField>,
    defects: Vec<HeaderDefect>,
    body_start: usize,
    header_terminated: bool,
    parsed: OnceCell<Option<mail_parser::Message<'a>>>,
    /// Per-message facts that several rules derive (e.g. what kind of KIM mail this is),
    /// computed once per type.
    memo: RefCell<Vec<(TypeId, Box<dyn Any>)>>,
}

impl<'a> Message<'a> {
    /// Scans the header block of `raw`. Never fails: defects are recorded for the rules.
    pub fn new(raw: &'a [u8]) -> Self {
        let scan = scan_header_block(raw);
        Message {
            raw,
            fields: scan.fields,
            defects: scan.defects,
            body_start: scan.body_start,
            header_terminated: scan.terminated,
            parsed: OnceCell::new(),
            memo: RefCell::new(Vec::new()),
        }
    }

    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// All header fields in the order they appear.
    pub fn fields(&self) -> &[RawField] {
        &self.fields
    }

    /// Lines of the header block that are not fields.
    pub fn header_defects(&self) -> &[HeaderDefect] {
        &self.defects
    }

    /// Byte offset where the body starts (after the empty line), or the message length when the
    /// header block is not terminated by an empty line.
    pub fn body_start(&self) -> usize {
        self.body_start
    }

    /// Whether an empty line ends the header block.
    pub fn header_terminated(&self) -> bool {
        self.header_terminated
    }

    /// The body bytes (everything after the empty line that ends the header block).
    pub fn body(&self) -> &'a [u8] {
        &self.raw[self.body_start.min(self.raw.len())..]
    }

    /// All fields with this name, compared case-insensitively (RFC 5322 §1.2.2).
    pub fn fields_named<'s, 'n>(
        &'s self,
        name: &'n str,
    ) -> impl Iterator<Item = &'s RawField> + use<'s, 'n, 'a> {
        self.fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
    }

    /// The raw value bytes of a field (folding and surrounding whitespace kept).
    pub fn raw_value(&self, field: &RawField) -> &'a [u8] {
        &self.raw[field.value.clone()]
    }

    /// The value after RFC 5322 unfolding (CRLF/LF before whitespace removed), with leading and
    /// trailing whitespace trimmed. Bytes that are not UTF-8 are replaced (U+FFFD).
    pub fn unfolded_value(&self, field: &RawField) -> String {
        unfold(self.raw_value(field))
    }

    /// The value of an unstructured field after unfolding and RFC 2047 decoding.
    pub fn decoded_value(&self, field: &RawField) -> String {
        decode_unstructured(self.raw_value(field))
    }

    /// Whether the raw value contains an RFC 2047 encoded-word.
    pub fn has_encoded_word(&self, field: &RawField) -> bool {
        memchr::memmem::find(self.raw_value(field), b"=?").is_some()
    }

    /// The MIME tree, parsed on first use. `None` when `mail-parser` cannot read the bytes.
    ///
    /// Large base64 attachments (not text, not message/*, not x-kas) are measured, not decoded
    /// (`crate::lazy_mime`): their `PartType::Binary` holds zeros of the decoded length, so
    /// `len()` is right and the bytes are not. Rules read only text, x-kas and message/* bodies.
    pub fn parsed(&self) -> Option<&mail_parser::Message<'a>> {
        self.parsed
            .get_or_init(|| {
                if EAGER_MIME.with(Cell::get) {
                    MessageParser::default().parse(self.raw)
                } else {
                    crate::lazy_mime::parse_lazy(self.raw)
                }
            })
            .as_ref()
    }

    /// Computes a fact about this message once and returns the cached copy afterwards.
    pub fn memo<T: Any + Clone>(&self, compute: impl FnOnce(&Self) -> T) -> T {
        let id = TypeId::of::<T>();
        if let Some(v) = self
            .memo
            .borrow()
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_ref::<T>())
        {
            return v.clone();
        }
        let value = compute(self);
        self.memo.borrow_mut().push((id, Box::new(value.clone())));
        value
    }

    /// 1-based line number of a byte offset.
    pub fn line_of_offset(&self, offset: usize) -> usize {
        line_of_offset(self.raw, offset)
    }
}

thread_local! {
    /// Whether `Message::parsed` decodes every part (mail-parser's own parse) on this thread.
    static EAGER_MIME: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every part decoded by mail-parser's own parse (`eager`) or with the lazy tree
/// (the default), on this thread. For the tests that compare both paths.
pub fn with_eager_mime<R>(eager: bool, f: impl FnOnce() -> R) -> R {
    let before = EAGER_MIME.with(|e| e.replace(eager));
    let result = f();
    EAGER_MIME.with(|e| e.set(before));
    result
}

/// 1-based line number of a byte offset in `raw` (lines end at LF).
pub fn line_of_offset(raw: &[u8], offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &raw[..offset.min(raw.len())]).count() + 1
}

/// RFC 5322 unfolding plus trimming of surrounding whitespace.
pub fn unfold(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {}
            _ => out.push(c),
        }
    }
    out.trim_matches(|c| c == ' ' || c == '\t').to_string()
}

/// Decodes an unstructured field value (RFC 2047 encoded-words, unfolding) with mail-parser's
/// own decoder, so that lint and the MIME tree agree on what a subject says.
pub fn decode_unstructured(value: &[u8]) -> String {
    let mut buf = Vec::with_capacity(value.len() + 1);
    buf.extend_from_slice(value);
    buf.push(b'\n');
    let decoded = match mail_parser::parsers::MessageStream::new(&buf).parse_unstructured() {
        HeaderValue::Text(text) => text.into_owned(),
        _ => String::new(),
    };
    decoded.trim().to_string()
}

struct HeaderScan {
    fields: Vec<RawField>,
    defects: Vec<HeaderDefect>,
    body_start: usize,
    terminated: bool,
}

/// Scans the header block line by line. Accepts CRLF, bare LF and bare CR-less lines alike (the
/// line-ending rule reports those separately); stops at the first empty line.
fn scan_header_block(raw: &[u8]) -> HeaderScan {
    let mut fields: Vec<RawField> = Vec::new();
    let mut defects = Vec::new();
    let mut pos = 0;
    let mut line = 1;
    while pos < raw.len() {
        let line_end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i);
        let next = (line_end + 1).min(raw.len());
        let content_end = if line_end > pos && raw[line_end - 1] == b'\r' {
            line_end - 1
        } else {
            line_end
        };
        let content = &raw[pos..content_end];
        if content.is_empty() {
            return HeaderScan {
                fields,
                defects,
                body_start: next,
                terminated: true,
            };
        }
        if content[0] == b' ' || content[0] == b'\t' {
            match fields.last_mut() {
                Some(field) if field_is_open(field, line) => {
                    field.value.end = content_end;
                    field.lines += 1;
                }
                _ => defects.push(HeaderDefect {
                    line,
                    kind: HeaderDefectKind::ContinuationWithoutField,
                }),
            }
        } else {
            match split_field_name(content) {
                Some((name, space_before_colon, value_start)) => fields.push(RawField {
                    name,
                    value: pos + value_start..content_end,
                    line,
                    lines: 1,
                    space_before_colon,
                }),
                None => defects.push(HeaderDefect {
                    line,
                    kind: HeaderDefectKind::NotAField,
                }),
            }
        }
        pos = next;
        line += 1;
        if line_end == raw.len() {
            break;
        }
    }
    HeaderScan {
        fields,
        defects,
        body_start: raw.len(),
        terminated: false,
    }
}

/// A continuation line belongs to the last field only when no defect line came in between.
fn field_is_open(field: &RawField, line: usize) -> bool {
    field.line + field.lines == line
}

/// Splits `Name: value` into the name, whether whitespace stood before the colon, and the offset
/// of the value within the line. `None` when the line is not a field (RFC 5322 §2.2: ftext is
/// printable US-ASCII except colon).
fn split_field_name(line: &[u8]) -> Option<(String, bool, usize)> {
    let colon = memchr::memchr(b':', line)?;
    let name_part = &line[..colon];
    let name_len = name_part
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(0, |i| i + 1);
    let name = &name_part[..name_len];
    if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
        return None;
    }
    // `name` is printable ASCII, so the conversion is lossless.
    let name = String::from_utf8_lossy(name).into_owned();
    Some((name, name_len < colon, colon + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_fields_with_folding_case_and_line_numbers() {
        let raw = b"From: a@b.de\r\nsUbJeCt: one\r\n two\r\nX-A : 1\r\n\r\nbody\r\n";
        let msg = Message::new(raw);
        let names: Vec<_> = msg.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["From", "sUbJeCt", "X-A"]);
        let subject = msg.fields_named("Subject").next().unwrap();
        assert_eq!(subject.line, 2);
        assert_eq!(subject.lines, 2);
        assert_eq!(msg.unfolded_value(subject), "one two");
        assert!(msg.fields()[2].space_before_colon);
        assert_eq!(msg.body(), b"body\r\n");
        assert!(msg.header_terminated());
    }

    #[test]
    fn records_defects_and_unterminated_header() {
        let raw = b" orphan\nnot a field\nA: 1";
        let msg = Message::new(raw);
        assert_eq!(
            msg.header_defects()
                .iter()
                .map(|d| (d.line, d.kind))
                .collect::<Vec<_>>(),
            [
                (1, HeaderDefectKind::ContinuationWithoutField),
                (2, HeaderDefectKind::NotAField)
            ]
        );
        assert_eq!(msg.fields().len(), 1);
        assert!(!msg.header_terminated());
        assert_eq!(msg.body(), b"");
    }

    #[test]
    fn decodes_encoded_words() {
        let raw = b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus\r\n =?ISO-8859-1?B?S/Zsbg==?=\r\n\r\n";
        let msg = Message::new(raw);
        let subject = msg.fields_named("subject").next().unwrap();
        assert_eq!(msg.decoded_value(subject), "Grüße aus Köln");
        assert!(msg.has_encoded_word(subject));
    }

    #[test]
    fn memo_computes_once_per_type() {
        let msg = Message::new(b"A: 1\r\n\r\n");
        let calls = std::cell::Cell::new(0);
        let count = |m: &Message| {
            calls.set(calls.get() + 1);
            m.fields().len()
        };
        assert_eq!(msg.memo(count), 1);
        assert_eq!(msg.memo(count), 1);
        assert_eq!(msg.memo(|_| "other type"), "other type");
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn line_numbers_of_offsets() {
        let raw = b"a\nb\r\nc";
        assert_eq!(line_of_offset(raw, 0), 1);
        assert_eq!(line_of_offset(raw, 2), 2);
        assert_eq!(line_of_offset(raw, 5), 3);
        assert_eq!(line_of_offset(raw, 99), 3);
    }
}
