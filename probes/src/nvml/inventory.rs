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
    /// The power limit the driver enforces (W), when readable.
    pub power_limit_w: Option<f64>,
    /// The board's default power limit (W), when readable.
    pub power_limit_default_w: Option<f64>,
}

impl GpuInfo {
    /// What to say when the enforced power limit is not the board's default: it changes
    /// the energy of every inference, and a run killed while it had set a limit leaves it
    /// so. The note gives the command that restores the default.
    pub fn power_limit_note(&self) -> Option<String> {
        let (now, default) = (self.power_limit_w?, self.power_limit_default_w?);
        // NVML reports milliwatts; half a watt apart is a different setting.
        if (now - default).abs() < 0.5 {
            return None;
        }
        Some(format!(
            "power limit {now:.0} W is not this GPU's default {default:.0} W: every figure measured \
             on it is at that limit (set by an operator, or left by a run killed while it had \
             set one); restore the default with `sudo nvidia-smi -i {} -pl {default:.0}`",
            self.index
        ))
    }
}
