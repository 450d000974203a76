//! The run: baselines, warm-up, interleaved repetitions with energy windows, records;
//! and `--resume`, which completes an interrupted run without redoing finished work.

mod carbon;
mod edges;
pub mod host;
mod inputs;
mod lock;
mod manifest;
mod power;
mod reference;
mod requests;
pub mod resume;
mod samples;
mod servers;
mod session;
pub(crate) mod signals;
mod sink;
mod stop;

pub use power::{GpuOpener, PowerControl, nvml_gpus};
pub use probes::window::Window;
pub use requests::{BatchResult, PreparedInputs};

use crate::client::ClientError;
use crate::dataset::DatasetError;
use crate::plan::Plan;
use crate::probe_setup::probe_config;
use crate::redact::Redactor;
use crate::server::ServerError;
use crate::suite::{Suite, SuiteError};
use crate::writer::WriteError;
use indicatif::{ProgressBar, ProgressStyle};
use probes::{MonotonicClock, ProbeError, ProbeSet, Sampler};
use records::files;
use records::manifest::{RunManifest, RunStatus};
use resume::Prior;
use session::{Meter, Session, Setup, Tally};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use stop::{Ending, StopReason};

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
    /// The slice of the suite this run takes, recorded in `run.json` (`--shard`).
    pub shard: Option<records::manifest::ShardInfo>,
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
    /// A record or the manifest could not be read or written.
    #[error(transparent)]
    Records(#[from] records::RecordsError),
    /// A GPU power limit could not be read, set or restored.
    #[error(transparent)]
    PowerLimit(#[from] crate::power_limit::PowerLimitError),
    /// A server could not be started or reached.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// An HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A probe failed during the run.
    #[error("energy probe failed: {0}")]
    Probe(ProbeError),
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
    /// The run had started (its `run.json` now says `status`) when `error` stopped it.
    /// Shows `error`'s own message; print `error` itself for its chain of causes.
    #[error("{error}")]
    Stopped {
        /// What `run.json` records: `failed`, or `interrupted` when a signal had asked the
        /// run to stop.
        status: RunStatus,
        /// What stopped it.
        error: Box<RunError>,
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

/// The probe error is in the message, so it is not also a `source()` (`{e:#}` would print
/// it twice).
impl From<ProbeError> for RunError {
    fn from(e: ProbeError) -> Self {
        Self::Probe(e)
    }
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
    /// Measured requests of finished repetitions, those a resume keeps (on resume, those
    /// kept from before included).
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
    let clock = MonotonicClock::new();
    let probes = probes::discover(&probe_config(&suite.probes), &clock);
    let power = PowerControl {
        open: &|| nvml_gpus(&suite.probes.gpus),
        journal: crate::power_limit::default_journal_dir(),
    };
    run_on(suite, plan, opts, clock, &probes, &power).await
}

/// [`run`] on probes already opened on `clock`, setting a sweep's power limits through
/// `power` (e.g. over fake devices in tests).
pub async fn run_on(
    suite: &Suite,
    plan: &Plan,
    opts: &RunOptions,
    clock: MonotonicClock,
    probes: &ProbeSet,
    power: &PowerControl<'_>,
) -> Result<RunResult, RunError> {
    let dir = opts.out.clone().unwrap_or_else(|| default_out_dir(suite));
    let redactor = secrets(suite);
    // Datasets are read (and hashed) before the folder is made: a bad row is an input
    // error, and run.json records each file's SHA-256 from the start.
    let inputs = inputs::prepare_inputs(suite, plan)?;
    let mut manifest = manifest::new_manifest(suite, opts, probes, &clock);
    manifest.datasets = Some(inputs.datasets.clone());
    // The folder is locked before anything is written into it, and its manifest follows
    // the suite copy at once (`drive`), so a stop leaves a folder `--resume` takes.
    let lock = claim_dir(&dir)?;
    std::fs::write(dir.join(files::SUITE_COPY), &suite.text).map_err(|e| RunError::OutDir {
        path: dir.join(files::SUITE_COPY),
        reason: e.to_string(),
    })?;
    let start = Start {
        dir,
        clock,
        t_offset_ns: 0,
        prior: Prior::default(),
        resumed: false,
        inputs: inputs.prepared,
        redactor,
    };
    drive(
        suite,
        plan,
        opts,
        Devices { probes, power },
        manifest,
        start,
        lock,
    )
    .await
}

/// Completes the interrupted run in `dir`: finished repetitions, baselines and warm-ups
/// are kept, unfinished repetitions are taken again whole, records are appended. A
/// complete run is left as it is (its report is then rendered again by the caller).
pub async fn resume(
    dir: &Path,
    suite: &Suite,
    plan: &Plan,
    opts: &RunOptions,
) -> Result<RunResult, RunError> {
    let mut manifest = RunManifest::load(dir)?;
    let refuse = |reason: String| RunError::OutDir {
        path: dir.to_path_buf(),
        reason,
    };
    if manifest.format_version != RunManifest::FORMAT_VERSION {
        return Err(refuse(format!(
            "run.json says results format version {}, and this joulebench ({}) writes version {}: its rows would not match the files already there; resume with joulebench {} (the version that started the run), or start a new run (`joulebench report` still renders this one)",
            manifest.format_version,
            opts.version,
            RunManifest::FORMAT_VERSION,
            manifest.joulebench_version
        )));
    }
    if manifest.suite.sha256 != suite.sha256 {
        return Err(refuse(format!(
            "the run was taken with a suite of SHA-256 {}, not {} ({}); resume with the run's own suite.toml",
            manifest.suite.sha256,
            suite.sha256,
            suite.path.display()
        )));
    }
    let redactor = secrets(suite);
    let inputs = inputs::prepare_inputs(suite, plan)?;
    match resume::check_datasets(manifest.datasets.as_deref(), &inputs.datasets) {
        Ok(None) => {}
        Ok(Some(warning)) => tracing::warn!("{}: {warning}", dir.display()),
        Err(reason) => return Err(refuse(reason)),
    }
    manifest.datasets = Some(inputs.datasets.clone());
    // Before touching any file: one process per folder.
    let lock = lock::hold(dir)?;
    let prior = resume::recover(dir)?;
    if manifest.status == RunStatus::Complete {
        // Every record is there; only the report can be missing (joulebench was stopped
        // while writing it, after run.json said complete), and the caller renders it again.
        return Ok(RunResult {
            dir: dir.to_path_buf(),
            status: RunStatus::Complete,
            reason: None,
            measured: prior.measured,
            failures: prior.failures,
        });
    }
    let clock = MonotonicClock::new();
    // Continue the interrupted timeline: the new clock's zero is later by the wall-clock
    // gap, and never earlier than the last time already written.
    let gap_ns = chrono::DateTime::parse_from_rfc3339(&manifest.clock_epoch_utc)
        .ok()
        .and_then(|old| {
            let new: chrono::DateTime<chrono::Utc> = clock.epoch_wall().into();
            (new - old.with_timezone(&chrono::Utc)).num_nanoseconds()
        })
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    let t_offset_ns = gap_ns.max(prior.last_t_ns + 1_000_000);
    let probes = probes::discover(&probe_config(&suite.probes), &clock);
    manifest.status = RunStatus::Running;
    manifest.status_reason = None;
    manifest.ended_utc = None;
    let start = Start {
        dir: dir.to_path_buf(),
        clock,
        t_offset_ns,
        prior,
        resumed: true,
        inputs: inputs.prepared,
        redactor,
    };
    let power = PowerControl {
        open: &|| nvml_gpus(&suite.probes.gpus),
        journal: crate::power_limit::default_journal_dir(),
    };
    let devices = Devices {
        probes: &probes,
        power: &power,
    };
    drive(suite, plan, opts, devices, manifest, start, lock).await
}

/// What a run measures with and sets: its energy probes and the GPUs' power limits.
#[derive(Clone, Copy)]
struct Devices<'a> {
    probes: &'a ProbeSet,
    power: &'a PowerControl<'a>,
}

/// Where and from what state a run (new or resumed) starts.
struct Start {
    dir: PathBuf,
    clock: MonotonicClock,
    t_offset_ns: u64,
    prior: Prior,
    resumed: bool,
    /// Prepared requests per configuration of the plan.
    inputs: Vec<PreparedInputs>,
    /// Takes the run's secrets out of what it writes.
    redactor: Redactor,
}

/// The secrets of `suite` (its servers' API keys); warns about keys too short to redact.
fn secrets(suite: &Suite) -> Redactor {
    for warning in crate::redact::short_key_warnings(suite) {
        tracing::warn!("{warning}");
    }
    Redactor::for_suite(suite)
}

/// Runs what is left to run and writes the manifest at the end (the binary renders the
/// summary once the run has returned).
async fn drive(
    suite: &Suite,
    plan: &Plan,
    opts: &RunOptions,
    devices: Devices<'_>,
    mut manifest: RunManifest,
    start: Start,
    _lock: lock::FolderLock,
) -> Result<RunResult, RunError> {
    let dir = start.dir.clone();
    let redactor = start.redactor.clone();
    manifest.save(&dir)?;
    reference::keep(&dir, suite)?;
    carbon::keep(&dir, suite)?;
    let stop = Arc::new(AtomicBool::new(false));
    signals::watch_signals(Arc::clone(&stop));
    let outcome = execute(suite, plan, opts, devices, &stop, start).await;
    let ending = Ending::of(
        outcome.as_ref().map(|(reason, _)| reason),
        stop.load(Ordering::SeqCst),
    );
    let reason = ending
        .reason
        .as_deref()
        .map(|r| redactor.redact(r).into_owned());
    manifest.ended_utc = Some(manifest::now_utc());
    manifest.status = ending.status;
    manifest.status_reason = reason.clone();
    manifest.save(&dir)?;
    let (_, tally) = outcome.map_err(|e| RunError::Stopped {
        status: ending.status,
        error: Box::new(e),
    })?;
    Ok(RunResult {
        dir,
        status: ending.status,
        reason,
        measured: tally.measured,
        failures: tally.failures,
    })
}

/// Creates `dir` (or takes an empty one) and locks it; refuses a folder another process
/// holds or one that already has files.
fn claim_dir(dir: &Path) -> Result<lock::FolderLock, RunError> {
    let err = |reason: String| RunError::OutDir {
        path: dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create: {e}")))?;
    let lock = lock::hold(dir)?;
    // Checked under the lock: a run that took the folder first has written into it.
    let mut entries = std::fs::read_dir(dir).map_err(|e| err(e.to_string()))?;
    if entries.next().is_some() {
        return Err(err(
            "already exists and is not empty; choose another --out, or --resume it".into(),
        ));
    }
    Ok(lock)
}

/// Takes the samples and runs the loop; says why the loop stopped and what it recorded.
async fn execute(
    suite: &Suite,
    plan: &Plan,
    opts: &RunOptions,
    devices: Devices<'_>,
    stop: &AtomicBool,
    start: Start,
) -> Result<(StopReason, Tally), RunError> {
    let Devices { probes, power } = devices;
    // Before anything is measured: a limit left by a killed run is restored here, and a
    // GPU that cannot be set stops the run before its first window.
    let power = power::open_for(plan, power)?;
    let dir = start.dir.as_path();
    let clock = &start.clock;
    let (tx, rx) = std::sync::mpsc::sync_channel(8192);
    let continuation = samples::Continuation {
        t_offset_ns: start.t_offset_ns,
        energy_j: start.prior.energy_j.clone(),
    };
    let writer = samples::spawn_writer(dir, probes.descriptions.clone(), rx, continuation)?;
    let sampler = Sampler::start(&probes.sources, *clock, suite.probes.sample_hz, tx);
    let setup = Setup {
        suite,
        plan,
        opts,
        dir,
        meter: Meter { probes, clock },
        stop,
        t_offset_ns: start.t_offset_ns,
        inputs: start.inputs,
        prior: start.prior,
        resumed: start.resumed,
        redactor: &start.redactor,
        power,
    };
    let outcome = match Session::open(setup) {
        Ok(mut session) => session.run().await.map(|reason| (reason, session.tally())),
        Err(e) => Err(e),
    };
    let sampler_report = sampler.finish();
    // The sampler's senders are gone: the writer takes what is left now, not at its next tick.
    writer.thread().unpark();
    let gaps = samples::write_gaps(
        dir,
        &probes.descriptions,
        &sampler_report.gaps(),
        start.t_offset_ns,
    );
    // The writer is joined whatever the gaps' fate, so samples.csv is whole before any return.
    let written = writer.join();
    gaps?;
    match written {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(RunError::OutDir {
                path: dir.join(files::SAMPLES_CSV),
                reason: "the samples writer thread panicked".into(),
            });
        }
    }
    let outcome = outcome?;
    if let Some(e) = sampler_report.error {
        return Err(e.into());
    }
    Ok(outcome)
}

/// Requests done / planned with ETA and the last repetition's J/inference; hidden when quiet.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hides_the_progress_bar_and_counts_stay_exact() {
        assert!(progress_bar(true, 10).is_hidden());
        let bar = progress_bar(false, 10);
        assert_eq!(bar.length(), Some(10));
        bar.set_message("m@d rep 1: 0.500 J/inference");
        assert_eq!(bar.message(), "m@d rep 1: 0.500 J/inference");
    }
}
