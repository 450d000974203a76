//! CPU time from `/proc`: the machine's busy time, a process tree's and one process's,
//! for attributing a CPU package's energy to the processes that used it.

use crate::ProbeError;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Which processes are the served model's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessScope {
    /// A launched server's process group (its leader's pid), and every descendant.
    Group(u32),
    /// A process given by pid, and every descendant.
    Pid(u32),
    /// Every process whose command name (`/proc/PID/comm`) is this, and descendants.
    Name(String),
}

impl std::fmt::Display for ProcessScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Group(g) => write!(f, "process group {g} and descendants"),
            Self::Pid(p) => write!(f, "pid {p} and descendants"),
            Self::Name(n) => write!(f, "processes named {n} and descendants"),
        }
    }
}

/// The machine's CPU time over all CPUs since boot (clock ticks), from `/proc/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineCpu {
    /// Time not idle, not waiting on I/O and not stolen by the hypervisor.
    pub busy_ticks: u64,
    /// All time, idle included.
    pub total_ticks: u64,
}

/// One process of a tree as read: who it is and its CPU time so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Process id.
    pub pid: u32,
    /// Its parent.
    pub ppid: u32,
    /// Start time in clock ticks after boot (tells a reused pid from the process).
    pub start_ticks: u64,
    /// User and system time of its threads and of the children it reaped (ticks).
    pub ticks: u64,
    /// Whether it runs (a zombie does not, though its time is still its own).
    pub live: bool,
}

/// A process tree as read at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeCpu {
    /// Its processes, zombies included, by pid.
    pub members: Vec<Member>,
}

/// The CPU time a tree used between two reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeDelta {
    /// Ticks used between the reads (a lower bound when `lost` > 0).
    pub ticks: u64,
    /// Processes that ended between the reads with no parent in the tree to reap them:
    /// their time after the first read is not counted.
    pub lost: usize,
}

impl TreeCpu {
    /// Processes that run (not zombies).
    pub fn live(&self) -> usize {
        self.members.iter().filter(|m| m.live).count()
    }

    /// The pids of its processes.
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().map(|m| m.pid).collect()
    }

    /// Its ticks since `earlier` (a read of the same scope). A process present at both
    /// reads counts its growth; one new since counts all its time; one that ended counts
    /// through its parent's reaped-children time when that parent is in the tree (so its
    /// time at the first read is subtracted), and is `lost` otherwise.
    pub fn since(&self, earlier: &TreeCpu) -> TreeDelta {
        let now: HashSet<(u32, u64)> = self
            .members
            .iter()
            .map(|m| (m.pid, m.start_ticks))
            .collect();
        let parents: HashSet<u32> = self.members.iter().map(|m| m.pid).collect();
        let total_now: u64 = self.members.iter().map(|m| m.ticks).sum();
        let mut before = 0u64;
        let mut lost = 0;
        for m in &earlier.members {
            if now.contains(&(m.pid, m.start_ticks)) || parents.contains(&m.ppid) {
                before += m.ticks;
            } else {
                lost += 1;
            }
        }
        TreeDelta {
            ticks: total_now.saturating_sub(before),
            lost,
        }
    }
}

/// Reads CPU times under a proc root (`/proc`, or a fake tree in tests).
#[derive(Clone, Debug)]
pub struct ProcReader {
    root: PathBuf,
    ticks_per_s: f64,
}

/// What `/proc/PID/stat` says about a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// One-letter state (`R`, `S`, `Z`, ...).
    pub state: char,
    /// Parent's pid.
    pub ppid: u32,
    /// Process group id.
    pub pgrp: u32,
    /// User plus system time of all its threads (ticks).
    pub own: u64,
    /// User plus system time of its children it has waited for (ticks).
    pub reaped_children: u64,
    /// Start time in clock ticks after boot.
    pub start_ticks: u64,
}

impl ProcStat {
    /// The stat of live or zombie process `pid` in `/proc`; `None` when there is none.
    pub fn of(pid: u32) -> Option<Self> {
        Self::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Parses a `/proc/PID/stat` line: the command name, in parentheses, may hold spaces
    /// and parentheses, so fields are counted after the last `)`.
    pub fn parse(line: &str) -> Option<Self> {
        let (_, rest) = line.rsplit_once(')')?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After the name, field N of proc(5) is f[N - 3]. cutime and cstime are signed
        // in the kernel's format; they are never negative.
        let num = |n: usize| f.get(n - 3)?.parse::<i64>().ok().map(|v| v.max(0) as u64);
        Some(Self {
            state: f.first()?.chars().next()?,
            ppid: u32::try_from(num(4)?).ok()?,
            pgrp: u32::try_from(num(5)?).ok()?,
            own: num(14)? + num(15)?,
            reaped_children: num(16)? + num(17)?,
            start_ticks: num(22)?,
        })
    }

    /// Whether the process runs (is not a zombie waiting to be reaped).
    pub fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
}

impl ProcReader {
    /// A reader of `root` with the kernel's clock ticks per second (`_SC_CLK_TCK`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        // SAFETY: sysconf has no preconditions; it returns -1 on error.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Self::with_ticks(root, if ticks > 0 { ticks as f64 } else { 100.0 })
    }

