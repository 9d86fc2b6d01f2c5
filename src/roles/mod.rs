//! Roles: what a system under test of one role is checked for. `expect` is the role-neutral
//! interface of expectations; `common` holds the families every role may use; each role folder
//! registers its own vocabulary (the YAML keys its cases may hold) and stages its own world
//! (mocks, PKI, reference system), so a new role adds its folder and one line each in
//! [`vocabulary`] and [`stage`], and touches no other role's files.

pub mod common;
pub mod expect;
pub mod kim_cm;
pub mod kim_fd;
pub mod kvc_pvs;

use std::path::Path;
use std::sync::Arc;

use crate::catalogue::Role;
use crate::runner::observe::MockHost;
use crate::sut::config::SutConfig;

/// How the `expect:` list of a case of this role is read.
pub fn vocabulary(role: Role) -> expect::ParseExpectations {
    match role {
        Role::KvcPvs => kvc_pvs::expect::KvcPvsExpectation::parse,
        Role::KimFd => kim_fd::expect::KimFdExpectation::parse,
        Role::KimCm => kim_cm::expect::KimCmExpectation::parse,
    }
}

/// The probes (`- probe: <name>` steps, the suite as a client of the SUT) a role offers.
pub fn probes(role: Role) -> &'static [&'static str] {
    match role {
        Role::KimFd => kim_fd::probes::NAMES,
        Role::KimCm => kim_cm::probes::NAMES,
        Role::KvcPvs => &[],
    }
}

/// Stages the world of a `role` for one run (its mocks, PKI and reference system); `sut` is
/// the SUT's configuration, if not the reference system, and `out` the report directory.
pub fn stage(role: Role, sut: Option<&SutConfig>, out: &Path) -> Result<Arc<dyn MockHost>, String> {
    match role {
        Role::KvcPvs => Ok(Arc::new(kvc_pvs::world::KvcMockHost::stage(sut, out)?)),
        Role::KimFd => Ok(Arc::new(kim_fd::world::KimFdHost::stage(sut, out)?)),
        Role::KimCm => Ok(Arc::new(kim_cm::world::KimCmHost::stage(sut, out)?)),
    }
}
