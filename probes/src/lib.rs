//! Energy sources (RAPL, NVML, labelled estimates) and the sampler that reads them.
//!
//! This crate knows nothing of HTTP, suites or result files: it turns hardware
//! counters (or, where none can be read, a stated model) into cumulative joules per
//! energy domain, timestamped on one monotonic clock shared with the request loop.

pub mod clock;
pub mod cpu_time;
pub mod delta;
pub mod discovery;
pub mod domain;
pub mod drain;
pub mod dram_estimate;
pub mod error;
pub mod estimate;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod missing;
pub mod nvml;
pub mod rapl;
pub mod sampler;
pub mod source;
pub mod state;
pub mod sysfs;
pub mod window;

pub use clock::MonotonicClock;
pub use delta::{CounterDelta, DeltaError};
pub use discovery::{ProbeConfig, ProbeSet, SourceDescription, discover, discover_with};
pub use domain::{Domain, DomainKind, Provenance};
pub use drain::{DRAIN_PERIOD, drain_every};
pub use error::ProbeError;
pub use missing::MissingProbe;
pub use sampler::{
    ContextSample, Gap, RetryPolicy, Sample, Sampler, SamplerEvent, SamplerReport, SourceStats,
};
pub use source::{ContextValue, EnergySource, ProcessShareSample, RawCounter, Reading};
pub use state::StateValue;
pub use window::{DomainEnergy, FailedDomain, Window};
