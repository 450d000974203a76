//! A history of runs: per configuration, energy per inference run after run.

use crate::ReportError;
use crate::compare::{CompareOptions, CompareResult, compare_runs, table};
use crate::energy::EnergyRun;
use crate::export::markdown::cell;
use crate::plot::style::provenance_suffix;
use crate::plot::trend::{Series, Trend};
use crate::rating::{Candidate, METHOD, Rating, glyphs, rate};
use crate::stats::Describe;
use crate::summary::per_inference;
use records::labels::FigureLabel;
use records::number::sig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

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
    /// `measured`, `estimated` or `mixed`: this run's provenance of the figure (column
    /// `source`).
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
    /// Why `change_from_first_pct` is empty, or where the source changed (empty otherwise).
    pub note: String,
}

/// A history of runs: one row per configuration and run, with the runs' labels.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The rows of `trend.csv`.
    pub rows: Vec<TrendRow>,
    /// Each run's label (`#1 2026-01-02 03:04`), oldest first.
    pub labels: Vec<String>,
    /// Each configuration's task and dataset.
    pub workloads: BTreeMap<String, (String, String)>,
}

impl History {
    /// The history of runs already read (`loaded[i]` from `runs[i]`, oldest first).
    pub fn from_runs(runs: &[PathBuf], loaded: &[EnergyRun]) -> Self {
        let mut rows = Vec::new();
        // Per configuration: the first run's mean, provenance and position.
        let mut first: BTreeMap<String, (f64, FigureLabel, usize)> = BTreeMap::new();
        let mut previous: BTreeMap<String, FigureLabel> = BTreeMap::new();
        let mut labels = Vec::new();
        let mut workloads = BTreeMap::new();
        for (i, (dir, report)) in runs.iter().zip(loaded).enumerate() {
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
                let provenance = c.label();
                workloads.insert(
                    c.info.id.clone(),
                    (c.info.task.clone(), c.info.dataset.clone()),
                );
                let (base, base_provenance, base_run) = *first
                    .entry(c.info.id.clone())
                    .or_insert((d.mean, provenance, i));
                let mut notes = Vec::new();
                if let Some(before) = previous.insert(c.info.id.clone(), provenance)
                    && before != provenance
                {
                    notes.push(format!("source changed from {before} to {provenance}"));
                }
                let change = if base_provenance == provenance {
                    Some((d.mean / base - 1.0) * 100.0)
                } else {
                    notes.push(format!(
                        "no change computed: {provenance} here, {base_provenance} in run #{}",
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
                    provenance,
                    note: notes.join("; "),
                });
            }
        }
        Self {
            rows,
            labels,
            workloads,
        }
    }

    /// The text of `trend.md`.
    pub fn markdown(&self) -> String {
        let mut out = markdown(&self.rows, &self.labels);
        self.ratings_markdown(&mut out);
        out
    }

    /// Each configuration's latest row, rated against the latest rows of the other
    /// configurations of its task and dataset (so runs that measured different models share
    /// one scale).
    pub fn ratings(&self) -> Vec<(&TrendRow, Rating)> {
        let mut latest: BTreeMap<&str, &TrendRow> = BTreeMap::new();
        for r in &self.rows {
            latest.insert(r.config.as_str(), r);
        }
        let rows: Vec<&TrendRow> = latest.into_values().collect();
        let candidates: Vec<Candidate> = rows
            .iter()
            .map(|r| {
                let (task, dataset) = self.workloads.get(&r.config).cloned().unwrap_or_default();
                Candidate {
                    task,
                    dataset,
                    energy_j: Some(r.energy_j_mean),
                    provenance: r.provenance,
                }
            })
            .collect();
        rows.into_iter().zip(rate(&candidates)).collect()
    }

