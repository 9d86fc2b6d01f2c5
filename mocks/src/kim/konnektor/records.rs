//! What the mock Konnektor records per request (apart from the engine's exchange), in a module of
//! its own so that the shared evidence can name it without depending on the mock.

use serde::Serialize;

use super::soap::CallContext;
use crate::http::RouteName;

/// What one request to the Konnektor was and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KonnektorCall {
    /// `connector.sds`, an operation name, or `unknown`.
    pub operation: String,
    /// Service and version of the endpoint called, e.g. `SignatureService 7.5.5`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<CallContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_handle: Option<String>,
    /// SignDocument / EncryptDocument: the addresses of the RecipientEmailsAttribute the
    /// request carried (KOM-LE-A_2190, KOM-LE-A_2191); `None` = no attribute, or another
    /// operation. An attribute that does not decode is recorded as one entry saying so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_emails: Option<Vec<String>>,
    /// `ok`, or `fault <code>` (a SOAP fault with a TelematikError).
    pub outcome: String,
    /// Why the request was refused (what did not conform, or which scripted fault).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Scripted faults in effect when the call was answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
    /// The request body (first [`super::RECORDED_BODY_BYTES`] bytes).
    pub request: String,
    /// The response body (first [`super::RECORDED_BODY_BYTES`] bytes).
    pub response: String,
}

impl KonnektorCall {
    pub(crate) fn new(operation: &str) -> KonnektorCall {
        KonnektorCall {
            operation: operation.to_string(),
            endpoint: None,
            context: None,
            card_handle: None,
            recipient_emails: None,
            outcome: "ok".into(),
            reason: None,
            faults: Vec::new(),
            request: String::new(),
            response: String::new(),
        }
    }

    /// Whether the Konnektor refused the request (SOAP fault or HTTP error).
    pub fn refused(&self) -> bool {
        self.outcome != "ok"
    }
}

impl RouteName for KonnektorCall {
    fn name(&self) -> &'static str {
        "konnektor"
    }

    fn subject(&self) -> Option<&str> {
        Some(&self.operation)
    }

    fn detail(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }
}
