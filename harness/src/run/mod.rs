//! The run: baselines, warm-up, interleaved repetitions with energy windows, records.

pub mod host;
mod requests;
mod samples;
mod window;

pub use requests::{BatchResult, PreparedInputs};
pub use window::Window;

use crate::client::{ClientError, HttpClient};
use crate::dataset::{Dataset, DatasetError};
use crate::plan::{Configuration, Plan};
use crate::probe_setup::probe_config;
use crate::protocol::Input;
use crate::server::{Placeholders, RunningServer, ServerError};
use crate::suite::{Suite, SuiteError};
use crate::writer::{RowAppender, WriteError};
use indicatif::{ProgressBar, ProgressStyle};
use probes::{MonotonicClock, ProbeError, ProbeSet, Sampler};
use report::ReportError;
use report::files;
use report::manifest::{MissingProbeInfo, ProbeInfo, RunManifest, RunStatus, SuiteInfo};
use report::records::{BaselineRecord, Phase, RepetitionRecord, RequestRecord};
use requests::{BatchSpec, send_batch};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Consecutive connection failures after which the server is checked for life.
const DEAD_SERVER_FAILURES: u32 = 3;

/// How to run, beyond the suite.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Results folder (default `results/<suite>-<UTC time>/`).
    pub out: Option<PathBuf>,
    /// Hide progress bars.
    pub quiet: bool,
    /// joulebench version, for the manifest.
    pub version: String,
    /// Git revision joulebench was built from.
    pub git_revision: Option<String>,
    /// This binary, for `{joulebench}` in launch commands.
    pub joulebench_exe: PathBuf,
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The suite is wrong.
    #[error(transparent)]
    Suite(#[from] SuiteError),
    /// A dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A record could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Results could not be built.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A server could not be started or reached.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// An HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A probe failed during the run.
    #[error("energy probe failed: {0}")]
    Probe(#[from] ProbeError),
    /// The results folder cannot be used.
    #[error("{}: {reason}", path.display())]
    OutDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An API key variable is not set.
    #[error(
        "server `{server}` needs the API key in environment variable {var}, which is not set: export {var}=..."
    )]
    ApiKey {
        /// Server key.
        server: String,
        /// Variable name.
        var: String,
    },
    /// Every warm-up request of a configuration failed.
    #[error(
        "configuration {config}: all {count} warm-up requests failed, first with: {first_error}"
    )]
    WarmupFailed {
        /// Configuration id.
        config: String,
        /// Warm-up requests sent.
        count: u32,
        /// The first error.
        first_error: String,
    },
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// The results folder.
    pub dir: PathBuf,
    /// Final status.
    pub status: RunStatus,
    /// Why it stopped early, if it did.
    pub reason: Option<String>,
    /// Measured requests sent.
    pub measured: u64,
    /// Of those, failures.
    pub failures: u64,
}

/// The default results folder: `results/<suite>-<UTC time>`.
pub fn default_out_dir(suite: &Suite) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    PathBuf::from("results").join(format!("{}-{stamp}", suite.name()))
}

/// Runs a suite's plan, writing records into a new results folder as they are taken.
pub async fn run(suite: &Suite, plan: &Plan, opts: &RunOptions) -> Result<RunResult, RunError> {
    let dir = opts.out.clone().unwrap_or_else(|| default_out_dir(suite));
    prepare_dir(&dir)?;
    std::fs::write(dir.join(files::SUITE_COPY), &suite.text).map_err(|e| RunError::OutDir {
        path: dir.join(files::SUITE_COPY),
        reason: e.to_string(),
    })?;
    let clock = MonotonicClock::new();
    let probes = probes::discover(&probe_config(&suite.spec.probes), &clock);
    let mut manifest = new_manifest(suite, opts, &probes, &clock);
    manifest.save(&dir)?;
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(Arc::clone(&stop));
    let outcome = execute(suite, plan, opts, &dir, &clock, &probes, &stop).await;
    manifest.ended_utc = Some(now_utc());
    match outcome {
        Ok(mut result) => {
            manifest.status = result.status;
            manifest.status_reason = result.reason.clone();
            manifest.save(&dir)?;
            report::render(&dir)?;
            result.dir = dir;
            Ok(result)
        }
        Err(e) => {
            manifest.status = if stop.load(Ordering::SeqCst) {
                RunStatus::Interrupted
            } else {
                RunStatus::Failed
            };
            manifest.status_reason = Some(e.to_string());
            manifest.save(&dir)?;
            Err(e)
        }
    }
}

