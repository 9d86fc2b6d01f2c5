//! Writes the reference PVS's conforming messages and one message per fault to a directory,
//! e.g. to lint them: `cargo run -p kvc-mocks --example pvs_messages -- /tmp/pvs`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kvc_mocks::reference::kvc_pvs::{
    Application, MessageIds, PvsFault, SendRequest, compose_message,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: pvs_messages OUTPUT_DIR")?,
    );
    std::fs::create_dir_all(&dir)?;
    let from = "praxis@kv-connect.test";
    let requests = [
        (
            "arztbrief",
            SendRequest {
                to: vec!["arzt@kv-connect.test".into()],
                application: Application::Arztbrief,
                subject: None,
                body: "Sehr geehrte Kollegin,\nanbei der Arztbrief.\n".into(),
                attachment: Some(("arztbrief.pdf".into(), b"%PDF-1.4\n%test\n".to_vec())),
            },
        ),
        (
            "unspecified",
            SendRequest {
                to: vec!["praxis2@kv-connect.test".into()],
                application: Application::Unspecified,
                subject: Some("Rueckfrage".into()),
                body: "Bitte um Rueckruf.\n".into(),
                attachment: None,
            },
        ),
    ];
    for (name, req) in &requests {
        let ids = MessageIds::fresh(from, 1);
        let ok = compose_message(from, req, &BTreeSet::new(), &ids);
        std::fs::write(dir.join(format!("{name}-conforming.eml")), &ok)?;
        for fault in PvsFault::all() {
            let faults = BTreeSet::from([*fault]);
            let bad = compose_message(from, req, &faults, &ids);
            if bad != ok {
                std::fs::write(dir.join(format!("{name}-{fault}.eml")), &bad)?;
            }
        }
    }
    println!("written to {}", dir.display());
    Ok(())
}
