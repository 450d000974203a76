//! `joulebench run`: run a suite.

use std::path::PathBuf;
use std::process::ExitCode;

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
pub fn run(_args: RunArgs) -> anyhow::Result<ExitCode> {
    super::not_implemented("run")
}
