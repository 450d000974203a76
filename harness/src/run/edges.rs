//! What is read at each energy window's edges besides energy: the state its figures
//! depend on (`window_state.csv`) and who used the CPU and the GPUs (`attribution.csv`).
//!
//! CPU times are read next to the energy reads (after the states at the start edge,
//! before them at the end edge), so the cost of reading states falls outside the window.

use probes::cpu_time::{MachineCpu, ProcReader, ProcessScope, TreeCpu};
use probes::{DomainKind, MonotonicClock, ProbeSet, StateValue};
use records::raw::{AttributionRecord, Edge, WindowKind, WindowStateRecord};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the machine's CPU settings are read (`cpufreq/`, `intel_pstate/`).
const CPU_SYSFS: &str = "/sys/devices/system/cpu";

/// Reads the state and CPU times at a window's edges.
pub struct EdgeReader {
    proc: ProcReader,
    cpu_root: PathBuf,
    own_pid: u32,
}

/// CPU times read at one edge, each with why it is missing.
struct CpuRead {
    machine: Result<MachineCpu, String>,
    client_ticks: Result<u64, String>,
    server: Result<Option<(ProcessScope, TreeCpu)>, String>,
}

/// What one edge read.
pub struct EdgeRead {
    t_ns: u64,
    wall_us: u64,
    states: Vec<(String, StateValue)>,
    cpu: CpuRead,
    /// Per-process GPU samples since the start edge (end edge only): (domain, pid, %).
    gpu_samples: Vec<(String, u32, f64)>,
}

/// The window the edges belong to.
pub struct WindowId<'a> {
    /// Configuration id.
    pub config: &'a str,
    /// Baseline or repetition.
    pub kind: WindowKind,
    /// Repetition number (0 for a baseline).
    pub repetition: u32,
}

