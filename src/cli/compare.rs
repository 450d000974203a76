//! `joulebench compare`: the regression gate between two runs.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `joulebench compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Results folder of the baseline run.
    pub baseline: PathBuf,
    /// Results folder of the candidate run.
    pub candidate: PathBuf,
    /// Relative worsening (percent) that fails the gate when significant.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    pub threshold: f64,
}

/// Runs `joulebench compare`.
pub fn run(_args: CompareArgs) -> anyhow::Result<ExitCode> {
    super::not_implemented("compare")
}
