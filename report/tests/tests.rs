//! Integration tests of the reporter: statistics, flags, the gate, plots, the study's tables and old folders.
//!
//! One test binary with a module per area (as ripgrep does), so the workspace is linked
//! once for these tests rather than once per file.

mod codecarbon_export;
mod exporters;
mod gate_and_flags;
mod labels;
mod load;
mod openmetrics;
mod php2023;
mod plots;
mod reference_beside;
mod render;
mod savings;
mod statistics;
mod streams;
mod version1;

use joulebench_report as report;

/// Renders the report of a run folder without its plots.
fn render_without_plots(dir: &std::path::Path) -> Result<report::Report, report::ReportError> {
    report::render_with(
        dir,
        &report::ReportOptions {
            plots: false,
            ..report::ReportOptions::default()
        },
    )
}
