//! Role kim-cm: a KIM Clientmodul under test. The suite is its client system: it sends and
//! fetches through the Clientmodul's SMTP and POP3 servers (`probes.rs`), while the world behind
//! it (`world.rs`) is ours: mock Konnektor, VZD and Fachdienst, each recording what the
//! Clientmodul did. `expect/` decides the kim-cm requirements from the replies it gave, the
//! Konnektor calls it made, what reached the MTA (opened with the recipient's card key) and
//! what it delivered. Without `--sut` the Clientmodul is the reference
//! (`kvc_mocks::reference::kim_cm`), started per case with the run's faults.

pub mod expect;
pub mod kas_view;
pub mod probes;
pub mod served;
pub mod setup;
pub mod world;
