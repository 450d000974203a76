//! NVML energy per GPU: the driver's counter where supported, else integrated power.

use super::device::{GpuDevice, GpuError, GpuLibrary};
use super::integrator::PowerIntegrator;
use super::inventory::{GpuInfo, GpuInventory};
use super::selection::{GpuSelection, select};
use crate::missing::MissingProbe;
use crate::source::{ContextValue, ProcessShareSample, RawCounter};
use crate::state::{StateValue, on_off, throttle_names};
use crate::{Domain, DomainKind, EnergySource, MonotonicClock, ProbeError, Provenance, Reading};
use std::time::Duration;

/// How one GPU's energy is obtained.
#[derive(Clone, Debug, PartialEq)]
enum EnergyMethod {
    /// `total_energy_consumption` (mJ since driver load): first and last reads.
    Counter { first_mj: u64, last_mj: u64 },
    /// `NVML_FI_DEV_POWER_INSTANT` integrated over the field's own timestamps.
    InstantPower(PowerIntegrator),
    /// `power_usage` integrated over our clock (a 1 s average on recent GPUs).
    PowerUsage(PowerIntegrator),
}

impl EnergyMethod {
    fn describe(&self) -> &'static str {
        match self {
            EnergyMethod::Counter { .. } => "total_energy_consumption counter",
            EnergyMethod::InstantPower(_) => {
                "NVML_FI_DEV_POWER_INSTANT integrated over its own timestamps (no energy counter)"
            }
            EnergyMethod::PowerUsage(_) => {
                "power_usage integrated over joulebench's clock (no energy counter nor instant power field)"
            }
        }
    }
}

/// Context metrics each GPU supported when opened.
const METRICS: [&str; 5] = [
    "power_w",
    "utilization_pct",
    "sm_clock_mhz",
    "memory_used_mib",
    "temperature_c",
];

/// One GPU being read.
struct GpuReader {
    device: Box<dyn GpuDevice>,
    method: EnergyMethod,
    metrics: Vec<&'static str>,
}

/// NVIDIA GPUs over NVML: one domain `gpu-N` per GPU (the whole physical GPU, even under MIG).
pub struct NvmlSource {
    domains: Vec<Domain>,
    gpus: Vec<GpuReader>,
}

/// What opening the GPUs gave: the source (if any GPU works), what is missing, the inventory.
pub struct GpuOpening {
    /// The source, `None` when no selected GPU could be measured.
    pub source: Option<NvmlSource>,
    /// GPUs (or selections) that could not be used, with why.
    pub missing: Vec<MissingProbe>,
    /// Versions and selected GPUs, for the manifest.
    pub inventory: GpuInventory,
    /// One line on how each GPU is measured.
    pub method: String,
}

/// Opens the selected GPUs of `library`, detecting support by calling the API.
pub fn open_gpus(library: &dyn GpuLibrary, selection: &GpuSelection) -> GpuOpening {
    let mut inventory = GpuInventory {
        driver_version: library.driver_version().ok(),
        nvml_version: library.nvml_version().ok(),
        gpus: Vec::new(),
    };
    let mut missing = Vec::new();
    let devices = match library.devices() {
        Ok(d) => d,
        Err(e) => {
            missing.push(MissingProbe {
                probe: "nvml".into(),
                reason: format!("NVML loaded but cannot list GPUs: {e}"),
            });
            return GpuOpening {
                source: None,
                missing,
                inventory,
                method: String::new(),
            };
        }
    };
    let (devices, unmatched) = select(devices, selection);
    missing.extend(unmatched.into_iter().map(|reason| MissingProbe {
        probe: "nvml".into(),
        reason,
    }));
    let mut domains = Vec::new();
    let mut gpus = Vec::new();
    let mut methods = Vec::new();
    for device in devices {
        let index = device.index();
        let domain_name = format!("gpu-{index}");
        let mut info = GpuInfo {
            index,
            name: device.name().unwrap_or_default(),
            uuid: device.uuid().unwrap_or_default(),
            mig_enabled: device.mig_enabled().unwrap_or(false),
            power_limit_w: device.power_limit_w().ok().filter(|w| w.is_finite()),
            power_limit_default_w: device
                .power_limit_default_w()
                .ok()
                .filter(|w| w.is_finite()),
            ..GpuInfo::default()
        };
        match choose_method(device.as_ref()) {
            Ok(method) => {
                let mig = if info.mig_enabled {
                    "; MIG is on: energy is for the whole physical GPU, all instances together"
                } else {
                    ""
                };
                methods.push(format!("{domain_name}: {}{mig}", method.describe()));
                info.domain = Some(domain_name.clone());
                info.energy_method = Some(method.describe().to_string());
                let metrics = METRICS
                    .into_iter()
                    .filter(|m| read_metric(device.as_ref(), m, &method).is_ok())
                    .collect();
                domains.push(Domain::new(
                    domain_name,
                    DomainKind::Gpu,
                    Provenance::Measured,
                ));
                gpus.push(GpuReader {
                    device,
                    method,
                    metrics,
                });
            }
            Err(reason) => missing.push(MissingProbe {
                probe: format!("nvml {domain_name}"),
                reason,
            }),
        }
        inventory.gpus.push(info);
    }
    if selection.origin == "CUDA_VISIBLE_DEVICES"
        && std::env::var("CUDA_DEVICE_ORDER").as_deref() != Ok("PCI_BUS_ID")
        && inventory.gpus.len() > 1
    {
        methods.push(
            "CUDA_VISIBLE_DEVICES indices were taken as NVML (PCI bus) indices; set \
             CUDA_DEVICE_ORDER=PCI_BUS_ID or use UUIDs so CUDA and NVML agree"
                .into(),
        );
    }
    let source = (!gpus.is_empty()).then_some(NvmlSource { domains, gpus });
    GpuOpening {
        source,
        missing,
        inventory,
        method: methods.join("; "),
    }
}

