//! Any bytes as a SOAP request to the mock Konnektor: byte 0 picks the endpoint (service
//! version), byte 1 the soapAction (one of that endpoint's or none) and SOAP 1.1 / 1.2, the rest
//! is the body. No panic; a refusal names a reason and a Konnektor code; an accepted request is
//! an operation of that endpoint.
#![no_main]

use kvc_mocks::kim::konnektor::services::{EndpointLayout, offered};
use kvc_mocks::kim::konnektor::soap::read_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [pick, action, body @ ..] = data else {
        return;
    };
    let services = offered(EndpointLayout::Ws);
    let service = &services[*pick as usize % services.len()];
    let ops = &service.operations;
    let soap_action = (action & 0x7f) as usize % (ops.len() + 1);
    let soap_action = ops.get(soap_action).map(|(_, a)| *a);
    let content_type = if action & 0x80 == 0 {
        "text/xml; charset=utf-8"
    } else {
        "application/soap+xml; charset=utf-8"
    };
    match read_request(body, Some(content_type), soap_action, service) {
        Ok(r) => assert!(ops.iter().any(|(op, _)| *op == r.operation)),
        Err(v) => assert!(v.code >= 4000 && !v.reason.is_empty()),
    }
});
