//! The trait every energy source implements.

use crate::{Domain, MonotonicClock, ProbeError};
use std::time::Duration;

/// One read of a source: cumulative joules per domain, in the order of `domains()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// When the read was taken, on the shared monotonic clock (ns).
    pub t_ns: u64,
    /// Cumulative energy per domain since the source was opened (J), never negative.
    pub joules: Vec<f64>,
}

/// A source of cumulative energy per domain (RAPL, NVML, an estimate, ...).
pub trait EnergySource: Send {
    /// Short name of the source, e.g. `rapl-powercap`, `nvml`, `cpu-estimate`.
    fn name(&self) -> &str;

    /// The domains this source reports, in the order of `Reading::joules`.
    fn domains(&self) -> &[Domain];

    /// Reads cumulative energy of every domain since the source was opened.
    fn read(&mut self, clock: &MonotonicClock) -> Result<Reading, ProbeError>;

    /// Shortest window whose energy this source resolves reliably.
    fn resolution(&self) -> Duration;

    /// Longest gap between reads that cannot lose energy (e.g. before a counter wraps).
    fn max_read_interval(&self) -> Option<Duration> {
        None
    }
}
