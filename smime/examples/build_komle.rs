//! Debug helper: `cargo run -p kvc-smime --example build_komle -- PKI_DIR OUT.eml` builds a KOM-LE
//! message from `sender` to `recipient` of a `kvc-check pki init` directory.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: build_komle PKI_DIR OUT.eml");
        std::process::exit(2);
    }
    let dir = std::path::Path::new(&args[1]);
    let load = |n: &str| -> kvc_smime::pki::CertifiedKey {
        let k = kvc_smime::keys::load_private_key(&dir.join(format!("{n}.key.pem")), None)
            .unwrap_or_else(|e| panic!("{e}"));
        let c = kvc_smime::keys::load_certificates(&dir.join(format!("{n}.pem")))
            .unwrap_or_else(|e| panic!("{e}"));
        kvc_smime::pki::CertifiedKey {
            certificate: c[0].clone(),
            key: k.key,
        }
    };
    let sig = load("sender.valid.sig");
    let senc = load("sender.valid.enc");
    let renc = load("recipient.valid.enc");
    let inner = b"From: sender@praxis.kim.telematik-test\r\nTo: recipient@klinik.kim.telematik-test\r\nSubject: x\r\n\r\nhi\r\n";
    let msg = kvc_smime::message::build_komle_message(&kvc_smime::message::KomLeMessage {
        inner,
        sender_signature: &sig,
        sender: (
            "sender@praxis.kim.telematik-test".into(),
            senc.certificate.clone(),
        ),
        recipients: vec![(
            "recipient@klinik.kim.telematik-test".into(),
            renc.certificate.clone(),
        )],
        version: "1.5".into(),
        faults: Default::default(),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&args[2], msg).unwrap_or_else(|e| panic!("{e}"));
}
