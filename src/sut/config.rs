//! `--sut CONFIG.yaml`: which adapter triggers the vendor's system and where it connects.
//!
//! ```yaml
//! name: "MyPVS 4.2"
//! transport: smtp-pop3
//! connect:                    # optional; without it every case gets ephemeral ports
//!   host: localhost
//!   smtp_port: 4650           # the ports the SUT is configured with (cases then run one at a time)
//!   pop3_port: 9950
//!   ca_file: /tmp/kvc-check-ca.pem
//!   rest_port: 8443          # transport rest: KV-Connect REST server and directory ports
//!   ldap_port: 6360
//! account: {user: praxis@kv-safenet.de, password: "test-pin-1234"}
//! trigger:
//!   command:
//!     send: "mypvs send --to {to} --app {app} --file {file}"
//!     fetch: "mypvs fetch"
//!     stored: "mypvs list-store --json"   # optional: the local store as JSON (KVC-Anb022)
//! ```
//!
//! A KIM Fachdienst (role kim-fd) is probed by the suite and needs no trigger; its config names
//! its endpoints and test accounts instead (`fachdienst:`, see [`FachdienstConfig`] and
//! `suites/README.md`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SutConfig {
    pub name: String,
    #[serde(default = "default_transport")]
    pub transport: super::Transport,
    #[serde(default)]
    pub connect: Connect,
    #[serde(default)]
    pub account: Option<Account>,
    /// How the SUT is made to act (a practice system); a Fachdienst has none.
    #[serde(default)]
    pub trigger: Option<Trigger>,
    /// Role kim-fd: where the provider's services are and the test accounts.
    #[serde(default)]
    pub fachdienst: Option<FachdienstConfig>,
    /// Role kim-cm: where the vendor's Clientmodul listens and how it is pointed at our world.
    #[serde(default)]
    pub clientmodul: Option<ClientmodulConfig>,
    /// The folder of the config file (relative paths in it are relative to it); set by `load`.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// The largest KAS maximum the kim-fd size probe uploads (it holds the upload in memory once).
pub const MAX_KAS_MAX_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// A KIM provider's Fachdienst under test (role kim-fd). Paths are relative to the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FachdienstConfig {
    /// The name the services' TLS certificates carry (and the KAS FQDN in its links).
    pub host: String,
    /// The CA that issued the services' TLS certificates (PEM).
    pub ca_file: PathBuf,
    /// `host:port` of each service (omit one to leave its cases without an answer: error, or
    /// to have it found by `discovery`).
    #[serde(default)]
    pub kas: Option<String>,
    /// The KAS API version: `2.2`, `2.3` or `2.4` (paths and operations differ).
    #[serde(default)]
    pub kas_api: Option<kvc_mocks::kim::kas::KasApi>,
    #[serde(default)]
    pub account_manager: Option<String>,
    #[serde(default)]
    pub mta: Option<String>,
    /// Find KAS and Account Manager as a Clientmodul does: SRV and TXT of `_kas._tcp.<domain>`
    /// and `_accmgr._tcp.<domain>` at this DNS server (for the services not given above).
    #[serde(default)]
    pub discovery: Option<DiscoveryConfig>,
    /// The largest attachment the KAS takes (A_19378), in bytes.
    pub kas_max_bytes: u64,
    /// Seconds after `expires` by which the provider has deleted the data (A_19385).
    #[serde(default)]
    pub deletion_delay_s: u64,
    pub sender: FdAccountConfig,
    pub recipient: FdAccountConfig,
    /// An account whose deregDate has passed (A_23175); without it that case errors.
    #[serde(default)]
    pub deregistered: Option<FdAccountConfig>,
    /// An address that is no recipient (default: one in the sender's domain).
    #[serde(default)]
    pub outsider: Option<String>,
    /// The Clientmodul's TLS client certificate (PEM chain) and key (PEM), presented when a
    /// service asks for one (e.g. a certificate from the Account Manager's createCert).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

