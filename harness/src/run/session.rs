//! The run loop: each step (baseline, warm-up, repetition) either lets the run go on or
//! says why it stops.

use super::edges::{EdgeRead, EdgeReader, WindowId};
use super::requests::{BatchResult, BatchSpec, PreparedInputs, send_batch};
use super::resume::Prior;
use super::servers::ServerPool;
use super::signals::pause;
use super::sink::{ConfigColumns, RecordSink};
use super::stop::StopReason;
use super::{RunError, RunOptions};
use crate::plan::{Configuration, Plan};
use crate::power_limit::PowerLimits;
use crate::redact::Redactor;
use crate::server::ServerError;
use crate::suite::Suite;
use crate::writer::WriteError;
use indicatif::ProgressBar;
use probes::window::Window;
use probes::{MonotonicClock, ProbeSet, Reading};
use records::raw::{Phase, WindowKind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Why a step ends the loop: a reason to stop, or an error.
enum Halt {
    /// The loop stops for this reason.
    Stop(StopReason),
    /// The loop cannot go on.
    Error(RunError),
}

impl From<RunError> for Halt {
    fn from(e: RunError) -> Self {
        Self::Error(e)
    }
}

impl From<WriteError> for Halt {
    fn from(e: WriteError) -> Self {
        Self::Error(e.into())
    }
}

/// What a step of the loop says: go on (`Ok`), or halt.
type Step = Result<(), Halt>;

/// The energy probes and the clock their reads are timed by.
#[derive(Clone, Copy)]
pub struct Meter<'a> {
    /// Energy sources.
    pub probes: &'a ProbeSet,
    /// The run's clock.
    pub clock: &'a MonotonicClock,
}

impl Meter<'_> {
    fn read(&self) -> Result<Vec<Reading>, RunError> {
        Ok(self.probes.read_all(self.clock)?)
    }

    fn window(&self, start: &[Reading], end: &[Reading]) -> Window {
        Window::between(&self.probes.descriptions, start, end)
    }
}

/// Measured requests of finished repetitions, the ones `--resume` keeps (on resume,
/// those kept from before included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Measured requests.
    pub measured: u64,
    /// Of those, failures.
    pub failures: u64,
}

/// What a session is built from.
pub struct Setup<'a> {
    /// The suite.
    pub suite: &'a Suite,
    /// Its plan.
    pub plan: &'a Plan,
    /// How to run.
    pub opts: &'a RunOptions,
    /// The results folder.
    pub dir: &'a Path,
    /// Energy probes and clock.
    pub meter: Meter<'a>,
    /// Set by Ctrl-C or SIGTERM.
    pub stop: &'a AtomicBool,
    /// Added to every time written, so a resumed run continues the interrupted timeline.
    pub t_offset_ns: u64,
    /// Prepared requests per configuration.
    pub inputs: Vec<PreparedInputs>,
    /// What an interrupted run already did (empty for a new run).
    pub prior: Prior,
    /// Whether this session resumes an interrupted run.
    pub resumed: bool,
    /// Takes the run's secrets out of the records.
    pub redactor: &'a Redactor,
    /// The GPU power limits of a sweep, when it sets any.
    pub power: Option<PowerLimits>,
}

/// Everything open while a run goes on.
pub struct Session<'a> {
    suite: &'a Suite,
    plan: &'a Plan,
    meter: Meter<'a>,
    stop: &'a AtomicBool,
    servers: ServerPool<'a>,
    sink: RecordSink,
    inputs: Vec<PreparedInputs>,
    prior: Prior,
    resumed: bool,
    progress: ProgressBar,
    tally: Tally,
    edges: EdgeReader,
    /// Restored when the loop ends, and on drop (a panic unwinding).
    power: Option<PowerLimits>,
}

impl<'a> Session<'a> {
    /// Opens the record files of `setup.dir`; no server is started yet.
    pub fn open(setup: Setup<'a>) -> Result<Self, RunError> {
        let tally = Tally {
            measured: setup.prior.measured,
            failures: setup.prior.failures,
        };
        let mut session = Self {
            suite: setup.suite,
            plan: setup.plan,
            meter: setup.meter,
            stop: setup.stop,
            servers: ServerPool::new(
                setup.suite,
                setup.plan,
                &setup.prior,
                &setup.opts.joulebench_exe,
                setup.dir,
                setup.stop,
            ),
            sink: RecordSink::open(setup.dir, setup.t_offset_ns, setup.redactor)?,
            inputs: setup.inputs,
            prior: setup.prior,
            resumed: setup.resumed,
            progress: ProgressBar::hidden(),
            tally,
            edges: EdgeReader::default(),
            power: setup.power,
        };
        session.progress = super::progress_bar(
            setup.opts.quiet,
            session.todo().len() as u64 * u64::from(setup.suite.schedule.inferences),
        );
        Ok(session)
    }

