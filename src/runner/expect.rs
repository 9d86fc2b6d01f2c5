//! Where the runner meets a case's expectations. The families live with their roles
//! (`src/roles/*/expect/`), the verdict logic in [`crate::runner::verdict`]; this module keeps
//! the paths the runner and its callers use.

pub use crate::roles::expect::{Scope, evaluate};
pub use crate::roles::kvc_pvs::expect::evidence::{end_text, rest_summary};
pub use crate::roles::kvc_pvs::expect::headers::header_values;
pub use crate::roles::kvc_pvs::expect::tls::client_refused;
pub use crate::runner::verdict::{CONTROL_FAILED, apply_controls, cut_short};
