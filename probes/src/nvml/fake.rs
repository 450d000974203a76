//! A scripted GPU and GPU library, for tests of the NVML logic without a driver.

use super::device::{GpuDevice, GpuError, GpuLibrary, PowerSample};
use std::sync::{Arc, Mutex};

/// What a fake GPU answers; shared so a test can change it after handing the GPU over.
#[derive(Clone, Debug)]
pub struct FakeGpuState {
    /// NVML index.
    pub index: u32,
    /// UUID.
    pub uuid: String,
    /// Energy counter (mJ), or the error it gives.
    pub energy_mj: Result<u64, GpuError>,
    /// Instant power field, or the error it gives.
    pub instant: Result<PowerSample, GpuError>,
    /// Power usage (W), or the error it gives.
    pub power_usage_w: Result<f64, GpuError>,
    /// Utilisation (%).
    pub utilization_pct: Result<f64, GpuError>,
    /// MIG mode.
    pub mig: bool,
    /// MIG instance UUIDs.
    pub mig_uuids: Vec<String>,
}

impl FakeGpuState {
    /// A Volta-or-newer GPU with an energy counter at `energy_mj`.
    pub fn with_counter(index: u32, energy_mj: u64) -> Self {
        Self {
            index,
            uuid: format!("GPU-fake-{index}"),
            energy_mj: Ok(energy_mj),
            instant: Ok(PowerSample {
                watts: 100.0,
                timestamp_us: 0,
            }),
            power_usage_w: Ok(100.0),
            utilization_pct: Ok(50.0),
            mig: false,
            mig_uuids: Vec::new(),
        }
    }
}

/// A fake GPU whose answers a test controls through the shared state.
#[derive(Clone, Debug)]
pub struct FakeGpu(pub Arc<Mutex<FakeGpuState>>);

impl FakeGpu {
    /// A fake GPU and the handle to change its answers.
    pub fn new(state: FakeGpuState) -> (Self, Arc<Mutex<FakeGpuState>>) {
        let shared = Arc::new(Mutex::new(state));
        (Self(Arc::clone(&shared)), shared)
    }

    fn state(&self) -> FakeGpuState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl GpuDevice for FakeGpu {
    fn index(&self) -> u32 {
        self.state().index
    }
    fn name(&self) -> Result<String, GpuError> {
        Ok("Fake GPU".into())
    }
    fn uuid(&self) -> Result<String, GpuError> {
        Ok(self.state().uuid)
    }
    fn total_energy_mj(&self) -> Result<u64, GpuError> {
        self.state().energy_mj
    }
    fn power_instant(&self) -> Result<PowerSample, GpuError> {
        self.state().instant
    }
    fn power_usage_w(&self) -> Result<f64, GpuError> {
        self.state().power_usage_w
    }
    fn utilization_pct(&self) -> Result<f64, GpuError> {
        self.state().utilization_pct
    }
    fn sm_clock_mhz(&self) -> Result<f64, GpuError> {
        Ok(1410.0)
    }
    fn memory_used_mib(&self) -> Result<f64, GpuError> {
        Ok(1024.0)
    }
    fn temperature_c(&self) -> Result<f64, GpuError> {
        Ok(45.0)
    }
    fn mig_enabled(&self) -> Result<bool, GpuError> {
        Ok(self.state().mig)
    }
    fn mig_uuids(&self) -> Vec<String> {
        self.state().mig_uuids
    }
}

/// A fake library holding fake GPUs.
pub struct FakeLibrary {
    /// The GPUs it lists.
    pub gpus: Vec<FakeGpu>,
}

impl GpuLibrary for FakeLibrary {
    fn driver_version(&self) -> Result<String, GpuError> {
        Ok("550.00-fake".into())
    }
    fn nvml_version(&self) -> Result<String, GpuError> {
        Ok("12.550.00-fake".into())
    }
    fn devices(&self) -> Result<Vec<Box<dyn GpuDevice>>, GpuError> {
        Ok(self
            .gpus
            .iter()
            .map(|g| Box::new(g.clone()) as Box<dyn GpuDevice>)
            .collect())
    }
}
