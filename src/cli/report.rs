//! `joulebench report`: rebuild results from a run folder's raw records.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `joulebench report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Results folder of a run.
    pub results_dir: PathBuf,
}

/// Runs `joulebench report`.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let rows = report::render(&args.results_dir)
        .with_context(|| format!("reporting {}", args.results_dir.display()))?;
    println!(
        "{} configurations summarised in {}",
        rows.len(),
        args.results_dir.join(report::files::SUMMARY_CSV).display()
    );
    Ok(ExitCode::SUCCESS)
}
