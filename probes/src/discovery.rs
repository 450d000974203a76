//! Finding which energy sources this machine offers, and why the others are missing.

use crate::dram_estimate::DramEstimate;
use crate::estimate::{CpuEstimate, EstimateModel};
use crate::missing::MissingProbe;
use crate::nvml::real::NvmlLibrary;
use crate::nvml::{GpuError, GpuInventory, GpuLibrary, GpuSelection, open_gpus};
use crate::rapl::{PerfRaplSource, PowercapSource};
use crate::{Domain, DomainKind, EnergySource, MonotonicClock, ProbeError, Provenance, Reading};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Default powercap root in sysfs.
pub const DEFAULT_POWERCAP_ROOT: &str = "/sys/class/powercap";
/// Default sysfs root for the perf_event power PMU and CPU topology.
pub const DEFAULT_SYSFS_ROOT: &str = "/sys";

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
    /// Root of sysfs for RAPL over perf_event (`<root>/bus/event_source/devices/power`).
    pub perf_sysfs_root: PathBuf,
    /// GPUs to read, by NVML index or UUID; empty: `CUDA_VISIBLE_DEVICES`, else all.
    pub gpus: Vec<String>,
    /// With a measured CPU whose RAPL has no DRAM domain, add a labelled DRAM estimate
    /// (default false: DRAM is then reported missing and left out of totals).
    pub estimate_dram_with_measured_cpu: bool,
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
            perf_sysfs_root: PathBuf::from(DEFAULT_SYSFS_ROOT),
            gpus: Vec::new(),
            estimate_dram_with_measured_cpu: false,
            cpu_tdp_w: None,
            dram_w_per_gb: None,
        }
    }
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
    /// NVIDIA driver and NVML versions and the selected GPUs (empty without a driver).
    pub gpu_inventory: GpuInventory,
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
    /// One line on how it measures or estimates, with assumptions and zones left out.
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

    /// Longest gap between reads of source `index` that loses nothing (the sampler keeps to it).
    pub fn max_read_interval(&self, index: usize) -> Option<std::time::Duration> {
        self.sources
            .get(index)
            .and_then(|s| lock(s).max_read_interval())
    }

    /// Reads every source once (exact counter reads for window starts and ends).
    pub fn read_all(&self, clock: &MonotonicClock) -> Result<Vec<Reading>, ProbeError> {
        self.sources.iter().map(|s| lock(s).read(clock)).collect()
    }

    /// Every source's state now (GPU temperature, clocks, limits), with its source name.
    pub fn read_states(&self) -> Vec<(String, crate::StateValue)> {
        self.sources
            .iter()
            .zip(&self.descriptions)
            .flat_map(|(s, d)| {
                let states = lock(s).read_state();
                states.into_iter().map(|v| (d.name.clone(), v))
            })
            .collect()
    }

    /// Per-process utilisation samples taken after `since_us` (µs since the Unix epoch),
    /// with the name of the domain they belong to.
    pub fn process_samples(&self, since_us: u64) -> Vec<(String, crate::ProcessShareSample)> {
        self.sources
            .iter()
            .zip(&self.descriptions)
            .flat_map(|(s, d)| {
                let samples = lock(s).process_samples(since_us);
                samples
                    .into_iter()
                    .filter_map(|p| Some((d.domains.get(p.domain)?.name.clone(), p)))
            })
            .collect()
    }
}

/// Locks a shared source, recovering it if a thread panicked while holding it.
pub(crate) fn lock(s: &SharedSource) -> std::sync::MutexGuard<'_, Box<dyn EnergySource>> {
    s.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens RAPL over powercap, else over perf_event; the error gives both reasons.
pub fn open_rapl(
    powercap_root: &Path,
    perf_sysfs_root: &Path,
) -> Result<(Box<dyn EnergySource>, String), String> {
    let powercap_error = match PowercapSource::open(powercap_root) {
        Ok(source) => {
            let mut method = format!(
                "RAPL over powercap ({}): energy_uj accumulated in 64 bits, wraps at \
                 max_energy_range_uj corrected",
                powercap_root.display()
            );
            for note in source.notes() {
                method.push_str("; ");
                method.push_str(note);
            }
            return Ok((Box::new(source), method));
        }
        Err(e) => e,
    };
    match PerfRaplSource::open(perf_sysfs_root) {
        Ok(source) => Ok((
            Box::new(source),
            format!(
                "RAPL over perf_event (power PMU, 64-bit counts × scale); powercap was not \
                 usable: {powercap_error}"
            ),
        )),
        Err(perf_error) => Err(format!(
            "powercap: {powercap_error}; perf_event: {perf_error}"
        )),
    }
}

/// Opens every wanted source that this machine offers.
pub fn discover(config: &ProbeConfig, clock: &MonotonicClock) -> ProbeSet {
    discover_with(config, clock, None)
}

