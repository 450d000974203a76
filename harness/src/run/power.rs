//! The GPU power limits of a sweep: opened before the first visit when a configuration
//! names one (every limit checked against every GPU's range there), set before each visit
//! (so the cool-down before it lets the board settle), and restored when the loop ends
//! however it ends. A run that sets no limit still restores what a crashed sweep left on
//! its GPUs.

use crate::plan::{Configuration, Plan};
use crate::power_limit::{self, PowerLimitError, PowerLimits};
use probes::nvml::GpuDevice;
use std::path::PathBuf;

/// Opens the GPUs whose limits a sweep sets (NVML in a real run, fakes in tests).
pub type GpuOpener<'a> = &'a (dyn Fn() -> Result<Vec<Box<dyn GpuDevice>>, PowerLimitError> + Sync);

/// How a run reaches the GPUs whose power limits it sets, and where it journals a change.
pub struct PowerControl<'a> {
    /// Opens the GPUs.
    pub open: GpuOpener<'a>,
    /// The journal *directory* runs claim GPUs in ([`power_limit::default_journal_dir`]).
    pub journal: PathBuf,
}

/// The GPUs of `gpus` (indexes or UUIDs, else `CUDA_VISIBLE_DEVICES`, else all) through
/// the NVIDIA driver.
pub fn nvml_gpus(gpus: &[String]) -> Result<Vec<Box<dyn GpuDevice>>, PowerLimitError> {
    let library = probes::nvml::real::NvmlLibrary::init().map_err(PowerLimitError::Devices)?;
    power_limit::gpu_devices(&library, gpus)
}

/// The guard of a plan that sets power limits, on `control`'s GPUs and journal directory,
/// with every limit of the plan checked against every GPU's range before anything is
/// measured; `None` when no configuration names a limit (after restoring what journals
/// left behind name of the run's GPUs).
pub fn open_for(
    plan: &Plan,
    control: &PowerControl<'_>,
) -> Result<Option<PowerLimits>, PowerLimitError> {
    let mut limits: Vec<u32> = plan.configurations.iter().filter_map(limit_of).collect();
    limits.sort_unstable();
    limits.dedup();
    if limits.is_empty() {
        recover_for_unswept(control)?;
        return Ok(None);
    }
    // What it restores from a journal left behind it says as a warning.
    let guard = PowerLimits::open((control.open)()?, control.journal.clone())?;
    // The guard dropped on this error releases the GPUs; nothing was set.
    guard.check_all(&limits.iter().map(|&w| f64::from(w)).collect::<Vec<_>>())?;
    Ok(Some(guard))
}

/// A run that sets no limit: journals left behind (their run gone) that name its GPUs are
/// restored from, so it does not measure at a crashed sweep's limit; it refuses, with the
/// commands, when it cannot restore them. NVML is opened only when a journal is there.
fn recover_for_unswept(control: &PowerControl<'_>) -> Result<(), PowerLimitError> {
    let mut dirs = vec![control.journal.clone()];
    if control.journal == power_limit::default_journal_dir() {
        for dir in power_limit::journal_search_dirs() {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    let mut found = Vec::new();
    for dir in dirs {
        match power_limit::journal_files(&dir) {
            Ok(files) if !files.is_empty() => found.push(dir),
            Ok(_) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    let devices = match (control.open)() {
        Ok(devices) => devices,
        Err(e) => {
            // Without NVML this run cannot measure or set a GPU: say what is there.
            for finding in power_limit::find_journals_in(&found).into_iter().flatten() {
                if !finding.owner_alive {
                    for line in finding.describe(|_, _| None) {
                        tracing::warn!("{line}");
                    }
                }
            }
            tracing::warn!("power-limit journals are there but the GPUs cannot be read: {e}");
            return Ok(());
        }
    };
    for dir in &found {
        // What it restores it says as a warning.
        power_limit::recover_left_behind(&devices, dir)?;
    }
    Ok(())
}

/// Puts the GPUs at `config`'s limit, or back at the limits found when it names none.
pub fn apply(guard: &mut PowerLimits, config: &Configuration) -> Result<(), PowerLimitError> {
    match limit_of(config) {
        Some(watts) => guard.set(f64::from(watts)),
        None => guard.set_originals(),
    }
}

fn limit_of(config: &Configuration) -> Option<u32> {
    config.point.and_then(|p| p.power_limit_w)
}
