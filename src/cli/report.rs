//! `joulebench report`: rebuild results from a run folder's raw records, or merge the
//! folders of a sharded run into one and report it.

use anyhow::Context;
use records::manifest::{RunManifest, RunStatus};
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
    /// Exit 4 when any configuration fails a check of the validity checklist (summary.md).
    #[arg(long)]
    pub strict: bool,
    /// Also write the summary's figures as OpenMetrics text to this file (for a Prometheus
    /// textfile collector or a pushgateway).
    #[arg(long, value_name = "FILE")]
    pub openmetrics: Option<PathBuf>,
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
    let (dir, code, report) = match (&args.results_dir, &args.out) {
        (Some(dir), _) => {
            let report = report::render_with(dir, &options)
                .with_context(|| format!("reporting {}", dir.display()))?;
            (dir.clone(), ExitCode::SUCCESS, report)
        }
        (None, Some(out)) => {
            let (code, report) = merge(&args.merge, out, &options)?;
            (out.clone(), code, report)
        }
        (None, None) => anyhow::bail!("give a results folder: joulebench report DIR"),
    };
    if let Some(path) = &args.openmetrics {
        write_openmetrics(path, &report)?;
    }
    warn_without_valid_repetition(&report);
    if options.plots {
        for note in report::plot::notes(&report) {
            eprintln!("warning: {note}");
        }
    }
    let code = match no_valid_repetition(&dir, &report) {
        Some(message) if code == ExitCode::SUCCESS => {
            eprintln!("{message}");
            ExitCode::from(super::run::EXIT_NO_VALID_REPETITION)
        }
        _ => code,
    };
    let code = super::strict::verdict(args.strict, &report, code);
    let flagged = report
        .summary
        .iter()
        .filter(|s| !s.flags.is_empty())
        .count();
    println!(
        "{} configurations summarised in {} ({} with quality flags; see {}), {} plot files in {}",
        report.summary.len(),
        dir.join(records::files::SUMMARY_CSV).display(),
        flagged,
        records::files::SUMMARY_MD,
        report.plots.len(),
        dir.join(records::files::PLOTS_DIR).display(),
    );
    Ok(code)
}

/// Writes the report's OpenMetrics exposition to `path`.
fn write_openmetrics(path: &Path, report: &report::Report) -> anyhow::Result<()> {
    use report::export::Exporter;
    let bytes = report::export::openmetrics::OpenMetrics
        .serialize(report)
        .context("serialising the summary as OpenMetrics")?;
    std::fs::write(path, bytes)
        .with_context(|| format!("writing the OpenMetrics file {}", path.display()))
}

/// Why the report of `dir` has no figure at all, when no configuration has a valid
/// repetition: none finished yet (no row in `repetitions.csv`), or none is valid. A shard
/// given no configuration (`run --shard` with more shards than configurations) has
/// nothing to measure and is not such a run.
fn no_valid_repetition(dir: &Path, report: &report::Report) -> Option<String> {
    let empty_shard = (report.manifest.shard.as_ref()).is_some_and(|s| s.configurations.is_empty());
    if empty_shard || report.configs.iter().any(|c| c.usable().next().is_some()) {
        return None;
    }
    let repetitions = dir.join(records::files::REPETITIONS_CSV);
    Some(if report.configs.is_empty() {
        format!(
            "no valid repetition yet: {} has no repetition (the run has not finished one); complete it with `joulebench run --resume {}`",
            repetitions.display(),
            dir.display()
        )
    } else {
        format!(
            "no valid repetition: none of the {} configuration(s) in {} has one (named above); the report has no figure",
            report.configs.len(),
            repetitions.display()
        )
    })
}

/// Prints one warning per configuration with no valid repetition (empty figures) and the
/// flags that say why; returns how many there are.
pub(super) fn warn_without_valid_repetition(report: &report::Report) -> usize {
    let mut count = 0;
    for s in report.without_valid_repetition() {
        count += 1;
        eprintln!(
            "warning: {} has no valid repetition: its figures are empty ({})",
            s.row.config,
            report::flags::join(&s.flags)
        );
    }
    count
}

/// Merges shard folders into `out` and reports the merged folder (into a temporary folder
/// renamed to `out` at the end, so that a failure leaves no `out`); prints what came
/// together and every warning. The exit code is 1 when shards are missing or did not
/// complete.
fn merge(
    shards: &[PathBuf],
    out: &Path,
    options: &report::ReportOptions,
) -> anyhow::Result<(ExitCode, report::Report)> {
    let (merged, report) = report::merge::merge_with(shards, out, |dir, _| {
        report::render_with(dir, options)
            .with_context(|| format!("reporting the merge into {}", out.display()))
    })?;
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
    let code = if merged.manifest.status == RunStatus::Complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    Ok((code, report))
}

/// The configurations of each missing shard, from the suite: the original file when it is
/// still there unchanged (same SHA-256), else the merged folder's copy; dataset files need
/// not be on this host. `None` when neither can be read.
fn missing_configurations(
    out: &Path,
    manifest: &RunManifest,
    missing: &[u32],
) -> Option<Vec<String>> {
    let original = Path::new(&manifest.suite.path);
    let suite = harness::suite::load_plan_only(original)
        .ok()
        .filter(|s| s.sha256 == manifest.suite.sha256)
        .or_else(|| harness::suite::load_plan_only(&out.join(records::files::SUITE_COPY)).ok())?;
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
                let (ids, _) = harness::shard::slice(&suite.plan, &suite.schedule, &shard);
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
