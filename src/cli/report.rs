//! `joulebench report`: rebuild results from a run folder's raw records, or merge the
//! folders of a sharded run into one and report it.

use anyhow::Context;
use report::manifest::{RunManifest, RunStatus};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `joulebench report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Results folder of a run (leave out with --merge).
    #[arg(required_unless_present = "merge", conflicts_with = "merge")]
    pub results_dir: Option<PathBuf>,
    /// Merge the results folders of the shards of one run (`joulebench run --shard`) into
    /// --out, then report the merged folder. Missing shards are named, and the merged run
    /// is marked interrupted (exit 1).
    #[arg(long, num_args = 1.., value_name = "DIR", requires = "out")]
    pub merge: Vec<PathBuf>,
    /// Folder the merged run is written to (new or empty; with --merge).
    #[arg(long, value_name = "DIR", requires = "merge")]
    pub out: Option<PathBuf>,
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
    let (dir, code) = match (&args.results_dir, &args.out) {
        (Some(dir), _) => (dir.clone(), ExitCode::SUCCESS),
        (None, Some(out)) => (out.clone(), merge(&args.merge, out)?),
        (None, None) => anyhow::bail!("give a results folder: joulebench report DIR"),
    };
    let report = report::render_with(&dir, &options)
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
    Ok(code)
}

/// Merges shard folders into `out`; prints what came together and every warning. The exit
/// code is 1 when shards are missing or did not complete.
fn merge(shards: &[PathBuf], out: &Path) -> anyhow::Result<ExitCode> {
    let merged = report::merge::merge(shards, out)?;
    let info = merged.manifest.merged.as_ref();
    let count = info.map_or(0, |m| m.count);
    let given = info.map_or(0, |m| m.shards.len());
    let hosts = info.map(|m| m.hosts.join(", ")).unwrap_or_default();
    println!(
        "merged {given} of {count} shards (hosts: {hosts}) into {}",
        out.display()
    );
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(missing) = info.filter(|m| !m.missing.is_empty()) {
        if let Some(lines) = missing_configurations(out, &merged.manifest, &missing.missing) {
            for line in lines {
                eprintln!("warning: {line}");
            }
        }
    }
    Ok(if merged.manifest.status == RunStatus::Complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The configurations of each missing shard, from the merged folder's copy of the suite
/// (datasets resolved beside the original suite file); `None` when the suite cannot be read.
fn missing_configurations(
    out: &Path,
    manifest: &RunManifest,
    missing: &[u32],
) -> Option<Vec<String>> {
    let base = Path::new(&manifest.suite.path).parent()?.to_path_buf();
    let suite = harness::suite::load_in(&out.join(report::files::SUITE_COPY), &base).ok()?;
    let plan = harness::plan::Plan::of(&suite).ok()?;
    let count = manifest.merged.as_ref()?.count;
    Some(
        missing
            .iter()
            .map(|&index| {
                let shard = harness::shard::Shard {
                    index,
                    count,
                    index_from: "flag".into(),
                };
                let (ids, _) = harness::shard::slice(&plan, &suite.spec.schedule, &shard);
                format!(
                    "shard {index}/{count} would hold: {}",
                    if ids.is_empty() {
                        "no configuration".to_string()
                    } else {
                        ids.join(", ")
                    }
                )
            })
            .collect(),
    )
}
