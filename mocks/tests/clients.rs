//! The reusable clients of the engines (`mail::client`, `http::client`) against the mock
//! servers: they speak the protocol, refuse a certificate they must not trust, and record what
//! they said like the servers do, credentials masked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use hyper::{Method, header};
use kvc_mocks::http::client::{HttpsClient, HttpsTarget};
use kvc_mocks::kvc::client::default_config;
use kvc_mocks::kvc::rest::{KvcRestConfig, KvcRestMock};
use kvc_mocks::mail::client::MailClient;
use kvc_mocks::net::client::{ClientError, client_tls_config, server_name};
use kvc_mocks::{KvcClientConfig, ServerCertKind, SessionEnd};

use common::{PASSWORD, USER, pki, start};

#[tokio::test]
async fn mail_client_logs_in_and_masks_its_credentials_in_its_transcript() {
    let pki = pki();
    let mock = start(default_config(), &pki).await;
    let tls = client_tls_config(false, pki.ca_pem()).unwrap();
    let name = server_name("localhost").unwrap();
    let mut c = MailClient::connect("SMTP", mock.smtp_addr(), &name, tls)
        .await
        .unwrap();
    c.smtp_expect("greeting", 220).await.unwrap();
    c.smtp_cmd("EHLO client-test", 250).await.unwrap();
    let secret = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASSWORD}"));
    c.smtp_cmd_masked(&format!("AUTH PLAIN {secret}"), "AUTH PLAIN", 235)
        .await
        .unwrap();
    c.smtp_cmd("QUIT", 221).await.unwrap();

    let said: Vec<&str> = c
        .transcript()
        .iter()
        .filter(|l| l.from_client)
        .map(|l| l.line.as_str())
        .collect();
    assert_eq!(said, ["EHLO client-test", "AUTH PLAIN", "QUIT"]);
    assert!(
        c.transcript().iter().all(|l| !l.line.contains(&secret)),
        "the credentials reached the transcript"
    );
    assert!(c.transcript().iter().any(|l| l.line.starts_with("235")));
    // The server recorded the same session from its side.
    let obs = mock.wait_for_idle(common::STEP).await;
    assert_eq!(obs.smtp.len(), 1);
    assert!(obs.smtp[0].auth.iter().any(|a| a.success && a.user == USER));
    assert_eq!(obs.smtp[0].end, SessionEnd::Quit);
}

#[tokio::test]
async fn mail_client_refuses_an_untrusted_server_before_sending_anything() {
    let pki = pki();
    let config = KvcClientConfig {
        cert: ServerCertKind::UntrustedCa,
        ..default_config()
    };
    let mock = start(config, &pki).await;
    let tls = client_tls_config(false, pki.ca_pem()).unwrap();
    let name = server_name("localhost").unwrap();
    let err = MailClient::connect("POP3", mock.pop3_addr(), &name, tls)
        .await
        .err()
        .expect("the handshake must fail");
    assert!(
        matches!(err, ClientError::Tls { what: "POP3", .. }),
        "{err}"
    );
    // Positive control: the same client with the fault "accept any certificate" connects.
    let any = client_tls_config(true, pki.ca_pem()).unwrap();
    let mut c = MailClient::connect("POP3", mock.pop3_addr(), &name, any)
        .await
        .unwrap();
    c.pop3_expect("greeting").await.unwrap();
}

#[tokio::test]
async fn https_client_records_every_exchange_without_its_header_values() {
    let pki = pki();
    let mock = KvcRestMock::start(KvcRestConfig::default(), &pki)
        .await
        .unwrap();
    let tls = client_tls_config(false, pki.ca_pem()).unwrap();
    let client = HttpsClient::new(HttpsTarget {
        what: "REST",
        connect_to: mock.addr(),
        name: server_name("localhost").unwrap(),
        tls,
        headers: vec![
            (header::HOST, format!("localhost:{}", mock.addr().port())),
            (header::AUTHORIZATION, "Basic c2VjcmV0OnNlY3JldA==".into()),
        ],
        max_response_bytes: 1024 * 1024,
    });
    let ok = client
        .request(Method::GET, "/kvconnect/rest/server/version", None)
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let missing = client
        .request(Method::GET, "/kvconnect/rest/no-such-resource", None)
        .await
        .unwrap();
    assert_eq!(missing.status, 404);

    let seen = client.exchanges();
    let summary: Vec<(String, String, u16)> = seen
        .iter()
        .map(|e| (e.method.clone(), e.target.clone(), e.status))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "GET".to_string(),
                "/kvconnect/rest/server/version".to_string(),
                200
            ),
            ("GET".into(), "/kvconnect/rest/no-such-resource".into(), 404)
        ]
    );
    assert!(seen[0].bytes_in > 0, "the response body was not counted");
    assert!(!format!("{seen:?}{client:?}").contains("c2VjcmV0"));
    // The server saw the same two requests.
    assert_eq!(mock.observations().requests.len(), 2);
}
