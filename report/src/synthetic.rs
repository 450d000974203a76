//! Synthetic run folders with known answers, for tests and benchmarks.
//!
//! Time advances in whole sample periods, so every window's energy is exact: a
//! configuration's energy per inference is (GPU power + CPU power) × request time, up to
//! the per-repetition noise.

use crate::ReportError;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;
use records::files::{BASELINES_CSV, CONTEXT_CSV, REPETITIONS_CSV, REQUESTS_CSV, SAMPLES_CSV};
use records::labels::{ClassLabel, Provenance};
use records::manifest::{HostInfo, ProbeInfo, RunManifest, RunStatus, SuiteInfo};
use records::raw::{BaselineRecord, Phase, RepetitionRecord, RequestRecord, RequestStatus};
use std::io::Write;
use std::path::Path;

pub mod load;

/// One synthetic configuration.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    /// Model name.
    pub model: String,
    /// Task name.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// What the model is built for.
    pub class: ClassLabel,
    /// Parameters.
    pub parameters: Option<u64>,
    /// GPU power above idle while serving (W).
    pub gpu_active_w: f64,
    /// Request time, in sample periods.
    pub request_ticks: u64,
    /// Output tokens per request, for generators.
    pub output_tokens: Option<u64>,
}

/// A synthetic run.
#[derive(Clone, Debug)]
pub struct Synthetic {
    /// Configurations, run one after the other.
    pub configs: Vec<SynthConfig>,
    /// Repetitions per configuration.
    pub repetitions: u32,
    /// Requests per repetition.
    pub requests: u32,
    /// Sample period (ns).
    pub tick_ns: u64,
    /// Relative standard deviation of the GPU power from one repetition to the next.
    pub noise: f64,
    /// Seed of the noise.
    pub seed: u64,
    /// GPU idle power (W).
    pub gpu_idle_w: f64,
    /// CPU power, constant (W).
    pub cpu_w: f64,
    /// Whether the CPU domain is an estimate.
    pub cpu_estimated: bool,
    /// Idle ticks of each baseline.
    pub baseline_ticks: u64,
    /// Write a GPU temperature to `context.csv` every this many ticks (0: no context.csv);
    /// it rises by 1 °C every 1,000 ticks from 40 °C.
    pub context_every_ticks: u64,
}

impl Synthetic {
    /// A small run: three configurations over two tasks, 5 repetitions of 20 requests.
    pub fn small() -> Self {
        let c = |model: &str,
                 task: &str,
                 dataset: &str,
                 class: ClassLabel,
                 params: u64,
                 w: f64,
                 ticks: u64| SynthConfig {
            model: model.to_string(),
            task: task.to_string(),
            dataset: dataset.to_string(),
            class,
            parameters: Some(params),
            gpu_active_w: w,
            request_ticks: ticks,
            output_tokens: (class == ClassLabel::GeneralPurpose).then_some(16),
        };
        Self {
            configs: vec![
                c(
                    "distilbert-sst2",
                    "text-classification",
                    "sst2",
                    ClassLabel::TaskSpecific,
                    66_000_000,
                    60.0,
                    20,
                ),
                c(
                    "flan-t5-base",
                    "text-classification",
                    "sst2",
                    ClassLabel::GeneralPurpose,
                    250_000_000,
                    120.0,
                    40,
                ),
                c(
                    "bart-cnn",
                    "summarization",
                    "samsum",
                    ClassLabel::TaskSpecific,
                    400_000_000,
                    150.0,
                    80,
                ),
            ],
            repetitions: 5,
            requests: 20,
            tick_ns: 10_000_000,
            noise: 0.01,
            seed: 1,
            gpu_idle_w: 50.0,
            cpu_w: 20.0,
            cpu_estimated: false,
            baseline_ticks: 200,
            context_every_ticks: 0,
        }
    }

    /// Samples this run writes (two domains per tick).
    pub fn sample_count(&self) -> u64 {
        let ticks: u64 = self
            .configs
            .iter()
            .map(|c| {
                self.baseline_ticks
                    + u64::from(self.repetitions)
                        * (u64::from(self.requests) * c.request_ticks + 10)
            })
            .sum();
        2 * ticks
    }

    /// The configuration id of configuration `i`.
    pub fn id(&self, i: usize) -> String {
        records::ConfigId::new(&self.configs[i].model, &self.configs[i].dataset).into_string()
    }

