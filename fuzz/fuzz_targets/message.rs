//! Any bytes through the message model (src/message.rs): the byte-exact header scan, every
//! accessor the rules use, RFC 2047 decoding and mail-parser's MIME tree.
#![no_main]

use kvc_check::message::{Message, decode_unstructured, line_of_offset, unfold};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let msg = Message::new(data);
    let fields = msg.fields();
    for field in fields {
        // The scan's ranges must stay inside the input and after the field's own line.
        assert!(field.value.start <= field.value.end && field.value.end <= data.len());
        assert!(field.line >= 1 && field.lines >= 1);
        let raw = msg.raw_value(field);
        let _ = msg.unfolded_value(field);
        let _ = msg.decoded_value(field);
        let _ = msg.has_encoded_word(field);
        let _ = unfold(raw);
        assert_eq!(msg.fields_named(&field.name).next().is_some(), true);
        assert!(msg.line_of_offset(field.value.start) >= field.line);
    }
    for defect in msg.header_defects() {
        assert!(defect.line >= 1);
    }
    assert!(msg.body_start() <= data.len());
    assert_eq!(msg.body().len(), data.len() - msg.body_start());
    let _ = msg.header_terminated();
    let _ = line_of_offset(data, data.len());
    let _ = decode_unstructured(data);
    if let Some(parsed) = msg.parsed() {
        let _ = parsed.subject();
        let _ = parsed.body_text(0);
        for part in parsed.parts.iter() {
            let _ = part.contents();
        }
    }
});
