//! Everything open while a run goes on, and the schedule it follows.

use super::requests::{BatchResult, BatchSpec, PreparedInputs, StopCause, send_batch};
use super::resume::Prior;
use super::signals::pause;
use super::window::Window;
use super::{RunError, RunOptions, RunResult};
use crate::client::HttpClient;
use crate::plan::{Configuration, Plan};
use crate::server::{Placeholders, RunningServer};
use crate::suite::{RunOrder, Suite};
use crate::writer::RowAppender;
use indicatif::ProgressBar;
use probes::{MonotonicClock, ProbeSet};
use records::files;
use records::manifest::RunStatus;
use records::raw::{BaselineRecord, Phase, RepetitionRecord, RequestRecord};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Everything open while a run goes on.
pub struct Session<'a> {
    /// The suite.
    pub suite: &'a Suite,
    /// Its plan.
    pub plan: &'a Plan,
    /// The run's clock.
    pub clock: &'a MonotonicClock,
    /// Added to every time written, so a resumed run continues the interrupted timeline.
    pub t_offset_ns: u64,
    /// Energy sources.
    pub probes: &'a ProbeSet,
    /// Set by Ctrl-C or SIGTERM.
    pub stop: &'a AtomicBool,
    /// HTTP clients by server key.
    pub clients: BTreeMap<String, HttpClient>,
    /// Servers by key.
    pub servers: BTreeMap<String, RunningServer>,
    /// Prepared requests per configuration.
    pub inputs: Vec<PreparedInputs>,
    /// `requests.csv`.
    pub requests: RowAppender<RequestRecord>,
    /// `repetitions.csv`.
    pub repetitions: RowAppender<RepetitionRecord>,
    /// `baselines.csv`.
    pub baselines: RowAppender<BaselineRecord>,
    /// What an interrupted run already did (empty for a new run).
    pub prior: Prior,
    /// Whether this session resumes an interrupted run.
    pub resumed: bool,
    /// Progress bar (hidden with `--quiet`).
    pub progress: ProgressBar,
    /// How the run is going.
    pub result: RunResult,
}

