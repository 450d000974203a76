//! Synthetic sweeps over load levels with known answers: the counted machine power is
//! constant while a repetition runs, every event falls on a sample tick, so a steady
//! window's energy is exactly power × length and each figure can be worked out by hand.
//!
//! Closed loop `cN`: N clients, client i sending its first request i × `stagger_ticks`
//! after the repetition starts and each next one when its last answer comes; every request
//! takes `service_ticks + slowdown_ticks × (N − 1)` (the ramp-up's first requests
//! `ramp_ticks` when set). Open loop `pR`: arrivals every
//! round(1 / R) s (deterministic, so the offered rate is known), each sent
//! `lag_ticks` late, served first come first served by `open_loop_slots` slots in
//! `service_ticks` each (a queue forms above slots / service time; the wait delays the
//! first token).

use super::{Synthetic, Writers};
use crate::ReportError;
use records::files::{BASELINES_CSV, REPETITIONS_CSV, REQUESTS_CSV};
use records::labels::{ClassLabel, Provenance};
use records::load::{LatencyTarget, LoadInfo, LoadLevel, OperatingPoint};
use records::raw::{BaselineRecord, Phase, RepetitionRecord, RequestRecord, RequestStatus};
use std::path::Path;

/// One model of a synthetic sweep.
#[derive(Clone, Debug)]
pub struct LoadModel {
    /// Model name.
    pub name: String,
    /// GPU power while a repetition runs (W), capped at a point's power limit (service
    /// times do not change); the CPU adds `cpu_w`.
    pub gpu_w: f64,
    /// Ticks one request takes alone.
    pub service_ticks: u64,
    /// Extra ticks per request for each other client in flight (closed loop).
    pub slowdown_ticks: u64,
}

/// A synthetic sweep of models over load levels on one dataset.
#[derive(Clone, Debug)]
pub struct LoadSweep {
    /// Models.
    pub models: Vec<LoadModel>,
    /// Task name.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// Levels, each a configuration per model.
    pub levels: Vec<OperatingPoint>,
    /// Repetitions per configuration.
    pub repetitions: u32,
    /// Measured requests per repetition.
    pub requests: u32,
    /// Sample period (ns).
    pub tick_ns: u64,
    /// GPU power at idle (W).
    pub gpu_idle_w: f64,
    /// CPU power, constant (W).
    pub cpu_w: f64,
    /// Whether the CPU domain is an estimate.
    pub cpu_estimated: bool,
    /// Idle ticks of each baseline.
    pub baseline_ticks: u64,
    /// Ticks between closed-loop clients' first requests.
    pub stagger_ticks: u64,
    /// Closed loop: ticks taken by the first request of every client but the last (sent
    /// during the ramp-up, before all N are in flight); `None`: as long as the others.
    pub ramp_ticks: Option<u64>,
    /// Time to first token (ticks); `None`: answers not streamed.
    pub ttft_ticks: Option<u64>,
    /// Completion tokens per request; `None`: not reported.
    pub output_tokens: Option<u64>,
    /// Requests served at once in the open loop.
    pub open_loop_slots: u32,
    /// Ticks each open-loop request is sent after it was due.
    pub lag_ticks: u64,
    /// Latency targets written to `run.json`.
    pub targets: Vec<LatencyTarget>,
    /// Share of open-loop arrivals counted as ramp-up (`run.json`).
    pub ramp_share: f64,
}

/// One planned request, in ticks from the repetition's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// When it was due (open loop).
    pub due: Option<u64>,
    /// Sent.
    pub start: u64,
    /// Service began (after any wait in the queue).
    pub begin: u64,
    /// Ended.
    pub end: u64,
}

impl LoadSweep {
    /// Two streamed generators at c1, c4 and three open-loop rates (one past capacity),
    /// 3 repetitions of 40 requests, 10 ms ticks, 100 W + 20 W while serving.
    pub fn small() -> Self {
        let model = |name: &str, gpu_w: f64, service_ticks: u64, slowdown_ticks: u64| LoadModel {
            name: name.to_string(),
            gpu_w,
            service_ticks,
            slowdown_ticks,
        };
        let point = |text: &str| text.parse::<OperatingPoint>().ok();
        Self {
            models: vec![
                model("tiny-gen", 80.0, 20, 2),
                model("big-gen", 180.0, 40, 4),
            ],
            task: "text-generation".to_string(),
            dataset: "prompts".to_string(),
            levels: ["c1", "c4", "p5", "p20", "p50"]
                .into_iter()
                .filter_map(point)
                .collect(),
            repetitions: 3,
            requests: 40,
            tick_ns: 10_000_000,
            gpu_idle_w: 30.0,
            cpu_w: 20.0,
            cpu_estimated: false,
            baseline_ticks: 100,
            stagger_ticks: 1,
            ramp_ticks: None,
            ttft_ticks: Some(4),
            output_tokens: Some(17),
            open_loop_slots: 4,
            lag_ticks: 1,
            targets: vec![
                LatencyTarget {
                    metric: records::load::LatencyMetric::E2eP90,
                    ms: 400.0,
                },
                LatencyTarget {
                    metric: records::load::LatencyMetric::ItlP90,
                    ms: 1.0,
                },
            ],
            ramp_share: 0.1,
        }
    }

