//! Results: the record schema of a run folder, statistics over repetitions, and exports.
//!
//! This crate reads and writes files only: it never talks to hardware or servers, so
//! `joulebench report DIR` can re-render any old run from its raw records. The energy pass
//! ([`energy`]) and the full analysis ([`analysis`]) read; the exporters ([`export`])
//! serialise a [`Report`] ([`model`]) to bytes; [`render`] alone writes the files.

pub mod aggregate;
pub mod analysis;
pub mod carbon;
pub mod compare;
pub mod configs;
pub mod context;
pub mod derive;
pub mod domains;
pub mod energy;
pub mod error;
pub mod export;
pub mod fidelity;
pub mod flags;
pub mod import;
pub mod load;
pub mod merge;
pub mod model;
pub mod options;
pub mod per_request;
pub mod plot;
pub mod quality;
pub mod rating;
pub mod reference;
pub mod render;
pub(crate) mod sample_blocks;
pub(crate) mod sample_numbers;
pub(crate) mod sample_reader;
pub(crate) mod sample_stream;
pub mod savings;
pub mod scan;
pub mod stats;
pub mod streams;
pub mod summary;
#[cfg(feature = "test-support")]
pub mod synthetic;
pub mod timeline;
pub mod trend;
pub mod units;

pub use error::ReportError;
pub use model::{ConfigSummary, Report, SummaryRow};
pub use options::ReportOptions;
pub use render::{render, render_with};
