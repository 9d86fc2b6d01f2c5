//! The MIME tree without decoding large attachments.
//!
//! `parse_lazy` is mail-parser 0.11.9's `MessageParser::parse_` (src/parsers/message.rs,
//! Apache-2.0 OR MIT, Stalwart Labs LLC), ported line for line on its public stream primitives,
//! with one change: a base64 leaf part that is neither text nor a message (nor an x-kas part) and
//! whose body is at least [`LAZY_MIN`] bytes is measured, not decoded. Its `PartType::Binary`
//! holds zeros of the decoded length (allocated zeroed, so the pages are never touched): `len()`
//! is exact, the bytes are not. No rule reads the bytes of such a part (the size rules need the
//! length, the KAS and error-mail rules read text, x-kas and message/* parts only).
//!
//! Everything else (offsets, part order, headers, encoding problems, text decoding, nested
//! messages) is mail-parser's own code path, and `tests/lazy_mime.rs` checks that every vector
//! and corpus file gets the same findings through this tree as through the eager parse.

use std::borrow::Cow;

use mail_parser::decoders::DecodeFnc;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::parsers::MessageStream;
use mail_parser::{
    ContentType, Encoding, GetHeader, HeaderName, HeaderValue, Message, MessageParser, MessagePart,
    MessagePartId, PartType,
};

/// Where mail-parser has `debug_assert!(false, what)`: states its release build goes on from and
/// fuzzing reaches (Cargo.toml turns its debug assertions off for that reason). Go on, as its
/// release build does, in every build.
fn inconsistent(_what: &str) {}

/// Base64 bodies shorter than this are decoded as mail-parser does (real bytes).
pub const LAZY_MIN: usize = 64 * 1024;

thread_local! {
    static MIN_SKIPPED: std::cell::Cell<usize> = const { std::cell::Cell::new(LAZY_MIN) };
}

/// Runs `f` with another threshold than [`LAZY_MIN`] on this thread (1: every eligible body is
/// measured instead of decoded), for the tests that compare the lazy and the eager tree.
pub fn with_lazy_min<R>(min: usize, f: impl FnOnce() -> R) -> R {
    let before = MIN_SKIPPED.with(|m| m.replace(min.max(1)));
    let result = f();
    MIN_SKIPPED.with(|m| m.set(before));
    result
}

const MAX_NESTED_ENCODED: usize = 3;

/// The MIME tree of `raw` as `MessageParser::default().parse(raw)` builds it, except that large
/// base64 attachment bodies are not decoded (see the module documentation).
pub fn parse_lazy(raw: &[u8]) -> Option<Message<'_>> {
    parse_(&MessageParser::default(), raw, MAX_NESTED_ENCODED, true)
}

/// Where a base64 body ends, where the stream goes on, and its decoded length.
struct Skip {
    end: usize,
    next: usize,
    decoded_len: usize,
}

