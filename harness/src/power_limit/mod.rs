//! GPU power limits for a sweep: set through NVML, always restored, and a crash left behind
//! detected.
//!
//! [`PowerLimits`] reads each selected GPU's power-management limit and its allowed range
//! when opened, and before its first change writes a journal (temp file + rename) naming
//! each GPU's original limit, its own pid and process start, so a run killed while a limit
//! is changed leaves evidence. [`PowerLimits::restore`] (idempotent, also run on drop) sets
//! every changed GPU back and removes the journal.
//!
//! A journal whose process is gone is *left behind*: `joulebench probe list` reports it
//! ([`find_journals`]) with the command that restores each GPU, and the next
//! [`PowerLimits::open`] restores from it before reading the originals afresh (it refuses,
//! keeping the journal, when the journal names a GPU it was not given or the restore fails),
//! so a crashed run's limit is never taken for a new run's original.

mod error;
mod guard;
mod journal;
#[cfg(test)]
mod tests;

pub use error::{PowerLimitError, RestoreFailure, restore_command};
pub use guard::{GpuLimit, PowerLimits};
pub use journal::{
    Journal, JournalFinding, JournalGpu, default_journal_path, find_journals, find_journals_in,
    journal_search_paths, read_journal,
};

use probes::nvml::selection::select;
use probes::nvml::{GpuDevice, GpuLibrary, GpuSelection};

/// Environment variable naming the journal file instead of the default location.
pub const JOURNAL_ENV: &str = "JOULEBENCH_POWER_LIMIT_JOURNAL";

/// Journal file name in its directory.
const JOURNAL_FILE: &str = "power-limits.json";

/// Where root's runs keep the journal: `/run` is root's, readable by all, and emptied on a
/// reboot, as the driver's power limits are.
const ROOT_JOURNAL_DIR: &str = "/run/joulebench";

/// Limits closer than this (W) are one setting (NVML counts milliwatts).
const SAME_W: f64 = 0.0005;

/// The journal's format version.
const JOURNAL_VERSION: u32 = 1;

/// The GPUs power limits apply to: `gpus` (NVML indexes or UUIDs), else
/// `CUDA_VISIBLE_DEVICES`, else all, as the probes select them.
pub fn gpu_devices(
    library: &dyn GpuLibrary,
    gpus: &[String],
) -> Result<Vec<Box<dyn GpuDevice>>, PowerLimitError> {
    let devices = library.devices().map_err(PowerLimitError::Devices)?;
    let (chosen, unmatched) = select(devices, &GpuSelection::from_env(gpus));
    if let Some(first) = unmatched.into_iter().next() {
        return Err(PowerLimitError::Selection(first));
    }
    Ok(chosen)
}
