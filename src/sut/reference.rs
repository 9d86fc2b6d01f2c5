//! The embedded reference PVS (`kvc_mocks::ReferencePvs`) as a SUT adapter.
//! Placeholder until the reference PVS lands on the kvc-mocks branch.

use super::{SendRequest, SutAdapter};
use crate::runner::observe::{BoxFuture, Endpoints};

pub struct ReferenceAdapter;

impl ReferenceAdapter {
    pub fn new(
        _faults: &[String],
        _server_name: String,
        _ca_pem: String,
        _account: (String, String),
    ) -> Result<Self, String> {
        Err("the embedded reference PVS is not available in this build; use --sut".into())
    }
}

impl SutAdapter for ReferenceAdapter {
    fn describe(&self) -> String {
        "reference PVS".into()
    }

    fn send<'a>(
        &'a self,
        _: &'a Endpoints,
        _: &'a SendRequest,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async { Err("unavailable".to_string()) })
    }

    fn fetch<'a>(&'a self, _: &'a Endpoints) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async { Err("unavailable".to_string()) })
    }
}
