//! Finding which energy sources this machine offers, and why the others are missing.

use crate::estimate::{CpuEstimate, EstimateModel};
use crate::{Domain, EnergySource, MonotonicClock, ProbeError, Reading};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Default powercap root in sysfs.
pub const DEFAULT_POWERCAP_ROOT: &str = "/sys/class/powercap";

/// Which sources to look for and how to set them up.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// Whether to look for RAPL (powercap, then perf_event).
    pub rapl: bool,
    /// Whether to look for NVIDIA GPUs over NVML.
    pub nvml: bool,
    /// Whether to fall back to a labelled estimate where nothing measured covers the CPU.
    pub estimate: bool,
    /// Root of the powercap tree (for containers that mount sysfs elsewhere).
    pub powercap_root: PathBuf,
    /// CPU TDP for the estimate (W); looked up or defaulted when absent.
    pub cpu_tdp_w: Option<f64>,
    /// DRAM power per GB for the estimate (W/GB).
    pub dram_w_per_gb: Option<f64>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            rapl: true,
            nvml: true,
            estimate: true,
            powercap_root: PathBuf::from(DEFAULT_POWERCAP_ROOT),
            cpu_tdp_w: None,
            dram_w_per_gb: None,
        }
    }
}

/// A probe that was wanted but cannot be used here, with the reason and the fix.
#[derive(Clone, Debug, PartialEq)]
pub struct MissingProbe {
    /// Which probe.
    pub probe: String,
    /// Why it cannot be used, and how to make it usable.
    pub reason: String,
}

/// A source shared between the sampler thread and window reads.
pub type SharedSource = Arc<Mutex<Box<dyn EnergySource>>>;

/// The sources found on this machine, and the wanted ones that are missing.
pub struct ProbeSet {
    /// Sources that opened and gave a first reading.
    pub sources: Vec<SharedSource>,
    /// Wanted sources that could not be used, with reasons.
    pub missing: Vec<MissingProbe>,
    /// Descriptions of each source (name, domains, resolution, how it measures).
    pub descriptions: Vec<SourceDescription>,
}

/// What a source is, for manifests and `probe list`.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceDescription {
    /// Source name.
    pub name: String,
    /// Its domains.
    pub domains: Vec<Domain>,
    /// Shortest window it resolves reliably (s).
    pub resolution_s: f64,
    /// One line on how it measures or estimates.
    pub method: String,
}

impl ProbeSet {
    /// Every domain of every source, with its source name, in a stable order.
    pub fn domains(&self) -> Vec<(String, Domain)> {
        self.descriptions
            .iter()
            .flat_map(|d| d.domains.iter().map(|dom| (d.name.clone(), dom.clone())))
            .collect()
    }

    /// Reads every source once (exact counter reads for window starts and ends).
    pub fn read_all(&self, clock: &MonotonicClock) -> Result<Vec<Reading>, ProbeError> {
        self.sources
            .iter()
            .map(|s| lock(s).read(clock))
            .collect()
    }
}

/// Locks a shared source, recovering it if a thread panicked while holding it.
pub(crate) fn lock(s: &SharedSource) -> std::sync::MutexGuard<'_, Box<dyn EnergySource>> {
    s.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens every wanted source that this machine offers.
pub fn discover(config: &ProbeConfig, clock: &MonotonicClock) -> ProbeSet {
    let mut opened: Vec<(Box<dyn EnergySource>, String)> = Vec::new();
    let mut missing = Vec::new();
    let cpu_measured = false;
    if config.rapl {
        missing.push(MissingProbe {
            probe: "rapl".into(),
            reason: format!(
                "RAPL reading is not part of this build yet (powercap root {})",
                config.powercap_root.display()
            ),
        });
    }
    if config.nvml {
        missing.push(MissingProbe {
            probe: "nvml".into(),
            reason: "NVML reading is not part of this build yet".into(),
        });
    }
    if config.estimate && !cpu_measured {
        match EstimateModel::for_this_machine(config.cpu_tdp_w, config.dram_w_per_gb)
            .and_then(|model| {
                let method = model.describe();
                CpuEstimate::new(model).map(|source| (source, method))
            }) {
            Ok((source, method)) => opened.push((Box::new(source), method)),
            Err(e) => missing.push(MissingProbe {
                probe: "cpu-estimate".into(),
                reason: e.to_string(),
            }),
        }
    }
    let mut sources = Vec::new();
    let mut descriptions = Vec::new();
    for (mut source, method) in opened {
        // A first read proves the source works and sets its zero.
        match source.read(clock) {
            Ok(_) => {
                descriptions.push(SourceDescription {
                    name: source.name().to_string(),
                    domains: source.domains().to_vec(),
                    resolution_s: source.resolution().as_secs_f64(),
                    method,
                });
                sources.push(Arc::new(Mutex::new(source)));
            }
            Err(e) => missing.push(MissingProbe {
                probe: source.name().to_string(),
                reason: e.to_string(),
            }),
        }
    }
    ProbeSet {
        sources,
        missing,
        descriptions,
    }
}
