//! What the manifest says about the machine.

use probes::nvml::GpuInventory;
use records::manifest::{GpuInfo, HostInfo};
use sysinfo::System;

/// Reads host name, OS, kernel, CPU model and memory, with the GPUs the probes found.
pub fn host_info(gpus: &GpuInventory) -> HostInfo {
    let mut info = HostInfo {
        gpus: gpus
            .gpus
            .iter()
            .map(|g| GpuInfo {
                index: g.index,
                name: g.name.clone(),
                uuid: g.uuid.clone(),
            })
            .collect(),
        nvidia_driver: gpus.driver_version.clone(),
        nvml_version: gpus.nvml_version.clone(),
        hostname: System::host_name().unwrap_or_default(),
        os: System::long_os_version().unwrap_or_default(),
        kernel: System::kernel_version().unwrap_or_default(),
        cpu_physical: System::physical_core_count().ok(),
        ..HostInfo::default()
    };
    if let Ok(mut sys) = System::new() {
        sys.refresh_cpu_all();
        sys.refresh_memory();
        info.cpu_model = sys
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_string())
            .unwrap_or_default();
        info.cpu_logical = sys.cpus().len();
        info.memory_gb = sys.total_memory() as f64 / 1e9;
    }
    info
}
