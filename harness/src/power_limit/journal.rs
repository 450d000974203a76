//! The journal a run writes before its first change: where it lives, how it is written
//! and read, and whether the run that wrote it is still alive.

use super::error::{PowerLimitError, restore_command, uuid_suffix, watts_text};
use super::{JOURNAL_ENV, JOURNAL_FILE, ROOT_JOURNAL_DIR};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

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

pub(super) fn journal_path_from(
    overridden: Option<PathBuf>,
    root: bool,
    user: Option<PathBuf>,
) -> PathBuf {
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
