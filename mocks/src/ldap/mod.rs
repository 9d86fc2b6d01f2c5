//! LDAP engines: a read-only LDAPS server ([`server`]) that products give their tree.

pub mod client;
pub mod server;

pub use server::{
    Attributes, BindRecord, DirectoryObservations, DirectoryTree, LdapEntry, LdapLimits,
    LdapServer, LdapSession, SearchRecord,
};