    /// Writes the run folder.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| records::RecordsError::Io {
            path: dir.to_path_buf(),
            cause: source,
        })?;
        self.manifest().save(dir)?;
        let mut w = Writers::open(dir, self.context_every_ticks > 0)?;
        let mut ticks = 0u64;
        let mut rng = Pcg64Mcg::seed_from_u64(self.seed);
        let (mut t, mut gpu_e, mut cpu_e) = (1_000_000_000u64, 0.0f64, 0.0f64);
        let dt = self.tick_ns as f64 * 1e-9;
        let cpu_provenance = if self.cpu_estimated {
            Provenance::Estimated
        } else {
            Provenance::Measured
        };
        let cpu_source = if self.cpu_estimated {
            "estimate"
        } else {
            "rapl"
        };
        // One tick at `gpu_w`: advance time and counters, write both samples.
        let mut tick = |w: &mut Writers, t: &mut u64, gpu_w: f64| -> Result<(), ReportError> {
            *t += self.tick_ns;
            ticks += 1;
            if ticks.checked_rem(self.context_every_ticks) == Some(0) {
                w.context(*t, 40.0 + (ticks / 1000) as f64)?;
            }
            gpu_e += gpu_w * dt;
            cpu_e += self.cpu_w * dt;
            w.sample(*t, "nvml", "gpu0", "measured", gpu_e, gpu_w)?;
            w.sample(
                *t,
                cpu_source,
                "package-0",
                cpu_provenance.as_str(),
                cpu_e,
                self.cpu_w,
            )
        };
        for (i, c) in self.configs.iter().enumerate() {
            let id = self.id(i);
            let start = t;
            for _ in 0..self.baseline_ticks {
                tick(&mut w, &mut t, self.gpu_idle_w)?;
            }
            let seconds = (t - start) as f64 * 1e-9;
            for (source, domain, provenance, watts) in [
                ("nvml", "gpu0", Provenance::Measured, self.gpu_idle_w),
                (cpu_source, "package-0", cpu_provenance, self.cpu_w),
            ] {
                w.baselines
                    .serialize(BaselineRecord {
                        config: id.clone(),
                        source: source.to_string(),
                        domain: domain.to_string(),
                        provenance,
                        counts_in_total: true,
                        t_start_ns: start,
                        t_end_ns: t,
                        duration_s: seconds,
                        energy_j: watts * seconds,
                        power_w: watts,
                    })
                    .map_err(|e| w.err(BASELINES_CSV, e))?;
            }
            for rep in 1..=self.repetitions {
                let gpu_w = self.gpu_idle_w
                    + c.gpu_active_w * (1.0 + self.noise * rng.sample::<f64, _>(StandardNormal));
                let rep_start = t;
                for index in 0..self.requests {
                    let req_start = t;
                    for _ in 0..c.request_ticks {
                        tick(&mut w, &mut t, gpu_w)?;
                    }
                    w.requests
                        .serialize(RequestRecord {
                            config: id.clone(),
                            model: c.model.clone(),
                            dataset: c.dataset.clone(),
                            phase: Phase::Measured,
                            repetition: rep,
                            index,
                            row: u64::from(index),
                            t_start_ns: req_start,
                            t_end_ns: t,
                            latency_ms: (t - req_start) as f64 * 1e-6,
                            ttft_ms: None,
                            itl_ms: None,
                            status: RequestStatus::Ok,
                            http_status: Some(200),
                            prompt_tokens: None,
                            completion_tokens: c.output_tokens,
                            output_pinned: c.output_tokens.is_some(),
                            output_chars: 10,
                            error: String::new(),
                            completion_tokens_source: c
                                .output_tokens
                                .map(|_| records::tokens::TokenSource::Usage),
                            pin_requested: None,
                            itl_p50_ms: None,
                            t_scheduled_ns: None,
                        })
                        .map_err(|e| w.err(REQUESTS_CSV, e))?;
                }
                let seconds = (t - rep_start) as f64 * 1e-9;
                for (source, domain, provenance, watts) in [
                    ("nvml", "gpu0", Provenance::Measured, gpu_w),
                    (cpu_source, "package-0", cpu_provenance, self.cpu_w),
                ] {
                    w.repetitions
                        .serialize(RepetitionRecord {
                            config: id.clone(),
                            model: c.model.clone(),
                            task: c.task.clone(),
                            dataset: c.dataset.clone(),
                            class: c.class,
                            parameters: c.parameters,
                            repetition: rep,
                            source: source.to_string(),
                            domain: domain.to_string(),
                            provenance,
                            counts_in_total: true,
                            t_start_ns: rep_start,
                            t_end_ns: t,
                            duration_s: seconds,
                            energy_j: watts * seconds,
                            requests: self.requests,
                            failures: 0,
                            load: None,
                        })
                        .map_err(|e| w.err(REPETITIONS_CSV, e))?;
                }
                for _ in 0..10 {
                    tick(&mut w, &mut t, self.gpu_idle_w)?;
                }
            }
        }
        w.finish()
    }

    fn manifest(&self) -> RunManifest {
        let probe =
            |name: &str, provenance: Provenance, domain: &str, resolution_s: f64| ProbeInfo {
                name: name.to_string(),
                provenance,
                domains: vec![domain.to_string()],
                resolution_s,
                method: "synthetic".to_string(),
            };
        RunManifest {
            format_version: RunManifest::FORMAT_VERSION,
            joulebench_version: "synthetic".to_string(),
            git_revision: None,
            suite: SuiteInfo {
                name: "synthetic".to_string(),
                path: "synthetic.toml".to_string(),
                sha256: String::new(),
            },
            host: HostInfo {
                hostname: "synthetic".to_string(),
                cpu_model: "Synthetic CPU".to_string(),
                ..HostInfo::default()
            },
            probes: vec![
                probe("nvml", Provenance::Measured, "gpu0", 0.1),
                if self.cpu_estimated {
                    probe("estimate", Provenance::Estimated, "package-0", 0.0)
                } else {
                    probe("rapl", Provenance::Measured, "package-0", 0.001)
                },
            ],
            missing_probes: Vec::new(),
            carbon_intensity_g_per_kwh: 400.0,
            pue: 1.2,
            sample_hz: 1e9 / self.tick_ns as f64,
            clock_epoch_utc: "2025-01-01T00:00:00Z".to_string(),
            started_utc: "2025-01-01T00:00:00Z".to_string(),
            ended_utc: Some("2025-01-01T01:00:00Z".to_string()),
            status: RunStatus::Complete,
            status_reason: None,
            shard: None,
            merged: None,
            policy: Some(records::manifest::DerivationPolicy {
                max_failure_share: 0.0,
                idle: records::manifest::IdleSubtraction::LatestBaseline,
            }),
            datasets: None,
            carbon_series: None,
            load: None,
            models: None,
        }
    }
}

