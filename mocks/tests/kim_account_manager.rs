//! The mock Account Manager: bearer tokens made by PyJWT (and Python `cryptography` for the
//! brainpool key) from a card's C.AUT key; curl as the HTTP client. Every refused token beside
//! an accepted one in the same test.
//!
//! Needs `python3` with PyJWT and cryptography, and `curl` (CI installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use kvc_mocks::TlsPki;
use kvc_mocks::kim::account_manager::{AccountManagerMock, AmAccount, AmConfig, AmFaults};
use kvc_smime::card_pki::{Card, CardKeyRole, CardKind, CardPki, CardVariant, Holder};

const USER: &str = "praxis.rosenstrauch@kim.telematik-test";
const PASSWORD: &str = "Konto-Geheim-123";
const TID: &str = "1-2-KVCCHECK-Rosenstrauch01";

struct Cards {
    pki: CardPki,
    own: Card,
    other: Card,
    untrusted: Card,
}

fn cards() -> &'static Cards {
    static C: OnceLock<Cards> = OnceLock::new();
    C.get_or_init(|| {
        let pki = CardPki::generate().unwrap();
        let own = Holder::practice("80276001011699901102", TID, "Bernd", "Rosenstrauch");
        let other = Holder::practice(
            "80276001011699901999",
            "1-2-KVCCHECK-Musterfrau01",
            "Erika",
            "Musterfrau",
        );
        Cards {
            own: pki.card(CardKind::SmcB, &own, CardVariant::Valid).unwrap(),
            other: pki
                .card(CardKind::SmcB, &other, CardVariant::Valid)
                .unwrap(),
            untrusted: pki
                .card(CardKind::SmcB, &own, CardVariant::UntrustedIssuer)
                .unwrap(),
            pki,
        }
    })
}

struct World {
    mock: AccountManagerMock,
    dir: tempfile::TempDir,
    ca: String,
}

