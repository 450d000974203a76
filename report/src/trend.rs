//! A history of runs: per configuration, energy per inference run after run.

use crate::ReportError;
use crate::export::format::sig;
use crate::options::ReportOptions;
use crate::plot;
use crate::plot::trend::{Series, Trend};
use crate::render::analyse;
use crate::stats::Describe;
use crate::summary::{per_inference, source_label};
use records::table_io::write_csv;
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
    /// Change from the first run that has this configuration (%); empty when this run's
    /// source differs from that run's (a measured figure is not compared with an estimate).
    pub change_from_first_pct: Option<f64>,
    /// `measured`, `estimated` or `mixed`: this run's provenance of the figure.
    pub source: String,
    /// Why `change_from_first_pct` is empty, or where the source changed (empty otherwise).
    pub note: String,
}

/// Reads runs (oldest first) and writes `trend.csv`, `trend.md` and the trend plot into
/// `out`; returns the rows.
pub fn trend(runs: &[PathBuf], out: &Path) -> Result<Vec<TrendRow>, ReportError> {
    let options = ReportOptions {
        plots: false,
        ..ReportOptions::default()
    };
    let mut rows = Vec::new();
    // Per configuration: the first run's mean, source and label.
    let mut first: BTreeMap<String, (f64, String, usize)> = BTreeMap::new();
    let mut previous: BTreeMap<String, String> = BTreeMap::new();
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
            let source = source_label(c);
            let (base, base_source, base_run) = first
                .entry(c.info.id.clone())
                .or_insert_with(|| (d.mean, source.clone(), i))
                .clone();
            let mut notes = Vec::new();
            if let Some(before) = previous.insert(c.info.id.clone(), source.clone())
                && before != source
            {
                notes.push(format!("source changed from {before} to {source}"));
            }
            let change = if base_source == source {
                Some((d.mean / base - 1.0) * 100.0)
            } else {
                notes.push(format!(
                    "no change computed: {source} here, {base_source} in run #{}",
                    base_run + 1
                ));
                None
            };
            rows.push(TrendRow {
                run: i,
                dir: dir.display().to_string(),
                started_utc: report.manifest.started_utc.clone(),
                config: c.info.id.clone(),
                repetitions: d.n,
                energy_j_mean: d.mean,
                energy_j_ci95_low: d.ci95_low,
                energy_j_ci95_high: d.ci95_high,
                change_from_first_pct: change,
                source,
                note: notes.join("; "),
            });
        }
    }
    std::fs::create_dir_all(out).map_err(|source| records::RecordsError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    write_csv(&out.join("trend.csv"), &rows)?;
    let md_path = out.join("trend.md");
    std::fs::write(&md_path, markdown(&rows, &labels)).map_err(|source| {
        records::RecordsError::Io {
            path: md_path,
            source,
        }
    })?;
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    for r in &rows {
        let s = series.entry(r.config.clone()).or_insert_with(|| Series {
            name: r.config.clone(),
            points: Vec::new(),
            sources: Vec::new(),
        });
        s.points.push((
            r.run,
            r.energy_j_mean,
            r.energy_j_ci95_low,
            r.energy_j_ci95_high,
        ));
        s.sources.push(r.source.clone());
    }
    for s in series.values_mut() {
        let mut distinct: Vec<&str> = Vec::new();
        for src in &s.sources {
            if distinct.last() != Some(&src.as_str()) {
                distinct.push(src);
            }
        }
        // One provenance throughout: its usual suffix; otherwise name every change.
        let suffix = match distinct.as_slice() {
            [one] => plot::style::provenance_suffix(one).to_string(),
            many => format!(" [source changes: {}]", many.join(" → ")),
        };
        s.name.push_str(&suffix);
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
        "\n| configuration | run | J / inference | 95% CI | change from first | source | note |\n",
    );
    out.push_str("|---|---|--:|--:|--:|---|---|\n");
    let mut sorted: Vec<&TrendRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.config.cmp(&b.config).then(a.run.cmp(&b.run)));
    for r in sorted {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} – {} | {} | {}{} | {} |",
            r.config,
            labels.get(r.run).map_or("", String::as_str),
            sig(r.energy_j_mean, 4),
            sig(r.energy_j_ci95_low, 4),
            sig(r.energy_j_ci95_high, 4),
            r.change_from_first_pct
                .map_or_else(|| "–".to_string(), |c| format!("{c:+.2}%")),
            r.source,
            if r.note.contains("source changed") {
                " ⚠"
            } else {
                ""
            },
            r.note
        );
    }
    out
}
