//! Results: the record schema of a run folder, statistics over repetitions, and exports.
//!
//! This crate reads and writes files only: it never talks to hardware or servers, so
//! `joulebench report DIR` can re-render any old run from its raw records.

pub mod aggregate;
pub mod compare;
pub mod configs;
pub mod context;
pub mod derive;
pub mod domains;
pub mod error;
pub mod export;
pub mod flags;
pub mod import;
pub mod merge;
pub mod options;
pub mod per_request;
pub mod plot;
pub mod reference;
pub mod render;
pub mod scan;
pub mod stats;
pub mod summary;
pub mod synthetic;
pub mod timeline;
pub mod trend;

pub use error::ReportError;
pub use options::ReportOptions;
pub use render::{Report, render, render_with};
pub use summary::SummaryRow;
