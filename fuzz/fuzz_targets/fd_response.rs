//! What a KIM provider answers the kim-fd probes: the interface-file check of a response
//! (src/roles/kim_fd/openapi.rs), the ID checks of the KAS links, the MTA sender rules.
//! Byte 0 picks the API generation (bits 0-1) and the operation (bits 2-4), byte 1 the status
//! (200 + byte, so 200..455); the rest is `content-type NUL body NUL link-id`.
#![no_main]

use std::sync::OnceLock;

use kvc_check::roles::kim_fd::openapi::InterfaceFiles;
use kvc_mocks::kim::kas::KasApi;
use libfuzzer_sys::fuzz_target;

const APIS: [KasApi; 3] = [KasApi::V2_2, KasApi::V2_3, KasApi::V2_4];

fn files() -> &'static [InterfaceFiles; 3] {
    static FILES: OnceLock<[InterfaceFiles; 3]> = OnceLock::new();
    FILES.get_or_init(|| APIS.map(|a| InterfaceFiles::embedded(a).expect("embedded files")))
}

fuzz_target!(|data: &[u8]| {
    let [pick, status, rest @ ..] = data else {
        return;
    };
    let api = (*pick & 3) as usize % 3;
    let base = APIS[api].base_path();
    let operations = [
        ("kas", "POST", format!("{base}/attachment/")),
        ("kas", "GET", format!("{base}/attachment/x")),
        ("kas", "HEAD", format!("{base}/attachment/x")),
        ("kas", "DELETE", format!("{base}/attachment/x")),
        ("account-manager", "GET", "/AccountMgmt/v2.4/account/a@b.de".to_string()),
        ("account-manager", "GET", "/AccountMgmt/v2.4/account/a@b.de/outofoffice".to_string()),
        ("account-manager", "GET", "/AccountLimit/v1.1/limit".to_string()),
        ("account-manager", "GET", "/ServiceInformation/v1.0/serviceinfo".to_string()),
    ];
    let (service, method, path) = &operations[((*pick >> 2) & 7) as usize];
    let mut parts = rest.splitn(3, |b| *b == 0);
    let content_type = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let id = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let headers = vec![("content-type".to_string(), content_type)];
    let status = 200 + u16::from(*status);
    for v in files()[api].check(service, method, path, status, &headers, body) {
        // Every violation names the interface file it breaks.
        assert!(v.contains(".yaml"), "{v}");
    }
    let ids = vec![id.clone(), kvc_check::roles::kim_fd::probes::kas::neighbour_id(&id)];
    let _ = kvc_check::roles::kim_fd::expect::kas::randomness_problems(&ids);
    let _ = kvc_check::roles::kim_fd::probes::kas::half(&id);
    let _ = kvc_mocks::kim::sender_rules::check("a@b.kim.telematik", body);
});
