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
    /// The gate's settings for the verdicts of `--html`, as for `compare`.
    #[command(flatten)]
    pub gate: super::compare::GateArgs,
}

/// Runs `joulebench trend`.
pub fn run(args: TrendArgs) -> anyhow::Result<ExitCode> {
    let options = args.gate.options()?;
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
