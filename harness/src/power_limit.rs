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

use probes::nvml::selection::select;
use probes::nvml::{GpuDevice, GpuError, GpuLibrary, GpuSelection};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

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
        "power-limit journal {}: {source} (set {JOURNAL_ENV} to keep it elsewhere)",
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
         `nvidia-smi -q -d POWER`, restore any changed one with `sudo nvidia-smi -i N -pl WATTS`, \
         then remove the file",
        .path.display()
    )]
    JournalUnreadable {
        /// The journal.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another live process holds changed limits.
    #[error(
        "another joulebench run (pid {pid}, changing GPU power limits since {since}) holds \
         the power-limit journal {}: wait for it to end (it restores them)",
        .path.display()
    )]
    InUse {
        /// Its pid.
        pid: u32,
        /// When it made its first change.
        since: String,
        /// The journal.
        path: PathBuf,
    },
    /// A crashed run's limits could not be restored here.
    #[error("{0}")]
    LeftBehind(String),
}

fn join(failures: &[RestoreFailure]) -> String {
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
            restore_command(self.index, self.original_w)
        )
    }
}

fn uuid_suffix(uuid: &str) -> String {
    if uuid.is_empty() {
        String::new()
    } else {
        format!(" ({uuid})")
    }
}

/// The command an operator runs to set GPU `index` back to `watts`.
pub fn restore_command(index: u32, watts: f64) -> String {
    format!("sudo nvidia-smi -i {index} -pl {}", watts_text(watts))
}

/// Watts as NVML holds them (whole milliwatts), without trailing zeros: `400`, `287.5`.
fn watts_text(watts: f64) -> String {
    format!("{}", (watts * 1000.0).round() / 1000.0)
}

/// What a run records before its first change, so a crash leaves evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// Format version.
    pub version: u32,
    /// The process that changes the limits.
    pub pid: u32,
    /// Its start in clock ticks after boot (`/proc/PID/stat`), to tell a reused pid apart.
    pub process_start_ticks: Option<u64>,
    /// Its program name.
    pub program: String,
    /// When it made its first change (RFC 3339).
    pub since: String,
    /// Each GPU it may change, with the limit it had before.
    pub gpus: Vec<JournalGpu>,
}

/// One GPU in a journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalGpu {
    /// NVML index.
    pub index: u32,
    /// UUID (empty when unreadable).
    pub uuid: String,
    /// Its power-management limit before the run (W).
    pub original_w: f64,
}

impl JournalGpu {
    /// The command that sets this GPU back to its original limit.
    pub fn restore_command(&self) -> String {
        restore_command(self.index, self.original_w)
    }
}

impl Journal {
    /// Whether the process that wrote it still runs (the same process: pid and start).
    pub fn owner_alive(&self) -> bool {
        process_alive(self.pid, self.process_start_ticks)
    }
}

/// A journal found on disk, and whether its process still runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JournalFinding {
    /// Where it is.
    pub path: PathBuf,
    /// What it says.
    pub journal: Journal,
    /// `false`: left behind by a process that ended without restoring.
    pub owner_alive: bool,
}

impl JournalFinding {
    /// Lines for `probe list`: who changed which GPU, its original limit, its limit now
    /// (`current_w(index, uuid)`, when known) and the command that restores it.
    pub fn describe(&self, current_w: impl Fn(u32, &str) -> Option<f64>) -> Vec<String> {
        let j = &self.journal;
        let mut lines = vec![if self.owner_alive {
            format!(
                "GPU power limits are being changed by a joulebench run in progress (pid {}, \
                 since {}); it restores them when it ends (journal {})",
                j.pid,
                j.since,
                self.path.display()
            )
        } else {
            format!(
                "GPU power limits left changed by a joulebench run that ended without restoring \
                 them ({} pid {}, changing them since {}; journal {}):",
                j.program,
                j.pid,
                j.since,
                self.path.display()
            )
        }];
        if self.owner_alive {
            return lines;
        }
        let mut pending = 0;
        for g in &j.gpus {
            let now = current_w(g.index, &g.uuid);
            let state = match now {
                Some(w) if (w - g.original_w).abs() < 0.5 => {
                    format!("now {} W: already back", watts_text(w))
                }
                Some(w) => {
                    pending += 1;
                    format!(
                        "now {} W; restore with `{}`",
                        watts_text(w),
                        g.restore_command()
                    )
                }
                None => {
                    pending += 1;
                    format!("restore with `{}`", g.restore_command())
                }
            };
            lines.push(format!(
                "  GPU {}{}: original limit {} W, {state}",
                g.index,
                uuid_suffix(&g.uuid),
                watts_text(g.original_w)
            ));
        }
        lines.push(if pending == 0 {
            format!("  nothing left to restore: remove {}", self.path.display())
        } else {
            format!(
                "  then remove {} (the next run that sets power limits restores from it first)",
                self.path.display()
            )
        });
        lines
    }
}

