//! Reference systems under test: conforming implementations with named faults.

pub mod kim_cm;
pub mod kim_fd;
pub mod kvc_pvs;

/// A named fault of a reference system: it breaks exactly one requirement and nothing else,
/// and is printed and parsed as its ID (`--fault KVC-Anb170`), so the suite's mutation test
/// ("every fault fails its requirement and nothing unrelated") runs the same way per role.
pub trait Fault: Copy + std::fmt::Display + std::str::FromStr + 'static {
    /// Every fault of this reference system.
    fn all() -> &'static [Self];
    /// The ID it is selected by (the requirement ID, with a suffix where one requirement has
    /// several faults).
    fn id(&self) -> &'static str;
    /// The requirement it breaks.
    fn requirement(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// The transports of the role on which it changes behaviour.
    fn applies_to(&self) -> &'static [&'static str];
}