impl Session<'_> {
    /// Connects to or launches every server of the plan (interleaved order), or none yet
    /// (grouped order: each starts before its first configuration).
    pub async fn start_servers(&mut self, opts: &RunOptions, dir: &Path) -> Result<(), RunError> {
        if self.suite.schedule.order == RunOrder::Grouped {
            return Ok(());
        }
        for config in &self.plan.configurations {
            self.ensure_server(&config.server, opts, dir).await?;
        }
        Ok(())
    }

    /// Connects to or launches one server unless it is already up.
    async fn ensure_server(
        &mut self,
        key: &str,
        opts: &RunOptions,
        dir: &Path,
    ) -> Result<(), RunError> {
        if self.servers.contains_key(key) {
            return Ok(());
        }
        let places = Placeholders {
            joulebench: &opts.joulebench_exe,
            suite_dir: &self.suite.dir,
        };
        let timeout = Duration::from_secs_f64(self.suite.schedule.request_timeout_seconds);
        let spec = &self.suite.servers[key];
        let api_key = match &spec.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| RunError::ApiKey {
                server: key.to_string(),
                var: var.clone(),
            })?),
            None => None,
        };
        if spec.is_launched() {
            self.progress
                .set_message(format!("starting server `{key}`"));
        }
        let server =
            RunningServer::start(key, spec, &places, &dir.join(files::SERVER_LOGS_DIR)).await?;
        let client = HttpClient::new(&server.base_url, timeout, api_key)?;
        self.clients.insert(key.to_string(), client);
        self.servers.insert(key.to_string(), server);
        Ok(())
    }

    /// Stops a server the run launched (grouped order, after its last configuration).
    async fn release_server(&mut self, key: &str) {
        if let Some(server) = self.servers.remove(key) {
            tracing::info!("stopping server `{key}`: its configurations are done");
            server.stop().await;
        }
        self.clients.remove(key);
    }

    /// (repetition, configuration index) still to take, in visiting order.
    pub fn todo(&self) -> Vec<(u32, usize)> {
        self.plan
            .visits(self.suite.schedule.order)
            .into_iter()
            .filter(|&(repetition, ci)| {
                let id = &self.plan.configurations[ci].id;
                !self.prior.finished.contains(&(id.clone(), repetition))
            })
            .collect()
    }

    /// Takes every repetition still to take, with baselines and warm-ups first.
    pub async fn measure(&mut self, opts: &RunOptions, dir: &Path) -> Result<(), RunError> {
        let cooldown = self.suite.schedule.cooldown_seconds;
        let grouped = self.suite.schedule.order == RunOrder::Grouped;
        let mut started = vec![false; self.plan.configurations.len()];
        let todo = self.todo();
        for (k, &(repetition, ci)) in todo.iter().enumerate() {
            if self.stopped() {
                return Ok(());
            }
            let config = &self.plan.configurations[ci];
            self.ensure_server(&config.server, opts, dir).await?;
            if !started[ci] {
                if !self.prior.baselines.contains(&config.id) {
                    self.baseline(config).await?;
                }
                if !self.warmup(ci, config).await? {
                    return Ok(());
                }
                started[ci] = true;
            }
            if self.stopped() {
                return Ok(());
            }
            if !self.repetition(ci, config, repetition).await? {
                return Ok(());
            }
            let next_server = todo
                .get(k + 1)
                .map(|&(_, next)| self.plan.configurations[next].server.as_str());
            if grouped && next_server != Some(config.server.as_str()) {
                self.release_server(&config.server).await;
            }
            if k + 1 < todo.len() {
                pause(cooldown, self.stop).await;
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

    async fn baseline(&mut self, config: &Configuration) -> Result<(), RunError> {
        let seconds = self.suite.schedule.idle_seconds;
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
            self.baselines.append(&BaselineRecord {
                config: config.id.clone(),
                source: d.source.clone(),
                domain: d.domain.name.clone(),
                provenance: d.domain.provenance.as_str().to_string(),
                counts_in_total: d.domain.counts_in_total(),
                t_start_ns: window.t_start_ns + self.t_offset_ns,
                t_end_ns: window.t_end_ns + self.t_offset_ns,
                duration_s,
                energy_j: d.energy_j,
                power_w,
            })?;
        }
        Ok(())
    }

    /// Warm-up requests not yet sent; on resume a launched server is new (cold), so its
    /// configurations are warmed up again in full. Indices continue after earlier ones.
    /// False when the run must stop (the server is gone).
    async fn warmup(&mut self, ci: usize, config: &Configuration) -> Result<bool, RunError> {
        let wanted = self.suite.schedule.warmup;
        let done = self.prior.warmups.get(&config.id).copied().unwrap_or(0);
        let launched = self.suite.servers[&config.server].is_launched();
        let count = if self.resumed && launched {
            wanted
        } else {
            wanted.saturating_sub(done)
        };
        if count == 0 {
            return Ok(true);
        }
        self.progress.set_message(format!("{}: warm-up", config.id));
        let spec = BatchSpec {
            config,
            phase: Phase::Warmup,
            repetition: 0,
            first_index: done,
            count,
            concurrency: self.suite.schedule.concurrency,
            t_offset_ns: self.t_offset_ns,
        };
        let batch = self.send(ci, &spec).await?;
        if let Some(reason) = self.dead_server(config, &batch).await {
            self.result.status = RunStatus::Interrupted;
            self.result.reason = Some(reason);
            return Ok(false);
        }
        if batch.sent == count && batch.failures == count {
            return Err(RunError::WarmupFailed {
                config: config.id.clone(),
                count,
                first_error: batch.first_error.unwrap_or_default(),
            });
        }
        Ok(true)
    }

    /// One repetition in an energy window; false when the run must stop.
    async fn repetition(
        &mut self,
        ci: usize,
        config: &Configuration,
        repetition: u32,
    ) -> Result<bool, RunError> {
        let schedule = &self.suite.schedule;
        let spec = BatchSpec {
            config,
            phase: Phase::Measured,
            repetition,
            first_index: 0,
            count: schedule.inferences,
            concurrency: schedule.concurrency,
            t_offset_ns: self.t_offset_ns,
        };
        let start = self.probes.read_all(self.clock)?;
        let batch = self.send(ci, &spec).await?;
        let end = self.probes.read_all(self.clock)?;
        self.result.measured += u64::from(batch.sent);
        self.result.failures += u64::from(batch.failures);
        if batch.server_gone() {
            // Cut short inside the window: no repetitions.csv row; resume takes it again.
            if let Some(reason) = self.dead_server(config, &batch).await {
                self.result.status = RunStatus::Interrupted;
                self.result.reason = Some(reason);
            }
            return Ok(false);
        }
        if batch.sent < schedule.inferences {
            // Interrupted inside the window: its energy is not a whole repetition's.
            self.stopped();
            return Ok(false);
        }
        let window = Window::between(&self.probes.descriptions, &start, &end);
        let valid = super::manifest::policy(self.suite).is_valid(batch.failures, batch.sent);
        let duration_s = window.duration_s();
        for d in &window.domains {
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
                t_start_ns: window.t_start_ns + self.t_offset_ns,
                t_end_ns: window.t_end_ns + self.t_offset_ns,
                duration_s,
                energy_j: d.energy_j,
                requests: batch.sent,
                failures: batch.failures,
            })?;
        }
        self.report_progress(config, repetition, &window, &batch, valid);
        if let Some(reason) = self.dead_server(config, &batch).await {
            self.result.status = RunStatus::Interrupted;
            self.result.reason = Some(reason);
            return Ok(false);
        }
        Ok(true)
    }

    /// Shows the repetition's joules per inference; warns when it is invalid.
    fn report_progress(
        &self,
        config: &Configuration,
        repetition: u32,
        window: &Window,
        batch: &BatchResult,
        valid: bool,
    ) {
        let estimated = window
            .domains
            .iter()
            .any(|d| d.domain.provenance == probes::Provenance::Estimated);
        let label = if estimated { " (estimated)" } else { "" };
        self.progress.set_message(format!(
            "{} rep {repetition}: {:.3} J/inference{label}",
            config.id,
            window.total_j() / f64::from(batch.sent.max(1))
        ));
        if !valid {
            tracing::warn!(
                "{} repetition {repetition}: {} of {} requests failed, above schedule.max_failure_share; the report leaves it out",
                config.id,
                batch.failures,
                batch.sent
            );
        }
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
        let timeout_s = self.suite.schedule.request_timeout_seconds;
        let hung = |n: u32| {
            format!(
                "server `{}` at {} is hung: {n} requests in a row got no answer within schedule.request_timeout_seconds ({timeout_s} s); restart it (or raise the timeout if its answers are that slow) and `joulebench run --resume` this folder",
                config.server, server.base_url
            )
        };
        let gone = |n: u32| {
            format!(
                "server `{}` at {} stopped answering: {n} consecutive connection failures; start it again and `joulebench run --resume` this folder",
                config.server, server.base_url
            )
        };
        match batch.stop_cause? {
            StopCause::Timeouts(n) => Some(hung(n)),
            StopCause::ConnectionFailures(n) => Some(gone(n)),
        }
    }
}
