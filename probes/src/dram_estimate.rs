//! A labelled DRAM-only estimate, for a measured CPU whose RAPL has no DRAM domain.

use crate::estimate::EstimateModel;
use crate::{Domain, DomainKind, EnergySource, MonotonicClock, ProbeError, Provenance, Reading};
use std::time::Duration;

/// Estimated DRAM energy: a constant W per GB of installed memory. Labelled `estimated`.
pub struct DramEstimate {
    watts: f64,
    domains: Vec<Domain>,
    first_t_ns: Option<u64>,
}

impl DramEstimate {
    /// The estimate for `model`'s memory size and W/GB.
    pub fn new(model: &EstimateModel) -> Self {
        Self {
            watts: model.dram_power_w(),
            domains: vec![Domain::new("dram", DomainKind::Dram, Provenance::Estimated)],
            first_t_ns: None,
        }
    }

    /// One line stating the model.
    pub fn describe(model: &EstimateModel) -> String {
        format!(
            "estimated: DRAM {:.3} W/GB × {:.1} GB = {:.2} W constant (the measured CPU's RAPL has no DRAM domain)",
            model.dram_w_per_gb,
            model.memory_gb,
            model.dram_power_w()
        )
    }
}

impl EnergySource for DramEstimate {
    fn name(&self) -> &str {
        "dram-estimate"
    }

    fn domains(&self) -> &[Domain] {
        &self.domains
    }

    fn read(&mut self, clock: &MonotonicClock) -> Result<Reading, ProbeError> {
        let t_ns = clock.now_ns();
        let first = *self.first_t_ns.get_or_insert(t_ns);
        let joules = self.watts * t_ns.saturating_sub(first) as f64 / 1e9;
        Ok(Reading {
            t_ns,
            joules: vec![joules],
        })
    }

    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn max_sample_hz(&self) -> f64 {
        10.0
    }
}