/// Counter if supported, else instant power, else power usage; a failing GPU says why.
fn choose_method(device: &dyn GpuDevice) -> Result<EnergyMethod, String> {
    match device.total_energy_mj() {
        Ok(mj) => {
            return Ok(EnergyMethod::Counter {
                first_mj: mj,
                last_mj: mj,
            });
        }
        Err(GpuError::NotSupported) => {}
        Err(e) => return Err(format!("reading its energy counter failed: {e}")),
    }
    match device.power_instant() {
        Ok(_) => return Ok(EnergyMethod::InstantPower(PowerIntegrator::default())),
        Err(GpuError::NotSupported) => {}
        Err(e) => return Err(format!("reading its instant power failed: {e}")),
    }
    match device.power_usage_w() {
        Ok(_) => Ok(EnergyMethod::PowerUsage(PowerIntegrator::default())),
        Err(GpuError::NotSupported) => {
            Err("this GPU offers no energy counter and no power reading".into())
        }
        Err(e) => Err(format!("reading its power failed: {e}")),
    }
}

fn read_metric(
    device: &dyn GpuDevice,
    metric: &str,
    method: &EnergyMethod,
) -> Result<f64, GpuError> {
    match metric {
        "power_w" => {
            let integrated = match method {
                EnergyMethod::InstantPower(p) | EnergyMethod::PowerUsage(p) => p.last_watts(),
                EnergyMethod::Counter { .. } => None,
            };
            match integrated {
                Some(w) => Ok(w),
                None => device
                    .power_instant()
                    .map(|s| s.watts)
                    .or_else(|_| device.power_usage_w()),
            }
        }
        "utilization_pct" => device.utilization_pct(),
        "sm_clock_mhz" => device.sm_clock_mhz(),
        "memory_used_mib" => device.memory_used_mib(),
        "temperature_c" => device.temperature_c(),
        _ => Err(GpuError::NotSupported),
    }
}

impl NvmlSource {
    /// Reads one GPU's cumulative energy (J) since opening; `t_ns` times `power_usage`.
    fn read_gpu(gpu: &mut GpuReader, t_ns: u64) -> Result<f64, GpuError> {
        match &mut gpu.method {
            EnergyMethod::Counter { first_mj, last_mj } => {
                let mj = gpu.device.total_energy_mj()?;
                if mj < *last_mj {
                    return Err(GpuError::Failed(format!(
                        "energy counter went back from {last_mj} to {mj} mJ (driver reloaded?)"
                    )));
                }
                *last_mj = mj;
                Ok((mj - *first_mj) as f64 / 1000.0)
            }
            EnergyMethod::InstantPower(p) => {
                let s = gpu.device.power_instant()?;
                p.add(s.timestamp_us as f64 / 1e6, s.watts)
            }
            EnergyMethod::PowerUsage(p) => {
                let w = gpu.device.power_usage_w()?;
                p.add(t_ns as f64 / 1e9, w)
            }
        }
    }
}

