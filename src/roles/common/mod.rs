//! What every role shares.

pub mod card_opening;
pub mod expect;
pub mod probed_sut;