/// A vendor's KIM Clientmodul under test (role kim-cm). The suite is its client system; the
/// Clientmodul is pointed once at the run's Konnektor and VZD (fixed ports, `kim-ti.json` in
/// the report folder) and finds each case's Fachdienst through the user name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientmodulConfig {
    /// The name its server certificate carries (default `localhost`).
    #[serde(default = "localhost")]
    pub host: String,
    /// `host:port` of its SMTP server for client systems (implicit TLS).
    pub smtp: String,
    /// `host:port` of its POP3 server for client systems (implicit TLS).
    pub pop3: String,
    /// The CA of its server certificate (PEM), relative to the config.
    pub ca_file: PathBuf,
    /// The ports of our Konnektor and VZD it is configured with.
    pub konnektor_port: u16,
    pub vzd_port: u16,
    /// Fixed ports of each case's Fachdienst MTA and mailbox (default: new ones per case; the
    /// user names carry them). A Clientmodul that sends DSNs through a configured MTA needs
    /// `mta_port`.
    #[serde(default)]
    pub mta_port: Option<u16>,
    #[serde(default)]
    pub mailbox_port: Option<u16>,
    /// Fixed ports of each case's DNS-SD server (UDP and TCP) and KAS (default: new ones per
    /// case). With `dns_port` kim-ti.json names `fachdienst.dns` and `fachdienst.domain`, so
    /// that a Clientmodul finds the KAS for mails above 15 MiB (A_19361).
    #[serde(default)]
    pub dns_port: Option<u16>,
    #[serde(default)]
    pub kas_port: Option<u16>,
    /// Run once before the first case (through `sh -c`), to point the Clientmodul at the run's
    /// world and restart it: `{kim_ti}` is the path of `kim-ti.json`, `{ca}` of the TLS CA.
    /// Without it the instructions are printed and the Clientmodul must already be pointed at
    /// the ports (e.g. by a script reading kim-ti.json before `kvc-check run`).
    #[serde(default)]
    pub configure: Option<String>,
    /// Seconds to wait for the Clientmodul's SMTP port after `configure` (default 30).
    #[serde(default)]
    pub ready_timeout_s: Option<f64>,
}

fn localhost() -> String {
    "localhost".into()
}

/// Service discovery of a Fachdienst.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// `host:port` of the DNS server (e.g. `127.0.0.1:5353`).
    pub dns: String,
    /// e.g. `kim.telematik-test`.
    pub domain: String,
}

/// A test account of the provider, with its card's C.AUT key where tokens are needed.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FdAccountConfig {
    pub address: String,
    pub password: String,
    /// The C.AUT RSA key (PEM with its certificate, or PKCS#12 with `aut_password`).
    #[serde(default)]
    pub aut_key: Option<PathBuf>,
    #[serde(default)]
    pub aut_password: Option<String>,
    /// The C.AUT certificate, if `aut_key` does not carry it.
    #[serde(default)]
    pub aut_cert: Option<PathBuf>,
}

impl std::fmt::Debug for FdAccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the passwords.
        f.debug_struct("FdAccountConfig")
            .field("address", &self.address)
            .field("aut_key", &self.aut_key)
            .finish_non_exhaustive()
    }
}

