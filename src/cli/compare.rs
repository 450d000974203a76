//! `joulebench compare`: the regression gate between two runs.

use report::compare::CompareOptions;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `joulebench compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Results folder of the baseline run.
    pub baseline: PathBuf,
    /// Results folder of the candidate run.
    pub candidate: PathBuf,
    /// The gate's settings.
    #[command(flatten)]
    pub gate: GateArgs,
    /// Also write the comparison as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the gate as JUnit XML to this file: a test case per configuration, a
    /// failure per regression, an error for what could not be tested.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Runs `joulebench compare`: exit 0 when every configuration of the baseline was tested
/// and none got significantly worse by more than the threshold (in energy, or in quality
/// where both runs scored answers), 1 when one did (any untested ones are still listed),
/// 2 on error (missing or mismatched runs, or a configuration absent from the candidate,
/// with fewer than 2 valid repetitions on a side, or scored on one side only: not
/// tested).
pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let options = args.gate.options()?;
    let result =
        report::compare::compare(&args.baseline, &args.candidate, &options).map_err(|e| {
            anyhow::anyhow!(
                "comparing {} with {}: {e}",
                args.baseline.display(),
                args.candidate.display()
            )
        })?;
    print!("{}", report::compare::table(&result));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&result)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        let run = report::compare::junit::JunitRun {
            timestamp: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            baseline: args.baseline.display().to_string(),
            candidate: args.candidate.display().to_string(),
        };
        let bytes = report::compare::junit::junit(&result, &run)
            .map_err(|e| anyhow::anyhow!("writing the gate as JUnit XML: {e}"))?;
        std::fs::write(path, bytes)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    Ok(ExitCode::from(result.exit_code()))
}

/// The regression gate's settings (`compare`, and `trend --html`'s verdicts).
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// Relative worsening (percent) that fails the gate when significant.
    #[arg(long, default_value_t = CompareOptions::default().threshold_pct, value_name = "PCT")]
    pub threshold: f64,
    /// Significance level of the two-sided Welch t-test.
    #[arg(long, default_value_t = CompareOptions::default().alpha)]
    pub alpha: f64,
    /// Drop in quality (absolute points of the headline metric: accuracy, SQuAD F1,
    /// ROUGE-L) that fails the gate when significant; gated where both runs scored answers.
    #[arg(
        long,
        default_value_t = CompareOptions::default().quality_threshold_points,
        value_name = "POINTS"
    )]
    pub quality_threshold: f64,
}

impl GateArgs {
    /// The settings, checked.
    pub fn options(&self) -> anyhow::Result<CompareOptions> {
        if !(self.threshold.is_finite() && self.threshold >= 0.0) {
            anyhow::bail!("--threshold must be a percentage of 0 or more, e.g. --threshold 5");
        }
        if !(self.quality_threshold.is_finite() && (0.0..=100.0).contains(&self.quality_threshold))
        {
            anyhow::bail!(
                "--quality-threshold must be a number of points from 0 to 100, e.g. --quality-threshold 1"
            );
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            anyhow::bail!("--alpha must be between 0 and 1, e.g. --alpha 0.05");
        }
        Ok(CompareOptions {
            threshold_pct: self.threshold,
            alpha: self.alpha,
            quality_threshold_points: self.quality_threshold,
        })
    }
}
