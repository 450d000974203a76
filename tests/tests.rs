//! End-to-end tests of the built `joulebench` binary (`CARGO_BIN_EXE_joulebench`).
//!
//! One test binary with a module per area (as ripgrep does), so the workspace is linked
//! once for these tests rather than once per file.

mod carbon;
mod common;
mod datasets;
mod dry_run_missing;
mod fidelity;
mod formats_cli;
mod fuzz_inputs;
mod launched_servers;
mod load_levels;
mod php_suites;
mod power_limits;
mod probe_cli;
mod quality;
mod readiness;
mod report_cli;
mod report_html;
mod resumed_stops;
mod run_cli;
mod run_failures;
mod run_faults;
mod run_files;
mod run_kill;
mod run_order;
mod run_protocols;
mod run_resume;
mod run_stops;
mod run_streams;
mod secrets;
mod shard_merge;
mod slurm_cli;
mod suite_errors;
mod suite_numbers;
mod suite_reference;
mod techniques;
mod transformers_server;
