//! Mail protocol engines: an SMTP and a POP3 server behind one handle ([`MailServer`]), their
//! shared maildrop and their records. No product knowledge: products configure them.

pub mod client;
pub mod maildrop;
pub(crate) mod pop3_server;
pub mod records;
pub mod server;
pub(crate) mod smtp_server;

pub use maildrop::{Account, MessageCheck, SmtpFaults, SmtpStage};
pub use records::{CapturedMessage, MailSessionRecord, Observations, Pop3Session, SmtpSession};
pub use server::{MailServer, MailServerConfig};
