//! Debug helper: `cargo run -p kvc-smime --example open -- MSG KEY [TRUST...]` prints the outcome.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: open MSG KEY [PASSWORD] [TRUST...]");
        std::process::exit(2);
    }
    let key = match kvc_smime::keys::load_private_key(
        std::path::Path::new(&args[2]),
        std::env::var("P12_PASSWORD").ok().as_deref(),
    ) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut trust = Vec::new();
    for t in &args[3..] {
        match kvc_smime::keys::load_certificates(std::path::Path::new(t)) {
            Ok(c) => trust.extend(c),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
    }
    let at = std::env::var("AT")
        .ok()
        .and_then(|s| kvc_smime::parse_time(&s).ok());
    let raw = std::fs::read(&args[1]).unwrap_or_default();
    match kvc_smime::message::open_message_named(&raw, &key, &trust, at, &args[1]) {
        Ok(mut o) => {
            o.inner_message = o.inner_message.map(|m| m.into_iter().take(1500).collect());
            o.decrypted_content = None;
            let inner = o
                .inner_message
                .take()
                .map(|m| String::from_utf8_lossy(&m).into_owned());
            println!(
                "{o:#?}\n--- inner (first 300 bytes):\n{}",
                inner.unwrap_or_default()
            );
        }
        Err(e) => println!("error: {e}"),
    }
}
