//! Labelled estimates for machines where no energy counter can be read.
//!
//! CPU: power = idle + (TDP − idle) × utilisation, with utilisation from sysinfo.
//! DRAM: a constant power per GB of installed memory. Every domain is `estimated`.

use crate::{Domain, DomainKind, EnergySource, MonotonicClock, ProbeError, Provenance, Reading};
use std::time::Duration;
use sysinfo::System;

/// Default share of TDP drawn by an idle CPU when the suite gives no figure.
pub const DEFAULT_IDLE_FRACTION: f64 = 0.3;
/// TDP assumed per physical core when the CPU model is not in the table (W).
pub const DEFAULT_TDP_W_PER_CORE: f64 = 10.0;
/// DRAM power per GB of installed memory (W/GB), CodeCarbon's 3 W per 8 GB.
pub const DEFAULT_DRAM_W_PER_GB: f64 = 0.375;

/// Known CPU models (a substring of the brand string) and their TDP in watts.
const KNOWN_TDP_W: &[(&str, f64)] = &[
    ("EPYC 9654", 360.0),
    ("EPYC 7763", 280.0),
    ("EPYC 7R13", 225.0),
    ("EPYC 7B13", 225.0),
    ("Xeon(R) Platinum 8480", 350.0),
    ("Xeon(R) Platinum 8380", 270.0),
    ("Xeon(R) Platinum 8275CL", 240.0),
    ("Xeon(R) Platinum 8259CL", 210.0),
    ("Xeon(R) Gold 6248", 150.0),
    ("Core(TM) i9-13900K", 125.0),
    ("Core(TM) i7-1185G7", 28.0),
    ("Ryzen 9 7950X", 170.0),
    ("Apple M2", 20.0),
];

/// Where the estimate's TDP figure came from.
#[derive(Clone, Debug, PartialEq)]
pub enum TdpOrigin {
    /// Given in the suite or on the command line.
    Configured,
    /// Found in the table of known CPU models.
    KnownModel(String),
    /// No figure known: a per-core default times the physical core count.
    PerCoreDefault {
        /// Physical cores counted.
        cores: usize,
    },
}

/// Parameters of the CPU and DRAM power model.
#[derive(Clone, Debug, PartialEq)]
pub struct EstimateModel {
    /// CPU thermal design power (W).
    pub tdp_w: f64,
    /// CPU power when idle (W).
    pub idle_w: f64,
    /// Where `tdp_w` came from.
    pub tdp_origin: TdpOrigin,
    /// Installed memory (GB).
    pub memory_gb: f64,
    /// DRAM power per GB (W/GB).
    pub dram_w_per_gb: f64,
    /// The CPU brand string the model was chosen for.
    pub cpu_brand: String,
}

impl EstimateModel {
    /// Builds the model for this machine, using a configured TDP when given.
    pub fn for_this_machine(
        tdp_w: Option<f64>,
        dram_w_per_gb: Option<f64>,
    ) -> Result<Self, ProbeError> {
        let mut sys = System::new().map_err(sysinfo_error)?;
        sys.refresh_cpu_all();
        sys.refresh_memory();
        let cpu_brand = sys
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_string())
            .unwrap_or_default();
        let cores = System::physical_core_count()
            .unwrap_or_else(|_| sys.cpus().len())
            .max(1);
        let (tdp_w, tdp_origin) = match tdp_w {
            Some(w) => (w, TdpOrigin::Configured),
            None => match known_tdp(&cpu_brand) {
                Some((model, w)) => (w, TdpOrigin::KnownModel(model.to_string())),
                None => (
                    DEFAULT_TDP_W_PER_CORE * cores as f64,
                    TdpOrigin::PerCoreDefault { cores },
                ),
            },
        };
        Ok(Self {
            tdp_w,
            idle_w: tdp_w * DEFAULT_IDLE_FRACTION,
            tdp_origin,
            memory_gb: sys.total_memory() as f64 / 1e9,
            dram_w_per_gb: dram_w_per_gb.unwrap_or(DEFAULT_DRAM_W_PER_GB),
            cpu_brand,
        })
    }

    /// CPU power (W) at a utilisation between 0 and 1.
    pub fn cpu_power_w(&self, utilisation: f64) -> f64 {
        let u = utilisation.clamp(0.0, 1.0);
        self.idle_w + (self.tdp_w - self.idle_w) * u
    }

    /// DRAM power (W), constant in this model.
    pub fn dram_power_w(&self) -> f64 {
        self.memory_gb * self.dram_w_per_gb
    }

    /// One line stating the model, for manifests and `probe list`.
    pub fn describe(&self) -> String {
        let origin = match &self.tdp_origin {
            TdpOrigin::Configured => "configured".to_string(),
            TdpOrigin::KnownModel(m) => format!("known model {m}"),
            TdpOrigin::PerCoreDefault { cores } => {
                format!("default {DEFAULT_TDP_W_PER_CORE} W per core × {cores} cores")
            }
        };
        format!(
            "estimated: CPU {:.1} W idle + ({:.1} W TDP [{origin}] − idle) × utilisation; DRAM {:.3} W/GB × {:.1} GB",
            self.idle_w, self.tdp_w, self.dram_w_per_gb, self.memory_gb
        )
    }
}

