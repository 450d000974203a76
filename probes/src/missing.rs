//! A probe that was asked for and could not be used.

/// A probe that was wanted but cannot be used here, with the reason and the fix.
#[derive(Clone, Debug, PartialEq)]
pub struct MissingProbe {
    /// Which probe.
    pub probe: String,
    /// Why it cannot be used, and how to make it usable.
    pub reason: String,
}
