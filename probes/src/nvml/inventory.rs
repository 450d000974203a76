//! The GPU inventory a run's manifest records.

use serde::Serialize;

/// Driver and NVML versions and the selected GPUs; empty when there is no driver.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GpuInventory {
    /// NVIDIA driver version, `None` without a driver.
    pub driver_version: Option<String>,
    /// NVML version, `None` without a driver.
    pub nvml_version: Option<String>,
    /// The selected GPUs, measured or not.
    pub gpus: Vec<GpuInfo>,
}

/// One selected GPU.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GpuInfo {
    /// NVML index (PCI bus order).
    pub index: u32,
    /// Product name (empty if it could not be read).
    pub name: String,
    /// UUID (empty if it could not be read).
    pub uuid: String,
    /// Its energy domain (`gpu-N`), `None` when it could not be measured.
    pub domain: Option<String>,
    /// How its energy is obtained, `None` when it is not.
    pub energy_method: Option<String>,
    /// Whether MIG mode is on (energy is then for the whole physical GPU).
    pub mig_enabled: bool,
}
