//! GPU power limits for a sweep: set through NVML, always restored, and a crash left behind
//! detected.
//!
//! [`PowerLimits::open`] claims the selected GPUs: under an exclusive lock on the journal
//! directory it looks at every journal there, refuses ([`PowerLimitError::InUse`]) when a
//! live run holds one of the same GPUs, restores the GPUs it shares with a journal left
//! behind, reads each GPU's limit and allowed range, and writes its own journal (a new file
//! per run, naming each GPU's original limit, its pid and process start), so a run killed
//! while a limit is changed leaves evidence and runs on disjoint GPUs (Slurm shards on one
//! node) do not collide. [`PowerLimits::restore`] (idempotent, also run on drop) sets every
//! changed GPU back and removes the journal.
//!
//! A journal whose process is gone is *left behind*: `joulebench probe list` reports it
//! ([`find_journals`]) with the command that restores each GPU, and the next
//! [`PowerLimits::open`] on any of its GPUs restores them before reading the originals
//! afresh (it refuses, keeping the journal, when the restore fails), so a crashed run's
//! limit is never taken for a new run's original.

mod error;
mod guard;
mod journal;
#[cfg(test)]
mod tests;

pub use error::{PowerLimitError, RestoreFailure, restore_command};
pub use guard::{GpuLimit, PowerLimits, recover_left_behind};
pub use journal::{
    Journal, JournalFinding, JournalGpu, default_journal_dir, find_journals, find_journals_in,
    journal_files, journal_search_dirs, read_journal, same_gpu,
};

use probes::nvml::selection::select;
use probes::nvml::{GpuDevice, GpuLibrary, GpuSelection};

/// Environment variable naming the journal directory instead of the default one.
pub const JOURNAL_ENV: &str = "JOULEBENCH_POWER_LIMIT_JOURNAL";

/// How journal file names begin (`power-limits-PID-N.json`; an older single
/// `power-limits.json` is found too).
const JOURNAL_PREFIX: &str = "power-limits";

/// The lock file of a journal directory.
const LOCK_FILE: &str = ".power-limits.lock";

/// Where root's runs keep their journals: `/run` is root's, readable by all, and emptied
/// on a reboot, as the driver's power limits are.
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
