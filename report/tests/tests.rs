//! Integration tests of the reporter: statistics, flags, the gate, plots, the study's tables and old folders.
//!
//! One test binary with a module per area (as ripgrep does), so the workspace is linked
//! once for these tests rather than once per file.

mod exporters;
mod gate_and_flags;
mod labels;
mod php2023;
mod plots;
mod reference_beside;
mod render;
mod statistics;
mod streams;
mod version1;
