//! Command-line interface: argument parsing and dispatch to one module per subcommand.

mod compare;
mod dry_run_power;
mod import;
mod probe;
mod report;
mod run;
mod serve;
mod slurm;
mod strict;
mod trend;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Measure the energy of one inference of a machine-learning model behind a model server.
#[derive(Debug, Parser)]
#[command(name = "joulebench", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v info, -vv debug); JOULEBENCH_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a suite: send inferences to model servers and measure their energy.
    Run(run::RunArgs),
    /// Rebuild statistics, tables and plots of a results folder from its raw records.
    Report(report::ReportArgs),
    /// Compare two runs per configuration; exit 1 if one got significantly worse.
    Compare(compare::CompareArgs),
    /// Plot a history of nightly runs.
    Trend(trend::TrendArgs),
    /// List, read or watch the energy probes of this machine.
    Probe(probe::ProbeArgs),
    /// Serve the embedded reference models over HTTP (OpenAI, TGI, TEI, KServe v2).
    Serve(serve::ServeArgs),
    /// Turn measurements taken by other tools into a results folder.
    Import(import::ImportArgs),
    /// Write a Slurm job array that runs a suite in shards, and a job that merges them.
    Slurm(slurm::SlurmArgs),
}

impl Command {
    /// Whether the command only prints (so a closed pipe, as in `| head`, may end it quietly).
    pub fn only_prints(&self) -> bool {
        match self {
            Command::Run(a) => a.dry_run,
            Command::Serve(_) => false,
            _ => true,
        }
    }
}

/// Lets a closed stdout end the process quietly, as Unix tools do, instead of a panic in
/// `println!`. Only for commands that print: a run or a server keeps Rust's default (an
/// error to handle rather than a signal that would cut a measurement short).
pub fn quiet_on_closed_pipe(command: &Command) {
    #[cfg(unix)]
    if command.only_prints() {
        // SAFETY: restores the default disposition of one signal, before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

/// Sets up log output on stderr.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("JOULEBENCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(harness::redact::RedactingStderr::default)
        .with_target(false)
        .init();
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Report(args) => report::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Trend(args) => trend::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Import(args) => import::run(args),
        Command::Slurm(args) => slurm::run(args),
    }
}
