//! The ways a KV-Connect practice system reaches KV-Connect (seed §3.1): through the local
//! KV-Connect Client over SMTP/POP3, or through the REST server. One enum instead of strings
//! compared in many places; spelled in YAML, reports and placeholders as `smtp-pop3` / `rest`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Transport {
    /// SMTP and POP3 with implicit TLS to the KV-Connect Client (seed §3.1.1).
    #[serde(rename = "smtp-pop3")]
    SmtpPop3,
    /// HTTPS to the KV-Connect REST server, with its LDAPS directory (seed §3.1.2).
    #[serde(rename = "rest")]
    Rest,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::SmtpPop3, Transport::Rest];

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::SmtpPop3 => "smtp-pop3",
            Transport::Rest => "rest",
        }
    }

    /// `smtp-pop3, rest`: for error messages and the run header.
    pub fn list(transports: &[Transport]) -> String {
        transports
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Transport;

    #[test]
    fn spelled_the_same_in_yaml_json_and_text() {
        for t in Transport::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{t}\""));
            let back: Transport = serde_saphyr::from_str(t.as_str()).unwrap();
            assert_eq!(back, t);
        }
        assert!(serde_saphyr::from_str::<Transport>("smtp").is_err());
        assert_eq!(Transport::list(&Transport::ALL), "smtp-pop3, rest");
    }
}
