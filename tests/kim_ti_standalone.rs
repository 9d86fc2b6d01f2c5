//! `kvc-check mocks serve kim-ti`: the Konnektor and VZD standalone, configured only from what
//! kim-ti.json says: curl fetches connector.sds with the written client certificate (and is
//! refused without it), ldapsearch finds each mailbox's entry with its TelematikID; the client
//! certificate's password is in its file, never on the console.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn kim_ti_json_is_enough_to_reach_konnektor_and_vzd() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("world");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .args(["mocks", "serve", "kim-ti", "--out", out.to_str().unwrap()])
        .args(["--konnektor-port", "0", "--vzd-port", "0", "--client-auth"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kvc-check mocks serve kim-ti starts");
    let mut console = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        console.push_str(&line);
        console.push('\n');
        if line.starts_with("written: ") {
            break;
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("kim-ti.json")).expect("kim-ti.json"))
            .unwrap();
    let path = |v: &serde_json::Value| out.join(v.as_str().unwrap()).display().to_string();
    let k = &json["konnektor"];
    let ca = path(&k["ca_pem"]);
    let password = std::fs::read_to_string(path(&k["client_p12_password_file"])).unwrap();
    let password = password.trim();
    let sds_url = k["sds_url"].as_str().unwrap();
    let curl = |extra: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--fail", "--cacert", &ca])
            .args(extra)
            .arg(sds_url)
            .output()
            .expect("curl is needed (CI installs it)")
    };
    let p12 = format!("{}:{password}", path(&k["client_p12"]));
    let with_cert = curl(&["--cert-type", "P12", "--cert", &p12]);
    let without = curl(&[]);
    let vzd = &json["vzd"];
    let identities = json["identities"].as_array().unwrap().clone();
    let searches: Vec<_> = identities
        .iter()
        .map(|id| {
            Command::new("ldapsearch")
                .env("LDAPTLS_CACERT", path(&vzd["ca_pem"]))
                .args(["-x", "-LLL", "-H", vzd["ldap_url"].as_str().unwrap()])
                .args(["-b", vzd["base_dn"].as_str().unwrap()])
                .arg(format!("(mail={})", id["mail"].as_str().unwrap()))
                .arg("telematikID")
                .output()
                .expect("ldapsearch is needed (CI installs ldap-utils)")
        })
        .collect();
    child.kill().unwrap();
    let _ = child.wait();

    assert!(
        with_cert.status.success(),
        "{}",
        String::from_utf8_lossy(&with_cert.stderr)
    );
    let sds = String::from_utf8_lossy(&with_cert.stdout);
    assert!(sds.contains("<SDS:ClientAutMandatory>true</SDS:ClientAutMandatory>"));
    assert!(!without.status.success(), "no client certificate: refused");
    assert_eq!(k["context"]["MandantId"], "Mandant1");
    assert_eq!(identities.len(), 2);
    for (id, found) in identities.iter().zip(&searches) {
        let text = String::from_utf8_lossy(&found.stdout);
        let tid = id["telematik_id"].as_str().unwrap();
        assert!(text.contains(&format!("telematikID: {tid}")), "{text}");
        for file in ["enc_certificate", "enc_key", "sig_certificate", "aut_certificate"] {
            assert!(std::path::Path::new(&path(&id[file])).is_file(), "{file}");
        }
    }
    assert!(!console.contains(password), "the p12 password is printed");
}