fn sysinfo_error(e: sysinfo::Error) -> ProbeError {
    ProbeError::Unavailable {
        probe: "cpu-estimate".into(),
        reason: format!("sysinfo cannot read this system's CPU utilisation: {e}"),
    }
}

fn known_tdp(brand: &str) -> Option<(&'static str, f64)> {
    KNOWN_TDP_W
        .iter()
        .find(|(model, _)| brand.contains(model))
        .map(|&(m, w)| (m, w))
}

/// Estimated CPU and DRAM energy from sysinfo utilisation and a stated power model.
pub struct CpuEstimate {
    model: EstimateModel,
    sys: System,
    domains: Vec<Domain>,
    last_t_ns: Option<u64>,
    joules: [f64; 2],
}

impl CpuEstimate {
    /// Opens the estimate with the given model.
    pub fn new(model: EstimateModel) -> Result<Self, ProbeError> {
        let mut sys = System::new().map_err(sysinfo_error)?;
        sys.refresh_cpu_usage();
        Ok(Self {
            model,
            sys,
            domains: vec![
                Domain::new("cpu", DomainKind::CpuPackage, Provenance::Estimated),
                Domain::new("dram", DomainKind::Dram, Provenance::Estimated),
            ],
            last_t_ns: None,
            joules: [0.0; 2],
        })
    }

    /// The power model in use.
    pub fn model(&self) -> &EstimateModel {
        &self.model
    }

    /// Integrates the model over the time since the last read at utilisation `u` (0–1).
    fn advance(&mut self, t_ns: u64, utilisation: f64) {
        if let Some(last) = self.last_t_ns {
            let dt = t_ns.saturating_sub(last) as f64 / 1e9;
            self.joules[0] += self.model.cpu_power_w(utilisation) * dt;
            self.joules[1] += self.model.dram_power_w() * dt;
        }
        self.last_t_ns = Some(t_ns);
    }
}

impl EnergySource for CpuEstimate {
    fn name(&self) -> &str {
        "cpu-estimate"
    }

    fn domains(&self) -> &[Domain] {
        &self.domains
    }

    fn read(&mut self, clock: &MonotonicClock) -> Result<Reading, ProbeError> {
        // sysinfo reports the utilisation between this refresh and the previous one,
        // which is the mean over the interval: exact for a model linear in utilisation.
        self.sys.refresh_cpu_usage();
        let t_ns = clock.now_ns();
        let utilisation = f64::from(self.sys.global_cpu_usage()) / 100.0;
        self.advance(t_ns, utilisation);
        Ok(Reading {
            t_ns,
            joules: self.joules.to_vec(),
        })
    }

    fn resolution(&self) -> Duration {
        // Utilisation is counted in scheduler ticks (10 ms); below ~1 s it is coarse.
        Duration::from_secs(1)
    }

    fn max_sample_hz(&self) -> f64 {
        // Scheduler ticks are 10 ms (or 4 ms): faster sampling only re-reads /proc/stat.
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> EstimateModel {
        EstimateModel {
            tdp_w: 100.0,
            idle_w: 30.0,
            tdp_origin: TdpOrigin::Configured,
            memory_gb: 16.0,
            dram_w_per_gb: 0.375,
            cpu_brand: "test".into(),
        }
    }

    #[test]
    fn power_is_linear_in_utilisation_and_clamped() {
        let m = model();
        assert_eq!(m.cpu_power_w(0.0), 30.0);
        assert_eq!(m.cpu_power_w(0.5), 65.0);
        assert_eq!(m.cpu_power_w(1.0), 100.0);
        assert_eq!(m.cpu_power_w(2.0), 100.0);
        assert_eq!(m.dram_power_w(), 6.0);
    }

    #[test]
    fn integration_accumulates_power_times_time() {
        let mut e = CpuEstimate::new(model()).expect("sysinfo works on Linux");
        e.advance(0, 0.0);
        e.advance(2_000_000_000, 0.5); // 2 s at 65 W
        e.advance(3_000_000_000, 1.0); // 1 s at 100 W
        assert!((e.joules[0] - 230.0).abs() < 1e-9);
        assert!((e.joules[1] - 18.0).abs() < 1e-9);
    }

    #[test]
    fn every_domain_is_labelled_estimated() {
        let e = CpuEstimate::new(model()).expect("sysinfo works on Linux");
        assert!(
            e.domains()
                .iter()
                .all(|d| d.provenance == Provenance::Estimated)
        );
    }

    #[test]
    fn known_models_are_found_by_substring() {
        assert_eq!(
            known_tdp("AMD EPYC 7763 64-Core Processor"),
            Some(("EPYC 7763", 280.0))
        );
        assert_eq!(known_tdp("Unknown CPU"), None);
    }
}