/// The journal a run writes: `$JOULEBENCH_POWER_LIMIT_JOURNAL`, else
/// `/run/joulebench/power-limits.json` as root, else the user's state directory
/// (`$XDG_STATE_HOME/joulebench/`, else `~/.local/state/joulebench/`).
pub fn default_journal_path() -> PathBuf {
    journal_path_from(
        std::env::var_os(JOURNAL_ENV).map(PathBuf::from),
        is_root(),
        user_state_dir(),
    )
}

/// Every place a journal may be (`probe list` looks in all): the override alone when set,
/// else root's and this user's.
pub fn journal_search_paths() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os(JOURNAL_ENV) {
        return vec![PathBuf::from(path)];
    }
    let mut paths = vec![Path::new(ROOT_JOURNAL_DIR).join(JOURNAL_FILE)];
    if let Some(dir) = user_state_dir() {
        paths.push(dir.join(JOURNAL_FILE));
    }
    paths
}

fn journal_path_from(overridden: Option<PathBuf>, root: bool, user: Option<PathBuf>) -> PathBuf {
    if let Some(path) = overridden.filter(|p| !p.as_os_str().is_empty()) {
        return path;
    }
    match user.filter(|_| !root) {
        Some(dir) => dir.join(JOURNAL_FILE),
        None => Path::new(ROOT_JOURNAL_DIR).join(JOURNAL_FILE),
    }
}

