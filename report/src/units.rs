//! Energy units.

/// Joules in one kWh.
pub const J_PER_KWH: f64 = 3.6e6;
/// Joules in one Wh.
pub const J_PER_WH: f64 = 3.6e3;
