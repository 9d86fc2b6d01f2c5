//! Role kim-fd: a KIM provider's Fachdienst (KAS, Account Manager, MTA) under test. Here the
//! suite is the client: it plays a Clientmodul against the provider's endpoints (`probe`
//! steps, `probes/`), records every exchange ([`kvc_mocks::probe::ProbeExchange`]), checks each
//! response against the published interface file of the profile (`openapi.rs`), and decides
//! the kim-fd requirements from what came back (`expect/`). Without `--sut` the provider is the
//! reference Fachdienst (`kvc_mocks::reference::kim_fd`), started per case with its faults.

pub mod expect;
pub mod openapi;
pub mod probes;
pub mod target;
pub mod world;
