//! What joulebench needs of one GPU, as a trait so the logic is tested with a fake device.

/// Why a GPU call gave no value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GpuError {
    /// The device or driver does not offer this call (treated as "absent").
    #[error("not supported by this GPU or driver")]
    NotSupported,
    /// The driver refused the call for lack of privilege (setting a power limit needs root).
    #[error("no permission (NVML_ERROR_NO_PERMISSION): this call needs root")]
    NoPermission,
    /// The call failed (GPU lost, driver error, ...).
    #[error("{0}")]
    Failed(String),
}

/// An instant power reading with the driver's own timestamp.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PowerSample {
    /// Power (W).
    pub watts: f64,
    /// When the driver took it (µs, the driver's CPU clock).
    pub timestamp_us: i64,
}

/// One process's share of a GPU's streaming multiprocessors in one driver sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessSmSample {
    /// Process id.
    pub pid: u32,
    /// When the driver took the sample (µs since the Unix epoch).
    pub timestamp_us: u64,
    /// SM utilisation of this process (%).
    pub sm_util_pct: u32,
}

/// One physical GPU.
pub trait GpuDevice: Send {
    /// NVML index (PCI bus order).
    fn index(&self) -> u32;
    /// Product name.
    fn name(&self) -> Result<String, GpuError>;
    /// UUID (`GPU-...`).
    fn uuid(&self) -> Result<String, GpuError>;
    /// Energy since the driver loaded (mJ); Volta and newer.
    fn total_energy_mj(&self) -> Result<u64, GpuError>;
    /// Instant power from the `NVML_FI_DEV_POWER_INSTANT` field, with its timestamp.
    fn power_instant(&self) -> Result<PowerSample, GpuError>;
    /// `nvmlDeviceGetPowerUsage` (W); a 1 s average on Ampere (not A100) and newer.
    fn power_usage_w(&self) -> Result<f64, GpuError>;
    /// GPU utilisation (%).
    fn utilization_pct(&self) -> Result<f64, GpuError>;
    /// SM clock (MHz).
    fn sm_clock_mhz(&self) -> Result<f64, GpuError>;
    /// Memory in use (MiB).
    fn memory_used_mib(&self) -> Result<f64, GpuError>;
    /// Die temperature (°C).
    fn temperature_c(&self) -> Result<f64, GpuError>;
    /// Memory clock (MHz).
    fn mem_clock_mhz(&self) -> Result<f64, GpuError>;
    /// The power limit the driver enforces (W).
    fn power_limit_w(&self) -> Result<f64, GpuError>;
    /// The board's default power limit (W): what the limit returns to on a reset.
    fn power_limit_default_w(&self) -> Result<f64, GpuError> {
        Err(GpuError::NotSupported)
    }
    /// The power-management limit an operator sets (`nvidia-smi -pl`, W): what a run that
    /// changes the limit restores; the enforced limit may be lower under other caps.
    fn power_management_limit_w(&self) -> Result<f64, GpuError> {
        self.power_limit_w()
    }
    /// The range a power limit may be set in (min, max W;
    /// `nvmlDeviceGetPowerManagementLimitConstraints`).
    fn power_limit_constraints_w(&self) -> Result<(f64, f64), GpuError> {
        Err(GpuError::NotSupported)
    }
    /// Sets the power-management limit (W, sent as mW; `nvmlDeviceSetPowerManagementLimit`);
    /// [`GpuError::NoPermission`] without root.
    fn set_power_limit_w(&self, _watts: f64) -> Result<(), GpuError> {
        Err(GpuError::NotSupported)
    }
    /// Whether driver persistence mode is on.
    fn persistence_mode(&self) -> Result<bool, GpuError>;
    /// Why the clocks are held down now, as NVML's `nvmlClocksThrottleReason*` bits.
    fn throttle_reasons(&self) -> Result<u64, GpuError>;
    /// Per-process SM utilisation samples the driver took after `since_us` (µs since
    /// the Unix epoch).
    fn process_sm_samples(&self, since_us: u64) -> Result<Vec<ProcessSmSample>, GpuError>;
    /// Whether MIG mode is on (energy is then only known for the whole GPU).
    fn mig_enabled(&self) -> Result<bool, GpuError>;
    /// UUIDs of its MIG instances (`MIG-...`), empty when none.
    fn mig_uuids(&self) -> Vec<String>;
}

/// The GPU library: versions and the devices it sees.
pub trait GpuLibrary {
    /// Driver version.
    fn driver_version(&self) -> Result<String, GpuError>;
    /// NVML version.
    fn nvml_version(&self) -> Result<String, GpuError>;
    /// Every GPU the driver sees, in NVML index order.
    fn devices(&self) -> Result<Vec<Box<dyn GpuDevice>>, GpuError>;
}
