//! Mock servers (real protocol servers on loopback) and reference systems under test.
//!
//! Filled by the runner issue; the crate exists now so the workspace layout is fixed.