async fn world() -> World {
    let tls = TlsPki::generate("localhost").unwrap();
    let mock = AccountManagerMock::start(
        AmConfig {
            accounts: vec![AmAccount::new(USER, PASSWORD, TID)],
            trust: cards().pki.trust_anchors(),
            ..AmConfig::default()
        },
        &tls,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    tls.write_ca(&ca).unwrap();
    World {
        mock,
        ca: ca.display().to_string(),
        dir,
    }
}

async fn run(program: &str, args: &[&str]) -> std::process::Output {
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(program)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("in time")
    .unwrap_or_else(|e| panic!("`{program}` is needed (CI installs it): {e}"))
}

/// Which key signs and which certificate goes into x5c.
#[derive(Clone, Copy)]
enum Signer {
    OwnRsa,
    OwnBrainpool,
    /// The other card's key, the own certificate in x5c.
    ForeignKey,
    /// A card of the same holder from a CA outside the trust space.
    Untrusted,
    /// The other card, key and certificate (another TelematikID).
    OtherCard,
}

impl World {
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    async fn token(&self, signer: Signer, alg: &str, iat: i64, exp: i64, tamper: bool) -> String {
        let c = cards();
        let aut = |card: &Card| card.key(CardKeyRole::Aut).unwrap().clone();
        let (key_card, cert_card) = match signer {
            Signer::OwnRsa | Signer::OwnBrainpool => (&c.own, &c.own),
            Signer::ForeignKey => (&c.other, &c.own),
            Signer::Untrusted => (&c.untrusted, &c.untrusted),
            Signer::OtherCard => (&c.other, &c.other),
        };
        let (k, crt) = (aut(key_card), aut(cert_card));
        let (key_pem, cert_pem) = if matches!(signer, Signer::OwnBrainpool) {
            (k.ecc.key_pem().unwrap(), crt.ecc.certificate_pem().unwrap())
        } else {
            (k.rsa.key_pem().unwrap(), crt.rsa.certificate_pem().unwrap())
        };
        let key = self.write("key.pem", &key_pem);
        let cert = self.write("cert.pem", &cert_pem);
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/pyjwt_card_token.py");
        let out = run(
            "python3",
            &[
                script.to_str().unwrap(),
                key.to_str().unwrap(),
                cert.to_str().unwrap(),
                alg,
                &iat.to_string(),
                &exp.to_string(),
                if tamper { "1" } else { "0" },
            ],
        )
        .await;
        assert!(
            out.status.success(),
            "PyJWT: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        password: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        let url = format!("{}/account/{USER}{path}", self.mock.base_url());
        let pw = base64::engine::general_purpose::STANDARD.encode(password);
        let auth = format!("Authorization: Bearer {token}");
        let pwh = format!("password: {pw}");
        let mut args = vec![
            "-sS",
            "--cacert",
            &self.ca,
            "-X",
            method,
            "-H",
            &auth,
            "-H",
            &pwh,
            "-w",
            "\n%{http_code}",
        ];
        if let Some(b) = body {
            args.extend(["-H", "Content-Type: application/json", "--data", b]);
        }
        args.push(&url);
        let out = run("curl", &args).await;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_tokens_are_checked_as_the_account_manager_must() {
    let w = world().await;
    let good = w.token(Signer::OwnRsa, "PS256", 0, 300, false).await;
    let (s, body) = w.call("GET", "", &good, PASSWORD, None).await;
    assert_eq!(s, 200, "control: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["username"].as_str(), v["regStat"].as_str()),
        (Some(USER), Some("registered"))
    );
    assert!(v.get("password").is_none(), "password is writeOnly");
    let bp = w
        .token(Signer::OwnBrainpool, "BP256R1", 0, 300, false)
        .await;
    assert_eq!(
        w.call("GET", "", &bp, PASSWORD, None).await.0,
        200,
        "brainpool C.AUT"
    );

    let refused = [
        (
            "iat 10 minutes ahead",
            w.token(Signer::OwnRsa, "PS256", 600, 900, false).await,
            "not valid yet",
        ),
        (
            "expired",
            w.token(Signer::OwnRsa, "PS256", -900, -600, false).await,
            "expired",
        ),
        (
            "lifetime over 6 h",
            w.token(Signer::OwnRsa, "PS256", 0, 21_601 + 60, false)
                .await,
            "lifetime",
        ),
        (
            "bad signature",
            w.token(Signer::OwnRsa, "PS256", 0, 300, true).await,
            "signature",
        ),
        (
            "another key",
            w.token(Signer::ForeignKey, "PS256", 0, 300, false).await,
            "signature",
        ),
        (
            "untrusted card CA",
            w.token(Signer::Untrusted, "PS256", 0, 300, false).await,
            "not trusted",
        ),
        (
            "another card",
            w.token(Signer::OtherCard, "PS256", 0, 300, false).await,
            "TelematikID",
        ),
    ];
    for (what, token, reason) in refused.iter() {
        let (s, body) = w.call("GET", "", token, PASSWORD, None).await;
        assert_eq!(s, 401, "{what}: {body}");
        let why = w
            .mock
            .calls()
            .last()
            .unwrap()
            .resource
            .reason
            .clone()
            .unwrap_or_default();
        assert!(why.contains(reason), "{what}: recorded `{why}`");
    }
    let (s, _) = w.call("GET", "", &good, "falsch-falsch-falsch", None).await;
    assert_eq!(s, 401, "wrong password");
    let (s, _) = w.call("GET", "", "", PASSWORD, None).await;
    assert_eq!(s, 401, "no token");
    assert!(
        !format!("{:?}", w.mock.calls()).contains(PASSWORD),
        "no password in records"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistration_can_be_revoked_until_the_deregistration_date() {
    let w = world().await;
    let t = w.token(Signer::OwnRsa, "PS256", 0, 600, false).await;
    assert_eq!(w.call("DELETE", "", &t, PASSWORD, None).await.0, 204);
    let (_, body) = w.call("GET", "", &t, PASSWORD, None).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["regStat"], "deregistered");
    assert!(v["deregDate"].as_i64().unwrap() > 0);
    assert_eq!(
        w.call("PUT", "/revokeDeregistration", &t, PASSWORD, None)
            .await
            .0,
        204,
        "within the grace period"
    );
    assert_eq!(w.call("DELETE", "", &t, PASSWORD, None).await.0, 204);
    assert!(w.mock.set_dereg_date(USER, Some(1)));
    let (s, body) = w
        .call("PUT", "/revokeDeregistration", &t, PASSWORD, None)
        .await;
    assert_eq!(s, 403, "after deregDate (A_23175): {body}");
    // setAccount: dataTimeToLive range; OTP; out of office.
    w.mock.set_dereg_date(USER, None);
    assert_eq!(
        w.call("PUT", "", &t, PASSWORD, Some(r#"{"dataTimeToLive": 30}"#))
            .await
            .0,
        204
    );
    assert_eq!(
        w.call("PUT", "", &t, PASSWORD, Some(r#"{"dataTimeToLive": 5}"#))
            .await
            .0,
        400
    );
    let (s, otp) = w.call("GET", "/OTP", &t, PASSWORD, None).await;
    assert_eq!(s, 200);
    assert!(
        serde_json::from_str::<serde_json::Value>(&otp).unwrap()["otp"]
            .as_str()
            .is_some()
    );
    let ooo = r#"{"active": true, "message": "Praxis geschlossen", "startDate": "2026-12-24T00:00:00Z", "endDate": "2027-01-02T00:00:00Z"}"#;
    assert_eq!(
        w.call("PUT", "/outofoffice", &t, PASSWORD, Some(ooo))
            .await
            .0,
        204
    );
    let (_, got) = w.call("GET", "/outofoffice", &t, PASSWORD, None).await;
    assert!(got.contains("Praxis geschlossen"), "{got}");
    // Scripted faults.
    for status in [423u16, 502, 404] {
        w.mock.set_faults(AmFaults {
            status: Some(status),
            ..Default::default()
        });
        assert_eq!(w.call("GET", "", &t, PASSWORD, None).await.0, status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_limit_and_service_information() {
    let w = world().await;
    let base = format!("https://localhost:{}", w.mock.addr().port());
    let out = run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            &w.ca,
            &format!("{base}/ServiceInformation/v1.0/serviceinfo"),
        ],
    )
    .await;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["jwtExpiration"], 21_600);
    let out = run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            &w.ca,
            "-u",
            &format!("{USER}:{PASSWORD}"),
            &format!("{base}/AccountLimit/v1.1/limit"),
        ],
    )
    .await;
    let limit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (limit["dataTimeToLive"].as_u64(), limit["quota"].as_i64()),
        (Some(90), Some(-1))
    );
    let out = run(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            &w.ca,
            "-u",
            &format!("{USER}:nein"),
            &format!("{base}/AccountLimit/v1.1/limit"),
        ],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
}

/// Schemathesis with gematik's AccountManager.yaml: the served operations answer only what the
/// yaml documents, in status, content type, headers and body schema. A valid card token is in
/// every request (the password header is generated, so most requests are refused with the
/// documented 401). registerAccount, setTID and createCert are not served and left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_answer_outside_the_yaml() {
    let w = world().await;
    let token = w.token(Signer::OwnRsa, "PS256", 0, 3600, false).await;
    let spec = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors/third-party/api-kim/openapi/AccountManager.yaml");
    let hooks_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let checks = "not_a_server_error,status_code_conformance,content_type_conformance,\
                  response_headers_conformance,response_schema_conformance";
    for mode in ["positive", "negative"] {
        let bearer = format!("Authorization: Bearer {token}");
        let base = w.mock.base_url();
        let args = [
            "-m",
            "schemathesis.cli",
            "run",
            spec.to_str().unwrap(),
            "--url",
            &base,
            "--tls-verify",
            &w.ca,
            "-H",
            &bearer,
            "--mode",
            mode,
            "--checks",
            checks,
            "--exclude-operation-id",
            "registerAccount",
            "--exclude-operation-id",
            "setTID",
            "--exclude-operation-id",
            "createCert",
            "--max-examples",
            "20",
            "--no-color",
        ];
        let out = tokio::process::Command::new("python3")
            .args(args)
            .env("PYTHONPATH", &hooks_dir)
            .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
            .kill_on_drop(true)
            .output()
            .await
            .expect("python3");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "schemathesis ({mode}) found violations:\n{text}"
        );
    }
    assert!(w.mock.calls().len() > 20, "schemathesis sent requests");
}