    /// A reader of `root` counting `ticks_per_s` ticks per second.
    pub fn with_ticks(root: impl Into<PathBuf>, ticks_per_s: f64) -> Self {
        Self {
            root: root.into(),
            ticks_per_s,
        }
    }

    /// The machine's busy and total CPU time, from the first line of `stat`.
    pub fn machine(&self) -> Result<MachineCpu, ProbeError> {
        let path = self.root.join("stat");
        let text = read(&path)?;
        let line = text.lines().next().unwrap_or_default();
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(&path, format!("first line {line:?}: {e}")))?;
        if !line.starts_with("cpu ") || fields.len() < 4 {
            return Err(bad(
                &path,
                format!("first line {line:?} is not the cpu total"),
            ));
        }
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let total: u64 = fields.iter().take(8).sum();
        // Not busy: idle, iowait, and steal (time the hypervisor gave another guest).
        let idle =
            fields[3] + fields.get(4).copied().unwrap_or(0) + fields.get(7).copied().unwrap_or(0);
        Ok(MachineCpu {
            busy_ticks: total - idle,
            total_ticks: total,
        })
    }

    /// One process's own user and system time in ticks (all its threads; not its children).
    pub fn process_ticks(&self, pid: u32) -> Result<u64, ProbeError> {
        let path = self.root.join(pid.to_string()).join("stat");
        Ok(parse_stat(&path, &read(&path)?)?.own)
    }

    /// Seconds in `ticks` clock ticks.
    pub fn seconds(&self, ticks: u64) -> f64 {
        ticks as f64 / self.ticks_per_s
    }

    /// Every process in `scope` and its descendants, but `exclude` (joulebench itself,
    /// whose time is the client's even where the scope would take it in) and its children.
    pub fn tree(&self, scope: &ProcessScope, exclude: Option<u32>) -> Result<TreeCpu, ProbeError> {
        let entries = std::fs::read_dir(&self.root).map_err(|e| ProbeError::Read {
            path: self.root.clone(),
            reason: e.to_string(),
        })?;
        let mut stats: HashMap<u32, ProcStat> = HashMap::new();
        let mut named = BTreeSet::new();
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // A process may exit between the listing and the read: it is then not live.
            let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|text| ProcStat::parse(&text))
            else {
                continue;
            };
            if let ProcessScope::Name(name) = scope {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                if comm.trim_end() == name {
                    named.insert(pid);
                }
            }
            if Some(pid) != exclude {
                stats.insert(pid, stat);
            }
        }
        named.retain(|pid| stats.contains_key(pid));
        let mut inside: BTreeSet<u32> = match scope {
            ProcessScope::Group(g) => stats
                .iter()
                .filter(|(pid, s)| s.pgrp == *g || **pid == *g)
                .map(|(pid, _)| *pid)
                .collect(),
            ProcessScope::Pid(p) => stats.contains_key(p).then_some(*p).into_iter().collect(),
            ProcessScope::Name(_) => named,
        };
        // Descendants: repeat until no process's parent is newly inside.
        loop {
            let more: Vec<u32> = stats
                .iter()
                .filter(|(pid, s)| !inside.contains(pid) && inside.contains(&s.ppid))
                .map(|(pid, _)| *pid)
                .collect();
            if more.is_empty() {
                break;
            }
            inside.extend(more);
        }
        Ok(TreeCpu {
            members: inside
                .into_iter()
                .filter_map(|pid| {
                    let s = stats.get(&pid)?;
                    Some(Member {
                        pid,
                        ppid: s.ppid,
                        start_ticks: s.start_ticks,
                        ticks: s.own + s.reaped_children,
                        live: s.is_live(),
                    })
                })
                .collect(),
        })
    }
}

