//! KIM products on the engines: the mock VZD so far (the Konnektor, KAS, Account Manager and the
//! Fachdienst's MTA follow, issue 14/15).

pub mod vzd;
