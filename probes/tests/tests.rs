//! Integration tests of the probes: discovery, NVML through fake GPUs, RAPL over powercap
//! on fake trees, and the sampler on a manual clock.
//!
//! One test binary with a module per area (as ripgrep does), so the workspace is linked
//! once for these tests rather than once per file.

extern crate joulebench_probes as probes;

mod discovery;
mod nvml;
mod powercap;
mod sampler;
