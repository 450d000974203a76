//! `joulebench import`: measurements from other tools into a results folder.

use anyhow::Context;
use report::import::codecarbon::{ImportSettings, import};
use report::import::labels::{Labels, Mapping};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `joulebench import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Where the measurements come from.
    #[command(subcommand)]
    pub from: ImportFrom,
}

/// Tools whose output can be imported.
#[derive(Debug, clap::Subcommand)]
pub enum ImportFrom {
    /// CodeCarbon `emissions.csv` files (plain or task mode).
    Codecarbon(CodecarbonArgs),
}

/// Arguments of `joulebench import codecarbon`.
#[derive(Debug, clap::Args)]
pub struct CodecarbonArgs {
    /// CodeCarbon emissions CSV files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Results folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Keep only rows whose `task_name` is this (e.g. "query model").
    #[arg(long)]
    pub task_name: Option<String>,
    /// Inferences one row stands for.
    #[arg(long, default_value_t = 1000)]
    pub inferences: u64,
    /// Label every row, e.g. task=text-classification (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// CSV mapping run_id or project_name to model, task, dataset and class.
    #[arg(long)]
    pub map: Option<PathBuf>,
    /// Grid carbon intensity (gCO2eq/kWh) to use instead of the one CodeCarbon applied
    /// (needed when the files carry no emissions).
    #[arg(long, value_name = "G_PER_KWH")]
    pub intensity: Option<f64>,
    /// State that CodeCarbon read the CPU's energy from RAPL: label the CPU measured
    /// (otherwise estimated).
    #[arg(long)]
    pub cpu_measured: bool,
}

/// Runs `joulebench import`.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    match args.from {
        ImportFrom::Codecarbon(a) => codecarbon(a),
    }
}

fn codecarbon(args: CodecarbonArgs) -> anyhow::Result<ExitCode> {
    let inferences = u32::try_from(args.inferences)
        .ok()
        .filter(|n| *n > 0)
        .context("--inferences must be between 1 and 4294967295")?;
    let mapping = match &args.map {
        Some(path) => Some(
            Mapping::load(path)
                .with_context(|| format!("reading the mapping file {}", path.display()))?,
        ),
        None => None,
    };
    let settings = ImportSettings {
        files: args.files,
        task_name: args.task_name,
        inferences,
        labels: Labels::from_args(&args.labels)?,
        mapping,
        intensity_g_per_kwh: args.intensity,
        cpu_measured: args.cpu_measured,
    };
    let summary = import(&settings, &args.out)
        .with_context(|| format!("importing CodeCarbon files into {}", args.out.display()))?;
    if summary.rows_unmapped > 0 {
        eprintln!(
            "warning: {} rows are not in the mapping file; they were labelled from --label or left \"unknown\"",
            summary.rows_unmapped
        );
    }
    if summary.emissions_unknown {
        eprintln!(
            "warning: no row has emissions, so the grid intensity is unknown and no gCO2eq is computed; give it with --intensity G_PER_KWH"
        );
    }
    let rows =
        report::render(&args.out).with_context(|| format!("reporting {}", args.out.display()))?;
    println!(
        "{} rows of {} files imported as {} configurations into {} ({} rows of other tasks left out); {} summarised",
        summary.rows,
        summary.files,
        summary.configurations,
        args.out.display(),
        summary.rows_other_tasks,
        rows.len()
    );
    for (domain, why) in &summary.domains {
        println!("  {domain}: {why}");
    }
    println!("  grid intensity: {}", summary.carbon_intensity);
    Ok(ExitCode::SUCCESS)
}