/// Measures the base64 body starting at `start` without decoding it, with the result
/// `MessageStream::decode_base64_mime` would give. `None` (decode it the usual way) when the body
/// is short, when the closing boundary is missing, or when the body holds anything but base64
/// characters, `=` and white space (then mail-parser's own recovery must run).
fn skip_base64(data: &[u8], start: usize, boundary: &[u8]) -> Option<Skip> {
    let rest = data.get(start..)?;
    let (region, next) = if boundary.is_empty() {
        (rest, data.len())
    } else {
        let mut needle = Vec::with_capacity(boundary.len() + 2);
        needle.extend_from_slice(b"--");
        needle.extend_from_slice(boundary);
        let at = memchr::memmem::find(rest, &needle)?;
        (&rest[..at], start + at + needle.len())
    };
    if region.is_empty() || region.len() < MIN_SKIPPED.with(std::cell::Cell::get) {
        return None;
    }
    let mut decoded_len = 0usize;
    let mut pending = 0usize; // base64 characters of the group in progress (0..=3)
    let mut segment_start = 0;
    for pad in memchr::memchr_iter(b'=', region).chain(std::iter::once(region.len())) {
        let chars = base64_chars(&region[segment_start..pad])?;
        let total = pending + chars;
        decoded_len += total / 4 * 3;
        pending = total % 4;
        if pad < region.len() {
            // mail-parser's flush on `=`: one byte after 1 or 2 pending characters, two after 3.
            decoded_len += match pending {
                1 | 2 => 1,
                3 => 2,
                _ => 0,
            };
            pending = 0;
        }
        segment_start = pad + 1;
    }
    let end = if boundary.is_empty() {
        data.len()
    } else {
        // `--` right after a line break: the part ends before that line break (CRLF or LF).
        let dashes = next - boundary.len() - 2;
        if data[dashes - 1] == b'\n' {
            if dashes - 1 > start && data[dashes - 2] == b'\r' {
                dashes - 2
            } else {
                dashes - 1
            }
        } else {
            dashes
        }
    };
    Some(Skip {
        end,
        next,
        decoded_len,
    })
}

/// The number of base64 alphabet characters in `bytes`, or `None` when it holds anything but
/// those and white space (space, tab, CR, LF). Branch-free over blocks, so that it vectorises.
fn base64_chars(bytes: &[u8]) -> Option<usize> {
    let mut white = 0usize;
    for block in bytes.chunks(255) {
        let mut bad = 0u8;
        let mut ws = 0u8;
        for &b in block {
            let letter = (b | 0x20).wrapping_sub(b'a') < 26;
            let digit = b.wrapping_sub(b'0') < 10;
            let sym = (b == b'+') | (b == b'/');
            let space = (b == b' ') | (b == b'\t') | (b == b'\r') | (b == b'\n');
            bad |= u8::from(!(letter | digit | sym | space));
            ws += u8::from(space);
        }
        if bad != 0 {
            return None;
        }
        white += usize::from(ws);
    }
    Some(bytes.len() - white)
}

/// Whether a part's Content-Disposition is x-kas (its body is read by the KAS rules).
#[allow(clippy::ptr_arg)] // mail-parser implements `GetHeader` for `Vec<Header>` only
fn is_x_kas(headers: &Vec<mail_parser::Header<'_>>) -> bool {
    headers
        .header_value(&HeaderName::ContentDisposition)
        .and_then(|d| d.as_content_type())
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("x-kas"))
}

#[derive(Debug, PartialEq, Default)]
enum MimeType {
    MultipartMixed,
    MultipartAlternative,
    MultipartRelated,
    MultipartDigest,
    TextPlain,
    TextHtml,
    TextOther,
    Inline,
    #[default]
    Message,
    Other,
}

fn mime_type(
    content_type: Option<&ContentType<'_>>,
    parent_content_type: &MimeType,
) -> (bool, bool, bool, MimeType) {
    if let Some(content_type) = content_type {
        match content_type.ctype() {
            "multipart" => (
                true,
                false,
                false,
                match content_type.subtype() {
                    Some("mixed") => MimeType::MultipartMixed,
                    Some("alternative") => MimeType::MultipartAlternative,
                    Some("related") => MimeType::MultipartRelated,
                    Some("digest") => MimeType::MultipartDigest,
                    _ => MimeType::Other,
                },
            ),
            "text" => match content_type.subtype() {
                Some("plain") => (false, true, true, MimeType::TextPlain),
                Some("html") => (false, true, true, MimeType::TextHtml),
                _ => (false, false, true, MimeType::TextOther),
            },
            "image" | "audio" | "video" => (false, true, false, MimeType::Inline),
            "message" if [Some("rfc822"), Some("global")].contains(&content_type.subtype()) => {
                (false, false, false, MimeType::Message)
            }
            _ => (false, false, false, MimeType::Other),
        }
    } else if let MimeType::MultipartDigest = parent_content_type {
        (false, false, false, MimeType::Message)
    } else {
        (false, true, true, MimeType::TextPlain)
    }
}

