//! What the mock Account Manager records per request, in a module of its own so that the shared
//! evidence can name it without depending on the mock.

use serde::Serialize;

use crate::http::RouteName;

/// What one request was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AmCall {
    pub operation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `ok <alg> <TelematikID>` or why the bearer token was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// setTID: the TelematikID of the card that signed the token (the address's new owner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_telematik_id: Option<String>,
    /// createCert: the subject of the certificate issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_certificate: Option<String>,
}

impl RouteName for AmCall {
    fn name(&self) -> &'static str {
        "account-manager"
    }

    fn subject(&self) -> Option<&str> {
        Some(self.operation)
    }
}
