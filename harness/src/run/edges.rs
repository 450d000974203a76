//! What is read at each energy window's edges besides energy: the state its figures
//! depend on (`window_state.csv`) and who used the CPU and the GPUs (`attribution.csv`).

use probes::cpu_time::{MachineCpu, ProcReader, ProcessScope, TreeCpu};
use probes::{MonotonicClock, ProbeSet, StateValue};
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

/// What one edge read: states and CPU times, each with why it is missing.
pub struct EdgeRead {
    t_ns: u64,
    wall_us: u64,
    states: Vec<(String, StateValue)>,
    machine: Result<MachineCpu, String>,
    client_ticks: Result<u64, String>,
    server: Result<Option<(ProcessScope, TreeCpu)>, String>,
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

impl EdgeReader {
    /// Reads every state and CPU time now; `scope` names the server's processes.
    pub fn read(
        &self,
        probes: &ProbeSet,
        clock: &MonotonicClock,
        scope: Result<Option<ProcessScope>, String>,
    ) -> EdgeRead {
        let mut states = probes.read_states();
        states.extend(
            probes::state::cpu_state(&self.cpu_root)
                .into_iter()
                .map(|v| ("host".to_string(), v)),
        );
        let server = scope.and_then(|scope| match scope {
            None => Ok(None),
            Some(scope) => self
                .proc
                .tree(&scope)
                .map(|tree| Some((scope, tree)))
                .map_err(|e| e.to_string()),
        });
        EdgeRead {
            t_ns: clock.now_ns(),
            wall_us: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
            states,
            machine: self.proc.machine().map_err(|e| e.to_string()),
            client_ticks: self
                .proc
                .process_ticks(self.own_pid)
                .map_err(|e| e.to_string()),
            server,
        }
    }

    /// The rows of `window_state.csv` and `attribution.csv` for a window between `start`
    /// and `end` (GPU per-process samples are asked for now, since `start`).
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
        let mut cpu = row("cpu".into(), "cpu_s");
        let mut errors = Vec::new();
        let seconds = |a: u64, b: u64| self.proc.seconds(b.saturating_sub(a));
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
        let mut server_pids = Vec::new();
        match (&start.server, &end.server) {
            (Ok(Some((scope, a))), Ok(Some((_, b)))) => {
                cpu.server_scope = scope.to_string();
                cpu.server_processes = Some(b.processes as u64);
                if b.processes == 0 {
                    errors.push(format!("server: no live process in {scope}"));
                } else {
                    // A worker that exits unreaped inside the window takes its time with
                    // it: the tree's time can only be counted from zero upwards.
                    cpu.server = Some(seconds(a.ticks, b.ticks));
                    server_pids = b.pids.clone();
                }
            }
            (Ok(None), _) | (_, Ok(None)) => errors.push(
                "server: its processes are not known (a server given by url needs `pid`, `pid_file` or `process_name` in its [servers] table)".into(),
            ),
            (Err(e), _) | (_, Err(e)) => errors.push(format!("server: {e}")),
        }
        cpu.error = errors.join("; ");
        let mut rows = vec![cpu];
        // GPU: per-process SM utilisation samples since the window began.
        let mut per_domain: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (_, domain, s) in probes.process_samples(start.wall_us) {
            let (server, all) = per_domain.entry(domain).or_default();
            *all += s.util_pct;
            if server_pids.contains(&s.pid) {
                *server += s.util_pct;
            }
        }
        for (domain, (server, all)) in per_domain {
            let mut r = row(domain, "sm_pct_samples");
            r.busy = Some(all);
            if server_pids.is_empty() {
                r.error = "server: its processes are not known".into();
            } else {
                r.server = Some(server);
                r.server_scope = rows[0].server_scope.clone();
                r.server_processes = rows[0].server_processes;
            }
            rows.push(r);
        }
        (states, rows)
    }
}
