//! `joulebench run`: run a suite.

use anyhow::Context;
use harness::plan::Plan;
use harness::run::{RunError, RunOptions, RunResult};
use harness::shard::{self, ShardSpec};
use records::manifest::{RunManifest, RunStatus, ShardInfo};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code of a run stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells do).
const EXIT_INTERRUPTED: u8 = 130;

/// Exit code of a run that started (its folder has a `run.json`) and then failed; clap
/// and every error before the run starts (a bad suite, a folder in use) exit 2.
const EXIT_FAILED: u8 = 1;

/// Exit code of a run that completed with some configuration lacking any valid repetition
/// (its figures are empty): the run is not a result for that configuration.
pub(super) const EXIT_NO_VALID_REPETITION: u8 = 3;

/// Arguments of `joulebench run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Suite file (TOML); optional with --resume, which uses the run's own copy.
    #[arg(required_unless_present = "resume")]
    pub suite: Option<PathBuf>,
    /// Results folder (default: results/<suite>-<UTC time>/).
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Print the plan and exit without sending a request.
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,
    /// Complete the interrupted run in DIR: finished repetitions, baselines and warm-ups
    /// are kept, repetitions cut short are taken again whole, records are appended. The
    /// suite is DIR/suite.toml (datasets resolved beside the original suite file); a
    /// SUITE given as well must be byte-identical (same SHA-256) and locates the datasets.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// No progress bars (for nightly jobs).
    #[arg(long)]
    pub quiet: bool,
    /// Run one slice of the suite's configurations: I/N (0-based index I of N shards), or
    /// auto/N to take I from SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX (Kubernetes).
    /// Recorded in run.json; merge shards with `joulebench report --merge`.
    #[arg(long, value_name = "I/N", conflicts_with = "resume")]
    pub shard: Option<ShardSpec>,
    /// Exit 4 when the run completes but a configuration fails a check of the validity
    /// checklist (window length, counters moved, no estimates, CV, drift, cross-checks,
    /// sampler gaps, failures; see summary.md).
    #[arg(long)]
    pub strict: bool,
}