impl EnergySource for NvmlSource {
    fn name(&self) -> &str {
        "nvml"
    }

    fn domains(&self) -> &[Domain] {
        &self.domains
    }

    fn read(&mut self, clock: &MonotonicClock) -> Result<Reading, ProbeError> {
        let t_ns = clock.now_ns();
        let mut joules = Vec::with_capacity(self.gpus.len());
        for (gpu, domain) in self.gpus.iter_mut().zip(&self.domains) {
            let j = Self::read_gpu(gpu, t_ns).map_err(|e| ProbeError::Device {
                probe: format!("nvml {}", domain.name),
                reason: e.to_string(),
            })?;
            joules.push(j);
        }
        Ok(Reading { t_ns, joules })
    }

    fn resolution(&self) -> Duration {
        // The counter refreshes every 20-100 ms: windows under ~2 s are noisy. Sampled
        // power sees a quarter of the time on A100/H100: ask for 5 s windows there.
        let integrates = self
            .gpus
            .iter()
            .any(|g| !matches!(g.method, EnergyMethod::Counter { .. }));
        Duration::from_secs(if integrates { 5 } else { 2 })
    }

    fn max_read_interval(&self) -> Option<Duration> {
        // Integrated power is only as good as its sampling: keep reading at 10 Hz at least.
        self.gpus
            .iter()
            .any(|g| !matches!(g.method, EnergyMethod::Counter { .. }))
            .then_some(Duration::from_millis(100))
    }

    fn raw_counters(&self) -> Vec<Option<RawCounter>> {
        self.gpus
            .iter()
            .map(|g| match g.method {
                EnergyMethod::Counter { last_mj, .. } => Some(RawCounter {
                    joules: last_mj as f64 / 1000.0,
                    wrap_j: None,
                    wrap_known: true,
                }),
                _ => None,
            })
            .collect()
    }

    fn read_context(&mut self) -> Vec<ContextValue> {
        let mut out = Vec::new();
        for (domain, gpu) in self.gpus.iter().enumerate() {
            for &metric in &gpu.metrics {
                let value = read_metric(gpu.device.as_ref(), metric, &gpu.method);
                // A NaN or infinite reading is a failed metric: left out, like an error.
                if let Some(value) = value.ok().filter(|v| v.is_finite()) {
                    out.push(ContextValue {
                        domain,
                        metric,
                        value,
                    });
                }
            }
        }
        out
    }

    fn read_state(&mut self) -> Vec<StateValue> {
        let mut out = Vec::new();
        for (gpu, domain) in self.gpus.iter().zip(&self.domains) {
            let d = gpu.device.as_ref();
            let number = |r: Result<f64, GpuError>| r.map(|v| format!("{v}"));
            let reads: [(&'static str, Result<String, GpuError>); 6] = [
                ("temperature_c", number(d.temperature_c())),
                ("sm_clock_mhz", number(d.sm_clock_mhz())),
                ("mem_clock_mhz", number(d.mem_clock_mhz())),
                ("power_limit_w", number(d.power_limit_w())),
                (
                    "persistence_mode",
                    d.persistence_mode().map(|p| on_off(p).to_string()),
                ),
                ("throttle_reasons", d.throttle_reasons().map(throttle_names)),
            ];
            for (key, value) in reads {
                let value = match value {
                    Ok(v) => v,
                    Err(GpuError::NotSupported) => continue,
                    Err(e) => format!("unreadable: {e}"),
                };
                out.push(StateValue {
                    domain: domain.name.clone(),
                    key,
                    value,
                });
            }
        }
        out
    }

    fn process_samples(&mut self, since_us: u64) -> Vec<ProcessShareSample> {
        let mut out = Vec::new();
        for (domain, gpu) in self.gpus.iter().enumerate() {
            match gpu.device.process_sm_samples(since_us) {
                Ok(samples) => out.extend(samples.into_iter().map(|s| ProcessShareSample {
                    domain,
                    pid: s.pid,
                    timestamp_us: s.timestamp_us,
                    util_pct: f64::from(s.sm_util_pct),
                })),
                Err(e) => tracing::debug!("per-process utilisation of gpu {domain}: {e}"),
            }
        }
        out
    }

    fn max_sample_hz(&self) -> f64 {
        100.0
    }
}
