//! `joulebench import`: measurements from other tools into a results folder.

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
}

/// Runs `joulebench import`.
pub fn run(_args: ImportArgs) -> anyhow::Result<ExitCode> {
    super::not_implemented("import codecarbon")
}
