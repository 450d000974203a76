//! The GPU power limits of a sweep: opened before the first visit when a configuration
//! names one, set before each visit (so the cool-down before it lets the board settle),
//! and restored when the loop ends however it ends.

use crate::plan::{Configuration, Plan};
use crate::power_limit::{self, PowerLimitError, PowerLimits};
use probes::nvml::GpuDevice;

/// Opens the GPUs whose limits a sweep sets (NVML in a real run, fakes in tests).
pub type GpuOpener<'a> = &'a (dyn Fn() -> Result<Vec<Box<dyn GpuDevice>>, PowerLimitError> + Sync);

/// How a run reaches the GPUs whose power limits it sets, and where it journals a change.
pub struct PowerControl<'a> {
    /// Opens the GPUs.
    pub open: GpuOpener<'a>,
    /// The journal a killed run leaves behind ([`power_limit::default_journal_path`]).
    pub journal: std::path::PathBuf,
}

/// The GPUs of `gpus` (indexes or UUIDs, else `CUDA_VISIBLE_DEVICES`, else all) through
/// the NVIDIA driver.
pub fn nvml_gpus(gpus: &[String]) -> Result<Vec<Box<dyn GpuDevice>>, PowerLimitError> {
    let library = probes::nvml::real::NvmlLibrary::init().map_err(PowerLimitError::Devices)?;
    power_limit::gpu_devices(&library, gpus)
}

/// The guard of a plan that sets power limits, on `control`'s GPUs and journal; `None`
/// when no configuration names a limit.
pub fn open_for(
    plan: &Plan,
    control: &PowerControl<'_>,
) -> Result<Option<PowerLimits>, PowerLimitError> {
    let sweeps = plan.configurations.iter().any(|c| limit_of(c).is_some());
    if !sweeps {
        return Ok(None);
    }
    let guard = PowerLimits::open((control.open)()?, control.journal.clone())?;
    if let Some(what) = guard.recovered() {
        tracing::warn!("{what}");
    }
    Ok(Some(guard))
}

/// Puts the GPUs at `config`'s limit, or back at the limits found when it names none.
pub fn apply(guard: &mut PowerLimits, config: &Configuration) -> Result<(), PowerLimitError> {
    match limit_of(config) {
        Some(watts) => guard.set(f64::from(watts)),
        None => guard.restore(),
    }
}

fn limit_of(config: &Configuration) -> Option<u32> {
    config.point.and_then(|p| p.power_limit_w)
}
