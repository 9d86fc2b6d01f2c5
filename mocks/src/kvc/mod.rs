//! KV-Connect product mocks, configuring the engines: the KV-Connect Client (mail servers), the
//! REST server, its address directory, and the messages they serve.

pub mod accounts;
pub mod client;
pub mod directory;
pub mod rest;
pub mod served_messages;
pub mod standalone;
