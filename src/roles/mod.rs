//! Roles: what a system under test of one role is checked for. `expect` is the role-neutral
//! interface of expectations; `common` holds the families every role may use; each role folder
//! registers its own vocabulary (the YAML keys its cases may hold), so a new role adds its
//! folder and one line in [`vocabulary`], and touches no other role's files.

pub mod common;
pub mod expect;
pub mod kvc_pvs;

use crate::catalogue::Role;

/// How the `expect:` list of a case of this role is read.
pub fn vocabulary(role: Role) -> expect::ParseExpectations {
    match role {
        Role::KvcPvs => kvc_pvs::expect::KvcPvsExpectation::parse,
        // No KIM family yet: their cases may use the common ones.
        Role::KimCm | Role::KimFd => common::expect::CommonExpectation::parse,
    }
}