fn default_transport() -> super::Transport {
    super::Transport::SmtpPop3
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub pop3_port: Option<u16>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// REST transport: the HTTPS port of the KV-Connect server and the LDAPS port of the
    /// directory the SUT is configured with.
    #[serde(default)]
    pub rest_port: Option<u16>,
    #[serde(default)]
    pub ldap_port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub user: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    Command(CommandTrigger),
    Http(HttpTrigger),
    Manual,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandTrigger {
    pub send: String,
    pub fetch: String,
    /// Optional: prints the SUT's local store as a JSON array of `{"message_id", "valid",
    /// "warning"}` (decides KVC-Anb022 over REST; without it that case is attested).
    #[serde(default)]
    pub stored: Option<String>,
    /// Working directory (relative to the config file); default: the config file's directory.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    /// `http://host:port/path` receiving a POST with the request as JSON.
    pub send: String,
    pub fetch: String,
}

/// The folder commands run in by default: the config file's, absolute (a bare `mypvs.yaml` has
/// the parent "", in which no command can start).
pub fn config_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

impl SutConfig {
    pub fn load(path: &Path) -> Result<(SutConfig, PathBuf), String> {
        let shown = path.display().to_string();
        let text = crate::input::read_config(path).map_err(|e| format!("--sut {e}"))?;
        let mut config = Self::parse(&shown, &text)?;
        config.dir = config_dir(path);
        Ok((config, config_dir(path)))
    }

    pub fn parse(shown: &str, text: &str) -> Result<SutConfig, String> {
        let config: SutConfig = serde_saphyr::from_str(text).map_err(|e| {
            let line = e
                .location()
                .map(|l| format!(":{}", l.line()))
                .unwrap_or_default();
            format!("--sut {shown}{line}: {e}")
        })?;
        if config.connect.smtp_port.is_some() != config.connect.pop3_port.is_some() {
            return Err(format!(
                "--sut {shown}: connect: give both smtp_port and pop3_port, or neither"
            ));
        }
        let given: Vec<&str> = [
            ("trigger", config.trigger.is_some()),
            ("fachdienst", config.fachdienst.is_some()),
            ("clientmodul", config.clientmodul.is_some()),
        ]
        .iter()
        .filter(|(_, g)| *g)
        .map(|(n, _)| *n)
        .collect();
        match given.len() {
            1 => {}
            0 => {
                return Err(format!(
                    "--sut {shown}: `trigger` (how the practice system is made to act), `fachdienst` (a KIM Fachdienst's endpoints) or `clientmodul` (where a KIM Clientmodul listens) is required"
                ));
            }
            _ => {
                return Err(format!(
                    "--sut {shown}: give one of `trigger` (a practice system), `fachdienst` (a KIM Fachdienst) or `clientmodul` (a KIM Clientmodul), not both {}",
                    given.join(" and ")
                ));
            }
        }
        if let Some(fd) = &config.fachdienst
            && fd.kas_max_bytes > MAX_KAS_MAX_BYTES
        {
            return Err(format!(
                "--sut {shown}: fachdienst.kas_max_bytes {}: the size probe holds one upload of that size in memory; at most {MAX_KAS_MAX_BYTES} bytes (4 GiB) are supported",
                fd.kas_max_bytes
            ));
        }
        match config.trigger.as_ref().unwrap_or(&Trigger::Manual) {
            Trigger::Command(c) => {
                super::command::validate_template(&c.send)
                    .map_err(|e| format!("--sut {shown}: trigger.command.send: {e}"))?;
                super::command::validate_template(&c.fetch)
                    .map_err(|e| format!("--sut {shown}: trigger.command.fetch: {e}"))?;
                if let Some(t) = &c.stored {
                    super::command::validate_template(t)
                        .map_err(|e| format!("--sut {shown}: trigger.command.stored: {e}"))?;
                }
            }
            Trigger::Http(h) => {
                for url in [&h.send, &h.fetch] {
                    super::http::parse_url(url)
                        .map_err(|e| format!("--sut {shown}: trigger.http: {e}"))?;
                }
            }
            Trigger::Manual => {}
        }
        Ok(config)
    }

    /// Ports by service name the SUT is configured with: SMTP and POP3 when both are set,
    /// the REST server and directory when both are set.
    pub fn fixed_ports(&self) -> std::collections::BTreeMap<String, u16> {
        let c = &self.connect;
        let pairs = [
            (("smtp", c.smtp_port), ("pop3", c.pop3_port)),
            (("rest", c.rest_port), ("directory", c.ldap_port)),
        ];
        let mut ports = std::collections::BTreeMap::new();
        for ((a, pa), (b, pb)) in pairs {
            if let (Some(pa), Some(pb)) = (pa, pb) {
                ports.insert(a.to_string(), pa);
                ports.insert(b.to_string(), pb);
            }
        }
        ports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_command_config() {
        let c = SutConfig::parse(
            "s.yaml",
            "name: X\ntrigger:\n  command:\n    send: \"x send {to} {app}\"\n    fetch: x fetch\n",
        )
        .expect("parses");
        assert!(matches!(c.trigger, Some(Trigger::Command(_))));
        assert_eq!(c.transport, super::super::Transport::SmtpPop3);
    }

    #[rstest::rstest]
    #[case::bare("mypvs.yaml", "")]
    #[case::dot("./mypvs.yaml", "")]
    #[case::relative("sub/dir/mypvs.yaml", "sub/dir")]
    fn the_config_folder_is_absolute(#[case] path: &str, #[case] below_cwd: &str) {
        let cwd = std::env::current_dir().expect("cwd");
        let dir = config_dir(Path::new(path));
        assert!(dir.is_absolute(), "{}", dir.display());
        assert_eq!(
            dir.components().collect::<PathBuf>(),
            cwd.join(below_cwd).components().collect::<PathBuf>()
        );
    }

    #[test]
    fn manual_trigger() {
        let c = SutConfig::parse("s.yaml", "name: X\ntrigger: manual\n").expect("parses");
        assert!(matches!(c.trigger, Some(Trigger::Manual)));
    }

    #[test]
    fn unknown_placeholder_is_a_config_error() {
        let e = SutConfig::parse(
            "s.yaml",
            "name: X\ntrigger:\n  command:\n    send: \"x {bogus}\"\n    fetch: x\n",
        )
        .unwrap_err();
        assert!(e.contains("{bogus}"), "{e}");
    }

    #[test]
    fn a_fachdienst_config_needs_no_trigger_and_a_bounded_kas_maximum() {
        let fd = |max: u64| {
            format!(
                "name: FD\nfachdienst:\n  host: kim.example\n  ca_file: ca.pem\n  kas_max_bytes: {max}\n  sender: {{address: a@x.de, password: p}}\n  recipient: {{address: b@x.de, password: p}}\n"
            )
        };
        let c = SutConfig::parse("s.yaml", &fd(1000)).expect("parses");
        assert!(c.trigger.is_none() && c.fachdienst.is_some());
        let e = SutConfig::parse("s.yaml", &fd(MAX_KAS_MAX_BYTES + 1)).unwrap_err();
        assert!(
            e.starts_with("--sut s.yaml") && e.contains("kas_max_bytes"),
            "{e}"
        );
        let both = format!("{}trigger: manual\n", fd(1000));
        assert!(
            SutConfig::parse("s.yaml", &both)
                .unwrap_err()
                .contains("not both trigger and fachdienst")
        );
        let neither = SutConfig::parse("s.yaml", "name: X\n").unwrap_err();
        assert!(neither.contains("is required"), "{neither}");
    }

    #[test]
    fn unknown_key_has_line() {
        let e = SutConfig::parse("s.yaml", "name: X\nportz: 1\ntrigger: manual\n").unwrap_err();
        assert!(e.starts_with("--sut s.yaml:2:"), "{e}");
    }
}
