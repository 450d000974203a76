//! The guard that changes the selected GPUs' limits and always sets them back.

use super::error::{PowerLimitError, RestoreFailure, join, watts_text};
use super::journal::{
    Journal, JournalGpu, proc_stat, read_journal, remove_if_there, write_atomically,
};
use super::{JOURNAL_VERSION, SAME_W};
use probes::nvml::{GpuDevice, GpuError};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One GPU's limits as a run records them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GpuLimit {
    /// NVML index.
    pub index: u32,
    /// UUID (empty when unreadable).
    pub uuid: String,
    /// Its limit before the run (W).
    pub original_w: f64,
    /// Lowest allowed (W).
    pub min_w: f64,
    /// Highest allowed (W).
    pub max_w: f64,
    /// The limit this run last set (W), `None` when at its original.
    pub set_w: Option<f64>,
}

struct Managed {
    device: Box<dyn GpuDevice>,
    limit: GpuLimit,
}

/// The selected GPUs' power limits, changed for a sweep and always set back: on
/// [`restore`](Self::restore), and on drop (an error return, a panic unwinding).
pub struct PowerLimits {
    gpus: Vec<Managed>,
    journal: PathBuf,
    journal_written: bool,
    recovered: Option<String>,
}

impl PowerLimits {
    /// Reads each GPU's limit and allowed range; restores first from a journal left
    /// behind at `journal` by a run that is gone, refuses while its run is alive.
    pub fn open(
        devices: Vec<Box<dyn GpuDevice>>,
        journal: impl Into<PathBuf>,
    ) -> Result<Self, PowerLimitError> {
        let journal = journal.into();
        if devices.is_empty() {
            return Err(PowerLimitError::NoGpus);
        }
        let recovered = match read_journal(&journal)? {
            None => None,
            Some(j) if j.owner_alive() => {
                return Err(PowerLimitError::InUse {
                    pid: j.pid,
                    since: j.since,
                    path: journal,
                });
            }
            Some(j) => Some(recover(&devices, &j, &journal)?),
        };
        let mut gpus = Vec::new();
        for device in devices {
            let index = device.index();
            let unreadable = |what| {
                move |source| PowerLimitError::Unreadable {
                    index,
                    what,
                    source,
                }
            };
            let original_w = device
                .power_management_limit_w()
                .map_err(unreadable("power limit"))?;
            let (min_w, max_w) = device
                .power_limit_constraints_w()
                .map_err(unreadable("power limit constraints"))?;
            gpus.push(Managed {
                limit: GpuLimit {
                    index,
                    uuid: device.uuid().unwrap_or_default(),
                    original_w,
                    min_w,
                    max_w,
                    set_w: None,
                },
                device,
            });
        }
        Ok(Self {
            gpus,
            journal,
            journal_written: false,
            recovered,
        })
    }

    /// Each GPU's original limit, allowed range and the limit set now.
    pub fn gpus(&self) -> Vec<GpuLimit> {
        self.gpus.iter().map(|g| g.limit.clone()).collect()
    }

    /// The journal this guard writes before its first change.
    pub fn journal_path(&self) -> &Path {
        &self.journal
    }

    /// What [`open`](Self::open) restored from a journal left behind, if it did.
    pub fn recovered(&self) -> Option<&str> {
        self.recovered.as_deref()
    }

    /// Sets every GPU to `watts`, after checking it against each GPU's range; on any
    /// failure the GPUs changed by this call are set back and the error returned.
    pub fn set(&mut self, watts: f64) -> Result<(), PowerLimitError> {
        for g in &self.gpus {
            let l = &g.limit;
            if !(watts.is_finite() && watts >= l.min_w - SAME_W && watts <= l.max_w + SAME_W) {
                return Err(PowerLimitError::OutOfRange {
                    index: l.index,
                    watts,
                    min: l.min_w,
                    max: l.max_w,
                });
            }
        }
        let due: Vec<usize> = (0..self.gpus.len())
            .filter(|&i| {
                let l = &self.gpus[i].limit;
                (l.set_w.unwrap_or(l.original_w) - watts).abs() >= SAME_W
            })
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        if !self.journal_written {
            self.write_journal()?;
        }
        let mut changed = Vec::new();
        for i in due {
            let g = &self.gpus[i];
            if let Err(source) = g.device.set_power_limit_w(watts) {
                let index = g.limit.index;
                self.roll_back(&changed);
                if self.gpus.iter().all(|g| g.limit.set_w.is_none()) {
                    self.remove_journal()?;
                }
                return Err(match source {
                    GpuError::NoPermission => PowerLimitError::NoPermission { index, watts },
                    source => PowerLimitError::SetFailed {
                        index,
                        watts,
                        source,
                    },
                });
            }
            changed.push((i, g.limit.set_w));
            self.gpus[i].limit.set_w = Some(watts);
        }
        Ok(())
    }

