//! Results: the record schema of a run folder, statistics over repetitions, and exports.
//!
//! This crate reads and writes files only: it never talks to hardware or servers, so
//! `joulebench report DIR` can re-render any old run from its raw records.

pub mod error;
pub mod files;
pub mod manifest;
pub mod records;
pub mod stats;
pub mod summary;

pub use error::ReportError;
pub use summary::{SummaryRow, render};
