//! The trait every energy source implements.

use crate::{Domain, MonotonicClock, ProbeError};
use serde::Serialize;
use std::time::Duration;

/// One read of a source: cumulative joules per domain, in the order of `domains()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// When the read was taken, on the shared monotonic clock (ns).
    pub t_ns: u64,
    /// Cumulative energy per domain since the source was opened (J), never negative.
    pub joules: Vec<f64>,
}

/// A hardware counter's raw value as last read, for deltas between separate processes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RawCounter {
    /// The counter's value in joules (e.g. RAPL `energy_uj` / 1e6; wraps unknown).
    pub joules: f64,
    /// The value at which the counter wraps to zero (J); `None` for 64-bit counters
    /// that do not wrap in practice, or where the range is unknown (`wrap_known` false).
    pub wrap_j: Option<f64>,
    /// Whether the counter's wrap behaviour is known (false: a RAPL zone without
    /// `max_energy_range_uj`).
    pub wrap_known: bool,
}

/// A non-energy metric read alongside energy (GPU power, utilisation, clock, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct ContextValue {
    /// Index of the domain it belongs to.
    pub domain: usize,
    /// What was read, its unit at the end: `power_w`, `utilization_pct`, `sm_clock_mhz`,
    /// `memory_used_mib`, `temperature_c`.
    pub metric: &'static str,
    /// The value.
    pub value: f64,
}

/// One process's utilisation of one domain in one sample of the device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessShareSample {
    /// Index of the domain.
    pub domain: usize,
    /// Process id.
    pub pid: u32,
    /// When the device took the sample (µs since the Unix epoch).
    pub timestamp_us: u64,
    /// The process's utilisation of the domain (%, SM utilisation for a GPU).
    pub util_pct: f64,
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

    /// Raw counter per domain as of the last `read`, in domain order; `None` where a
    /// domain has no hardware counter (estimates, integrated power).
    fn raw_counters(&self) -> Vec<Option<RawCounter>> {
        vec![None; self.domains().len()]
    }

    /// Context metrics (not energy) read now; failing metrics are left out.
    fn read_context(&mut self) -> Vec<ContextValue> {
        Vec::new()
    }

    /// The state its figures depend on (temperature, clocks, limits), read now; keys a
    /// device does not support are left out, failing ones say why.
    fn read_state(&mut self) -> Vec<crate::state::StateValue> {
        Vec::new()
    }

    /// Per-process utilisation samples per domain taken after `since_us` (µs since the
    /// Unix epoch), for apportioning a domain's energy between processes; empty where the
    /// source cannot tell processes apart.
    fn process_samples(&mut self, since_us: u64) -> Vec<ProcessShareSample> {
        let _ = since_us;
        Vec::new()
    }

    /// Highest sampling rate that carries information for this source (Hz).
    fn max_sample_hz(&self) -> f64 {
        1000.0
    }
}
