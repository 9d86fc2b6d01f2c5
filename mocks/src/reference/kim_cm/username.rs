//! The user name a client system logs in to a Clientmodul with (KOM-LE-A_2010, A_21518; KIM-FACTS
//! §8): `<kim-addr>#<mta-host>:<port>#<MandantId>#<ClientSystemId>#<WorkplaceId>[#<UserId>]
//! [#<KonnektorId>]`, optional positions filled with `*`.

use std::fmt;

/// A parsed user name: the KIM account, the Fachdienst host it lives on and the card context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmUserName {
    pub address: String,
    pub host: String,
    pub port: u16,
    pub mandant_id: String,
    pub client_system_id: String,
    pub workplace_id: String,
    pub user_id: Option<String>,
}

/// Why a user name is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNameError(pub String);

impl fmt::Display for UserNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl CmUserName {
    /// Parses a user name; every mandatory position must be present and non-empty.
    pub fn parse(s: &str) -> Result<CmUserName, UserNameError> {
        let parts: Vec<&str> = s.split('#').collect();
        let names = [
            "KIM address",
            "MTA host:port",
            "MandantId",
            "ClientSystemId",
            "WorkplaceId",
        ];
        if parts.len() < names.len() {
            return Err(UserNameError(format!(
                "user name has {} of the {} mandatory `#` positions (missing: {})",
                parts.len(),
                names.len(),
                names[parts.len()..].join(", ")
            )));
        }
        if parts.len() > 7 {
            return Err(UserNameError(format!(
                "user name has {} `#` positions, at most 7 are defined",
                parts.len()
            )));
        }
        for (name, part) in names.iter().zip(&parts) {
            if part.is_empty() || *part == "*" {
                return Err(UserNameError(format!("user name: {name} is empty")));
            }
        }
        let address = parts[0];
        if !address.contains('@') {
            return Err(UserNameError(format!(
                "user name: `{address}` is no mail address"
            )));
        }
        let (host, port) = parts[1].rsplit_once(':').ok_or_else(|| {
            UserNameError(format!("user name: `{}` is not <host>:<port>", parts[1]))
        })?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| UserNameError(format!("user name: port `{port}` is no TCP port")))?;
        if host.is_empty() {
            return Err(UserNameError("user name: MTA host is empty".into()));
        }
        let user_id = parts
            .get(5)
            .filter(|u| !u.is_empty() && **u != "*")
            .map(|u| u.to_string());
        Ok(CmUserName {
            address: address.to_string(),
            host: host.to_string(),
            port,
            mandant_id: parts[2].to_string(),
            client_system_id: parts[3].to_string(),
            workplace_id: parts[4].to_string(),
            user_id,
        })
    }

    /// The user name as a client system writes it.
    pub fn format(&self) -> String {
        let mut s = format!(
            "{}#{}:{}#{}#{}#{}",
            self.address,
            self.host,
            self.port,
            self.mandant_id,
            self.client_system_id,
            self.workplace_id
        );
        if let Some(u) = &self.user_id {
            s.push('#');
            s.push_str(u);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_user_name_round_trips() {
        let u = CmUserName::parse("a@x.kim.telematik-test#mta.local:465#M1#CS1#WP1#*").unwrap();
        assert_eq!(u.host, "mta.local");
        assert_eq!(u.port, 465);
        assert_eq!(u.mandant_id, "M1");
        assert_eq!(u.user_id, None);
        assert_eq!(
            u.format(),
            "a@x.kim.telematik-test#mta.local:465#M1#CS1#WP1"
        );
    }

    #[test]
    fn incomplete_user_names_name_what_is_missing() {
        let e = CmUserName::parse("a@x.kim.telematik-test#mta.local:465").unwrap_err();
        assert!(e.0.contains("MandantId"), "{e}");
        assert!(CmUserName::parse("a@x#mta.local#M#C#W").is_err());
        assert!(CmUserName::parse("a@x#mta.local:0#M#C#W").is_err());
        assert!(CmUserName::parse("a@x#mta.local:465#M##W").is_err());
        assert!(CmUserName::parse("ax#mta.local:465#M#C#W").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = CmUserName::parse(&s);
        }

        #[test]
        fn formatted_user_names_parse_back(
            local in "[a-z0-9._-]{1,20}",
            host in "[a-z0-9.-]{1,30}",
            port in 1u16..,
            ctx in proptest::collection::vec("[A-Za-z0-9_-]{1,12}", 3),
        ) {
            let u = CmUserName {
                address: format!("{local}@praxis.kim.telematik-test"),
                host, port,
                mandant_id: ctx[0].clone(),
                client_system_id: ctx[1].clone(),
                workplace_id: ctx[2].clone(),
                user_id: None,
            };
            proptest::prop_assert_eq!(CmUserName::parse(&u.format()).unwrap(), u);
        }
    }
}
