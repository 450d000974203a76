//! `joulebench report` and `joulebench trend`: the result files rebuilt from raw records.
//! This is the one module of the reporter that writes files: the exporters' bytes, the
//! per-request energies and the plots (PNG and SVG).

use crate::ReportError;
use crate::analysis::analyse;
use crate::compare::CompareOptions;
use crate::export::Exporter;
use crate::export::codecarbon::CodeCarbonCsv;
use crate::export::csv::{CsvTable, table};
use crate::export::html::{Html, trend_page};
use crate::export::json::Json;
use crate::export::latex::Latex;
use crate::export::markdown::Markdown;
use crate::model::{Report, SummaryRow};
use crate::options::ReportOptions;
use crate::plot::{self, DrawnPlot, Figure};
use crate::quality::{RequestScore, ScoreSink};
use crate::scan::RequestEnergySink;
use crate::trend::{History, TrendRow};
use plotters::prelude::*;
use records::files::{
    CONTEXT_SUMMARY_CSV, DOMAINS_CSV, EMISSIONS_CSV, MODELS_CSV, PLOTS_DIR,
    REFERENCE_COMPARISON_CSV, REPORT_HTML, REQUEST_ENERGY_CSV, REQUEST_SCORES_CSV, SUMMARY_CSV,
    SUMMARY_JSON, SUMMARY_MD, SUMMARY_TEX, TASKS_CSV,
};
use records::raw::RequestEnergyRecord;
use std::path::{Path, PathBuf};

/// Rebuilds every result file of a run folder from its raw records, with default settings;
/// returns the rows of `summary.csv`.
pub fn render(dir: &Path) -> Result<Vec<SummaryRow>, ReportError> {
    Ok(render_with(dir, &ReportOptions::default())?
        .summary
        .into_iter()
        .map(|s| s.row)
        .collect())
}

/// Rebuilds every result file: the CSV, Markdown, LaTeX and JSON tables, CodeCarbon's
/// `emissions.csv`, `request_energy.csv`, the plots and `report.html`.
pub fn render_with(dir: &Path, options: &ReportOptions) -> Result<Report, ReportError> {
    let mut energy = RowFile::<RequestEnergyRecord>::new(dir.join(REQUEST_ENERGY_CSV));
    let mut scores = RowFile::<RequestScore>::new(dir.join(REQUEST_SCORES_CSV));
    let mut report = analyse(dir, options, &mut energy, &mut scores)?;
    energy.close()?;
    scores.close()?;
    for (name, exporter) in exports(&report) {
        write(&dir.join(name), &exporter.serialize(&report)?)?;
    }
    let drawn = if options.plots {
        draw(&dir.join(PLOTS_DIR), &report)?
    } else {
        Vec::new()
    };
    report.plots = drawn.iter().flat_map(|d| d.files.clone()).collect();
    let html = Html {
        plots: &drawn,
        plots_drawn: options.plots,
    };
    write(&dir.join(REPORT_HTML), &html.serialize(&report)?)?;
    Ok(report)
}

/// The files a report is exported to, each with its exporter.
fn exports(report: &Report) -> Vec<(&'static str, &'static dyn Exporter)> {
    let mut out: Vec<(&'static str, &'static dyn Exporter)> = vec![
        (SUMMARY_CSV, &CsvTable::Summary),
        (DOMAINS_CSV, &CsvTable::Domains),
        (TASKS_CSV, &CsvTable::Tasks),
        (MODELS_CSV, &CsvTable::Models),
    ];
    if !report.context.is_empty() {
        out.push((CONTEXT_SUMMARY_CSV, &CsvTable::Context));
    }
    if !report.savings.is_empty() {
        out.push((crate::savings::SAVINGS_CSV, &CsvTable::Savings));
    }
    out.push((SUMMARY_MD, &Markdown));
    out.push((SUMMARY_TEX, &Latex));
    out.push((SUMMARY_JSON, &Json));
    out.push((EMISSIONS_CSV, &CodeCarbonCsv));
    if report.beside_study.is_some() {
        out.push((REFERENCE_COMPARISON_CSV, &CsvTable::ReferenceComparison));
    }
    if report.load.is_some() {
        out.push((crate::load::LOAD_CSV, &CsvTable::Load));
        out.push((crate::load::LATENCY_TARGETS_CSV, &CsvTable::LatencyTargets));
    }
    out
}

