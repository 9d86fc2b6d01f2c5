//! What every role shares.

pub mod card_opening;
pub mod expect;
