//! `joulebench trend`: a history of nightly runs.

use anyhow::Context;
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
pub fn run(args: TrendArgs) -> anyhow::Result<ExitCode> {
    let rows = report::render::trend(&args.runs, &args.out)
        .with_context(|| format!("writing the trend of {} runs", args.runs.len()))?;
    println!(
        "{} points from {} runs in {} (trend.csv, trend.md, trend.png, trend.svg)",
        rows.len(),
        args.runs.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