/// [`discover`], with the GPUs of `gpus` instead of the driver's NVML when given (a fake
/// GPU library in tests of everything above the probes).
pub fn discover_with(
    config: &ProbeConfig,
    clock: &MonotonicClock,
    gpus: Option<Box<dyn GpuLibrary>>,
) -> ProbeSet {
    let mut opened: Vec<(Box<dyn EnergySource>, String)> = Vec::new();
    let mut missing = Vec::new();
    let mut gpu_inventory = GpuInventory::default();
    if config.rapl {
        match open_rapl(&config.powercap_root, &config.perf_sysfs_root) {
            Ok(pair) => opened.push(pair),
            Err(reason) => missing.push(MissingProbe {
                probe: "rapl".into(),
                reason,
            }),
        }
    }
    if config.nvml {
        let library: Result<Box<dyn GpuLibrary>, GpuError> = match gpus {
            Some(library) => Ok(library),
            None => NvmlLibrary::init().map(|l| Box::new(l) as Box<dyn GpuLibrary>),
        };
        match library {
            Ok(library) => {
                let opening = open_gpus(library.as_ref(), &GpuSelection::from_env(&config.gpus));
                missing.extend(opening.missing);
                gpu_inventory = opening.inventory;
                if let Some(source) = opening.source {
                    opened.push((Box::new(source), format!("NVML: {}", opening.method)));
                }
            }
            Err(e) => missing.push(MissingProbe {
                probe: "nvml".into(),
                reason: format!(
                    "no NVIDIA driver: NVML (libnvidia-ml.so.1) could not be loaded or \
                     initialised ({e}); GPU energy is not measured"
                ),
            }),
        }
    }
    let mut sources = Vec::new();
    let mut descriptions = Vec::new();
    open_all(opened, clock, &mut sources, &mut descriptions, &mut missing);
    let measured = |kind: DomainKind| {
        descriptions
            .iter()
            .flat_map(|d| &d.domains)
            .any(|d: &Domain| d.kind == kind && d.provenance == Provenance::Measured)
    };
    let cpu_measured = measured(DomainKind::CpuPackage);
    let dram_measured = measured(DomainKind::Dram);
    let mut estimates: Vec<(Box<dyn EnergySource>, String)> = Vec::new();
    if config.estimate && !cpu_measured {
        match EstimateModel::for_this_machine(config.cpu_tdp_w, config.dram_w_per_gb).and_then(
            |model| {
                let method = model.describe();
                CpuEstimate::new(model).map(|source| (source, method))
            },
        ) {
            Ok((source, method)) => estimates.push((Box::new(source), method)),
            Err(e) => missing.push(MissingProbe {
                probe: "cpu-estimate".into(),
                reason: e.to_string(),
            }),
        }
    } else if cpu_measured && !dram_measured {
        if config.estimate && config.estimate_dram_with_measured_cpu {
            match EstimateModel::for_this_machine(config.cpu_tdp_w, config.dram_w_per_gb) {
                Ok(model) => estimates.push((
                    Box::new(DramEstimate::new(&model)),
                    DramEstimate::describe(&model),
                )),
                Err(e) => missing.push(MissingProbe {
                    probe: "dram-estimate".into(),
                    reason: e.to_string(),
                }),
            }
        } else {
            missing.push(MissingProbe {
                probe: "dram".into(),
                reason: "RAPL here has no DRAM domain (AMD, most client CPUs): DRAM energy is \
                         neither measured nor in the totals; set estimate_dram_with_measured_cpu \
                         to add a labelled estimate"
                    .into(),
            });
        }
    }
    open_all(
        estimates,
        clock,
        &mut sources,
        &mut descriptions,
        &mut missing,
    );
    ProbeSet {
        sources,
        missing,
        descriptions,
        gpu_inventory,
    }
}

/// Gives each source a first read (proving it works and setting its zero), then keeps it.
fn open_all(
    opened: Vec<(Box<dyn EnergySource>, String)>,
    clock: &MonotonicClock,
    sources: &mut Vec<SharedSource>,
    descriptions: &mut Vec<SourceDescription>,
    missing: &mut Vec<MissingProbe>,
) {
    for (mut source, method) in opened {
        match source.read(clock) {
            Ok(_) => {
                descriptions.push(describe(source.as_ref(), method));
                sources.push(Arc::new(Mutex::new(source)));
            }
            Err(e) => missing.push(MissingProbe {
                probe: source.name().to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

/// The description of an opened source.
pub fn describe(source: &dyn EnergySource, method: String) -> SourceDescription {
    SourceDescription {
        name: source.name().to_string(),
        domains: source.domains().to_vec(),
        resolution_s: source.resolution().as_secs_f64(),
        method,
    }
}