#[derive(Default, Debug)]
struct MessageParserState {
    mime_type: MimeType,
    mime_boundary: Option<Vec<u8>>,
    in_alternative: bool,
    parts: usize,
    html_parts: usize,
    text_parts: usize,
    need_html_body: bool,
    need_text_body: bool,
    part_id: MessagePartId,
    sub_part_ids: Vec<MessagePartId>,
    offset_header: usize,
    offset_body: usize,
    offset_end: usize,
}

impl MessageParserState {
    fn new() -> MessageParserState {
        MessageParserState {
            mime_type: MimeType::Message,
            mime_boundary: None,
            in_alternative: false,
            parts: 0,
            html_parts: 0,
            text_parts: 0,
            need_text_body: true,
            need_html_body: true,
            ..Default::default()
        }
    }
}

fn parse_<'x>(
    conf: &MessageParser,
    raw_message: &'x [u8],
    depth: usize,
    lazy: bool,
) -> Option<Message<'x>> {
    let mut stream = MessageStream::new(raw_message);

    let mut message = Message::default();

    let mut state = MessageParserState::new();
    let mut state_stack = Vec::with_capacity(4);

    let mut part_headers = Vec::new();

    'outer: loop {
        // Parse headers
        state.offset_header = stream.offset();
        if !stream.parse_headers(conf, &mut part_headers) {
            break;
        }
        state.offset_body = stream.offset();

        state.parts += 1;
        state.sub_part_ids.push(message.parts.len() as u32);

        let content_type = part_headers
            .header_value(&HeaderName::ContentType)
            .and_then(|c| c.as_content_type());

        let (is_multipart, mut is_inline, mut is_text, mut mime_type) =
            mime_type(content_type, &state.mime_type);

        if is_multipart
            && let Some(mime_boundary) = content_type.and_then(|f| f.attribute("boundary"))
        {
            if stream.seek_next_part(mime_boundary.as_bytes()) {
                let part_id = message.parts.len();
                let new_state = MessageParserState {
                    in_alternative: state.in_alternative
                        || mime_type == MimeType::MultipartAlternative,
                    mime_type,
                    mime_boundary: mime_boundary.as_bytes().to_vec().into(),
                    html_parts: message.html_body.len(),
                    text_parts: message.text_body.len(),
                    need_html_body: state.need_html_body,
                    need_text_body: state.need_text_body,
                    part_id: part_id as u32,
                    ..Default::default()
                };
                //add_missing_type(&mut part_header, "text".into(), "plain".into());
                message.parts.push(MessagePart {
                    headers: std::mem::take(&mut part_headers),
                    offset_header: state.offset_header as u32,
                    offset_body: state.offset_body as u32,
                    offset_end: 0,
                    is_encoding_problem: false,
                    encoding: Encoding::None,
                    body: PartType::default(),
                });
                state_stack.push((state, None));
                state = new_state;
                stream.skip_crlf();
                continue;
            } else {
                mime_type = MimeType::TextOther;
                is_text = true;
            }
        }

        let (mut encoding, decode_fnc): (Encoding, DecodeFnc<'_>) =
            match part_headers.header_value(&HeaderName::ContentTransferEncoding) {
                Some(HeaderValue::Text(encoding)) if encoding.eq_ignore_ascii_case("base64") => {
                    (Encoding::Base64, MessageStream::decode_base64_mime)
                }
                Some(HeaderValue::Text(encoding))
                    if encoding.eq_ignore_ascii_case("quoted-printable") =>
                {
                    (
                        Encoding::QuotedPrintable,
                        MessageStream::decode_quoted_printable_mime,
                    )
                }
                _ => (Encoding::None, MessageStream::mime_part),
            };

        if mime_type == MimeType::Message && encoding == Encoding::None {
            let new_state = MessageParserState {
                mime_type: MimeType::Message,
                mime_boundary: state.mime_boundary.take(),
                need_html_body: true,
                need_text_body: true,
                part_id: message.parts.len() as u32,
                ..Default::default()
            };
            message.attachments.push(message.parts.len() as u32);
            message.parts.push(MessagePart {
                headers: std::mem::take(&mut part_headers),
                encoding,
                is_encoding_problem: false,
                offset_header: state.offset_header as u32,
                offset_body: state.offset_body as u32,
                offset_end: 0,
                body: PartType::default(), // Temp value, will be replaced later.
            });
            state_stack.push((state, message.into()));
            message = Message::default();
            state = new_state;
            continue;
        }

        let boundary = state.mime_boundary.as_deref().unwrap_or(&b""[..]);
        // The one change against mail-parser: a large base64 leaf that is neither text nor
        // a message is measured, not decoded (see `skip_base64`).
        let skipped = (lazy
            && encoding == Encoding::Base64
            && !is_text
            && mime_type != MimeType::Message
            && content_type.is_none_or(|c| !c.ctype().eq_ignore_ascii_case("message"))
            && !is_x_kas(&part_headers))
        .then(|| skip_base64(raw_message, stream.offset(), boundary))
        .flatten();
        let (offset_end, mut bytes) = match skipped {
            Some(skip) => {
                stream.skip_bytes(skip.next - stream.offset());
                (skip.end, Cow::Owned(vec![0u8; skip.decoded_len]))
            }
            None => decode_fnc(&mut stream, boundary),
        };

        // Attempt to recover contents of an invalid message
        let mut is_encoding_problem = offset_end == usize::MAX;
        if is_encoding_problem {
            encoding = Encoding::None;
            if mime_type != MimeType::TextPlain {
                mime_type = MimeType::TextOther;
            }
            is_inline = false;
            is_text = true;

            let (offset_end, boundary_found) = stream.seek_part_end(state.mime_boundary.as_deref());
            state.offset_end = offset_end;
            bytes = raw_message[state.offset_body..state.offset_end].into();

            if !boundary_found {
                state.mime_boundary = None;
            }
        } else {
            state.offset_end = offset_end;
        }

        let body_part = if mime_type != MimeType::Message {
            let is_inline = is_inline
                && part_headers
                    .header_value(&HeaderName::ContentDisposition)
                    .is_none_or(|d| !d.as_content_type().is_some_and(|ct| ct.is_attachment()))
                && (state.parts == 1
                    || state.mime_type != MimeType::MultipartRelated
                        && (mime_type == MimeType::Inline
                            || content_type.is_none_or(|c| !c.has_attribute("name"))));

            // if message consists of single text/plain part, classify as text regardless
            // of encoding issues: see malformed/018.eml
            let is_inline = is_inline
                || state.parts == 1
                    && state.mime_type == MimeType::Message
                    && mime_type == MimeType::TextPlain
                    && is_encoding_problem;

            let (add_to_html, add_to_text) = if let MimeType::MultipartAlternative = state.mime_type
            {
                match mime_type {
                    MimeType::TextHtml => (true, false),
                    MimeType::TextPlain => (false, true),
                    _ => (false, false),
                }
            } else if is_inline {
                if state.in_alternative && (state.need_text_body || state.need_html_body) {
                    match mime_type {
                        MimeType::TextHtml => {
                            state.need_text_body = false;
                        }
                        MimeType::TextPlain => {
                            state.need_html_body = false;
                        }
                        _ => (),
                    }
                }
                (state.need_html_body, state.need_text_body)
            } else {
                (false, false)
            };

            if add_to_html {
                message.html_body.push(message.parts.len() as u32);
            }
            if add_to_text {
                message.text_body.push(message.parts.len() as u32);
            }

            if is_text {
                let text = match (
                    bytes,
                    content_type.and_then(|ct| {
                        ct.attribute("charset")
                            .and_then(|c| charset_decoder(c.as_bytes()))
                    }),
                ) {
                    (Cow::Owned(vec), Some(charset_decoder)) => charset_decoder(&vec).into(),
                    (Cow::Owned(vec), None) => String::from_utf8(vec)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
                        .into(),
                    (Cow::Borrowed(bytes), Some(charset_decoder)) => charset_decoder(bytes).into(),
                    (Cow::Borrowed(bytes), None) => String::from_utf8_lossy(bytes),
                };

                let is_html = mime_type == MimeType::TextHtml;

                if !add_to_html && is_html || !add_to_text && !is_html {
                    message.attachments.push(message.parts.len() as u32);
                }

                if is_html {
                    PartType::Html(text)
                } else {
                    PartType::Text(text)
                }
            } else {
                message.attachments.push(message.parts.len() as u32);

                if !is_inline {
                    PartType::Binary(bytes)
                } else {
                    PartType::InlineBinary(bytes)
                }
            }
        } else {
            message.attachments.push(message.parts.len() as u32);

            if depth != 0 {
                if let Some(nested_message) = parse_(conf, bytes.as_ref(), depth - 1, false) {
                    PartType::Message(Message {
                        html_body: nested_message.html_body,
                        text_body: nested_message.text_body,
                        attachments: nested_message.attachments,
                        parts: nested_message
                            .parts
                            .into_iter()
                            .map(|p| p.into_owned())
                            .collect(),
                        raw_message: bytes.into_owned().into(),
                    })
                } else {
                    is_encoding_problem = true;
                    PartType::Binary(bytes)
                }
            } else {
                is_encoding_problem = true;
                PartType::Binary(bytes)
            }
        };

        // Add part
        message.parts.push(MessagePart {
            headers: std::mem::take(&mut part_headers),
            encoding,
            is_encoding_problem,
            body: body_part,
            offset_header: state.offset_header as u32,
            offset_body: state.offset_body as u32,
            offset_end: state.offset_end as u32,
        });

        if state.mime_boundary.is_some() {
            // Currently processing a MIME part
            'inner: loop {
                if let MimeType::Message = state.mime_type {
                    // Finished processing a nested message, restore parent message from stack
                    if let Some((mut prev_state, Some(mut prev_message))) = state_stack.pop() {
                        let offset_end = state
                            .mime_boundary
                            .as_ref()
                            .map(|b| {
                                let pos = stream.offset().saturating_sub(b.len() + 2);
                                raw_message.get(pos - 2).map_or(pos - 1, |&ch| {
                                    if ch == b'\r' { pos - 2 } else { pos - 1 }
                                })
                            })
                            .unwrap_or_else(|| stream.offset());
                        message.raw_message = raw_message.into();
                        //raw_message[state.offset_header..offset_end].as_ref().into();

                        if let Some(part) = prev_message.parts.get_mut(state.part_id as usize) {
                            part.offset_end = offset_end as u32;
                            if message.is_empty() {
                                part.is_encoding_problem = true;
                                part.body = PartType::Text(String::from_utf8_lossy(
                                    raw_message
                                        .get(part.offset_body as usize..offset_end)
                                        .unwrap_or_default(),
                                ));
                            } else {
                                part.body = PartType::Message(message);
                            }
                        } else {
                            inconsistent("Invalid part ID, could not find message.");
                        }

                        message = prev_message;
                        prev_state.mime_boundary = state.mime_boundary;
                        state = prev_state;
                    } else {
                        inconsistent("Failed to restore parent message. Aborting.");
                        break 'outer;
                    }
                }

                if stream.is_multipart_end() {
                    // End of MIME part reached

                    if MimeType::MultipartAlternative == state.mime_type
                        && state.need_html_body
                        && state.need_text_body
                    {
                        // Found HTML part only
                        if state.text_parts == message.text_body.len()
                            && state.html_parts != message.html_body.len()
                        {
                            for &part_id in &message.html_body[state.html_parts..] {
                                message.text_body.push(part_id);
                            }
                        }

                        // Found text part only
                        if state.html_parts == message.html_body.len()
                            && state.text_parts != message.text_body.len()
                        {
                            for &part_id in &message.text_body[state.text_parts..] {
                                message.html_body.push(part_id);
                            }
                        }
                    }

                    if let Some(part) = message.parts.get_mut(state.part_id as usize) {
                        // Add headers and substructure to parent part
                        if state.sub_part_ids.len() != 1 || state.sub_part_ids[0] != 0 {
                            part.body =
                                PartType::Multipart(std::mem::take(&mut state.sub_part_ids));
                        }

                        // Restore ancestor's state
                        if let Some((prev_state, _)) = state_stack.pop() {
                            state = prev_state;

                            if let Some(ref mime_boundary) = state.mime_boundary {
                                // Ancestor has a MIME boundary, seek it.
                                if let Some(offset) = stream.seek_next_part_offset(mime_boundary) {
                                    part.offset_end = offset as u32;
                                    continue 'inner;
                                }
                            }
                        }

                        // This part has no boundary, update end offset
                        part.offset_end = stream.offset() as u32;
                    } else {
                        inconsistent("Invalid part ID, could not find multipart.");
                    }

                    break 'outer;
                } else {
                    // Headers of next part expected next, break inner look.
                    break 'inner;
                }
            }
        } else if stream.offset() >= raw_message.len() {
            break 'outer;
        }
    }

    // Corrupted MIME message, try to recover whatever is possible.
    while let Some((prev_state, prev_message)) = state_stack.pop() {
        if let Some(mut prev_message) = prev_message {
            message.raw_message = raw_message.into(); //raw_message[state.offset_header..stream.offset()].as_ref().into();

            if let Some(part) = prev_message.parts.get_mut(state.part_id as usize) {
                part.offset_end = stream.offset() as u32;
                if message.is_empty() {
                    part.is_encoding_problem = true;
                    let raw_text = raw_message.get(part.offset_body as usize..stream.offset());
                    let text = match raw_text
                        .and_then(|bytes| std::str::from_utf8(bytes).ok())
                        .and_then(|text| {
                            state
                                .mime_boundary
                                .as_deref()
                                .and_then(|b| std::str::from_utf8(b).ok())
                                .and_then(|boundary| {
                                    text.rsplit_once(boundary)
                                        .and_then(|(text, _)| text.strip_suffix("--"))
                                })
                                .map(|text| {
                                    let text = text.strip_suffix('\n').unwrap_or(text);
                                    text.strip_suffix('\r').unwrap_or(text)
                                })
                        }) {
                        Some(text) => Cow::Borrowed(text),
                        _ => String::from_utf8_lossy(raw_text.unwrap_or_default()),
                    };

                    part.body = PartType::Text(text);
                } else {
                    part.body = PartType::Message(message);
                }
            } else {
                inconsistent("Invalid part ID, could not find message.");
            }

            message = prev_message;
        } else if let Some(part) = message.parts.get_mut(state.part_id as usize) {
            part.offset_end = stream.offset() as u32;
            if state.sub_part_ids.len() != 1 || state.sub_part_ids[0] != 0 {
                part.body = PartType::Multipart(state.sub_part_ids);
            }
        } else {
            inconsistent("This should not have happened.");
        }
        state = prev_state;
    }

    message.raw_message = raw_message.into();

    if !message.is_empty() {
        message.parts[0].offset_end = message.raw_message.len() as u32;
        Some(message)
    } else if !part_headers.is_empty() {
        // Message without a body
        message.parts.push(MessagePart {
            headers: part_headers,
            encoding: Encoding::None,
            is_encoding_problem: true,
            body: PartType::Text("".into()),
            offset_header: 0,
            offset_body: message.raw_message.len() as u32,
            offset_end: message.raw_message.len() as u32,
        });
        Some(message)
    } else {
        None
    }
}
