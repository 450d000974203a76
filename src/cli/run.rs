//! `joulebench run`: run a suite.

use anyhow::Context;
use harness::plan::Plan;
use harness::run::{RunOptions, RunResult};
use report::manifest::RunStatus;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a run stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells do).
const EXIT_INTERRUPTED: u8 = 130;

/// Arguments of `joulebench run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Suite file (TOML).
    pub suite: PathBuf,
    /// Results folder (default: results/<suite>-<UTC time>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the plan and exit without sending a request.
    #[arg(long)]
    pub dry_run: bool,
    /// Complete an interrupted run in this results folder.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// No progress bars (for nightly jobs).
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `joulebench run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.resume.is_some() {
        return super::not_implemented("run --resume");
    }
    let suite = harness::suite::load(&args.suite)?;
    let plan = Plan::of(&suite)?;
    if args.dry_run {
        let clock = probes::MonotonicClock::new();
        let probe_set = probes::discover(&harness::probe_setup::probe_config(&suite.spec.probes), &clock);
        print!("{}", harness::dry_run::describe(&suite, &plan, &probe_set));
        return Ok(ExitCode::SUCCESS);
    }
    let options = RunOptions {
        out: args.out,
        quiet: args.quiet,
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: Some(env!("JOULEBENCH_GIT_REVISION"))
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        joulebench_exe: std::env::current_exe().context("cannot locate the joulebench binary")?,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(harness::run::run(&suite, &plan, &options))?;
    Ok(finish(&result))
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