fn user_state_dir() -> Option<PathBuf> {
    let nonempty = |v: std::ffi::OsString| (!v.is_empty()).then(|| PathBuf::from(v));
    std::env::var_os("XDG_STATE_HOME")
        .and_then(nonempty)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(nonempty)
                .map(|h| h.join(".local/state"))
        })
        .map(|d| d.join("joulebench"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The journal at `path`, `None` when there is none.
pub fn read_journal(path: &Path) -> Result<Option<Journal>, PowerLimitError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(PowerLimitError::JournalUnreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| PowerLimitError::JournalUnreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// The journals at [`journal_search_paths`], each found or unreadable; for `probe list`.
pub fn find_journals() -> Vec<Result<JournalFinding, PowerLimitError>> {
    find_journals_in(&journal_search_paths())
}

/// The journals at `paths`, each found or unreadable; absent ones are left out.
pub fn find_journals_in(paths: &[PathBuf]) -> Vec<Result<JournalFinding, PowerLimitError>> {
    paths
        .iter()
        .filter_map(|path| match read_journal(path) {
            Ok(None) => None,
            Ok(Some(journal)) => Some(Ok(JournalFinding {
                path: path.clone(),
                owner_alive: journal.owner_alive(),
                journal,
            })),
            Err(e) => Some(Err(e)),
        })
        .collect()
}

/// State and start ticks of a process from `/proc/PID/stat`; `None` when it is gone.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from its end.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // starttime is field 22 of the line; `rest` starts at field 3 (state).
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

fn process_alive(pid: u32, start_ticks: Option<u64>) -> bool {
    if Path::new("/proc/self/stat").exists() {
        return match proc_stat(pid) {
            // A zombie has ended: only its exit status is left for its parent.
            Some((state, _)) if state == 'Z' || state == 'X' => false,
            Some((_, start)) => match start_ticks {
                Some(expected) => start == expected,
                // Without a recorded start, a joulebench of that pid is taken as it.
                None => std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.contains("joulebench")),
            },
            None => false,
        };
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

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

fn remove_if_there(path: &Path) -> Result<(), PowerLimitError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(PowerLimitError::Journal {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `journal` to a temporary file beside `path`, flushed to disk, then renames it
/// over `path`: a reader sees the whole journal or none.
fn write_atomically(path: &Path, journal: &Journal) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| JOURNAL_FILE.into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(journal).map_err(std::io::Error::other)?;
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the directory is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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

#[cfg(test)]
mod tests {
    use super::*;
    use probes::nvml::fake::{FakeGpu, FakeGpuState};
    use std::sync::{Arc, Mutex};

    type Handle = Arc<Mutex<FakeGpuState>>;

    /// Fake GPUs 0..n at 400 W (allowed 100 to 400 W).
    fn gpus(n: u32) -> (Vec<Box<dyn GpuDevice>>, Vec<Handle>) {
        (0..n)
            .map(|i| {
                let (gpu, handle) = FakeGpu::new(FakeGpuState::with_counter(i, 0));
                (Box::new(gpu) as Box<dyn GpuDevice>, handle)
            })
            .unzip()
    }

    fn state(h: &Handle) -> FakeGpuState {
        h.lock().expect("fake state").clone()
    }

    fn edit(h: &Handle, f: impl FnOnce(&mut FakeGpuState)) {
        f(&mut h.lock().expect("fake state"));
    }

    fn limit(h: &Handle) -> f64 {
        state(h).power_limit_w.expect("limit")
    }

    fn sets(h: &Handle) -> Vec<f64> {
        state(h).power_limit_sets
    }

    #[test]
    fn read_set_measure_restore_ends_at_the_original_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("state/power-limits.json");
        let (devices, h) = gpus(2);
        let mut pl = PowerLimits::open(devices, &journal).expect("open");
        let read = pl.gpus();
        assert_eq!(read.len(), 2);
        assert_eq!((read[1].index, read[1].uuid.as_str()), (1, "GPU-fake-1"));
        assert_eq!(
            (read[0].original_w, read[0].min_w, read[0].max_w),
            (400.0, 100.0, 400.0)
        );
        assert!(!journal.exists(), "nothing changed yet: no journal");

        pl.set(300.0).expect("set 300");
        // Before the first change: the journal names each GPU's original and this process.
        let j = read_journal(&journal).expect("journal").expect("written");
        assert_eq!(j.pid, std::process::id());
        assert!(j.owner_alive());
        assert_eq!(
            j.gpus,
            [
                JournalGpu {
                    index: 0,
                    uuid: "GPU-fake-0".into(),
                    original_w: 400.0
                },
                JournalGpu {
                    index: 1,
                    uuid: "GPU-fake-1".into(),
                    original_w: 400.0
                },
            ]
        );
        assert_eq!(limit(&h[0]), 300.0, "measured at 300 W");
        assert_eq!(pl.gpus()[1].set_w, Some(300.0));
        pl.set(250.0).expect("set 250");
        assert_eq!(limit(&h[1]), 250.0, "measured at 250 W");
        pl.set(250.0).expect("the same level again");
        pl.restore().expect("restore");
        for g in &h {
            assert_eq!(sets(g), [300.0, 250.0, 400.0], "read, set, set, restore");
            assert_eq!(limit(g), 400.0);
        }
        assert!(!journal.exists(), "restored: journal removed");
        pl.restore().expect("again");
        drop(pl);
        assert_eq!(
            sets(&h[0]).len(),
            3,
            "restore and drop after it set nothing"
        );
    }

    /// A sweep over levels that fails at the second, as a run stopped mid-level returns.
    fn sweep(devices: Vec<Box<dyn GpuDevice>>, journal: &Path) -> Result<(), String> {
        let mut pl = PowerLimits::open(devices, journal).map_err(|e| e.to_string())?;
        for level in [300.0, 250.0, 200.0] {
            pl.set(level).map_err(|e| e.to_string())?;
            if level == 250.0 {
                return Err("interrupted at 250 W".into());
            }
        }
        pl.restore().map_err(|e| e.to_string())
    }

    #[test]
    fn a_sweep_interrupted_mid_level_is_restored_on_drop() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("power-limits.json");
        let (devices, h) = gpus(1);
        assert_eq!(sweep(devices, &journal), Err("interrupted at 250 W".into()));
        assert_eq!(sets(&h[0]), [300.0, 250.0, 400.0]);
        assert_eq!(limit(&h[0]), 400.0);
        assert!(!journal.exists());

        // A panic mid-level unwinds through the guard: restored too.
        let (devices, h) = gpus(1);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut pl = PowerLimits::open(devices, &journal).expect("open");
            pl.set(200.0).expect("set");
            panic!("a bug mid-level");
        }));
        assert!(outcome.is_err());
        assert_eq!(sets(&h[0]), [200.0, 400.0]);
        assert!(!journal.exists());
    }

    #[test]
    fn a_limit_out_of_range_changes_nothing_and_names_the_range() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("power-limits.json");
        let (devices, h) = gpus(2);
        edit(&h[1], |g| g.power_limit_constraints_w = Ok((150.0, 350.0)));
        let mut pl = PowerLimits::open(devices, &journal).expect("open");
        let e = pl.set(120.0).expect_err("below GPU 1's minimum");
        let text = e.to_string();
        assert!(
            matches!(e, PowerLimitError::OutOfRange { index: 1, .. }),
            "{e:?}"
        );
        assert!(
            text.contains("120 W") && text.contains("150 to 350 W"),
            "{text}"
        );
        assert!(text.contains("DEFAULT"), "{text}");
        for bad in [f64::NAN, f64::INFINITY, -5.0, 401.0] {
            assert!(pl.set(bad).is_err(), "{bad}");
        }
        assert!(sets(&h[0]).is_empty() && sets(&h[1]).is_empty());
        assert!(!journal.exists());
    }

    #[test]
    fn without_root_a_set_is_refused_clearly_and_nothing_is_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("power-limits.json");
        let (devices, h) = gpus(1);
        edit(&h[0], |g| {
            g.set_power_limit_error = Some(GpuError::NoPermission)
        });
        let mut pl = PowerLimits::open(devices, &journal).expect("reading needs no root");
        let e = pl.set(250.0).expect_err("no permission");
        assert!(
            matches!(e, PowerLimitError::NoPermission { index: 0, .. }),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("needs root") && text.contains("sudo"),
            "{text}"
        );
        assert!(text.contains("DEFAULT"), "{text}");
        assert_eq!(limit(&h[0]), 400.0);
        assert!(!journal.exists(), "no change made: no journal left");
        drop(pl);
        assert_eq!(
            sets(&h[0]),
            [250.0],
            "the one refused call, no restore needed"
        );
    }

    #[test]
    fn a_set_failing_on_one_gpu_sets_the_others_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("power-limits.json");
        let (devices, h) = gpus(2);
        let mut pl = PowerLimits::open(devices, &journal).expect("open");
        pl.set(300.0).expect("first level");
        edit(&h[1], |g| {
            g.set_power_limit_error = Some(GpuError::Failed("GPU is lost".into()))
        });
        let e = pl.set(250.0).expect_err("GPU 1 fails");
        assert!(
            e.to_string().contains("GPU 1") && e.to_string().contains("GPU is lost"),
            "{e}"
        );
        // GPU 0 went to 250 W and back to the level before the failed set.
        assert_eq!(sets(&h[0]), [300.0, 250.0, 300.0]);
        assert_eq!((limit(&h[0]), limit(&h[1])), (300.0, 300.0));
        assert!(journal.exists(), "still changed: the journal stays");

        // GPU 1 still refuses: the restore names it and its command, the journal stays.
        let e = pl.restore().expect_err("GPU 1 refuses");
        let text = e.to_string();
        assert!(text.contains("GPU 1 (GPU-fake-1)"), "{text}");
        assert!(text.contains("`sudo nvidia-smi -i 1 -pl 400`"), "{text}");
        assert!(!text.contains("-i 0 "), "GPU 0 was restored: {text}");
        assert!(journal.exists());
        assert_eq!(limit(&h[0]), 400.0);
        edit(&h[1], |g| g.set_power_limit_error = None);
        pl.restore().expect("restore");
        assert_eq!(
            sets(&h[0]),
            [300.0, 250.0, 300.0, 400.0],
            "GPU 0 restored once"
        );
        assert_eq!(limit(&h[1]), 400.0);
        assert!(!journal.exists());
    }

    #[test]
    fn a_second_guard_is_refused_while_the_first_holds_changed_limits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("power-limits.json");
        let (devices, _h) = gpus(1);
        let mut first = PowerLimits::open(devices, &journal).expect("open");
        first.set(300.0).expect("set");
        let (devices, h2) = gpus(1);
        let e = PowerLimits::open(devices, &journal).err().expect("in use");
        assert!(matches!(e, PowerLimitError::InUse { .. }), "{e:?}");
        assert!(
            e.to_string().contains(&std::process::id().to_string()),
            "{e}"
        );
        assert!(sets(&h2[0]).is_empty());
    }

    /// A journal as a killed run leaves it: this pid with another start is another process.
    fn left_behind(journal: &Path, gpus: Vec<JournalGpu>) {
        let ticks = proc_stat(std::process::id())
            .map(|(_, t)| t)
            .expect("/proc");
        let j = Journal {
            version: JOURNAL_VERSION,
            pid: std::process::id(),
            process_start_ticks: Some(ticks + 1),
            program: "joulebench".into(),
            since: "2026-01-02T03:04:05+00:00".into(),
            gpus,
        };
        write_atomically(journal, &j).expect("journal");
    }

    #[test]
    fn a_journal_left_behind_is_restored_before_a_new_run_reads_its_originals() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("power-limits.json");
        let (devices, h) = gpus(2);
        edit(&h[0], |g| g.power_limit_w = Ok(250.0));
        left_behind(
            &journal,
            vec![
                JournalGpu {
                    index: 0,
                    uuid: "GPU-fake-0".into(),
                    original_w: 400.0,
                },
                JournalGpu {
                    index: 1,
                    uuid: "GPU-fake-1".into(),
                    original_w: 400.0,
                },
            ],
        );
        let found = find_journals_in(std::slice::from_ref(&journal));
        let finding = found[0].as_ref().expect("found");
        assert!(
            !finding.owner_alive,
            "same pid, another start: not this process"
        );
        let lines = finding.describe(|i, _| Some(if i == 0 { 250.0 } else { 400.0 }));
        assert!(
            lines[0].contains("pid") && lines[0].contains("2026-01-02"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains("GPU 0 (GPU-fake-0): original limit 400 W, now 250 W"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains("`sudo nvidia-smi -i 0 -pl 400`"),
            "{lines:?}"
        );
        assert!(lines[2].contains("already back"), "{lines:?}");

        let pl = PowerLimits::open(devices, &journal).expect("recovers");
        assert_eq!(sets(&h[0]), [400.0], "GPU 0 set back");
        assert!(sets(&h[1]).is_empty(), "GPU 1 was at its original");
        assert_eq!(
            pl.gpus()[0].original_w,
            400.0,
            "the original, not the crash's 250 W"
        );
        assert!(
            pl.recovered()
                .is_some_and(|r| r.contains("GPU 0 250 W -> 400 W"))
        );
        assert!(!journal.exists());
    }

    #[test]
    fn a_journal_left_behind_for_gpus_not_given_is_kept_and_explained() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("power-limits.json");
        left_behind(
            &journal,
            vec![JournalGpu {
                index: 3,
                uuid: "GPU-other".into(),
                original_w: 287.5,
            }],
        );
        let (devices, h) = gpus(1);
        let e = PowerLimits::open(devices, &journal).err().expect("refused");
        let text = e.to_string();
        assert!(text.contains("`sudo nvidia-smi -i 3 -pl 287.5`"), "{text}");
        assert!(text.contains("then remove"), "{text}");
        assert!(journal.exists());
        assert!(sets(&h[0]).is_empty());

        std::fs::write(&journal, "{not json").expect("write");
        let (devices, _) = gpus(1);
        let e = PowerLimits::open(devices, &journal)
            .err()
            .expect("unreadable");
        assert!(
            matches!(e, PowerLimitError::JournalUnreadable { .. }),
            "{e:?}"
        );
    }

    #[test]
    fn the_journal_lives_where_root_and_users_can_find_it() {
        let user = Some(PathBuf::from("/home/u/.local/state/joulebench"));
        let over = Some(PathBuf::from("/tmp/j.json"));
        assert_eq!(
            journal_path_from(over, true, user.clone()),
            Path::new("/tmp/j.json")
        );
        assert_eq!(
            journal_path_from(None, true, user.clone()),
            Path::new("/run/joulebench/power-limits.json")
        );
        assert_eq!(
            journal_path_from(None, false, user),
            Path::new("/home/u/.local/state/joulebench/power-limits.json")
        );
        assert_eq!(watts_text(287.5), "287.5");
        assert_eq!(restore_command(2, 400.0), "sudo nvidia-smi -i 2 -pl 400");
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = std::process::id();
        let (_, ticks) = proc_stat(me).expect("/proc");
        assert!(process_alive(me, Some(ticks)));
        assert!(!process_alive(me, Some(ticks + 1)));
        assert!(!process_alive(u32::MAX - 1, None));
    }
}