    /// The configuration id of `model` at `point`.
    pub fn id(&self, model: &str, point: &OperatingPoint) -> String {
        records::ConfigId::at(model, &self.dataset, Some(point)).into_string()
    }

    /// Ticks a closed-loop request of `model` takes with `clients` clients.
    pub fn closed_service_ticks(model: &LoadModel, clients: u32) -> u64 {
        model.service_ticks + model.slowdown_ticks * u64::from(clients.saturating_sub(1))
    }

    /// The requests of one repetition of `model` at `level`, in start order.
    pub fn plan(&self, model: &LoadModel, level: LoadLevel) -> Vec<Planned> {
        let k = u64::from(self.requests);
        let mut out = Vec::new();
        match level {
            LoadLevel::Closed(n) => {
                let d = Self::closed_service_ticks(model, n);
                let n = u64::from(n.max(1));
                for client in 0..n {
                    let count = k / n + u64::from(client < k % n);
                    let mut start = client * self.stagger_ticks;
                    for j in 0..count {
                        let took = match self.ramp_ticks {
                            Some(r) if j == 0 && client + 1 < n => r,
                            _ => d,
                        };
                        out.push(Planned {
                            due: None,
                            start,
                            begin: start,
                            end: start + took,
                        });
                        start += took;
                    }
                }
            }
            LoadLevel::Open(rate) => {
                let gap = ((1.0 / rate) * 1e9 / self.tick_ns as f64).round().max(1.0) as u64;
                let mut free = vec![0u64; self.open_loop_slots.max(1) as usize];
                for i in 0..k {
                    let due = i * gap;
                    let start = due + self.lag_ticks;
                    let (slot, at) = free
                        .iter()
                        .copied()
                        .enumerate()
                        .min_by_key(|&(_, t)| t)
                        .unwrap_or((0, 0));
                    let end = start.max(at) + model.service_ticks;
                    free[slot] = end;
                    out.push(Planned {
                        due: Some(due),
                        start,
                        begin: start.max(at),
                        end,
                    });
                }
            }
        }
        out.sort_by_key(|p| (p.start, p.end));
        out
    }

