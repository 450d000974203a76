//! `joulebench report`: rebuild results from a run folder's raw records.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `joulebench report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Results folder of a run.
    pub results_dir: PathBuf,
    /// Flag configurations whose coefficient of variation exceeds this percentage.
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub max_cv: f64,
    /// Add a 95% percentile-bootstrap CI from this many resamples.
    #[arg(long, value_name = "N")]
    pub bootstrap: Option<usize>,
    /// Draw power timelines for this many configurations (in id order).
    #[arg(long, default_value_t = 24, value_name = "N")]
    pub timelines: usize,
    /// Write tables only, no plots.
    #[arg(long)]
    pub no_plots: bool,
}

/// Runs `joulebench report`.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if !(args.max_cv.is_finite() && args.max_cv > 0.0) {
        anyhow::bail!("--max-cv must be a positive percentage, e.g. --max-cv 10");
    }
    let options = report::ReportOptions {
        cv_bound: args.max_cv / 100.0,
        bootstrap_resamples: args.bootstrap.filter(|n| *n > 0),
        timeline_configs: args.timelines,
        plots: !args.no_plots,
        ..report::ReportOptions::default()
    };
    let dir = &args.results_dir;
    let report = report::render_with(dir, &options)
        .with_context(|| format!("reporting {}", dir.display()))?;
    let flagged = report.flags.iter().filter(|f| !f.is_empty()).count();
    println!(
        "{} configurations summarised in {} ({} with quality flags; see {}), {} plot files in {}",
        report.summary.len(),
        dir.join(report::files::SUMMARY_CSV).display(),
        flagged,
        report::files::SUMMARY_MD,
        report.plots.len(),
        dir.join(report::files::PLOTS_DIR).display(),
    );
    Ok(ExitCode::SUCCESS)
}