fn prepare_dir(dir: &Path) -> Result<(), RunError> {
    let err = |reason: String| RunError::OutDir {
        path: dir.to_path_buf(),
        reason,
    };
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|e| err(e.to_string()))?;
        if entries.next().is_some() {
            return Err(err(
                "already exists and is not empty; choose another --out, or --resume it".into(),
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create: {e}")))
}

fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn new_manifest(
    suite: &Suite,
    opts: &RunOptions,
    probes: &ProbeSet,
    clock: &MonotonicClock,
) -> RunManifest {
    let epoch: chrono::DateTime<chrono::Utc> = clock.epoch_wall().into();
    RunManifest {
        format_version: RunManifest::FORMAT_VERSION,
        joulebench_version: opts.version.clone(),
        git_revision: opts.git_revision.clone(),
        suite: SuiteInfo {
            name: suite.name().to_string(),
            path: suite.path.display().to_string(),
            sha256: suite.sha256.clone(),
        },
        host: host::host_info(&probes.gpu_inventory),
        probes: probes
            .descriptions
            .iter()
            .map(|d| ProbeInfo {
                name: d.name.clone(),
                provenance: d
                    .domains
                    .first()
                    .map(|dom| dom.provenance.as_str().to_string())
                    .unwrap_or_default(),
                domains: d.domains.iter().map(|dom| dom.name.clone()).collect(),
                resolution_s: d.resolution_s,
                method: d.method.clone(),
            })
            .collect(),
        missing_probes: probes
            .missing
            .iter()
            .map(|m| MissingProbeInfo {
                probe: m.probe.clone(),
                reason: m.reason.clone(),
            })
            .collect(),
        carbon_intensity_g_per_kwh: suite.spec.carbon.intensity_g_per_kwh,
        pue: suite.spec.carbon.pue,
        sample_hz: suite.spec.probes.sample_hz,
        clock_epoch_utc: epoch.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        started_utc: now_utc(),
        ended_utc: None,
        status: RunStatus::Running,
        status_reason: None,
    }
}

/// Sets `stop` on Ctrl-C or SIGTERM, so the current request finishes and records are kept.
fn watch_signals(stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("cannot watch SIGTERM: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        stop.store(true, Ordering::SeqCst);
    });
}

/// Sleeps up to `seconds`, waking early when `stop` is set.
async fn pause(seconds: f64, stop: &AtomicBool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
    while !stop.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
        let left = deadline - tokio::time::Instant::now();
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
    }
}

/// Everything open while a run goes on.
struct Session<'a> {
    suite: &'a Suite,
    plan: &'a Plan,
    clock: &'a MonotonicClock,
    probes: &'a ProbeSet,
    stop: &'a AtomicBool,
    clients: BTreeMap<String, HttpClient>,
    servers: BTreeMap<String, RunningServer>,
    inputs: Vec<PreparedInputs>,
    requests: RowAppender<RequestRecord>,
    repetitions: RowAppender<RepetitionRecord>,
    baselines: RowAppender<BaselineRecord>,
    idle_power: BTreeMap<(usize, String, String), f64>,
    progress: ProgressBar,
    result: RunResult,
}