    /// The ratings section of `trend.md`.
    fn ratings_markdown(&self, out: &mut String) {
        let ratings = self.ratings();
        if ratings.iter().all(|(_, r)| r.stars.is_none()) {
            return;
        }
        let _ = write!(
            out,
            "\n## Ratings over these runs\n\n{METHOD} Rated over each configuration's latest \
             run among these.\n\n\
             | configuration | task | latest run | J / inference | rating | rated among |\n\
             |---|---|---|--:|---|---|\n",
        );
        for (row, rating) in ratings {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{} | {}{} | {} |",
                cell(&row.config),
                cell(self.workloads.get(&row.config).map_or("", |w| w.0.as_str())),
                self.labels.get(row.run).map_or("", String::as_str),
                sig(row.energy_j_mean, 4),
                provenance_suffix(row.provenance),
                glyphs(rating.stars),
                rating
                    .stars
                    .map_or_else(String::new, |_| provenance_suffix(row.provenance)),
                cell(&rating.basis)
            );
        }
    }

    /// The trend figure: one series per configuration, named with its provenance (or
    /// every change of it).
    pub fn figure(&self) -> Trend {
        let mut series: BTreeMap<String, Series> = BTreeMap::new();
        for r in &self.rows {
            let s = series.entry(r.config.clone()).or_insert_with(|| Series {
                name: r.config.clone(),
                points: Vec::new(),
                provenances: Vec::new(),
            });
            s.points.push((
                r.run,
                r.energy_j_mean,
                r.energy_j_ci95_low,
                r.energy_j_ci95_high,
            ));
            s.provenances.push(r.provenance);
        }
        for s in series.values_mut() {
            let mut distinct: Vec<FigureLabel> = Vec::new();
            for p in &s.provenances {
                if distinct.last() != Some(p) {
                    distinct.push(*p);
                }
            }
            // One provenance throughout: its usual suffix; otherwise name every change.
            let suffix = match distinct.as_slice() {
                [one] => provenance_suffix(*one),
                many => format!(
                    " [source changes: {}]",
                    many.iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            };
            s.name.push_str(&suffix);
        }
        Trend {
            runs: self.labels.clone(),
            series: series.into_values().collect(),
        }
    }
}

/// One run judged against the run before it by the regression gate, or why it could not
/// be.
#[derive(Clone, Debug)]
pub struct Step {
    /// Position of the baseline run.
    pub from: usize,
    /// Position of the candidate run.
    pub to: usize,
    /// The comparison, or the error that stopped it.
    pub outcome: Result<CompareResult, String>,
}

/// Reads runs (oldest first) through the energy pass.
pub fn load(runs: &[PathBuf]) -> Result<Vec<EnergyRun>, ReportError> {
    runs.iter().map(|dir| EnergyRun::load(dir, None)).collect()
}

/// Each run against the one before it, with the gate's settings (`loaded[i]` read from
/// `runs[i]`).
pub fn steps(runs: &[PathBuf], loaded: &[EnergyRun], options: &CompareOptions) -> Vec<Step> {
    (1..runs.len().min(loaded.len()))
        .map(|i| Step {
            from: i - 1,
            to: i,
            outcome: compare_runs(&loaded[i - 1], &loaded[i], options, &runs[i - 1], &runs[i])
                .map_err(|e| e.to_string()),
        })
        .collect()
}

/// The verdicts of `steps` as Markdown, newest first.
pub fn steps_markdown(steps: &[Step], labels: &[String]) -> String {
    let mut out = String::from("# Verdicts: each run against the one before\n");
    if steps.is_empty() {
        out.push_str("\nOne run: nothing to compare it with.\n");
    }
    let label = |i: usize| labels.get(i).map_or("?", String::as_str);
    for step in steps.iter().rev() {
        let _ = write!(out, "\n## {} → {}: ", label(step.from), label(step.to));
        match &step.outcome {
            Ok(result) => {
                let _ = writeln!(
                    out,
                    "{}\n",
                    match result.exit_code() {
                        0 => "**pass**",
                        1 => "**FAIL** (regression)",
                        _ => "**FAIL** (not every configuration tested)",
                    }
                );
                out.push_str(&table(result));
            }
            Err(e) => {
                let _ = writeln!(out, "**not compared**\n\n{e}");
            }
        }
    }
    out
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
            r.provenance,
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