    /// Measured requests recorded so far.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// Starts the servers, takes every repetition still to take, then stops the servers;
    /// says why the loop stopped.
    pub async fn run(&mut self) -> Result<StopReason, RunError> {
        let outcome = match self.servers.start_up(self.plan, &self.progress).await {
            Ok(()) => self.measure().await,
            Err(e) => Err(e),
        };
        // A signal during a server's start-up is an interruption like any other.
        let outcome = match outcome {
            Err(RunError::Server(ServerError::Interrupted { .. })) => Ok(StopReason::Interrupted),
            other => other,
        };
        self.progress.finish_and_clear();
        self.servers.stop_all().await;
        let restored = self.power.as_mut().map_or(Ok(()), PowerLimits::restore);
        match (outcome, restored) {
            (Ok(reason), Ok(())) => Ok(reason),
            (Ok(_), Err(e)) => Err(e.into()),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(restore)) => {
                // The first error stops the run; this one must still reach the operator.
                tracing::error!("{restore}");
                Err(e)
            }
        }
    }

    /// Puts the GPUs at configuration `ci`'s power limit, when the run sets any.
    fn power_limit_for(&mut self, ci: usize) -> Result<(), RunError> {
        match self.power.as_mut() {
            Some(guard) => Ok(super::power::apply(guard, &self.plan.configurations[ci])?),
            None => Ok(()),
        }
    }

    /// (repetition, configuration index) still to take, in visiting order.
    fn todo(&self) -> Vec<(u32, usize)> {
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
    async fn measure(&mut self) -> Result<StopReason, RunError> {
        let plan = self.plan;
        let cooldown = self.suite.schedule.cooldown_seconds;
        let mut started = vec![false; plan.configurations.len()];
        let todo = self.todo();
        if let Some(&(_, first)) = todo.first() {
            self.power_limit_for(first)?;
        }
        for (k, &(repetition, ci)) in todo.iter().enumerate() {
            match self.visit(ci, repetition, &mut started).await {
                Ok(()) => {}
                Err(Halt::Stop(reason)) => return Ok(reason),
                Err(Halt::Error(e)) => return Err(e),
            }
            let next_server = todo
                .get(k + 1)
                .map(|&(_, next)| plan.configurations[next].server.as_str());
            self.servers
                .visited(&plan.configurations[ci].server, next_server)
                .await;
            if let Some(&(_, next)) = todo.get(k + 1) {
                // Before the cool-down, so the board settles at the next visit's limit.
                self.power_limit_for(next)?;
                pause(cooldown, self.stop).await;
            }
        }
        Ok(StopReason::Finished)
    }

    /// One visit: the configuration's baseline and warm-up on its first visit, then one
    /// repetition.
    async fn visit(&mut self, ci: usize, repetition: u32, started: &mut [bool]) -> Step {
        self.signalled()?;
        let plan = self.plan;
        let config = &plan.configurations[ci];
        self.servers.ensure(&config.server, &self.progress).await?;
        if !started[ci] {
            if !self.prior.baselines.contains(&config.id) {
                self.baseline(config).await?;
            }
            self.warmup(ci, config).await?;
            started[ci] = true;
        }
        self.signalled()?;
        self.repetition(ci, config, repetition).await
    }

    /// Halts when a signal asked the run to stop.
    fn signalled(&self) -> Step {
        if self.stop.load(Ordering::SeqCst) {
            Err(Halt::Stop(StopReason::Interrupted))
        } else {
            Ok(())
        }
    }

    /// The idle baseline before a configuration's first repetition, unless none is asked
    /// for or a signal cuts it short.
    async fn baseline(&mut self, config: &Configuration) -> Step {
        let seconds = self.suite.schedule.idle_seconds;
        if seconds <= 0.0 {
            return Ok(());
        }
        self.progress
            .set_message(format!("{}: idle baseline", config.id));
        let start_edge = self.start_edge(config);
        let start = self.meter.read()?;
        pause(seconds, self.stop).await;
        let end = self.meter.read()?;
        let end_edge = self.end_edge(config, &start_edge);
        if self.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let window = self.meter.window(&start, &end);
        if !self.sink.baseline(&config.id, &window)? {
            return Ok(()); // no energy row: no edge rows either
        }
        let id = WindowId {
            config: &config.id,
            kind: WindowKind::Baseline,
            repetition: 0,
        };
        self.write_edges(&id, &start_edge, &end_edge)
    }

    /// The states and CPU times at the start edge of a configuration's window.
    fn start_edge(&self, config: &Configuration) -> EdgeRead {
        let scope = self.servers.process_scope(&config.server);
        self.edges.start(self.meter.probes, self.meter.clock, scope)
    }

    /// The CPU times, states and GPU samples at the end edge of the window `start` began.
    fn end_edge(&self, config: &Configuration, start: &EdgeRead) -> EdgeRead {
        let scope = self.servers.process_scope(&config.server);
        self.edges
            .end(self.meter.probes, self.meter.clock, scope, start)
    }

    /// Writes what the edges of a window read.
    fn write_edges(&mut self, id: &WindowId<'_>, start: &EdgeRead, end: &EdgeRead) -> Step {
        let (states, attribution) =
            self.edges
                .records(self.meter.probes, id, start, end, self.sink.t_offset_ns());
        Ok(self.sink.edges(&states, &attribution)?)
    }

    /// Warm-up requests not yet sent; on resume a launched server is new (cold), so its
    /// configurations are warmed up again in full. Indices continue after earlier ones.
    async fn warmup(&mut self, ci: usize, config: &Configuration) -> Step {
        let schedule = &self.suite.schedule;
        let wanted = schedule.warmup;
        let done = self.prior.warmups.get(&config.id).copied().unwrap_or(0);
        let launched = self.suite.servers[&config.server].is_launched();
        let count = if self.resumed && launched {
            wanted
        } else {
            wanted.saturating_sub(done)
        };
        if count == 0 {
            return Ok(());
        }
        self.progress.set_message(format!("{}: warm-up", config.id));
        let spec = BatchSpec {
            config,
            phase: Phase::Warmup,
            repetition: 0,
            first_index: done,
            count,
            load: config.load(schedule.concurrency),
            arrival_seed: crate::arrivals::batch_seed(schedule.seed, &config.id, 0),
            t_offset_ns: self.sink.t_offset_ns(),
        };
        let batch = self.send(ci, &spec).await?;
        self.server_alive(config, &batch)?;
        if batch.sent == count && batch.failures == count {
            return Err(Halt::Error(RunError::WarmupFailed {
                config: config.id.clone(),
                count,
                first_error: batch.first_error.unwrap_or_default(),
            }));
        }
        Ok(())
    }

    /// One repetition in an energy window.
    async fn repetition(&mut self, ci: usize, config: &Configuration, repetition: u32) -> Step {
        let schedule = &self.suite.schedule;
        let spec = BatchSpec {
            config,
            phase: Phase::Measured,
            repetition,
            first_index: 0,
            count: schedule.inferences,
            load: config.load(schedule.concurrency),
            arrival_seed: crate::arrivals::batch_seed(schedule.seed, &config.id, repetition),
            t_offset_ns: self.sink.t_offset_ns(),
        };
        let start_edge = self.start_edge(config);
        let start = self.meter.read()?;
        let batch = self.send(ci, &spec).await?;
        let end = self.meter.read()?;
        let end_edge = self.end_edge(config, &start_edge);
        if batch.server_gone() {
            // Cut short inside the window: no repetitions.csv row; resume takes it again.
            let reason = self
                .servers
                .why_dead(&config.server, &batch)
                .map_or(StopReason::Interrupted, StopReason::ServerDied);
            return Err(Halt::Stop(reason));
        }
        if batch.sent < schedule.inferences {
            // Interrupted inside the window: its energy is not a whole repetition's.
            return Err(Halt::Stop(StopReason::Interrupted));
        }
        let window = self.meter.window(&start, &end);
        let wrote =
            self.sink
                .repetition(&ConfigColumns::of(config), repetition, &window, &batch)?;
        if wrote {
            // Only after the window's energy rows: a stop between them leaves no edge row
            // for a window that `--resume` takes again.
            let id = WindowId {
                config: &config.id,
                kind: WindowKind::Repetition,
                repetition,
            };
            self.write_edges(&id, &start_edge, &end_edge)?;
        }
        // Counted once kept: a repetition cut short is dropped on resume and taken again.
        self.tally.measured += u64::from(batch.sent);
        self.tally.failures += u64::from(batch.failures);
        let valid = super::manifest::policy(self.suite).is_valid(batch.failures, batch.sent);
        self.report_progress(config, repetition, &window, &batch, valid);
        self.server_alive(config, &batch)
    }

    /// Halts when the configuration's server died.
    fn server_alive(&mut self, config: &Configuration, batch: &BatchResult) -> Step {
        match self.servers.why_dead(&config.server, batch) {
            Some(death) => Err(Halt::Stop(StopReason::ServerDied(death))),
            None => Ok(()),
        }
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

    /// Sends a batch to the configuration's server, recording each request.
    async fn send(&mut self, ci: usize, spec: &BatchSpec<'_>) -> Result<BatchResult, RunError> {
        let client = self
            .servers
            .ensure(&spec.config.server, &self.progress)
            .await?;
        Ok(send_batch(
            spec,
            client,
            &self.inputs[ci],
            self.meter.clock,
            self.stop,
            &mut self.sink,
            &self.progress,
        )
        .await?)
    }
}