async fn execute(
    suite: &Suite,
    plan: &Plan,
    opts: &RunOptions,
    dir: &Path,
    clock: &MonotonicClock,
    probes: &ProbeSet,
    stop: &AtomicBool,
) -> Result<RunResult, RunError> {
    let inputs = prepare_inputs(suite, plan)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(8192);
    let writer = samples::spawn_writer(dir, probes.descriptions.clone(), rx)?;
    let sampler = Sampler::start(&probes.sources, *clock, suite.spec.probes.sample_hz, tx);
    let mut session = Session {
        suite,
        plan,
        clock,
        probes,
        stop,
        clients: BTreeMap::new(),
        servers: BTreeMap::new(),
        inputs,
        requests: RowAppender::open(&dir.join(files::REQUESTS_CSV))?,
        repetitions: RowAppender::open(&dir.join(files::REPETITIONS_CSV))?,
        baselines: RowAppender::open(&dir.join(files::BASELINES_CSV))?,
        idle_power: BTreeMap::new(),
        progress: progress_bar(
            opts.quiet,
            plan.measured_requests(suite.spec.schedule.inferences),
        ),
        result: RunResult {
            dir: dir.to_path_buf(),
            status: RunStatus::Complete,
            reason: None,
            measured: 0,
            failures: 0,
        },
    };
    let outcome = session.start_servers(opts, dir).await;
    let outcome = match outcome {
        Ok(()) => session.measure().await,
        Err(e) => Err(e),
    };
    session.progress.finish_and_clear();
    for (_, server) in std::mem::take(&mut session.servers) {
        server.stop().await;
    }
    let result = session.result;
    let sampler_result = sampler.stop();
    match writer.join() {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(RunError::OutDir {
                path: dir.join(files::SAMPLES_CSV),
                reason: "the samples writer thread panicked".into(),
            });
        }
    }
    outcome?;
    sampler_result?;
    Ok(result)
}

fn progress_bar(quiet: bool, total: u64) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} requests, ETA {eta}  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Renders every request of every configuration before anything is sent.
fn prepare_inputs(suite: &Suite, plan: &Plan) -> Result<Vec<PreparedInputs>, RunError> {
    let mut datasets: BTreeMap<usize, Dataset> = BTreeMap::new();
    let mut all = Vec::new();
    for config in &plan.configurations {
        let di = config.dataset_index;
        let dataset = match datasets.entry(di) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let spec = &suite.spec.datasets[di];
                let path = suite.dataset_path(di);
                let format = spec
                    .format
                    .or_else(|| crate::suite::dataset_format(&path))
                    .unwrap_or(crate::suite::DatasetFormat::Jsonl);
                e.insert(Dataset::load(spec, &path, format)?)
            }
        };
        let mut requests = Vec::with_capacity(dataset.rows.len());
        for (row_number, row) in &dataset.rows {
            let text = config.template.render(row).map_err(|field| {
                let d = &suite.spec.datasets[di];
                suite.error_at(
                    d.path.span(),
                    Some("datasets.fields"),
                    format!(
                        "row at line {row_number} of {} has no field `{field}` used by the template {:?} of {}; map it with fields = {{ {field} = \"COLUMN\" }}",
                        suite.dataset_path(di).display(),
                        config.template_text,
                        config.model
                    ),
                )
            })?;
            let input = Input {
                model: &config.served_name,
                text: &text,
                generation: config.generation,
            };
            let prepared = config.wire.prepare(&input, row).map_err(|message| {
                suite.error_at(
                    suite.spec.datasets[di].path.span(),
                    Some("datasets"),
                    format!(
                        "row at line {row_number} of {}: {message}",
                        suite.dataset_path(di).display()
                    ),
                )
            })?;
            requests.push((*row_number, prepared));
        }
        all.push(PreparedInputs { requests });
    }
    Ok(all)
}

