//! The guard that claims the selected GPUs, changes their limits and always sets them back.

use super::error::{PowerLimitError, RestoreFailure, join, uuid_suffix, watts_text};
use super::journal::{
    DirLock, Journal, JournalGpu, create_journal, journal_files, proc_stat, read_journal,
    remove_if_there, same_gpu, write_atomically,
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

/// The selected GPUs' power limits, claimed for a sweep and always set back: on
/// [`restore`](Self::restore), and on drop (an error return, a panic unwinding).
pub struct PowerLimits {
    gpus: Vec<Managed>,
    dir: PathBuf,
    /// This guard's journal while it holds the GPUs.
    journal: Option<PathBuf>,
    recovered: Option<String>,
}

impl PowerLimits {
    /// Claims `devices` in the journal directory `dir`: refuses while a live run holds
    /// one of them, restores first those a journal left behind names, reads each GPU's
    /// limit and allowed range, and writes this guard's journal, all under the
    /// directory's lock.
    pub fn open(
        devices: Vec<Box<dyn GpuDevice>>,
        dir: impl Into<PathBuf>,
    ) -> Result<Self, PowerLimitError> {
        let dir = dir.into();
        if devices.is_empty() {
            return Err(PowerLimitError::NoGpus);
        }
        let lock = lock_dir(&dir)?;
        let borrowed: Vec<&dyn GpuDevice> = devices.iter().map(AsRef::as_ref).collect();
        let recovered = settle(&borrowed, &dir, Live::Refuse)?;
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
        let mut guard = Self {
            gpus,
            dir,
            journal: None,
            recovered,
        };
        guard.write_journal()?;
        drop(lock);
        Ok(guard)
    }

    /// Each GPU's original limit, allowed range and the limit set now.
    pub fn gpus(&self) -> Vec<GpuLimit> {
        self.gpus.iter().map(|g| g.limit.clone()).collect()
    }

    /// The journal this guard holds its GPUs with; `None` once restored.
    pub fn journal_path(&self) -> Option<&Path> {
        self.journal.as_deref()
    }

    /// The directory of journals this guard claims in.
    pub fn journal_dir(&self) -> &Path {
        &self.dir
    }

    /// What [`open`](Self::open) restored from a journal left behind, if it did.
    pub fn recovered(&self) -> Option<&str> {
        self.recovered.as_deref()
    }

    /// Checks `watts` against every GPU's allowed range.
    pub fn check(&self, watts: f64) -> Result<(), PowerLimitError> {
        for g in &self.gpus {
            let l = &g.limit;
            if !in_range(watts, l) {
                return Err(PowerLimitError::OutOfRange {
                    index: l.index,
                    watts,
                    min: l.min_w,
                    max: l.max_w,
                });
            }
        }
        Ok(())
    }

    /// Checks every limit of a plan against every GPU's range at once, before anything
    /// is measured; the first GPU refusing any is named with all it refuses.
    pub fn check_all(&self, limits: &[f64]) -> Result<(), PowerLimitError> {
        for g in &self.gpus {
            let l = &g.limit;
            let refused: Vec<f64> = limits
                .iter()
                .copied()
                .filter(|&w| !in_range(w, l))
                .collect();
            if !refused.is_empty() {
                return Err(PowerLimitError::PlanOutOfRange {
                    index: l.index,
                    uuid: l.uuid.clone(),
                    limits: refused,
                    min: l.min_w,
                    max: l.max_w,
                });
            }
        }
        Ok(())
    }

    /// Sets every GPU to `watts`, after checking it against each GPU's range (and claiming
    /// the GPUs again after a [`restore`](Self::restore)); on any failure the GPUs changed
    /// by this call are set back and the error returned.
    pub fn set(&mut self, watts: f64) -> Result<(), PowerLimitError> {
        self.check(watts)?;
        let due: Vec<usize> = (0..self.gpus.len())
            .filter(|&i| {
                let l = &self.gpus[i].limit;
                (l.set_w.unwrap_or(l.original_w) - watts).abs() >= SAME_W
            })
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        if self.journal.is_none() {
            self.claim_again()?;
        }
        let mut changed = Vec::new();
        for i in due {
            let g = &self.gpus[i];
            if let Err(source) = g.device.set_power_limit_w(watts) {
                let index = g.limit.index;
                self.roll_back(&changed);
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

    /// Sets every changed GPU back to its original limit and keeps holding the GPUs (a
    /// visit at the limit as found, in the middle of a sweep).
    pub fn set_originals(&mut self) -> Result<(), PowerLimitError> {
        let failures = self.set_back();
        if failures.is_empty() {
            return Ok(());
        }
        Err(PowerLimitError::Restore {
            failures,
            journal: self.journal.clone().unwrap_or_else(|| self.dir.clone()),
        })
    }

    /// Sets every changed GPU back to its original limit, then removes the journal,
    /// releasing the GPUs; a second call does nothing. A GPU that refuses is named with
    /// the command that restores it, and the journal stays.
    pub fn restore(&mut self) -> Result<(), PowerLimitError> {
        self.set_originals()?;
        if let Some(path) = self.journal.take() {
            remove_if_there(&path)?;
        }
        Ok(())
    }

    /// Sets every changed GPU back; those that refuse.
    fn set_back(&mut self) -> Vec<RestoreFailure> {
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
        failures
    }

    /// Claims the GPUs again after a restore released them, as [`open`](Self::open) does.
    fn claim_again(&mut self) -> Result<(), PowerLimitError> {
        let lock = lock_dir(&self.dir)?;
        let devices: Vec<&dyn GpuDevice> = self.gpus.iter().map(|g| g.device.as_ref()).collect();
        if let Some(note) = settle(&devices, &self.dir, Live::Refuse)? {
            self.recovered = Some(note);
        }
        self.write_journal()?;
        drop(lock);
        Ok(())
    }

    /// Writes this guard's journal as a new file of its directory (under its lock).
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
        let path =
            create_journal(&self.dir, &journal).map_err(|source| PowerLimitError::Journal {
                path: self.dir.clone(),
                source,
            })?;
        self.journal = Some(path);
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

fn in_range(watts: f64, l: &GpuLimit) -> bool {
    watts.is_finite() && watts >= l.min_w - SAME_W && watts <= l.max_w + SAME_W
}

fn lock_dir(dir: &Path) -> Result<DirLock, PowerLimitError> {
    DirLock::acquire(dir).map_err(|source| PowerLimitError::Journal {
        path: dir.to_path_buf(),
        source,
    })
}

/// What a journal of a live run that shares GPUs with this one does.
#[derive(Clone, Copy, PartialEq)]
enum Live {
    /// Refuses this run: it would set limits the other holds.
    Refuse,
    /// Warns: this run only measures at the limits the other sets.
    Warn,
}

/// For a run that sets no limit: restores the GPUs among `devices` that journals left
/// behind in `dir` name (as [`PowerLimits::open`] does, under the directory's lock) and
/// says what it did; warns about a live run holding them. Refuses, with the commands that
/// restore them, when a GPU cannot be set back: this run would measure at a crashed run's
/// limit.
pub fn recover_left_behind(
    devices: &[Box<dyn GpuDevice>],
    dir: &Path,
) -> Result<Option<String>, PowerLimitError> {
    let _lock = lock_dir(dir)?;
    let devices: Vec<&dyn GpuDevice> = devices.iter().map(AsRef::as_ref).collect();
    settle(&devices, dir, Live::Warn)
}

/// Under `dir`'s lock: every journal there that names one of `devices` is either a live
/// run's (refused or warned about, as `live` says) or left behind (its GPUs among
/// `devices` restored, and the journal rewritten without them, or removed when none is
/// left); journals of other GPUs are left alone. What was restored, when anything was.
fn settle(
    devices: &[&dyn GpuDevice],
    dir: &Path,
    live: Live,
) -> Result<Option<String>, PowerLimitError> {
    let ids: Vec<(u32, String)> = devices
        .iter()
        .map(|d| (d.index(), d.uuid().unwrap_or_default()))
        .collect();
    let shares = |g: &JournalGpu| ids.iter().any(|(i, u)| same_gpu(g, *i, u));
    let mut left_behind = Vec::new();
    for path in journal_files(dir)? {
        let Some(journal) = read_journal(&path)? else {
            continue;
        };
        let shared: Vec<&JournalGpu> = journal.gpus.iter().filter(|g| shares(g)).collect();
        let alive = journal.owner_alive();
        if shared.is_empty() {
            if !alive {
                tracing::warn!(
                    "a power-limit journal left behind names other GPUs than this run's: {} \
                     (`joulebench probe list` says how to restore them)",
                    path.display()
                );
            }
            continue;
        }
        if !alive {
            left_behind.push((path, journal));
            continue;
        }
        let gpus = shared
            .iter()
            .map(|g| format!("GPU {}{}", g.index, uuid_suffix(&g.uuid)))
            .collect::<Vec<_>>()
            .join(", ");
        match live {
            Live::Refuse => {
                return Err(PowerLimitError::InUse {
                    pid: journal.pid,
                    since: journal.since,
                    gpus,
                    path,
                });
            }
            Live::Warn => tracing::warn!(
                "another joulebench run (pid {}, since {}) is changing the power limits of \
                 {gpus}, which this run measures (journal {})",
                journal.pid,
                journal.since,
                path.display()
            ),
        }
    }
    let mut notes = Vec::new();
    for (path, journal) in &left_behind {
        notes.push(recover(devices, journal, path)?);
    }
    Ok((!notes.is_empty()).then(|| notes.join("; ")))
}

/// Restores the GPUs among `devices` that a journal left behind names to their original
/// limits, then rewrites the journal with the others (removes it when none is left);
/// refuses, keeping it whole, when a GPU refuses.
fn recover(
    devices: &[&dyn GpuDevice],
    journal: &Journal,
    path: &Path,
) -> Result<String, PowerLimitError> {
    let who = format!(
        "a joulebench run that ended without restoring them ({} pid {}, holding them since {})",
        journal.program, journal.pid, journal.since
    );
    let mut failures = Vec::new();
    let mut restored = Vec::new();
    let mut others = Vec::new();
    for g in &journal.gpus {
        let device = devices
            .iter()
            .find(|d| same_gpu(g, d.index(), &d.uuid().unwrap_or_default()));
        let Some(device) = device else {
            others.push(g.clone());
            continue;
        };
        let now = device.power_management_limit_w().ok();
        if now.is_some_and(|w| (w - g.original_w).abs() < SAME_W) {
            continue;
        }
        match device.set_power_limit_w(g.original_w) {
            Ok(()) => restored.push(format!(
                "GPU {}{} {} W -> {} W",
                g.index,
                uuid_suffix(&g.uuid),
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
    // Nothing of this run's is left changed: a journal that cannot be updated is only
    // stale evidence, which the next run finds its GPUs already back from.
    let updated = if others.is_empty() {
        remove_if_there(path)
    } else {
        let rest = Journal {
            gpus: others,
            ..journal.clone()
        };
        write_atomically(path, &rest).map_err(|source| PowerLimitError::Journal {
            path: path.to_path_buf(),
            source,
        })
    };
    if let Err(e) = updated {
        tracing::warn!("{e}");
    }
    let note = if restored.is_empty() {
        format!(
            "a power-limit journal left by {who} was cleared: every GPU of this run was already \
             at its original limit"
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