impl Default for EdgeReader {
    fn default() -> Self {
        Self {
            proc: ProcReader::new("/proc"),
            cpu_root: PathBuf::from(CPU_SYSFS),
            own_pid: std::process::id(),
        }
    }
}

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl EdgeReader {
    /// Reads the start edge: states, then CPU times (just before the energy read).
    pub fn start(
        &self,
        probes: &ProbeSet,
        clock: &MonotonicClock,
        scope: Result<Option<ProcessScope>, String>,
    ) -> EdgeRead {
        let states = self.states(probes);
        let cpu = self.cpu(scope);
        EdgeRead {
            t_ns: clock.now_ns(),
            wall_us: wall_us(),
            states,
            cpu,
            gpu_samples: Vec::new(),
        }
    }

    /// Reads the end edge: CPU times (just after the energy read), then states and the
    /// GPUs' per-process samples taken since `start`.
    pub fn end(
        &self,
        probes: &ProbeSet,
        clock: &MonotonicClock,
        scope: Result<Option<ProcessScope>, String>,
        start: &EdgeRead,
    ) -> EdgeRead {
        let cpu = self.cpu(scope);
        let t_ns = clock.now_ns();
        let samples = probes.process_samples(start.wall_us);
        // Samples are taken before the call returns; none dated later is the window's.
        let wall = wall_us();
        let gpu_samples = samples
            .into_iter()
            .filter(|(_, s)| s.timestamp_us <= wall)
            .map(|(domain, s)| (domain, s.pid, s.util_pct))
            .collect();
        EdgeRead {
            t_ns,
            wall_us: wall,
            states: self.states(probes),
            cpu,
            gpu_samples,
        }
    }

    fn states(&self, probes: &ProbeSet) -> Vec<(String, StateValue)> {
        let mut states = probes.read_states();
        states.extend(
            probes::state::cpu_state(&self.cpu_root)
                .into_iter()
                .map(|v| ("host".to_string(), v)),
        );
        states
    }

    fn cpu(&self, scope: Result<Option<ProcessScope>, String>) -> CpuRead {
        let server = scope.and_then(|scope| match scope {
            None => Ok(None),
            Some(scope) => self
                .proc
                .tree(&scope, Some(self.own_pid))
                .map(|tree| Some((scope, tree)))
                .map_err(|e| e.to_string()),
        });
        CpuRead {
            machine: self.proc.machine().map_err(|e| e.to_string()),
            client_ticks: self
                .proc
                .process_ticks(self.own_pid)
                .map_err(|e| e.to_string()),
            server,
        }
    }

    /// The rows of `window_state.csv` and `attribution.csv` for a window between `start`
    /// and `end`.
    pub fn records(
        &self,
        probes: &ProbeSet,
        window: &WindowId<'_>,
        start: &EdgeRead,
        end: &EdgeRead,
        t_offset_ns: u64,
    ) -> (Vec<WindowStateRecord>, Vec<AttributionRecord>) {
        let mut states = Vec::new();
        for (edge, read) in [(Edge::Start, start), (Edge::End, end)] {
            for (source, v) in &read.states {
                states.push(WindowStateRecord {
                    config: window.config.to_string(),
                    window: window.kind,
                    repetition: window.repetition,
                    edge,
                    t_ns: read.t_ns + t_offset_ns,
                    source: source.clone(),
                    domain: v.domain.clone(),
                    key: v.key.to_string(),
                    value: v.value.clone(),
                });
            }
        }
        let row = |resource: String, unit: &str| AttributionRecord {
            config: window.config.to_string(),
            window: window.kind,
            repetition: window.repetition,
            t_start_ns: start.t_ns + t_offset_ns,
            t_end_ns: end.t_ns + t_offset_ns,
            resource,
            unit: unit.to_string(),
            ..AttributionRecord::default()
        };
        let (cpu, server_pids) = self.cpu_row(row("cpu".into(), "cpu_s"), &start.cpu, &end.cpu);
        let mut rows = vec![cpu];
        rows.extend(gpu_rows(
            probes,
            &end.gpu_samples,
            &server_pids,
            &rows[0],
            row,
        ));
        (states, rows)
    }

    /// The `cpu` row of a window, and the server's pids at its end (empty when unknown).
    fn cpu_row(
        &self,
        mut cpu: AttributionRecord,
        start: &CpuRead,
        end: &CpuRead,
    ) -> (AttributionRecord, Vec<u32>) {
        let seconds = |a: u64, b: u64| self.proc.seconds(b.saturating_sub(a));
        let mut errors = Vec::new();
        match (&start.machine, &end.machine) {
            (Ok(a), Ok(b)) => {
                cpu.busy = Some(seconds(a.busy_ticks, b.busy_ticks));
                cpu.total = Some(seconds(a.total_ticks, b.total_ticks));
            }
            (Err(e), _) | (_, Err(e)) => errors.push(format!("machine: {e}")),
        }
        match (&start.client_ticks, &end.client_ticks) {
            (Ok(a), Ok(b)) => cpu.client = Some(seconds(*a, *b)),
            (Err(e), _) | (_, Err(e)) => errors.push(format!("client: {e}")),
        }
        let mut pids = Vec::new();
        match (&start.server, &end.server) {
            (Err(e), _) | (_, Err(e)) => errors.push(format!("server: {e}")),
            (Ok(None), _) | (_, Ok(None)) => errors.push(
                "server: its processes are not known (a server given by url needs `pid`, `pid_file` or `process_name` in its [servers] table)".into(),
            ),
            (Ok(Some((scope_a, a))), Ok(Some((scope_b, b)))) => {
                cpu.server_scope = scope_b.to_string();
                cpu.server_processes = Some(b.live() as u64);
                if scope_a != scope_b {
                    errors.push(format!(
                        "server: its processes changed inside the window ({scope_a} at the start, {scope_b} at the end: a restarted server or a rewritten pid file)"
                    ));
                } else if b.live() == 0 {
                    errors.push(format!("server: no live process in {scope_b}"));
                } else {
                    let delta = b.since(a);
                    cpu.server = Some(self.proc.seconds(delta.ticks));
                    if delta.lost > 0 {
                        errors.push(format!(
                            "server: a lower bound: {} of its processes ended inside the window with no parent in the scope to reap them, so their time after the start is not counted",
                            delta.lost
                        ));
                    }
                    pids = b.pids();
                }
            }
        }
        cpu.error = errors.join("; ");
        (cpu, pids)
    }
}

/// One row per GPU domain: the server's and every process's SM samples in the window, or
/// why there are none.
fn gpu_rows(
    probes: &ProbeSet,
    samples: &[(String, u32, f64)],
    server_pids: &[u32],
    cpu: &AttributionRecord,
    row: impl Fn(String, &str) -> AttributionRecord,
) -> Vec<AttributionRecord> {
    let mut per_domain: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (domain, pid, util) in samples {
        let (server, all) = per_domain.entry(domain).or_default();
        *all += util;
        if server_pids.contains(pid) {
            *server += util;
        }
    }
    probes
        .domains()
        .into_iter()
        .filter(|(_, d)| d.kind == DomainKind::Gpu)
        .map(|(_, d)| {
            let mut r = row(d.name.clone(), "sm_pct_samples");
            match per_domain.get(d.name.as_str()) {
                None => {
                    r.error = "no per-process samples in the window (no process had kernels resident, or the driver does not sample processes)".into();
                }
                Some(&(server, all)) => {
                    r.busy = Some(all);
                    if server_pids.is_empty() {
                        r.error = "server: its processes are not known".into();
                    } else {
                        r.server = Some(server);
                        r.server_scope = cpu.server_scope.clone();
                        r.server_processes = cpu.server_processes;
                        if all == 0.0 {
                            r.error = "every sample was 0% SM: nothing to apportion by".into();
                        }
                    }
                }
            }
            r
        })
        .collect()
}
