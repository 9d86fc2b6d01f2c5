//! The baseline of the lint figures in docs/PERFORMANCE.md: a bare `mail-parser` parse of every
//! file named on the command line, in one process (read each file, parse it, count the parts).
//!
//! `cargo build --release --example bare_parse`, then
//! `target/release/examples/bare_parse FILE...`.

use mail_parser::MessageParser;

fn main() {
    let parser = MessageParser::default();
    let mut parts = 0usize;
    let mut files = 0usize;
    for path in std::env::args_os().skip(1) {
        let Ok(raw) = std::fs::read(&path) else {
            eprintln!("cannot read {}", path.to_string_lossy());
            std::process::exit(2);
        };
        if let Some(msg) = parser.parse(&raw) {
            parts += msg.parts.len();
        }
        files += 1;
    }
    println!("{files} files, {parts} parts");
}
