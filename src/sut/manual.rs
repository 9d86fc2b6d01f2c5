//! Manual adapter: the runner prints what a person must do at the SUT (to stderr) and then waits
//! for the effect (a message, a POP3 session) up to the case timeout. The printout names the
//! mock endpoints, the CA file and the credentials the SUT must be configured with.

use std::io::Write;

use super::{Reply, SendRequest, SutAdapter};
use crate::sut::endpoints::Endpoints;

/// Its name is the SUT's, which the printed actions address.
pub struct ManualAdapter {
    name: String,
}

impl ManualAdapter {
    pub fn new(name: &str) -> Self {
        ManualAdapter { name: name.into() }
    }
}

fn connection_text(ep: &Endpoints) -> String {
    if let Some(r) = &ep.rest {
        return format!(
            "    KV-Connect REST server {} (BASIC auth)   directory ldaps://{}:{}\n    trust CA {}\n    user {}  password {}\n    user key {}  certificate {}  user CA (signatures) {}",
            r.base_url,
            ep.host,
            ep.port("directory"),
            ep.ca_file.display(),
            ep.user,
            ep.password,
            r.user_key_file.display(),
            r.user_cert_file.display(),
            r.user_ca_file.display()
        );
    }
    format!(
        "    SMTP  {}:{} (implicit TLS)   POP3 {}:{} (TLS)\n    trust CA {}\n    user {}  password {}",
        ep.host,
        ep.port("smtp"),
        ep.host,
        ep.port("pop3"),
        ep.ca_file.display(),
        ep.user,
        ep.password
    )
}

fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}

impl SutAdapter for ManualAdapter {
    fn describe(&self) -> String {
        "manual".to_string()
    }

    fn send<'a>(&'a self, ep: &'a Endpoints, req: &'a SendRequest) -> Reply<'a> {
        Box::pin(async move {
            say(&format!(
                "\n>>> ACTION: in {}, send a {} message to {}{}\n{}\n    (waiting up to the case timeout)",
                self.name,
                req.application,
                req.to.join(", "),
                req.subject
                    .as_ref()
                    .map(|s| format!(" with subject \"{s}\""))
                    .unwrap_or_default(),
                connection_text(ep)
            ));
            Ok("instructions printed".into())
        })
    }

    fn fetch<'a>(&'a self, ep: &'a Endpoints) -> Reply<'a> {
        Box::pin(async move {
            say(&format!(
                "\n>>> ACTION: in {}, fetch all messages from the mailbox\n{}\n    (waiting up to the case timeout)",
                self.name,
                connection_text(ep)
            ));
            Ok("instructions printed".into())
        })
    }
}