/// Writes `bytes` to `path`, naming the file in the error.
fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    Ok(
        std::fs::write(path, bytes).map_err(|source| records::RecordsError::Io {
            path: path.to_path_buf(),
            cause: source,
        })?,
    )
}

/// Draws every plot of a report into `dir`.
pub fn draw(dir: &Path, report: &Report) -> Result<Vec<DrawnPlot>, ReportError> {
    let mut files = Vec::new();
    let central =
        plot::central::EnergyPerModel::beside(&report.configs, report.beside_study.as_deref());
    if !central.is_empty() {
        files.push(save_plot(&central, dir, "energy_per_1000")?);
    }
    let size = plot::size::SizeEnergy::new(&report.models);
    if !size.is_empty() {
        files.push(save_plot(&size, dir, "size_vs_energy")?);
    }
    let rows: Vec<SummaryRow> = report.rows().cloned().collect();
    let latency = plot::latency::LatencyEnergy::new(&rows);
    if !latency.is_empty() {
        files.push(save_plot(&latency, dir, "latency_vs_energy")?);
    }
    for frontier in plot::frontier::EnergyQuality::per_dataset(&rows) {
        let stem = format!(
            "quality_vs_energy_{}",
            plot::file_stem(&format!("{}@{}", frontier.task(), frontier.dataset()))
        );
        files.push(save_plot(&frontier, dir, &stem)?);
    }
    if let Some(load) = &report.load {
        for frontier in plot::load_frontier::LoadFrontier::per_dataset(&load.levels) {
            let stem = format!(
                "load_frontier_{}",
                plot::file_stem(&format!("{}@{}", frontier.task(), frontier.dataset()))
            );
            files.push(save_plot(&frontier, dir, &stem)?);
        }
    }
    for savings in plot::savings::SavingsPlot::per_dataset(&report.savings) {
        let stem = format!(
            "savings_{}_{}",
            plot::file_stem(savings.task()),
            plot::file_stem(savings.dataset())
        );
        files.push(save_plot(&savings, dir, &stem)?);
    }
    let spread = plot::distribution::RequestEnergy::new(&report.configs, &report.scan.requests);
    if !spread.is_empty() {
        files.push(save_plot(&spread, dir, "request_energy")?);
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
            config.label(),
            panels,
            names.clone(),
            timelines.points(),
        );
        if !figure.is_empty() {
            let stem = format!("timeline_{}", plot::file_stem(&config.info.id));
            files.push(save_plot(&figure, dir, &stem)?);
        }
    }
    Ok(files)
}

/// Reads runs (oldest first) and writes `trend.csv`, `trend.md` and the trend plot into
/// `out`, and with `html` a page with the plot and each run's verdict against the run
/// before (the gate's `options`); returns the rows.
pub fn trend(
    runs: &[PathBuf],
    out: &Path,
    html: Option<(&Path, &CompareOptions)>,
) -> Result<Vec<TrendRow>, ReportError> {
    let loaded = crate::trend::load(runs)?;
    let history = History::from_runs(runs, &loaded);
    std::fs::create_dir_all(out).map_err(|source| records::RecordsError::Io {
        path: out.to_path_buf(),
        cause: source,
    })?;
    write(&out.join("trend.csv"), &table(&history.rows)?)?;
    write(&out.join("trend.md"), history.markdown().as_bytes())?;
    let figure = history.figure();
    let plot = if figure.series.is_empty() {
        None
    } else {
        Some(save_plot(&figure, out, "trend")?)
    };
    if let Some((path, options)) = html {
        let steps = crate::trend::steps(runs, &loaded, options);
        write(path, trend_page(&history, &steps, plot.as_ref()).as_bytes())?;
    }
    Ok(history.rows)
}