    /// Sets the GPUs a failing [`set`](Self::set) had changed (index, limit set before it)
    /// back to what they had; one that refuses keeps its new limit for the restore.
    fn roll_back(&mut self, changed: &[(usize, Option<f64>)]) {
        for &(i, previous) in changed {
            let g = &mut self.gpus[i];
            match g
                .device
                .set_power_limit_w(previous.unwrap_or(g.limit.original_w))
            {
                Ok(()) => g.limit.set_w = previous,
                Err(e) => tracing::error!(
                    "GPU {}: setting its power limit back after a failed set failed: {e}",
                    g.limit.index
                ),
            }
        }
    }

    /// Sets every changed GPU back to its original limit, then removes the journal;
    /// a second call does nothing. A GPU that refuses is named with the command that
    /// restores it, and the journal stays.
    pub fn restore(&mut self) -> Result<(), PowerLimitError> {
        let mut failures = Vec::new();
        for g in &mut self.gpus {
            if g.limit.set_w.is_none() {
                continue;
            }
            match g.device.set_power_limit_w(g.limit.original_w) {
                Ok(()) => g.limit.set_w = None,
                Err(error) => failures.push(RestoreFailure {
                    index: g.limit.index,
                    uuid: g.limit.uuid.clone(),
                    original_w: g.limit.original_w,
                    error,
                }),
            }
        }
        if !failures.is_empty() {
            return Err(PowerLimitError::Restore {
                failures,
                journal: self.journal.clone(),
            });
        }
        self.remove_journal()
    }

    fn write_journal(&mut self) -> Result<(), PowerLimitError> {
        let pid = std::process::id();
        let journal = Journal {
            version: JOURNAL_VERSION,
            pid,
            process_start_ticks: proc_stat(pid).map(|(_, start)| start),
            program: std::env::args_os()
                .next()
                .and_then(|a| {
                    Path::new(&a)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "joulebench".into()),
            since: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            gpus: self
                .gpus
                .iter()
                .map(|g| JournalGpu {
                    index: g.limit.index,
                    uuid: g.limit.uuid.clone(),
                    original_w: g.limit.original_w,
                })
                .collect(),
        };
        write_atomically(&self.journal, &journal).map_err(|source| PowerLimitError::Journal {
            path: self.journal.clone(),
            source,
        })?;
        self.journal_written = true;
        Ok(())
    }

    fn remove_journal(&mut self) -> Result<(), PowerLimitError> {
        if !self.journal_written {
            return Ok(());
        }
        remove_if_there(&self.journal)?;
        self.journal_written = false;
        Ok(())
    }
}

impl Drop for PowerLimits {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            tracing::error!("{e}");
        }
    }
}

/// Restores the GPUs a journal left behind names to their original limits and removes
/// the journal; refuses, keeping it, when a GPU is not among `devices` or refuses.
fn recover(
    devices: &[Box<dyn GpuDevice>],
    journal: &Journal,
    path: &Path,
) -> Result<String, PowerLimitError> {
    let who = format!(
        "a joulebench run that ended without restoring them ({} pid {}, changing them since {})",
        journal.program, journal.pid, journal.since
    );
    let mut failures = Vec::new();
    let mut restored = Vec::new();
    for g in &journal.gpus {
        let device = devices.iter().find(|d| {
            if g.uuid.is_empty() {
                d.index() == g.index
            } else {
                d.uuid().is_ok_and(|u| u == g.uuid)
            }
        });
        let Some(device) = device else {
            failures.push(RestoreFailure {
                index: g.index,
                uuid: g.uuid.clone(),
                original_w: g.original_w,
                error: GpuError::Failed("not among the GPUs this run selects".into()),
            });
            continue;
        };
        let now = device.power_management_limit_w().ok();
        if now.is_some_and(|w| (w - g.original_w).abs() < SAME_W) {
            continue;
        }
        match device.set_power_limit_w(g.original_w) {
            Ok(()) => restored.push(format!(
                "GPU {} {} W -> {} W",
                g.index,
                now.map_or("?".into(), watts_text),
                watts_text(g.original_w)
            )),
            Err(error) => failures.push(RestoreFailure {
                index: g.index,
                uuid: g.uuid.clone(),
                original_w: g.original_w,
                error,
            }),
        }
    }
    if !failures.is_empty() {
        return Err(PowerLimitError::LeftBehind(format!(
            "GPU power limits were left changed by {who} (journal {}); restoring them before this \
             run failed: {}; then remove {}",
            path.display(),
            join(&failures),
            path.display()
        )));
    }
    remove_if_there(path)?;
    let note = if restored.is_empty() {
        format!(
            "a power-limit journal left by {who} was removed: every GPU was already at its original limit"
        )
    } else {
        format!(
            "restored GPU power limits left changed by {who}: {}",
            restored.join(", ")
        )
    };
    tracing::warn!("{note}");
    Ok(note)
}