/// Runs `joulebench run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.resume {
        let suite = resume_suite(dir, args.suite.as_deref())?;
        let manifest = RunManifest::load(dir)?;
        if manifest.merged.is_some() {
            anyhow::bail!(
                "{} was merged from shards by `joulebench report --merge`; resume the shard folders listed in its run.json, then merge again",
                dir.display()
            );
        }
        let plan = match &manifest.shard {
            Some(info) => shard_plan(&suite.plan, info, dir)?,
            None => suite.plan.clone(),
        };
        if manifest.status == RunStatus::Complete {
            eprintln!(
                "note: the run in {} is already complete; nothing is sent again, its report is rendered again from its records",
                dir.display()
            );
        }
        let options = options(None, args.quiet, manifest.shard)?;
        let runtime = runtime()?;
        harness::redact::Redactor::for_suite(&suite).install();
        let result = runtime.block_on(harness::run::resume(dir, &suite, &plan, &options));
        return ended(result, args.strict);
    }
    let Some(suite_path) = &args.suite else {
        anyhow::bail!("give a suite file: joulebench run SUITE.toml");
    };
    let suite = if args.dry_run {
        harness::suite::load_plan_only(suite_path)?
    } else {
        harness::suite::load(suite_path)?
    };
    let shard = match args.shard {
        Some(spec) => Some(
            spec.resolve(|name| std::env::var(name).ok())
                .context("choosing this run's shard")?,
        ),
        None => None,
    };
    let info = shard
        .as_ref()
        .map(|s| shard::info(&suite.plan, &suite.schedule, s));
    if args.dry_run {
        if let (Some(s), Some(info)) = (&shard, &info) {
            print!("{}", describe_shard(&suite.plan, &suite.schedule, s, info));
        }
        let plan = match &info {
            Some(info) => shard::restrict(&suite.plan, &info.configurations),
            None => suite.plan.clone(),
        };
        let clock = probes::MonotonicClock::new();
        let probe_set =
            probes::discover(&harness::probe_setup::probe_config(&suite.probes), &clock);
        print!("{}", harness::dry_run::describe(&suite, &plan, &probe_set));
        let root = match &args.out {
            Some(out) => out.parent().map(Path::to_path_buf).unwrap_or_default(),
            None => harness::run::default_out_dir(&suite)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        };
        if let Some(earlier) = super::dry_run_power::latest_run(&root, suite.name()) {
            print!(
                "{}",
                super::dry_run_power::describe(&earlier, suite.schedule.repetitions)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let plan = match &info {
        Some(info) => shard::restrict(&suite.plan, &info.configurations),
        None => suite.plan.clone(),
    };
    let out = match (&args.out, &info) {
        (None, Some(info)) => Some(shard_out_dir(&suite, info)),
        (out, _) => out.clone(),
    };
    if let Some(info) = info.as_ref().filter(|i| i.configurations.is_empty()) {
        eprintln!(
            "note: shard {}/{} has no configurations (the suite has {}); it records an empty run so that the merge sees every shard",
            info.index,
            info.count,
            suite.plan.configurations.len()
        );
    }
    let options = options(out, args.quiet, info)?;
    let runtime = runtime()?;
    harness::redact::Redactor::for_suite(&suite).install();
    ended(
        runtime.block_on(harness::run::run(&suite, &plan, &options)),
        args.strict,
    )
}

/// The exit code of a run that returned `result`: a run stopped by an error after it
/// started prints the error and exits [`EXIT_FAILED`] (or [`EXIT_INTERRUPTED`] when a
/// signal had asked it to stop); an error before it started goes up (exit 2).
fn ended(result: Result<RunResult, RunError>, strict: bool) -> anyhow::Result<ExitCode> {
    match result {
        Ok(result) => finish(&result, strict),
        Err(RunError::Stopped { status, error }) => {
            let message = format!("{:#}", anyhow::Error::from(*error));
            eprintln!("error: {}", harness::redact::redact_global(&message));
            Ok(ExitCode::from(if status == RunStatus::Interrupted {
                EXIT_INTERRUPTED
            } else {
                EXIT_FAILED
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// The plan of the shard recorded in a run's manifest.
fn shard_plan(plan: &Plan, info: &ShardInfo, dir: &Path) -> anyhow::Result<Plan> {
    if let Some(id) = info
        .configurations
        .iter()
        .find(|id| !plan.configurations.iter().any(|c| &c.id == *id))
    {
        anyhow::bail!(
            "{}: run.json field `shard.configurations` names {id}, which the suite does not have; resume with the run's own suite.toml",
            dir.display()
        );
    }
    Ok(shard::restrict(plan, &info.configurations))
}

/// `results/<suite>-<UTC time>-shard<I>of<N>`: shards started in the same second differ.
fn shard_out_dir(suite: &harness::suite::Suite, info: &ShardInfo) -> PathBuf {
    let mut dir = harness::run::default_out_dir(suite).into_os_string();
    dir.push(format!("-shard{}of{}", info.index, info.count));
    PathBuf::from(dir)
}

/// The lines a sharded `--dry-run` prints before the shard's plan.
fn describe_shard(
    plan: &Plan,
    schedule: &harness::suite::Schedule,
    shard: &shard::Shard,
    info: &ShardInfo,
) -> String {
    let (_, loads) = shard::slice(plan, schedule, shard);
    let total: f64 = loads.iter().sum();
    let share = |x: f64| if total > 0.0 { 100.0 * x / total } else { 0.0 };
    let all: Vec<String> = loads
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{i}: {:.0}%", share(*l)))
        .collect();
    format!(
        "shard {}/{} (index from {}): {} of {} configurations, {:.0}% of the estimated cost\nestimated cost per shard (parameter-passes, see docs/cluster.md): {}\n\n",
        shard.index,
        shard.count,
        shard.index_from,
        info.configurations.len(),
        plan.configurations.len(),
        share(loads.get(shard.index as usize).copied().unwrap_or(0.0)),
        all.join(", ")
    )
}

/// A current-thread runtime: requests go out one after another (or a few at a time), and
/// one thread halves the client's overhead per request against a multi-thread runtime's
/// cross-thread wake-ups (see `bench/runner_overhead.sh`).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn options(
    out: Option<PathBuf>,
    quiet: bool,
    shard: Option<ShardInfo>,
) -> anyhow::Result<RunOptions> {
    Ok(RunOptions {
        out,
        quiet,
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: Some(env!("JOULEBENCH_GIT_REVISION"))
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        joulebench_exe: std::env::current_exe().context("cannot locate the joulebench binary")?,
        shard,
    })
}

/// The suite of the run in `dir`: `given` when it matches the run's SHA-256, else the
/// run's copy with datasets resolved beside the original suite file.
fn resume_suite(dir: &Path, given: Option<&Path>) -> anyhow::Result<harness::suite::Suite> {
    let manifest = RunManifest::load(dir)?;
    // A dataset the run read that is gone: say so, rather than blame the suite's paths.
    if let Some(gone) = manifest
        .datasets
        .iter()
        .flatten()
        .find(|d| !Path::new(&d.path).exists())
    {
        anyhow::bail!(
            "{}: dataset `{}` ({}, SHA-256 {}) that the run read is missing; restore the file the run was started with, or start a new run",
            dir.display(),
            gone.name,
            gone.path,
            gone.sha256
        );
    }
    if let Some(path) = given {
        let suite = harness::suite::load(path)?;
        if suite.sha256 != manifest.suite.sha256 {
            anyhow::bail!(
                "{} differs from the suite the run in {} was taken with (SHA-256 {} vs {}); resume with the same suite, or leave SUITE out to use {}",
                path.display(),
                dir.display(),
                suite.sha256,
                manifest.suite.sha256,
                dir.join(records::files::SUITE_COPY).display()
            );
        }
        return Ok(suite);
    }
    let original = PathBuf::from(&manifest.suite.path);
    let base = original
        .parent()
        .filter(|p| p.is_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf());
    let copy = dir.join(records::files::SUITE_COPY);
    harness::suite::load_in(&copy, &base).with_context(|| {
        format!(
            "cannot use the run's suite with datasets resolved in {}; pass the original suite: joulebench run --resume {} SUITE.toml",
            base.display(),
            dir.display()
        )
    })
}

/// Renders the summary of the run's records, prints where the results are and how the run
/// ended; returns the exit code (with `strict`, 4 when a complete run fails a check).
fn finish(result: &RunResult, strict: bool) -> anyhow::Result<ExitCode> {
    let report = report::render_with(&result.dir, &report::ReportOptions::default())?;
    let dir = result.dir.display();
    let empty = super::report::warn_without_valid_repetition(&report);
    match result.status {
        RunStatus::Complete if empty > 0 => {
            eprintln!(
                "run complete but not usable for {empty} configuration(s) with no valid repetition (named above); {} measured requests ({} failed); results in {dir}",
                result.measured, result.failures
            );
            Ok(ExitCode::from(EXIT_NO_VALID_REPETITION))
        }
        RunStatus::Complete => {
            println!(
                "run complete: {} measured requests ({} failed); results in {dir}",
                result.measured, result.failures
            );
            Ok(super::strict::verdict(strict, &report, ExitCode::SUCCESS))
        }
        status => {
            let reason = result.reason.as_deref().unwrap_or("no reason recorded");
            eprintln!(
                "run {}: {reason}; {} measured requests kept in {dir}",
                match status {
                    RunStatus::Interrupted => "interrupted",
                    RunStatus::Failed => "failed",
                    _ => "stopped",
                },
                result.measured
            );
            Ok(ExitCode::from(if status == RunStatus::Interrupted {
                EXIT_INTERRUPTED
            } else {
                EXIT_FAILED
            }))
        }
    }
}
