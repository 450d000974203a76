//! A history of runs: per configuration, energy per inference run after run.

use crate::ReportError;
use crate::export::format::sig;
use crate::options::ReportOptions;
use crate::plot;
use crate::plot::trend::{Series, Trend};
use crate::render::analyse;
use crate::stats::Describe;
use crate::summary::{per_inference, source_label};
use crate::table_io::write_csv;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One row of `trend.csv`: one configuration in one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrendRow {
    /// Position of the run (0 = oldest).
    pub run: usize,
    /// The run's folder.
    pub dir: String,
    /// The run's UTC start.
    pub started_utc: String,
    /// Configuration id.
    pub config: String,
    /// Valid repetitions.
    pub repetitions: usize,
    /// Mean energy per inference (J).
    pub energy_j_mean: f64,
    /// Lower bound of the 95% t interval (J).
    pub energy_j_ci95_low: f64,
    /// Upper bound of the 95% t interval (J).
    pub energy_j_ci95_high: f64,
    /// Change from the first run that has this configuration (%).
    pub change_from_first_pct: f64,
    /// `measured`, `estimated` or `mixed`.
    pub source: String,
}

/// Reads runs (oldest first) and writes `trend.csv`, `trend.md` and the trend plot into
/// `out`; returns the rows.
pub fn trend(runs: &[PathBuf], out: &Path) -> Result<Vec<TrendRow>, ReportError> {
    let options = ReportOptions {
        plots: false,
        ..ReportOptions::default()
    };
    let mut rows = Vec::new();
    let mut first: BTreeMap<String, f64> = BTreeMap::new();
    let mut labels = Vec::new();
    for (i, dir) in runs.iter().enumerate() {
        let report = analyse(dir, &options, false)?;
        let date = report
            .manifest
            .started_utc
            .get(..16)
            .unwrap_or("")
            .replace('T', " ");
        labels.push(format!("#{} {date}", i + 1));
        for c in &report.configs {
            let values: Vec<f64> = per_inference(c).into_iter().map(|(_, v)| v).collect();
            let Some(d) = Describe::of(&values) else {
                continue;
            };
            let base = *first.entry(c.info.id.clone()).or_insert(d.mean);
            rows.push(TrendRow {
                run: i,
                dir: dir.display().to_string(),
                started_utc: report.manifest.started_utc.clone(),
                config: c.info.id.clone(),
                repetitions: d.n,
                energy_j_mean: d.mean,
                energy_j_ci95_low: d.ci95_low,
                energy_j_ci95_high: d.ci95_high,
                change_from_first_pct: (d.mean / base - 1.0) * 100.0,
                source: source_label(c),
            });
        }
    }
    std::fs::create_dir_all(out).map_err(|source| ReportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    write_csv(&out.join("trend.csv"), &rows)?;
    let md_path = out.join("trend.md");
    std::fs::write(&md_path, markdown(&rows, &labels)).map_err(|source| ReportError::Io {
        path: md_path,
        source,
    })?;
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    for r in &rows {
        series
            .entry(r.config.clone())
            .or_insert_with(|| Series {
                name: format!("{}{}", r.config, plot::style::provenance_suffix(&r.source)),
                points: Vec::new(),
            })
            .points
            .push((
                r.run,
                r.energy_j_mean,
                r.energy_j_ci95_low,
                r.energy_j_ci95_high,
            ));
    }
    let figure = Trend {
        runs: labels,
        series: series.into_values().collect(),
    };
    if !figure.series.is_empty() {
        plot::save(&figure, out, "trend")?;
    }
    Ok(rows)
}

fn markdown(rows: &[TrendRow], labels: &[String]) -> String {
    let mut out = String::from("# Energy per inference across runs\n\n");
    for (i, l) in labels.iter().enumerate() {
        let dir = rows
            .iter()
            .find(|r| r.run == i)
            .map_or("", |r| r.dir.as_str());
        let _ = writeln!(out, "- run {l}: `{dir}`");
    }
    out.push_str(
        "\n| configuration | run | J / inference | 95% CI | change from first | source |\n",
    );
    out.push_str("|---|---|--:|--:|--:|---|\n");
    let mut sorted: Vec<&TrendRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.config.cmp(&b.config).then(a.run.cmp(&b.run)));
    for r in sorted {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} – {} | {:+.2}% | {} |",
            r.config,
            labels.get(r.run).map_or("", String::as_str),
            sig(r.energy_j_mean, 4),
            sig(r.energy_j_ci95_low, 4),
            sig(r.energy_j_ci95_high, 4),
            r.change_from_first_pct,
            r.source
        );
    }
    out
}
