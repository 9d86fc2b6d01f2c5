//! Any bytes as the value of a card certificate's admission extension (AdmissionSyntax): no
//! panic; what reads rebuilds into an extension that reads back the same.
#![no_main]

use kvc_smime::admission::Admission;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(admission) = Admission::from_der(data)
        && let Ok(extension) = admission.to_extension()
    {
        let again = Admission::from_der(extension.extn_value.as_bytes())
            .expect("a rebuilt admission extension reads back");
        assert_eq!(again, admission);
    }
});