struct Writers {
    dir: std::path::PathBuf,
    samples: std::io::BufWriter<std::fs::File>,
    context: Option<std::io::BufWriter<std::fs::File>>,
    requests: csv::Writer<std::fs::File>,
    repetitions: csv::Writer<std::fs::File>,
    baselines: csv::Writer<std::fs::File>,
}

impl Writers {
    fn open(dir: &Path, context: bool) -> Result<Self, ReportError> {
        let csv_at = |name: &str| {
            csv::Writer::from_path(dir.join(name)).map_err(|source| records::RecordsError::Csv {
                path: dir.join(name),
                cause: source,
            })
        };
        let path = dir.join(SAMPLES_CSV);
        let file = std::fs::File::create(&path).map_err(|source| records::RecordsError::Io {
            path: path.clone(),
            cause: source,
        })?;
        let mut samples = std::io::BufWriter::with_capacity(1 << 20, file);
        samples
            .write_all(b"t_ns,source,domain,provenance,energy_j,power_w\n")
            .map_err(|source| records::RecordsError::Io {
                path,
                cause: source,
            })?;
        let context = if context {
            let path = dir.join(CONTEXT_CSV);
            let mut file = std::fs::File::create(&path)
                .map(std::io::BufWriter::new)
                .map_err(|source| records::RecordsError::Io {
                    path: path.clone(),
                    cause: source,
                })?;
            file.write_all(b"t_ns,source,domain,metric,value\n")
                .map_err(|source| records::RecordsError::Io {
                    path,
                    cause: source,
                })?;
            Some(file)
        } else {
            None
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            samples,
            context,
            requests: csv_at(REQUESTS_CSV)?,
            repetitions: csv_at(REPETITIONS_CSV)?,
            baselines: csv_at(BASELINES_CSV)?,
        })
    }

    fn err(&self, name: &str, source: csv::Error) -> ReportError {
        ReportError::from(records::RecordsError::Csv {
            path: self.dir.join(name),
            cause: source,
        })
    }

    fn sample(
        &mut self,
        t: u64,
        source: &str,
        domain: &str,
        provenance: &str,
        energy_j: f64,
        power_w: f64,
    ) -> Result<(), ReportError> {
        Ok(writeln!(
            self.samples,
            "{t},{source},{domain},{provenance},{energy_j:.6},{power_w:.3}"
        )
        .map_err(|source| records::RecordsError::Io {
            path: self.dir.join(SAMPLES_CSV),
            cause: source,
        })?)
    }

    fn context(&mut self, t: u64, celsius: f64) -> Result<(), ReportError> {
        let path = self.dir.join(CONTEXT_CSV);
        match &mut self.context {
            Some(c) => Ok(
                writeln!(c, "{t},nvml,gpu0,temperature_c,{celsius}").map_err(|source| {
                    records::RecordsError::Io {
                        path,
                        cause: source,
                    }
                })?,
            ),
            None => Ok(()),
        }
    }

    fn finish(mut self) -> Result<(), ReportError> {
        let io = |name: &str| {
            let path = self.dir.join(name);
            move |source| records::RecordsError::Io {
                path,
                cause: source,
            }
        };
        self.samples.flush().map_err(io(SAMPLES_CSV))?;
        if let Some(c) = &mut self.context {
            c.flush().map_err(io(CONTEXT_CSV))?;
        }
        self.requests.flush().map_err(io(REQUESTS_CSV))?;
        self.repetitions.flush().map_err(io(REPETITIONS_CSV))?;
        Ok(self.baselines.flush().map_err(io(BASELINES_CSV))?)
    }
}
