//! Why a power limit could not be read, set or restored, and the command that fixes it.

use super::JOURNAL_ENV;
use probes::nvml::GpuError;
use std::fmt;
use std::path::PathBuf;

/// Why a power limit could not be read, set or restored.
#[derive(Debug, thiserror::Error)]
pub enum PowerLimitError {
    /// No GPU to set a limit on.
    #[error("power limits need an NVIDIA GPU, and none is selected")]
    NoGpus,
    /// A selected GPU matched no device.
    #[error("power limits: {0}")]
    Selection(String),
    /// NVML could not list the GPUs.
    #[error("power limits: NVML cannot list the GPUs: {0}")]
    Devices(GpuError),
    /// A GPU's limit or constraints could not be read.
    #[error("GPU {index}: reading its {what} failed: {source}")]
    Unreadable {
        /// NVML index.
        index: u32,
        /// What was read.
        what: &'static str,
        /// The driver's answer.
        source: GpuError,
    },
    /// The limit is outside a GPU's allowed range.
    #[error(
        "power limit {watts} W is outside GPU {index}'s allowed range {min} to {max} W \
         (nvmlDeviceGetPowerManagementLimitConstraints): give a limit in that range, or DEFAULT \
         to measure at the limit as found"
    )]
    OutOfRange {
        /// NVML index.
        index: u32,
        /// The limit asked for (W).
        watts: f64,
        /// Lowest allowed (W).
        min: f64,
        /// Highest allowed (W).
        max: f64,
    },
    /// The driver refused: setting a limit needs root.
    #[error(
        "setting GPU {index}'s power limit to {watts} W needs root (NVML: no permission): run \
         with sudo, or give the limit as DEFAULT to measure at the limit as found"
    )]
    NoPermission {
        /// NVML index.
        index: u32,
        /// The limit asked for (W).
        watts: f64,
    },
    /// The driver refused the set for another reason.
    #[error("setting GPU {index}'s power limit to {watts} W failed: {source}")]
    SetFailed {
        /// NVML index.
        index: u32,
        /// The limit asked for (W).
        watts: f64,
        /// The driver's answer.
        source: GpuError,
    },
    /// Some GPUs could not be set back; the journal is kept.
    #[error(
        "restoring GPU power limits failed: {}; the journal {} stays until they are restored",
        join(.failures), .journal.display()
    )]
    Restore {
        /// Each GPU not restored, with the command that restores it.
        failures: Vec<RestoreFailure>,
        /// The journal kept.
        journal: PathBuf,
    },
    /// The journal could not be written or removed.
    #[error(
        "power-limit journal {}: {source} (set {JOURNAL_ENV} to a directory to keep journals \
         elsewhere)",
        .path.display()
    )]
    Journal {
        /// The journal.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A journal is there but is not one.
    #[error(
        "power-limit journal {} cannot be read ({reason}): check each GPU's limit with \
         `nvidia-smi -q -d POWER`, restore any changed one with `sudo nvidia-smi -i GPU-UUID -pl \
         WATTS`, then remove the file",
        .path.display()
    )]
    JournalUnreadable {
        /// The journal.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another live process holds the power limits of a GPU this run would set.
    #[error(
        "another joulebench run (pid {pid}, holding the power limits of {gpus} since {since}) \
         holds the power-limit journal {}: wait for it to end (it restores them), or give this \
         run other GPUs",
        .path.display()
    )]
    InUse {
        /// Its pid.
        pid: u32,
        /// When it claimed the GPUs.
        since: String,
        /// The GPUs both runs would set.
        gpus: String,
        /// The journal.
        path: PathBuf,
    },
    /// A limit of the plan is outside a GPU's allowed range: found before anything is measured.
    #[error(
        "schedule.gpu_power_limits_w: {} outside GPU {index}{}'s allowed range {} to {} W \
         (`nvidia-smi -q -d POWER` shows it): give limits in that range, or DEFAULT to measure \
         at the limit as found",
        watts_list(.limits), uuid_suffix(.uuid), watts_text(*.min), watts_text(*.max)
    )]
    PlanOutOfRange {
        /// NVML index.
        index: u32,
        /// UUID (empty when unreadable).
        uuid: String,
        /// The plan's limits outside the range (W).
        limits: Vec<f64>,
        /// Lowest allowed (W).
        min: f64,
        /// Highest allowed (W).
        max: f64,
    },
    /// A crashed run's limits could not be restored here.
    #[error("{0}")]
    LeftBehind(String),
}

pub(super) fn join(failures: &[RestoreFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One GPU a restore could not set back.
#[derive(Clone, Debug, PartialEq)]
pub struct RestoreFailure {
    /// NVML index.
    pub index: u32,
    /// UUID (empty when unreadable).
    pub uuid: String,
    /// The limit it should have (W).
    pub original_w: f64,
    /// The driver's answer.
    pub error: GpuError,
}

impl fmt::Display for RestoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GPU {}{}: {}; restore it with `{}`",
            self.index,
            uuid_suffix(&self.uuid),
            self.error,
            restore_command(self.index, &self.uuid, self.original_w)
        )
    }
}

pub(super) fn uuid_suffix(uuid: &str) -> String {
    if uuid.is_empty() {
        String::new()
    } else {
        format!(" ({uuid})")
    }
}

/// The command an operator runs to set a GPU back to `watts`: named by its UUID when known
/// (NVML indexes shift between boots and differ from `CUDA_VISIBLE_DEVICES` order), else
/// by its NVML index.
pub fn restore_command(index: u32, uuid: &str, watts: f64) -> String {
    if uuid.is_empty() {
        format!("sudo nvidia-smi -i {index} -pl {}", watts_text(watts))
    } else {
        format!("sudo nvidia-smi -i {uuid} -pl {}", watts_text(watts))
    }
}

/// Limits as the subject of a sentence: `450 W is`, `90 W, 450 W are`.
fn watts_list(limits: &[f64]) -> String {
    let each: Vec<String> = limits
        .iter()
        .map(|w| format!("{} W", watts_text(*w)))
        .collect();
    match each.as_slice() {
        [one] => format!("{one} is"),
        _ => format!("{} are", each.join(", ")),
    }
}

/// Watts as NVML holds them (whole milliwatts), without trailing zeros: `400`, `287.5`.
pub(super) fn watts_text(watts: f64) -> String {
    format!("{}", (watts * 1000.0).round() / 1000.0)
}
