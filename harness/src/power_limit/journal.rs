//! The journals runs claim their GPUs with: where they live (one file per run in a
//! directory), how they are claimed, written and read, and whether their run is alive.

use super::error::{PowerLimitError, restore_command, uuid_suffix, watts_text};
use super::{JOURNAL_ENV, JOURNAL_PREFIX, LOCK_FILE, ROOT_JOURNAL_DIR};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

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
    /// When it claimed the GPUs, before its first change (RFC 3339).
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
    /// The command that sets this GPU back to its original limit (by UUID when known).
    pub fn restore_command(&self) -> String {
        restore_command(self.index, &self.uuid, self.original_w)
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
                "  then remove {} (the next run on these GPUs restores from it first)",
                self.path.display()
            )
        });
        lines
    }
}

/// The directory of journals a run claims in: `$JOULEBENCH_POWER_LIMIT_JOURNAL`, else
/// `/run/joulebench` as root, else the user's state directory (`$XDG_STATE_HOME/joulebench`,
/// else `~/.local/state/joulebench`).
pub fn default_journal_dir() -> PathBuf {
    journal_dir_from(
        std::env::var_os(JOURNAL_ENV).map(PathBuf::from),
        is_root(),
        user_state_dir(),
    )
}

/// Every directory journals may be in (`probe list` looks in all): the override alone when
/// set, else root's and this user's.
pub fn journal_search_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(JOURNAL_ENV).filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = vec![PathBuf::from(ROOT_JOURNAL_DIR)];
    if let Some(dir) = user_state_dir() {
        dirs.push(dir);
    }
    dirs
}

pub(super) fn journal_dir_from(
    overridden: Option<PathBuf>,
    root: bool,
    user: Option<PathBuf>,
) -> PathBuf {
    if let Some(dir) = overridden.filter(|p| !p.as_os_str().is_empty()) {
        return dir;
    }
    match user.filter(|_| !root) {
        Some(dir) => dir,
        None => PathBuf::from(ROOT_JOURNAL_DIR),
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

/// The journal files in `dir` (`power-limits*.json`, by name), none when it is absent.
pub fn journal_files(dir: &Path) -> Result<Vec<PathBuf>, PowerLimitError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(PowerLimitError::Journal {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| PowerLimitError::Journal {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(JOURNAL_PREFIX) && name.ends_with(".json") {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The journals in [`journal_search_dirs`], each found or unreadable; for `probe list`.
pub fn find_journals() -> Vec<Result<JournalFinding, PowerLimitError>> {
    find_journals_in(&journal_search_dirs())
}

/// The journals in each of `dirs`, each found or unreadable.
pub fn find_journals_in(dirs: &[PathBuf]) -> Vec<Result<JournalFinding, PowerLimitError>> {
    let mut found = Vec::new();
    for dir in dirs {
        let files = match journal_files(dir) {
            Ok(files) => files,
            Err(e) => {
                found.push(Err(e));
                continue;
            }
        };
        found.extend(
            files
                .into_iter()
                .filter_map(|path| match read_journal(&path) {
                    Ok(None) => None,
                    Ok(Some(journal)) => Some(Ok(JournalFinding {
                        path,
                        owner_alive: journal.owner_alive(),
                        journal,
                    })),
                    Err(e) => Some(Err(e)),
                }),
        );
    }
    found
}

/// Whether a journal's GPU is the device `index`/`uuid`: by UUID when both are known,
/// else by NVML index.
pub fn same_gpu(gpu: &JournalGpu, index: u32, uuid: &str) -> bool {
    if gpu.uuid.is_empty() || uuid.is_empty() {
        gpu.index == index
    } else {
        gpu.uuid == uuid
    }
}

/// An exclusive lock on a journal directory (`flock` on its `.power-limits.lock`), held
/// while journals are scanned, recovered and claimed; released on drop, and by the kernel
/// when the process dies.
pub(super) struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    /// Creates `dir` when absent and waits for its lock.
    pub(super) fn acquire(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            // A directory of another user's (root's) may still be read: its lock file too.
            .or_else(|_| std::fs::File::open(&path))?;
        loop {
            // SAFETY: the descriptor is open for the whole call; flock has no other
            // preconditions.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(Self { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Writes `journal` as a new file in `dir` that no other journal has (written whole to a
/// temporary file, then linked to its name, which fails rather than replace one); its path.
pub(super) fn create_journal(dir: &Path, journal: &Journal) -> std::io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    std::fs::create_dir_all(dir)?;
    let tmp = write_temp(dir, journal)?;
    let result = loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{JOURNAL_PREFIX}-{}-{n}.json", journal.pid));
        match std::fs::hard_link(&tmp, &path) {
            Ok(()) => break Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => break Err(e),
        }
    };
    let _ = std::fs::remove_file(&tmp);
    sync_dir(dir);
    result
}

/// State and start ticks of a process from `/proc/PID/stat`; `None` when it is gone.
pub(super) fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from its end.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // starttime is field 22 of the line; `rest` starts at field 3 (state).
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

pub(super) fn process_alive(pid: u32, start_ticks: Option<u64>) -> bool {
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

pub(super) fn remove_if_there(path: &Path) -> Result<(), PowerLimitError> {
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
pub(super) fn write_atomically(path: &Path, journal: &Journal) -> std::io::Result<()> {
    let dir = parent_of(path);
    std::fs::create_dir_all(dir)?;
    let tmp = write_temp(dir, journal)?;
    let result = std::fs::rename(&tmp, path);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    sync_dir(dir);
    result
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `journal` in a new hidden temporary file of `dir` (not a journal to a scan), on disk.
fn write_temp(dir: &Path, journal: &Journal) -> std::io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let text = serde_json::to_string_pretty(journal).map_err(std::io::Error::other)?;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{JOURNAL_PREFIX}.{}.{n}.tmp", std::process::id()));
        let mut file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = (|| {
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()
        })();
        return match written {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        };
    }
}

/// Makes renames and links in `dir` durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
