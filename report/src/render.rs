//! `joulebench report`: every result file of a run folder, rebuilt from its raw records.

use crate::ReportError;
use crate::aggregate::{self, ModelRow, TaskRow};
use crate::configs::{self, Configuration};
use crate::domains::{self, DomainRow};
use crate::flags::Flag;
use crate::options::ReportOptions;
use crate::plot;
use crate::scan::{self, RequestFacts, RunScan, ScanOptions};
use crate::summary::{self, SummaryRow};
use records::files::PLOTS_DIR;
use records::manifest::RunManifest;
use std::path::{Path, PathBuf};

/// Everything a report computed.
#[derive(Debug)]
pub struct Report {
    /// The run's manifest.
    pub manifest: RunManifest,
    /// The settings used.
    pub options: ReportOptions,
    /// Configurations with their repetitions.
    pub configs: Vec<Configuration>,
    /// One row per configuration with at least one valid repetition.
    pub summary: Vec<SummaryRow>,
    /// Quality flags, parallel to `summary`.
    pub flags: Vec<Vec<Flag>>,
    /// One row per configuration and domain.
    pub domains: Vec<DomainRow>,
    /// Repetitions pooled per task and class.
    pub tasks: Vec<TaskRow>,
    /// Per model, mean over tasks.
    pub models: Vec<ModelRow>,
    /// GPU context (`context.csv`) per configuration, when the runner wrote it.
    pub context: Vec<crate::context::ContextRow>,
    /// What the pass over requests and samples found.
    pub scan: RunScan,
    /// Plot files written.
    pub plots: Vec<PathBuf>,
    /// Each model and task beside the study's figure; `None` without `reference.csv`.
    pub beside_study: Option<Vec<crate::reference::ComparisonRow>>,
}

/// Rebuilds every result file of a run folder from its raw records, with default settings;
/// returns the rows of `summary.csv`.
pub fn render(dir: &Path) -> Result<Vec<SummaryRow>, ReportError> {
    Ok(render_with(dir, &ReportOptions::default())?.summary)
}

/// Rebuilds every result file: the CSV, Markdown, LaTeX and JSON tables,
/// `request_energy.csv` and the plots.
pub fn render_with(dir: &Path, options: &ReportOptions) -> Result<Report, ReportError> {
    let mut report = analyse(dir, options, true)?;
    crate::export::csv::write(dir, &report)?;
    crate::export::markdown::write(dir, &report)?;
    crate::export::latex::write(dir, &report)?;
    crate::export::json::write(dir, &report)?;
    crate::reference::write_comparison(dir, report.beside_study.as_deref())?;
    if options.plots {
        report.plots = draw(&dir.join(PLOTS_DIR), &report)?;
    }
    Ok(report)
}

/// Computes a report without writing anything (`full` = false skips the pass over
/// requests and samples: energy statistics only, as `compare` and `trend` need).
pub fn analyse(dir: &Path, options: &ReportOptions, full: bool) -> Result<Report, ReportError> {
    let manifest = RunManifest::load(dir)?;
    let configs = configs::load(dir, &manifest, options.policy.as_ref())?;
    let scan = if full {
        let scan_options = ScanOptions {
            timeline_configs: if options.plots {
                options.timeline_configs
            } else {
                0
            },
            timeline_points: options.timeline_points,
            resolution_s: manifest
                .probes
                .iter()
                .map(|p| (p.name.clone(), p.resolution_s))
                .collect(),
        };
        scan::scan(dir, &configs, &scan_options)?
    } else {
        RunScan {
            requests: vec![RequestFacts::default(); configs.len()],
            ..RunScan::default()
        }
    };
    let context = if full {
        crate::context::summarise(dir, &configs)?
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    let mut flags = Vec::new();
    for (config, facts) in configs.iter().zip(&scan.requests) {
        if let Some((row, f)) = summary::summarise(config, facts, &manifest, options) {
            rows.push(row);
            flags.push(f);
        }
    }
    crate::merge::label_hosts(dir, &mut rows)?;
    Ok(Report {
        beside_study: crate::reference::beside(dir, &configs)?,
        domains: configs.iter().flat_map(domains::rows).collect(),
        tasks: aggregate::tasks(&configs),
        models: aggregate::models(&configs),
        context,
        manifest,
        options: options.clone(),
        configs,
        summary: rows,
        flags,
        scan,
        plots: Vec::new(),
    })
}

/// Draws every plot of a report into `dir`.
pub fn draw(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, ReportError> {
    let mut files = Vec::new();
    let central =
        plot::central::EnergyPerModel::beside(&report.configs, report.beside_study.as_deref());
    if !central.is_empty() {
        files.extend(plot::save(&central, dir, "energy_per_1000")?);
    }
    let size = plot::size::SizeEnergy::new(&report.models);
    if !size.is_empty() {
        files.extend(plot::save(&size, dir, "size_vs_energy")?);
    }
    let latency = plot::latency::LatencyEnergy::new(&report.summary);
    if !latency.is_empty() {
        files.extend(plot::save(&latency, dir, "latency_vs_energy")?);
    }
    let spread = plot::distribution::RequestEnergy::new(&report.configs, &report.scan.requests);
    if !spread.is_empty() {
        files.extend(plot::save(&spread, dir, "request_energy")?);
    }
    let timelines = &report.scan.timelines;
    let names: Vec<String> = timelines
        .domains
        .iter()
        .map(|k| format!("{}/{}", k.source, k.domain))
        .collect();
    for (i, config) in report.configs.iter().enumerate() {
        let panels: Vec<_> = config
            .usable()
            .filter_map(|r| timelines.get(i, r.number))
            .filter(|t| !t.buckets.is_empty())
            .collect();
        let figure = plot::timeline::PowerTimeline::new(
            &config.info.id,
            &summary::source_label(config),
            panels,
            names.clone(),
            timelines.points(),
        );
        if !figure.is_empty() {
            let stem = format!("timeline_{}", plot::file_stem(&config.info.id));
            files.extend(plot::save(&figure, dir, &stem)?);
        }
    }
    Ok(files)
}
