//! `kvc-check mocks serve kim-ti`: the Konnektor and VZD standalone, configured only from what
//! kim-ti.json says: curl fetches connector.sds with the written client certificate (and is
//! refused without it), ldapsearch finds each mailbox's entry with its TelematikID; the client
//! certificate's password is in its file, never on the console.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;

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
        for file in [
            "enc_certificate",
            "enc_key",
            "sig_certificate",
            "aut_certificate",
        ] {
            assert!(std::path::Path::new(&path(&id[file])).is_file(), "{file}");
        }
    }
    assert!(!console.contains(password), "the p12 password is printed");
}

/// `kvc-check mocks serve kim`: both files; from them alone, smtplib sends through the MTA as
/// the first account, poplib fetches the served message as the second, `openssl cms` decrypts
/// it with the second identity's C.ENC key from kim-ti.json, dnspython finds the KAS at the
/// port kim-fd.json names. No password on the console.
#[test]
fn kim_json_files_are_enough_to_use_the_whole_world() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("world");
    let mut args = vec!["mocks", "serve", "kim", "--out", out.to_str().unwrap()];
    for p in [
        "--konnektor-port",
        "--vzd-port",
        "--smtps-port",
        "--pop3s-port",
        "--kas-port",
        "--am-port",
        "--dns-port",
    ] {
        args.extend([p, "0"]);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvc-check"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kvc-check mocks serve kim starts");
    let mut console = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        console.push_str(&line);
        console.push('\n');
        if line.starts_with("written: ") {
            break;
        }
    }
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(name)).expect(name)).unwrap()
    };
    let (ti, fd) = (read("kim-ti.json"), read("kim-fd.json"));
    let path = |v: &serde_json::Value| out.join(v.as_str().unwrap()).display().to_string();
    let ca = path(&fd["ca_pem"]);
    let port = |v: &serde_json::Value| v.as_str().unwrap().rsplit(':').next().unwrap().to_string();
    let (a, b) = (&fd["accounts"][0], &fd["accounts"][1]);
    let py = |script: &str, args: &[String]| {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .expect("python3")
    };
    let sent = py(
        "import smtplib,ssl,sys\nca,port,user,pw,to=sys.argv[1:6]\ns=smtplib.SMTP_SSL('localhost',int(port),context=ssl.create_default_context(cafile=ca),timeout=20)\ns.login(user,pw)\ns.sendmail(user,[to],('From: '+user+'\\r\\nTo: '+to+'\\r\\nSubject: x\\r\\n\\r\\nHallo\\r\\n').encode())\ns.quit()",
        &[
            ca.clone(),
            port(&fd["mta"]["smtps"]),
            a["address"].as_str().unwrap().into(),
            a["password"].as_str().unwrap().into(),
            b["address"].as_str().unwrap().into(),
        ],
    );
    let fetched_path = dir.path().join("fetched.eml");
    let fetched = py(
        "import poplib,ssl,sys\nca,port,user,pw,out=sys.argv[1:6]\np=poplib.POP3_SSL('localhost',int(port),context=ssl.create_default_context(cafile=ca),timeout=20)\np.user(user);p.pass_(pw)\nr,lines,o=p.retr(1)\nopen(out,'wb').write(b'\\r\\n'.join(lines)+b'\\r\\n')\np.quit()",
        &[
            ca.clone(),
            port(&fd["pop3"]["pop3s"]),
            b["address"].as_str().unwrap().into(),
            b["password"].as_str().unwrap().into(),
            fetched_path.display().to_string(),
        ],
    );
    let dns_port = fd["dns"]["addr"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let srv = py(
        "import sys,dns.message,dns.query\nq=dns.message.make_query('_kas._tcp.kim.telematik-test.','SRV')\nr=dns.query.udp(q,'127.0.0.1',port=int(sys.argv[1]),timeout=5)\nprint(r.answer[0][0].port)",
        &[dns_port],
    );
    child.kill().unwrap();
    let _ = child.wait();

    assert!(
        sent.status.success(),
        "smtplib: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(
        fetched.status.success(),
        "poplib: {}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let second = ti["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["mail"] == b["address"])
        .unwrap();
    let plain = dir.path().join("plain.eml");
    let decrypt = |input: &Path| {
        Command::new("openssl")
            .args([
                "cms",
                "-decrypt",
                "-in",
                input.to_str().unwrap(),
                "-inkey",
                &path(&second["enc_key"]),
                "-out",
                plain.to_str().unwrap(),
            ])
            .output()
            .expect("openssl")
    };
    let mut dec = decrypt(&fetched_path);
    if String::from_utf8_lossy(&dec.stderr).contains("unauthAttrs") {
        // OpenSSL before the RFC 5083 tag fix (openssl/openssl#26101, e.g. 3.0.19) cannot
        // read unauthAttrs [2]; the same message without them (outside the MAC) must decrypt.
        let raw = std::fs::read(&fetched_path).unwrap();
        let blob = kvc_smime::message::cms_from_message(&raw, "fetched").unwrap();
        let der = kvc_smime::cms::without_unauth_attrs(&blob, "fetched").unwrap();
        let head = &raw[..raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4];
        let mut copy = head.to_vec();
        for line in base64::engine::general_purpose::STANDARD
            .encode(der)
            .as_bytes()
            .chunks(76)
        {
            copy.extend_from_slice(line);
            copy.extend_from_slice(b"\r\n");
        }
        let stripped = dir.path().join("fetched-without-unauth-attrs.eml");
        std::fs::write(&stripped, copy).unwrap();
        dec = decrypt(&stripped);
    }
    assert!(
        dec.status.success(),
        "openssl cms -decrypt: {}",
        String::from_utf8_lossy(&dec.stderr)
    );
    assert!(
        srv.status.success(),
        "dnspython: {}",
        String::from_utf8_lossy(&srv.stderr)
    );
    let kas_port = fd["kas"]["base_url"]
        .as_str()
        .unwrap()
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        String::from_utf8_lossy(&srv.stdout).trim(),
        kas_port,
        "DNS-SD names the KAS port"
    );
    for acc in fd["accounts"].as_array().unwrap() {
        assert!(
            !console.contains(acc["password"].as_str().unwrap()),
            "a password on the console"
        );
    }
}