fn read(path: &Path) -> Result<String, ProbeError> {
    std::fs::read_to_string(path).map_err(|e| ProbeError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn bad(path: &Path, reason: String) -> ProbeError {
    ProbeError::Read {
        path: path.to_path_buf(),
        reason,
    }
}

fn parse_stat(path: &Path, text: &str) -> Result<ProcStat, ProbeError> {
    ProcStat::parse(text).ok_or_else(|| bad(path, format!("not a proc stat line: {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_entry(root: &Path, pid: u32, comm: &str, ppid: u32, pgrp: u32, ticks: [u64; 4]) {
        let d = root.join(pid.to_string());
        std::fs::create_dir_all(&d).expect("mkdir");
        let [u, s, cu, cs] = ticks;
        std::fs::write(
            d.join("stat"),
            format!("{pid} ({comm}) S {ppid} {pgrp} {pgrp} 0 -1 4194304 1 0 0 0 {u} {s} {cu} {cs} 20 0 1 0 100 0 0\n"),
        )
        .expect("write stat");
        std::fs::write(d.join("comm"), format!("{comm}\n")).expect("write comm");
    }

    #[test]
    fn a_stat_line_with_spaces_and_parentheses_in_the_name_parses() {
        let line = "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 2 1 20 0 3 0 987654 1000 10 0";
        assert_eq!(
            ProcStat::parse(line),
            Some(ProcStat {
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                own: 8,
                reaped_children: 3,
                start_ticks: 987654
            })
        );
        assert_eq!(ProcStat::parse("4242 (truncated"), None);
    }

    #[test]
    fn a_tree_counts_growth_new_processes_and_reaped_children_once_and_says_what_it_lost() {
        let m = |pid, ppid, start_ticks, ticks| Member {
            pid,
            ppid,
            start_ticks,
            ticks,
            live: true,
        };
        let before = TreeCpu {
            members: vec![m(10, 1, 5, 100), m(11, 10, 6, 40), m(12, 10, 7, 30)],
        };
        // 11 exited and was reaped by 10 (its 40 + 5 more moved into 10's time); 12 grew
        // by 20; 13 is new with 8; 10 itself used 15.
        let after = TreeCpu {
            members: vec![
                m(10, 1, 5, 100 + 45 + 15),
                m(12, 10, 7, 50),
                m(13, 10, 9, 8),
            ],
        };
        assert_eq!(
            after.since(&before),
            TreeDelta {
                ticks: 5 + 15 + 20 + 8,
                lost: 0
            }
        );
        // A pid reused by another process is new, and the old one's parent is gone: lost.
        let reused = TreeCpu {
            members: vec![m(10, 1, 99, 3)],
        };
        assert_eq!(
            reused.since(&TreeCpu {
                members: vec![m(10, 1, 5, 100)]
            }),
            TreeDelta { ticks: 3, lost: 1 }
        );
    }

    #[test]
    fn machine_busy_leaves_out_idle_iowait_and_steal() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("stat"),
            "cpu  100 0 50 800 40 5 5 30 0 0\ncpu0 1 2 3 4\n",
        )
        .expect("write");
        let m = ProcReader::with_ticks(dir.path(), 100.0)
            .machine()
            .expect("reads");
        assert_eq!(
            m,
            MachineCpu {
                busy_ticks: 160,
                total_ticks: 1030
            }
        );
    }

    #[test]
    fn a_tree_is_the_group_or_pid_or_name_and_every_descendant() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        proc_entry(root, 1, "init", 0, 1, [1000, 0, 0, 0]);
        proc_entry(root, 100, "joulebench", 1, 100, [10, 10, 0, 0]);
        proc_entry(root, 200, "server (main)", 100, 200, [100, 50, 30, 20]);
        proc_entry(root, 201, "worker", 200, 200, [40, 10, 0, 0]);
        proc_entry(root, 300, "grandchild", 201, 300, [5, 5, 0, 0]);
        proc_entry(root, 400, "other", 1, 400, [7, 0, 0, 0]);
        let r = ProcReader::with_ticks(root, 100.0);
        let ticks = |t: &TreeCpu| t.members.iter().map(|m| m.ticks).sum::<u64>();
        let group = r.tree(&ProcessScope::Group(200), None).expect("reads");
        assert_eq!(
            group.pids(),
            [200, 201, 300],
            "200, 201 and 201's child 300"
        );
        assert_eq!(ticks(&group), 260, "{group:?}");
        let pid = r.tree(&ProcessScope::Pid(201), None).expect("reads");
        assert_eq!(pid.pids(), [201, 300]);
        assert_eq!(ticks(&pid), 60);
        let named = r
            .tree(&ProcessScope::Name("server (main)".into()), None)
            .expect("reads");
        assert_eq!(named.live(), 3);
        let none = r.tree(&ProcessScope::Pid(999), None).expect("reads");
        assert!(none.members.is_empty());
        // joulebench itself is never the server's, nor are its children through it.
        let all = r.tree(&ProcessScope::Pid(1), Some(100)).expect("reads");
        assert_eq!(all.pids(), [1, 400]);
        assert_eq!(r.process_ticks(100).expect("reads"), 20);
        assert_eq!(r.seconds(20), 0.2);
        let e = r.process_ticks(999).expect_err("no such process");
        assert!(e.to_string().contains("999/stat"), "{e}");
    }
}
