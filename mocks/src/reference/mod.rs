//! Reference systems under test: conforming implementations with named faults.

pub mod kvc_pvs;
pub mod kvc_pvs_rest;
