//! Every mock server behind the one `MockServer` face: its services by name and protocol at
//! the address it bound, a change signal that fires when a client connects, and a stop after
//! which nothing answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use kvc_mocks::kvc::client::default_config;
use kvc_mocks::kvc::directory::{KvcDirectoryConfig, KvcDirectoryMock};
use kvc_mocks::kvc::rest::{KvcRestConfig, KvcRestMock};
use kvc_mocks::server::address_of;
use kvc_mocks::{MockServer, ServiceKind};

async fn changes_on_connect(server: &dyn MockServer, service: &str) {
    let mut rx = server.changed();
    rx.borrow_and_update();
    let addr = address_of(server, service).unwrap();
    // Connect and hang up: every server records the aborted handshake.
    drop(tokio::net::TcpStream::connect(addr).await.unwrap());
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .unwrap_or_else(|_| panic!("{service}: no change signalled after a connection"))
        .unwrap();
}

#[tokio::test]
async fn every_mock_names_its_services_signals_changes_and_stops() {
    let pki = common::pki();
    let mail = common::start(default_config(), &pki).await;
    let rest = KvcRestMock::start(KvcRestConfig::default(), &pki)
        .await
        .unwrap();
    let directory = KvcDirectoryMock::start(KvcDirectoryConfig::default(), &pki)
        .await
        .unwrap();
    let expected = [
        (
            vec![("smtp", ServiceKind::Smtp), ("pop3", ServiceKind::Pop3)],
            mail.smtp_addr(),
        ),
        (vec![("rest", ServiceKind::Https)], rest.addr()),
        (vec![("directory", ServiceKind::Ldaps)], directory.addr()),
    ];
    let servers: Vec<Box<dyn MockServer>> =
        vec![Box::new(mail), Box::new(rest), Box::new(directory)];
    for (server, (names, first_addr)) in servers.iter().zip(&expected) {
        let services = server.services();
        let got: Vec<_> = services.iter().map(|s| (s.name, s.kind)).collect();
        assert_eq!(&got, names);
        assert_eq!(services[0].addr, *first_addr);
        assert!(services.iter().all(|s| s.addr.ip().is_loopback()));
        changes_on_connect(server.as_ref(), names[0].0).await;
    }
    let addrs: Vec<_> = servers
        .iter()
        .flat_map(|s| s.services())
        .map(|s| s.addr)
        .collect();
    for server in servers {
        server.shutdown().await;
    }
    for addr in addrs {
        // After shutdown the port no longer accepts (or the connection is dropped at once).
        match tokio::net::TcpStream::connect(addr).await {
            Err(_) => {}
            Ok(mut tcp) => {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 1];
                let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
                    .await
                    .map(|r| r.unwrap_or(0))
                    .unwrap_or(0);
                assert_eq!(n, 0, "{addr} still answers after shutdown");
            }
        }
    }
}
