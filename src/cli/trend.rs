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
    /// Also write one self-contained HTML page: the plot, each run's verdict against the
    /// run before (as `compare` gives it), every run's figures and the ratings.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// The gate's threshold for the verdicts of `--html` (as `compare --threshold`).
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    pub threshold: f64,
    /// The gate's significance level for the verdicts of `--html` (as `compare --alpha`).
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
}

/// Runs `joulebench trend`.
pub fn run(args: TrendArgs) -> anyhow::Result<ExitCode> {
    let options = super::compare::gate_options(args.threshold, args.alpha, None)?;
    let html = args.html.as_deref().map(|p| (p, &options));
    let rows = report::render::trend(&args.runs, &args.out, html)
        .with_context(|| format!("writing the trend of {} runs", args.runs.len()))?;
    println!(
        "{} points from {} runs in {} (trend.csv, trend.md, trend.png, trend.svg)",
        rows.len(),
        args.runs.len(),
        args.out.display()
    );
    if let Some(path) = &args.html {
        println!("history with verdicts: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
