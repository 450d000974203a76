//! A study's own figures beside the measured ones: the study table a suite names, the
//! `reference.csv` a run keeps (one row per configuration with a matched study figure),
//! and the per-model comparison that `summary.md`, `reference_comparison.csv` and the
//! central plot show. A run folder without `reference.csv` reports exactly as before.

pub mod comparison;

pub use comparison::{ComparisonRow, compare};
pub use records::reference::{ReferenceRow, load, write};
pub use records::study::{Matched, StudyFigure, StudyTable};
