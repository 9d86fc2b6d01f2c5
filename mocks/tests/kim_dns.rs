//! Service discovery with dnspython (a resolver nobody here wrote) over UDP and TCP: PTR, SRV
//! and TXT of the KAS and the Account Manager as a Clientmodul looks them up; an unknown name is
//! NXDOMAIN; every query recorded.
//!
//! Needs `python3` with dnspython (CI installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kvc_mocks::kim::dns::{DnsConfig, DnsMock, DnsService};

const PY_RESOLVE: &str = r#"
import json, sys
import dns.message, dns.query, dns.rcode
port = int(sys.argv[1])
out = []
for transport in ("udp", "tcp"):
    for name, rtype in [("_kas._tcp.kim.telematik-test.", "PTR"),
                        ("kas._kas._tcp.kim.telematik-test.", "SRV"),
                        ("kas._kas._tcp.kim.telematik-test.", "TXT"),
                        ("_accmgr._tcp.kim.telematik-test.", "SRV"),
                        ("_nichts._tcp.kim.telematik-test.", "SRV")]:
        q = dns.message.make_query(name, rtype)
        send = dns.query.udp if transport == "udp" else dns.query.tcp
        r = send(q, "127.0.0.1", port=port, timeout=5)
        out.append({"transport": transport, "name": name, "type": rtype,
                    "rcode": dns.rcode.to_text(r.rcode()),
                    "answers": [rd.to_text() for rrset in r.answer for rd in rrset]})
json.dump(out, sys.stdout)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnspython_discovers_kas_and_account_manager() {
    let mock = DnsMock::start(DnsConfig {
        services: vec![
            DnsService {
                name: "kas".into(),
                host: "localhost".into(),
                port: 4443,
                path: "/attachments/v2.4".into(),
            },
            DnsService {
                name: "accmgr".into(),
                host: "localhost".into(),
                port: 4444,
                path: "/AccountMgmt/v2.4".into(),
            },
        ],
        ..DnsConfig::default()
    })
    .await
    .unwrap();
    let port = mock.addr().port().to_string();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .args(["-c", PY_RESOLVE, &port])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("in time")
    .expect("python3 is needed");
    assert!(
        out.status.success(),
        "dnspython (pip dnspython; .ci/run installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for transport in ["udp", "tcp"] {
        let find = |name: &str, t: &str| {
            got.as_array()
                .unwrap()
                .iter()
                .find(|r| r["transport"] == transport && r["name"] == name && r["type"] == t)
                .unwrap()
                .clone()
        };
        let ptr = find("_kas._tcp.kim.telematik-test.", "PTR");
        assert_eq!(
            ptr["answers"],
            serde_json::json!(["kas._kas._tcp.kim.telematik-test."])
        );
        let srv = find("kas._kas._tcp.kim.telematik-test.", "SRV");
        assert_eq!(srv["answers"], serde_json::json!(["0 0 4443 localhost."]));
        let txt = find("kas._kas._tcp.kim.telematik-test.", "TXT");
        assert_eq!(
            txt["answers"],
            serde_json::json!(["\"path=/attachments/v2.4\""])
        );
        let am = find("_accmgr._tcp.kim.telematik-test.", "SRV");
        assert_eq!(am["answers"], serde_json::json!(["0 0 4444 localhost."]));
        let none = find("_nichts._tcp.kim.telematik-test.", "SRV");
        assert_eq!(
            (
                none["rcode"].as_str(),
                none["answers"].as_array().unwrap().len()
            ),
            (Some("NXDOMAIN"), 0)
        );
    }
    let q = mock.queries();
    assert_eq!(q.len(), 10);
    assert_eq!(q.iter().filter(|q| q.transport == "tcp").count(), 5);
    assert_eq!(q.iter().filter(|q| q.rcode == "NXDomain").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_formerr_and_the_responder_stays_up() {
    let mock = DnsMock::start(DnsConfig::default()).await.unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&[0x12, 0x34, 0xff, 0xff, 0xff], mock.addr())
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(n >= 12);
    assert_eq!(&buf[..2], &[0x12, 0x34], "same id");
    assert_eq!(buf[3] & 0x0f, 1, "FORMERR");
    assert_eq!(mock.queries().last().unwrap().rcode, "FormErr");
}
