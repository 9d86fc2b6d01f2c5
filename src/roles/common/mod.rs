//! What every role shares.

pub mod expect;
