//! The record of a launched server kept in the run folder (`servers/NAME.pid`: its pid and
//! start time), and what `/proc` says about a process, so a resumed run can tell a server
//! its interrupted predecessor left running from an unrelated process that reused the pid.

pub use probes::cpu_time::ProcStat;
use std::path::{Path, PathBuf};

/// A launched server as recorded when it started: the leader of its own process group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchRecord {
    /// Its pid, which is also its process group id.
    pub pid: u32,
    /// Its start time in clock ticks after boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
}

impl LaunchRecord {
    /// The record of process `pid`, just started; `None` if `/proc` does not show it.
    pub fn of(pid: u32) -> Option<Self> {
        let stat = ProcStat::of(pid)?;
        Some(Self {
            pid,
            start_ticks: stat.start_ticks,
        })
    }

    /// The record file of server `name` in the folder of server logs.
    pub fn path(log_dir: &Path, name: &str) -> PathBuf {
        log_dir.join(format!("{name}.{}", records::files::SERVER_PID_EXT))
    }

    /// Writes the record as `PID START_TICKS`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, format!("{} {}\n", self.pid, self.start_ticks))
    }

    /// Reads a record written by [`LaunchRecord::write`]; `None` when it is not one.
    pub fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let (pid, start) = text.trim().split_once(' ')?;
        Some(Self {
            pid: pid.parse().ok()?,
            start_ticks: start.parse().ok()?,
        })
    }

    /// The live processes of the server's group: the server itself if it still runs, and
    /// what it forked. Empty when its pid now belongs to another process (a pid is not
    /// reused while its process group has members, so the members are the server's).
    pub fn live_group(&self) -> Vec<u32> {
        if let Some(leader) = ProcStat::of(self.pid)
            && leader.start_ticks != self.start_ticks
        {
            return Vec::new();
        }
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| {
                ProcStat::of(pid).is_some_and(|s| {
                    s.is_live() && s.pgrp == self.pid && s.start_ticks >= self.start_ticks
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_this_process_is_found_by_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = LaunchRecord::path(dir.path(), "llm");
        let me = LaunchRecord::of(std::process::id()).expect("this process in /proc");
        me.write(&path).expect("write");
        assert_eq!(LaunchRecord::read(&path), Some(me));
        let stale = LaunchRecord {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(stale.live_group().is_empty(), "a reused pid is not ours");
    }
}
