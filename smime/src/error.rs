//! Error type: every variant names the input that was wrong.

use std::fmt;

/// Which class of problem an [`SmimeError`] is; the CLI maps all of them to exit code 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A file could not be read or written.
    Io,
    /// The input is malformed (not a key, not a certificate, truncated message, ...).
    BadInput,
    /// The PKCS#12 password is wrong (MAC check or key decryption failed).
    WrongPassword,
    /// The private key does not belong to any recipient of the message.
    WrongKey,
    /// The key fits but the content does not authenticate / decrypt (manipulated message).
    Tampered,
    /// A feature or algorithm that this crate does not implement.
    Unsupported,
    /// Building a structure failed (should not happen with sane inputs).
    Build,
}

/// Error of the S/MIME and PKI layer. `input` names the file or role of the bad input
/// (e.g. `"key.p12"`, `"trust anchor CA.pem"`, `"message msg.eml"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmimeError {
    /// Problem class.
    pub kind: ErrorKind,
    /// The input that was wrong (file name or role).
    pub input: String,
    /// Human explanation.
    pub message: String,
}

impl SmimeError {
    /// Construct an error of the given kind.
    pub fn new(kind: ErrorKind, input: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            input: input.into(),
            message: message.into(),
        }
    }
    /// Malformed input.
    pub fn bad_input(input: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadInput, input, message)
    }
    /// Unsupported feature.
    pub fn unsupported(input: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, input, message)
    }
    /// Builder failure.
    pub fn build(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Build, "builder", message)
    }
    /// I/O failure on `path`.
    pub fn io(path: &std::path::Path, err: &std::io::Error) -> Self {
        Self::new(ErrorKind::Io, path.display().to_string(), err.to_string())
    }
    /// Re-label the input (e.g. replace a generic "message" by the file name).
    pub fn with_input(mut self, input: impl Into<String>) -> Self {
        self.input = input.into();
        self
    }
    /// The X-KIM-DecryptionResult code a KIM Clientmodul would report for this error,
    /// when it happens while opening a message: `01` for a key that does not fit,
    /// `02` for anything malformed.
    pub fn decryption_result_code(&self) -> &'static str {
        match self.kind {
            ErrorKind::WrongKey | ErrorKind::WrongPassword => "01",
            _ => "02",
        }
    }
}

impl fmt::Display for SmimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Io => "cannot access",
            ErrorKind::BadInput => "invalid input",
            ErrorKind::WrongPassword => "wrong password",
            ErrorKind::WrongKey => "wrong key",
            ErrorKind::Tampered => "manipulated",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Build => "cannot build",
        };
        write!(f, "{}: {what}: {}", self.input, self.message)
    }
}

impl std::error::Error for SmimeError {}

/// Result alias.
pub type Result<T, E = SmimeError> = std::result::Result<T, E>;