/// Writes `stem.png` and `stem.svg` into `dir`; returns their paths and the SVG text.
fn save_plot(figure: &impl Figure, dir: &Path, stem: &str) -> Result<DrawnPlot, ReportError> {
    plot::register_font()?;
    std::fs::create_dir_all(dir).map_err(|source| records::RecordsError::Io {
        path: dir.to_path_buf(),
        cause: source,
    })?;
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let plot_err = |path: &Path| {
        let path = path.to_path_buf();
        move |message| ReportError::Plot { path, message }
    };
    {
        let root = BitMapBackend::new(&png, figure.size()).into_drawing_area();
        root.fill(&WHITE)
            .map_err(plot::fail)
            .map_err(plot_err(&png))?;
        figure.draw(&root).map_err(plot_err(&png))?;
        root.present().map_err(plot::fail).map_err(plot_err(&png))?;
    }
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, figure.size()).into_drawing_area();
        root.fill(&WHITE)
            .map_err(plot::fail)
            .map_err(plot_err(&svg))?;
        figure.draw(&root).map_err(plot_err(&svg))?;
        root.present().map_err(plot::fail).map_err(plot_err(&svg))?;
    }
    write(&svg, text.as_bytes())?;
    Ok(DrawnPlot {
        stem: stem.to_string(),
        files: vec![png, svg],
        svg: text,
    })
}

/// A CSV file of derived rows (`request_energy.csv`, `request_scores.csv`), written row by
/// row as the analysis finds them; created at the first row (or at `start`).
struct RowFile<T> {
    path: PathBuf,
    writer: Option<csv::Writer<std::fs::File>>,
    _rows: std::marker::PhantomData<fn(T)>,
}

impl<T: serde::Serialize + Default> RowFile<T> {
    fn new(path: PathBuf) -> Self {
        // A stale file from an earlier report must not outlive this one.
        let _ = std::fs::remove_file(&path);
        Self {
            path,
            writer: None,
            _rows: std::marker::PhantomData,
        }
    }

    fn csv_err(&self, source: csv::Error) -> ReportError {
        ReportError::from(records::RecordsError::Csv {
            path: self.path.clone(),
            cause: source,
        })
    }

    fn io_err(&self, source: std::io::Error) -> ReportError {
        ReportError::from(records::RecordsError::Io {
            path: self.path.clone(),
            cause: source,
        })
    }

    /// Creates the file with its header.
    fn create(&mut self) -> Result<(), ReportError> {
        let header = records::table_io::header_of::<T>().map_err(|e| self.csv_err(e))?;
        std::fs::write(&self.path, header).map_err(|e| self.io_err(e))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io_err(e))?;
        self.writer = Some(
            csv::WriterBuilder::new()
                .has_headers(false)
                .buffer_capacity(1 << 20)
                .from_writer(file),
        );
        Ok(())
    }

    /// Writes one row, creating the file first when `create_first` and it is not yet.
    fn push(&mut self, row: &T, create_first: bool) -> Result<(), ReportError> {
        if self.writer.is_none() && create_first {
            self.create()?;
        }
        let result = match &mut self.writer {
            Some(w) => w.serialize(row),
            None => return Ok(()),
        };
        result.map_err(|e| self.csv_err(e))
    }

    /// Flushes the rows written.
    fn close(self) -> Result<(), ReportError> {
        match self.writer {
            Some(mut w) => w.flush().map_err(|source| {
                ReportError::from(records::RecordsError::Io {
                    path: self.path,
                    cause: source,
                })
            }),
            None => Ok(()),
        }
    }
}

/// `request_energy.csv`: created when the run has requests and samples.
impl RequestEnergySink for RowFile<RequestEnergyRecord> {
    fn start(&mut self) -> Result<(), ReportError> {
        self.create()
    }

    fn take(&mut self, record: &RequestEnergyRecord) -> Result<(), ReportError> {
        self.push(record, false)
    }
}

/// `request_scores.csv`: created at the first scored answer.
impl ScoreSink for RowFile<RequestScore> {
    fn take(&mut self, score: &RequestScore) -> Result<(), ReportError> {
        self.push(score, true)
    }
}