    /// Writes the run folder.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| records::RecordsError::Io {
            path: dir.to_path_buf(),
            cause: source,
        })?;
        let base = Synthetic {
            configs: Vec::new(),
            repetitions: self.repetitions,
            requests: self.requests,
            tick_ns: self.tick_ns,
            noise: 0.0,
            seed: 0,
            gpu_idle_w: self.gpu_idle_w,
            cpu_w: self.cpu_w,
            cpu_estimated: self.cpu_estimated,
            baseline_ticks: self.baseline_ticks,
            context_every_ticks: 0,
        };
        let mut manifest = base.manifest();
        manifest.load = Some(LoadInfo {
            latency_targets: self.targets.clone(),
            open_loop_ramp_share: self.ramp_share,
        });
        manifest.save(dir)?;
        let mut w = Writers::open(dir, false)?;
        let mut clock = Clock {
            t: 1_000_000_000,
            gpu_e: 0.0,
            cpu_e: 0.0,
            sweep: self,
        };
        for model in &self.models {
            for point in &self.levels {
                self.configuration(&mut w, &mut clock, model, point)?;
            }
        }
        w.finish()
    }

    fn domains(&self, gpu_w: f64) -> [(&'static str, &'static str, Provenance, f64); 2] {
        let (cpu_source, cpu_provenance) = if self.cpu_estimated {
            ("estimate", Provenance::Estimated)
        } else {
            ("rapl", Provenance::Measured)
        };
        [
            ("nvml", "gpu0", Provenance::Measured, gpu_w),
            (cpu_source, "package-0", cpu_provenance, self.cpu_w),
        ]
    }

    fn configuration(
        &self,
        w: &mut Writers,
        clock: &mut Clock<'_>,
        model: &LoadModel,
        point: &OperatingPoint,
    ) -> Result<(), ReportError> {
        let id = self.id(&model.name, point);
        let start = clock.t;
        clock.run(w, self.baseline_ticks, self.gpu_idle_w)?;
        let seconds = (clock.t - start) as f64 * 1e-9;
        for (source, domain, provenance, watts) in self.domains(self.gpu_idle_w) {
            w.baselines
                .serialize(BaselineRecord {
                    config: id.clone(),
                    source: source.to_string(),
                    domain: domain.to_string(),
                    provenance,
                    counts_in_total: true,
                    t_start_ns: start,
                    t_end_ns: clock.t,
                    duration_s: seconds,
                    energy_j: watts * seconds,
                    power_w: watts,
                })
                .map_err(|e| w.err(BASELINES_CSV, e))?;
        }
        let gpu_w = point
            .power_limit_w
            .map_or(model.gpu_w, |limit| model.gpu_w.min(f64::from(limit)));
        let plan = self.plan(model, point.load);
        let last = plan.iter().map(|p| p.end).max().unwrap_or(0);
        for rep in 1..=self.repetitions {
            let t0 = clock.t;
            let at = |ticks: u64| t0 + ticks * self.tick_ns;
            let (first, _) = plan.first().map_or((0, 0), |p| (p.start, p.end));
            clock.run(w, first, self.gpu_idle_w)?;
            let rep_start = clock.t;
            clock.run(w, last - first, gpu_w)?;
            for (index, p) in plan.iter().enumerate() {
                let d_ms = (p.end - p.start) as f64 * self.tick_ns as f64 * 1e-6;
                // The wait in the queue delays the first token, not the ones after it.
                let ttft_ms = self.ttft_ticks.map(|t| {
                    (p.begin - p.start + t).min(p.end - p.start) as f64 * self.tick_ns as f64 * 1e-6
                });
                let itl_ms = match (ttft_ms, self.output_tokens) {
                    (Some(ttft), Some(n)) if n >= 2 => Some((d_ms - ttft) / (n - 1) as f64),
                    _ => None,
                };
                w.requests
                    .serialize(RequestRecord {
                        config: id.clone(),
                        model: model.name.clone(),
                        dataset: self.dataset.clone(),
                        phase: Phase::Measured,
                        repetition: rep,
                        index: index as u32,
                        row: index as u64,
                        t_start_ns: at(p.start),
                        t_end_ns: at(p.end),
                        latency_ms: d_ms,
                        ttft_ms,
                        itl_ms,
                        status: RequestStatus::Ok,
                        http_status: Some(200),
                        prompt_tokens: None,
                        completion_tokens: self.output_tokens,
                        output_pinned: self.output_tokens.is_some(),
                        output_chars: 10,
                        error: String::new(),
                        completion_tokens_source: self
                            .output_tokens
                            .map(|_| records::tokens::TokenSource::Usage),
                        pin_requested: None,
                        itl_p50_ms: itl_ms,
                        t_scheduled_ns: p.due.map(at),
                    })
                    .map_err(|e| w.err(REQUESTS_CSV, e))?;
            }
            let seconds = (clock.t - rep_start) as f64 * 1e-9;
            for (source, domain, provenance, watts) in self.domains(gpu_w) {
                w.repetitions
                    .serialize(RepetitionRecord {
                        config: id.clone(),
                        model: model.name.clone(),
                        task: self.task.clone(),
                        dataset: self.dataset.clone(),
                        class: ClassLabel::GeneralPurpose,
                        parameters: None,
                        repetition: rep,
                        source: source.to_string(),
                        domain: domain.to_string(),
                        provenance,
                        counts_in_total: true,
                        t_start_ns: rep_start,
                        t_end_ns: clock.t,
                        duration_s: seconds,
                        energy_j: watts * seconds,
                        requests: self.requests,
                        failures: 0,
                        load: Some(*point),
                    })
                    .map_err(|e| w.err(REPETITIONS_CSV, e))?;
            }
            clock.run(w, 10, self.gpu_idle_w)?;
        }
        Ok(())
    }
}

/// The run's clock and cumulative counters.
struct Clock<'a> {
    t: u64,
    gpu_e: f64,
    cpu_e: f64,
    sweep: &'a LoadSweep,
}

impl Clock<'_> {
    /// Runs `ticks` ticks at `gpu_w`, writing both domains' samples at each.
    fn run(&mut self, w: &mut Writers, ticks: u64, gpu_w: f64) -> Result<(), ReportError> {
        let s = self.sweep;
        let dt = s.tick_ns as f64 * 1e-9;
        let [(gs, gd, gp, _), (cs, cd, cp, _)] = s.domains(gpu_w);
        for _ in 0..ticks {
            self.t += s.tick_ns;
            self.gpu_e += gpu_w * dt;
            self.cpu_e += s.cpu_w * dt;
            w.sample(self.t, gs, gd, gp.as_str(), self.gpu_e, gpu_w)?;
            w.sample(self.t, cs, cd, cp.as_str(), self.cpu_e, s.cpu_w)?;
        }
        Ok(())
    }
}
