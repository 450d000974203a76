//! The suite file: what to measure, against which servers, on which data, how often.
//!
//! Every key is documented in `suites/README.md`. Unknown keys are errors. Loading reads
//! the file as written (with the spans error messages point at), checks it, and converts
//! it once into the plain values of [`Suite`], its plan included.

mod carbon;
mod check;
mod convert;
mod entries;
mod error;
mod file;
mod keys;
mod levels;
mod load;
mod numbers;
pub mod plan;
mod reference;
mod scoring;
mod settings;
mod variants;

pub use crate::dataset::{DatasetFormat, DatasetSource};
pub use crate::protocol::ProtocolKind;
pub use carbon::CarbonSeries;
pub use check::{NO_SOURCE_FIX, dataset_format};
pub use entries::{Model, Server, ServerAddress, ServerProcesses};
pub use error::SuiteError;
pub use load::{MissingDataset, load, load_in, load_plan_only};
pub use reference::StudyReference;
pub use scoring::default_scorer;
pub use settings::{CarbonSettings, ProbeKind, ProbeSettings, RunOrder, Schedule, SeriesFiles};

pub use records::labels::ModelClass;

use plan::Plan;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

/// A suite that parsed and passed every check, as plain values, with its plan.
#[derive(Debug)]
pub struct Suite {
    /// The suite file as given.
    pub path: PathBuf,
    /// Folder relative paths in the suite are resolved against.
    pub dir: PathBuf,
    /// The file's text, copied into every run folder.
    pub text: String,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    /// `[suite] name`: letters, digits, `-`, `_` and `.` only.
    name: String,
    /// `[suite] description`.
    pub description: String,
    /// `[servers]`, by key.
    pub servers: BTreeMap<String, Server>,
    /// `[[models]]`, in suite order.
    pub models: Vec<Model>,
    /// `[[datasets]]`, in suite order.
    pub datasets: Vec<DatasetSource>,
    /// `[schedule]`.
    pub schedule: Schedule,
    /// `[probes]`.
    pub probes: ProbeSettings,
    /// `[carbon]`.
    pub carbon: CarbonSettings,
    /// The `[carbon] series`, read and checked, with the run's zone.
    pub carbon_series: Option<CarbonSeries>,
    /// The `[reference]` study table, loaded and checked.
    pub reference: Option<StudyReference>,
    /// Dataset files that are not there (only from [`load_plan_only`]; [`load`] refuses them).
    pub missing_datasets: Vec<MissingDataset>,
    /// The plan of the whole suite (every shard's configurations).
    pub plan: Plan,
    /// Byte span of each dataset's `path` value, for errors found while reading its rows.
    dataset_path_spans: Vec<Range<usize>>,
}
