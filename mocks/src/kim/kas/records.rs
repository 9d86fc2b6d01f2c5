//! What the mock KAS records (uploads and requests), in a module of its own so that the shared
//! evidence can name it without depending on the mock.

use serde::Serialize;

use crate::http::RouteName;

/// How the `recipients` form field came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecipientsForm {
    /// One address per form part (the yaml's `exploded=true`).
    Exploded,
    /// Several addresses comma-joined in one part.
    CommaJoined,
}

/// One stored upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KasUpload {
    pub id: String,
    pub owner: String,
    pub recipients: Vec<String>,
    pub recipients_form: RecipientsForm,
    /// As sent.
    pub expires: String,
    pub message_id: String,
    pub size: u64,
    /// SHA-256 of the stored ciphertext, hex.
    pub sha256: String,
    /// The attachment part's own Content-Length header, if it had one (the yaml requires it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_content_length: Option<u64>,
    pub shared_link: String,
}

/// What one request to the KAS was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KasCall {
    /// `addMailData`, `readMailData`, `headMailData`, `deleteMailData` or `unknown`.
    pub operation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_id: Option<String>,
    /// The `recipient` header of a read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Why it was refused, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RouteName for KasCall {
    fn name(&self) -> &'static str {
        "kas"
    }

    fn subject(&self) -> Option<&str> {
        Some(self.operation)
    }
}
