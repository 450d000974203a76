//! The probe settings a suite asks for.

use crate::suite::{ProbeKind, ProbeSettings};
use probes::ProbeConfig;

/// The probe configuration for a suite's `[probes]` table.
pub fn probe_config(spec: &ProbeSettings) -> ProbeConfig {
    let defaults = ProbeConfig::default();
    ProbeConfig {
        rapl: spec.sources.contains(&ProbeKind::Rapl),
        nvml: spec.sources.contains(&ProbeKind::Nvml),
        estimate: spec.sources.contains(&ProbeKind::Estimate),
        powercap_root: spec
            .powercap_root
            .clone()
            .unwrap_or(defaults.powercap_root.clone()),
        cpu_tdp_w: spec.cpu_tdp_w,
        dram_w_per_gb: spec.dram_w_per_gb,
        gpus: spec.gpus.clone(),
        ..defaults
    }
}
