//! `joulebench run`: run a suite.

use anyhow::Context;
use harness::plan::Plan;
use harness::run::{RunOptions, RunResult};
use report::manifest::{RunManifest, RunStatus};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code of a run stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells do).
const EXIT_INTERRUPTED: u8 = 130;

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
}

/// Runs `joulebench run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.resume {
        let suite = resume_suite(dir, args.suite.as_deref())?;
        let plan = Plan::of(&suite)?;
        let options = options(None, args.quiet)?;
        let runtime = runtime()?;
        let result = runtime.block_on(harness::run::resume(dir, &suite, &plan, &options))?;
        return Ok(finish(&result));
    }
    let Some(suite_path) = &args.suite else {
        anyhow::bail!("give a suite file: joulebench run SUITE.toml");
    };
    let suite = harness::suite::load(suite_path)?;
    let plan = Plan::of(&suite)?;
    if args.dry_run {
        let clock = probes::MonotonicClock::new();
        let probe_set = probes::discover(
            &harness::probe_setup::probe_config(&suite.spec.probes),
            &clock,
        );
        print!("{}", harness::dry_run::describe(&suite, &plan, &probe_set));
        return Ok(ExitCode::SUCCESS);
    }
    let options = options(args.out, args.quiet)?;
    let runtime = runtime()?;
    let result = runtime.block_on(harness::run::run(&suite, &plan, &options))?;
    Ok(finish(&result))
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

fn options(out: Option<PathBuf>, quiet: bool) -> anyhow::Result<RunOptions> {
    Ok(RunOptions {
        out,
        quiet,
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: Some(env!("JOULEBENCH_GIT_REVISION"))
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        joulebench_exe: std::env::current_exe().context("cannot locate the joulebench binary")?,
    })
}

/// The suite of the run in `dir`: `given` when it matches the run's SHA-256, else the
/// run's copy with datasets resolved beside the original suite file.
fn resume_suite(dir: &Path, given: Option<&Path>) -> anyhow::Result<harness::suite::Suite> {
    let manifest = RunManifest::load(dir)?;
    if let Some(path) = given {
        let suite = harness::suite::load(path)?;
        if suite.sha256 != manifest.suite.sha256 {
            anyhow::bail!(
                "{} differs from the suite the run in {} was taken with (SHA-256 {} vs {}); resume with the same suite, or leave SUITE out to use {}",
                path.display(),
                dir.display(),
                suite.sha256,
                manifest.suite.sha256,
                dir.join(report::files::SUITE_COPY).display()
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
    let copy = dir.join(report::files::SUITE_COPY);
    harness::suite::load_in(&copy, &base).with_context(|| {
        format!(
            "cannot use the run's suite with datasets resolved in {}; pass the original suite: joulebench run --resume {} SUITE.toml",
            base.display(),
            dir.display()
        )
    })
}

/// Prints where the results are and how the run ended; returns the exit code.
fn finish(result: &RunResult) -> ExitCode {
    let dir = result.dir.display();
    match result.status {
        RunStatus::Complete => {
            println!(
                "run complete: {} measured requests ({} failed); results in {dir}",
                result.measured, result.failures
            );
            ExitCode::SUCCESS
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
            if status == RunStatus::Interrupted {
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