impl Session<'_> {
    async fn start_servers(&mut self, opts: &RunOptions, dir: &Path) -> Result<(), RunError> {
        let places = Placeholders {
            joulebench: &opts.joulebench_exe,
            suite_dir: &self.suite.dir,
        };
        let timeout = Duration::from_secs_f64(self.suite.spec.schedule.request_timeout_seconds);
        for config in &self.plan.configurations {
            if self.servers.contains_key(&config.server) {
                continue;
            }
            let spec = &self.suite.spec.servers[&config.server];
            let api_key = match &spec.api_key_env {
                Some(var) => Some(std::env::var(var).map_err(|_| RunError::ApiKey {
                    server: config.server.clone(),
                    var: var.clone(),
                })?),
                None => None,
            };
            let server = RunningServer::start(
                &config.server,
                spec,
                &places,
                &dir.join(files::SERVER_LOGS_DIR),
            )
            .await?;
            let client = HttpClient::new(&server.base_url, timeout, api_key)?;
            self.clients.insert(config.server.clone(), client);
            self.servers.insert(config.server.clone(), server);
        }
        Ok(())
    }

    async fn measure(&mut self) -> Result<(), RunError> {
        let schedule = &self.suite.spec.schedule;
        let mut started = vec![false; self.plan.configurations.len()];
        let rounds = self.plan.rounds.len();
        for (r, order) in self.plan.rounds.iter().enumerate() {
            let repetition = r as u32 + 1;
            for (k, &ci) in order.iter().enumerate() {
                if self.stopped() {
                    return Ok(());
                }
                let config = &self.plan.configurations[ci];
                if !started[ci] {
                    self.baseline(ci, config).await?;
                    self.warmup(ci, config).await?;
                    started[ci] = true;
                }
                if self.stopped() {
                    return Ok(());
                }
                if !self.repetition(ci, config, repetition).await? {
                    return Ok(());
                }
                let last = r + 1 == rounds && k + 1 == order.len();
                if !last {
                    pause(schedule.cooldown_seconds, self.stop).await;
                }
            }
        }
        Ok(())
    }

    /// Marks the run interrupted when a stop was asked for; true if so.
    fn stopped(&mut self) -> bool {
        if self.stop.load(Ordering::SeqCst) {
            self.result.status = RunStatus::Interrupted;
            self.result
                .reason
                .get_or_insert_with(|| "stopped by a signal (Ctrl-C or SIGTERM)".into());
            true
        } else {
            false
        }
    }

    async fn baseline(&mut self, ci: usize, config: &Configuration) -> Result<(), RunError> {
        let seconds = self.suite.spec.schedule.idle_seconds;
        if seconds <= 0.0 {
            return Ok(());
        }
        self.progress
            .set_message(format!("{}: idle baseline", config.id));
        let start = self.probes.read_all(self.clock)?;
        pause(seconds, self.stop).await;
        let end = self.probes.read_all(self.clock)?;
        let window = Window::between(&self.probes.descriptions, &start, &end);
        let duration_s = window.duration_s();
        if self.stop.load(Ordering::SeqCst) || duration_s <= 0.0 {
            return Ok(());
        }
        for d in &window.domains {
            let power_w = d.energy_j / duration_s;
            self.idle_power
                .insert((ci, d.source.clone(), d.domain.name.clone()), power_w);
            self.baselines.append(&BaselineRecord {
                config: config.id.clone(),
                source: d.source.clone(),
                domain: d.domain.name.clone(),
                provenance: d.domain.provenance.as_str().to_string(),
                counts_in_total: d.domain.counts_in_total(),
                t_start_ns: window.t_start_ns,
                t_end_ns: window.t_end_ns,
                duration_s,
                energy_j: d.energy_j,
                power_w,
            })?;
        }
        Ok(())
    }

    async fn warmup(&mut self, ci: usize, config: &Configuration) -> Result<(), RunError> {
        let count = self.suite.spec.schedule.warmup;
        if count == 0 {
            return Ok(());
        }
        self.progress.set_message(format!("{}: warm-up", config.id));
        let spec = BatchSpec {
            config,
            phase: Phase::Warmup,
            repetition: 0,
            count,
            concurrency: self.suite.spec.schedule.concurrency,
        };
        let batch = self.send(ci, &spec).await?;
        if batch.sent == count && batch.failures == count {
            return Err(RunError::WarmupFailed {
                config: config.id.clone(),
                count,
                first_error: batch.first_error.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// One repetition in an energy window; false when the run must stop.
    async fn repetition(
        &mut self,
        ci: usize,
        config: &Configuration,
        repetition: u32,
    ) -> Result<bool, RunError> {
        let schedule = &self.suite.spec.schedule;
        let spec = BatchSpec {
            config,
            phase: Phase::Measured,
            repetition,
            count: schedule.inferences,
            concurrency: schedule.concurrency,
        };
        let start = self.probes.read_all(self.clock)?;
        let batch = self.send(ci, &spec).await?;
        let end = self.probes.read_all(self.clock)?;
        self.result.measured += u64::from(batch.sent);
        self.result.failures += u64::from(batch.failures);
        if batch.sent < schedule.inferences {
            // Interrupted inside the window: its energy is not a whole repetition's.
            self.stopped();
            return Ok(false);
        }
        let window = Window::between(&self.probes.descriptions, &start, &end);
        let valid = f64::from(batch.failures) <= schedule.max_failure_share * f64::from(batch.sent);
        let duration_s = window.duration_s();
        for d in &window.domains {
            let idle = self
                .idle_power
                .get(&(ci, d.source.clone(), d.domain.name.clone()))
                .copied();
            self.repetitions.append(&RepetitionRecord {
                config: config.id.clone(),
                model: config.model.clone(),
                task: config.task.clone(),
                dataset: config.dataset.clone(),
                class: config.class.as_str().to_string(),
                parameters: config.parameters,
                repetition,
                source: d.source.clone(),
                domain: d.domain.name.clone(),
                provenance: d.domain.provenance.as_str().to_string(),
                counts_in_total: d.domain.counts_in_total(),
                t_start_ns: window.t_start_ns,
                t_end_ns: window.t_end_ns,
                duration_s,
                energy_j: d.energy_j,
                idle_power_w: idle,
                net_energy_j: idle.map(|p| d.energy_j - p * duration_s),
                requests: batch.sent,
                failures: batch.failures,
                valid,
            })?;
        }
        let label = if window
            .domains
            .iter()
            .any(|d| d.domain.provenance == probes::Provenance::Estimated)
        {
            " (estimated)"
        } else {
            ""
        };
        self.progress.set_message(format!(
            "{} rep {repetition}: {:.3} J/inference{label}",
            config.id,
            window.total_j() / f64::from(batch.sent.max(1))
        ));
        if !valid {
            tracing::warn!(
                "{} repetition {repetition}: {} of {} requests failed; marked invalid",
                config.id,
                batch.failures,
                batch.sent
            );
        }
        if let Some(reason) = self.dead_server(config, &batch).await {
            self.result.status = RunStatus::Interrupted;
            self.result.reason = Some(reason);
            return Ok(false);
        }
        Ok(true)
    }

    async fn send(&mut self, ci: usize, spec: &BatchSpec<'_>) -> Result<BatchResult, RunError> {
        let client = &self.clients[&spec.config.server];
        Ok(send_batch(
            spec,
            client,
            &self.inputs[ci],
            self.clock,
            self.stop,
            &mut self.requests,
            &self.progress,
        )
        .await?)
    }

    /// Why the configuration's server is dead, if it is.
    async fn dead_server(&mut self, config: &Configuration, batch: &BatchResult) -> Option<String> {
        let server = self.servers.get_mut(&config.server)?;
        if let Some(status) = server.exit_status() {
            return Some(format!("{}", server.exited(status)));
        }
        if batch.trailing_connection_failures >= DEAD_SERVER_FAILURES {
            return Some(format!(
                "server `{}` at {} stopped answering: {} consecutive connection failures",
                config.server, server.base_url, batch.trailing_connection_failures
            ));
        }
        None
    }
}
