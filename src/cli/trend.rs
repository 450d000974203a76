//! `joulebench trend`: a history of nightly runs.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `joulebench trend`.
#[derive(Debug, clap::Args)]
pub struct TrendArgs {
    /// Results folders, oldest first.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Folder to write the trend plots and table into.
    #[arg(long, default_value = "trend")]
    pub out: PathBuf,
}

/// Runs `joulebench trend`.
pub fn run(_args: TrendArgs) -> anyhow::Result<ExitCode> {
    super::not_implemented("trend")
}
