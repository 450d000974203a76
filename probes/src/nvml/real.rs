//! `GpuLibrary` and `GpuDevice` over the real NVML (nvml-wrapper, loaded at run time).

use super::device::{GpuDevice, GpuError, GpuLibrary, PowerSample, ProcessSmSample};
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::enums::device::SampleValue;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::struct_wrappers::device::FieldValueSample;
use nvml_wrapper::structs::device::FieldId;
use nvml_wrapper::sys_exports::field_id::NVML_FI_DEV_POWER_INSTANT;
use nvml_wrapper::{Device, Nvml};
use std::sync::Arc;

/// NVML, loaded from `libnvidia-ml.so.1`.
pub struct NvmlLibrary {
    nvml: Arc<Nvml>,
}

impl NvmlLibrary {
    /// Loads and initialises NVML; an error (never a panic) when no driver is there.
    pub fn init() -> Result<Self, GpuError> {
        Nvml::init()
            .map(|nvml| Self {
                nvml: Arc::new(nvml),
            })
            .map_err(|e| GpuError::Failed(e.to_string()))
    }
}

fn gpu_error(e: NvmlError) -> GpuError {
    match e {
        NvmlError::NotSupported | NvmlError::FunctionNotFound => GpuError::NotSupported,
        NvmlError::NoPermission => GpuError::NoPermission,
        other => GpuError::Failed(other.to_string()),
    }
}

impl GpuLibrary for NvmlLibrary {
    fn driver_version(&self) -> Result<String, GpuError> {
        self.nvml.sys_driver_version().map_err(gpu_error)
    }

    fn nvml_version(&self) -> Result<String, GpuError> {
        self.nvml.sys_nvml_version().map_err(gpu_error)
    }

    fn devices(&self) -> Result<Vec<Box<dyn GpuDevice>>, GpuError> {
        let count = self.nvml.device_count().map_err(gpu_error)?;
        Ok((0..count)
            .map(|index| {
                Box::new(NvmlGpu {
                    nvml: Arc::clone(&self.nvml),
                    index,
                }) as Box<dyn GpuDevice>
            })
            .collect())
    }
}

/// One GPU; its handle is looked up by index on each call (cheap, and keeps no borrow).
struct NvmlGpu {
    nvml: Arc<Nvml>,
    index: u32,
}

impl NvmlGpu {
    fn with<T>(&self, f: impl FnOnce(&Device<'_>) -> Result<T, NvmlError>) -> Result<T, GpuError> {
        let device = self.nvml.device_by_index(self.index).map_err(gpu_error)?;
        f(&device).map_err(gpu_error)
    }
}

/// A limit in watts as NVML's milliwatts; an error, never a wrapped or saturated value,
/// for what no `u32` of milliwatts holds.
fn watts_to_mw(watts: f64) -> Result<u32, GpuError> {
    let mw = (watts * 1000.0).round();
    if mw.is_finite() && mw >= 0.0 && mw <= f64::from(u32::MAX) {
        Ok(mw as u32)
    } else {
        Err(GpuError::Failed(format!(
            "{watts} W is not a power limit NVML can take"
        )))
    }
}

/// The field's power in watts (NVML gives milliwatts) and its timestamp.
fn power_sample(sample: FieldValueSample) -> Result<PowerSample, GpuError> {
    let timestamp_us = sample.timestamp;
    let milliwatts = match sample.value.map_err(gpu_error)? {
        SampleValue::F64(v) => v,
        SampleValue::U32(v) => f64::from(v),
        SampleValue::U64(v) => v as f64,
        SampleValue::I64(v) => v as f64,
    };
    Ok(PowerSample {
        watts: milliwatts / 1000.0,
        timestamp_us,
    })
}

impl GpuDevice for NvmlGpu {
    fn index(&self) -> u32 {
        self.index
    }

    fn name(&self) -> Result<String, GpuError> {
        self.with(|d| d.name())
    }

    fn uuid(&self) -> Result<String, GpuError> {
        self.with(|d| d.uuid())
    }

    fn total_energy_mj(&self) -> Result<u64, GpuError> {
        self.with(|d| d.total_energy_consumption())
    }

    fn power_instant(&self) -> Result<PowerSample, GpuError> {
        let samples = self.with(|d| d.field_values_for(&[FieldId(NVML_FI_DEV_POWER_INSTANT)]))?;
        let sample = samples
            .into_iter()
            .next()
            .ok_or(GpuError::NotSupported)?
            .map_err(gpu_error)?;
        power_sample(sample)
    }

    fn power_usage_w(&self) -> Result<f64, GpuError> {
        self.with(|d| d.power_usage())
            .map(|mw| f64::from(mw) / 1000.0)
    }

    fn utilization_pct(&self) -> Result<f64, GpuError> {
        self.with(|d| d.utilization_rates())
            .map(|u| f64::from(u.gpu))
    }

    fn sm_clock_mhz(&self) -> Result<f64, GpuError> {
        self.with(|d| d.clock_info(Clock::SM)).map(f64::from)
    }

    fn memory_used_mib(&self) -> Result<f64, GpuError> {
        self.with(|d| d.memory_info())
            .map(|m| m.used as f64 / (1024.0 * 1024.0))
    }

    fn temperature_c(&self) -> Result<f64, GpuError> {
        self.with(|d| d.temperature(TemperatureSensor::Gpu))
            .map(f64::from)
    }

    fn mem_clock_mhz(&self) -> Result<f64, GpuError> {
        self.with(|d| d.clock_info(Clock::Memory)).map(f64::from)
    }

    fn power_limit_w(&self) -> Result<f64, GpuError> {
        self.with(|d| d.enforced_power_limit())
            .map(|mw| f64::from(mw) / 1000.0)
    }

    fn power_limit_default_w(&self) -> Result<f64, GpuError> {
        self.with(|d| d.power_management_limit_default())
            .map(|mw| f64::from(mw) / 1000.0)
    }

    fn power_management_limit_w(&self) -> Result<f64, GpuError> {
        self.with(|d| d.power_management_limit())
            .map(|mw| f64::from(mw) / 1000.0)
    }

    fn power_limit_constraints_w(&self) -> Result<(f64, f64), GpuError> {
        self.with(|d| d.power_management_limit_constraints())
            .map(|c| {
                (
                    f64::from(c.min_limit) / 1000.0,
                    f64::from(c.max_limit) / 1000.0,
                )
            })
    }

    fn set_power_limit_w(&self, watts: f64) -> Result<(), GpuError> {
        let milliwatts = watts_to_mw(watts)?;
        let mut device = self.nvml.device_by_index(self.index).map_err(gpu_error)?;
        device
            .set_power_management_limit(milliwatts)
            .map_err(gpu_error)
    }

    fn persistence_mode(&self) -> Result<bool, GpuError> {
        self.with(|d| d.is_in_persistent_mode())
    }

    fn throttle_reasons(&self) -> Result<u64, GpuError> {
        self.with(|d| d.current_throttle_reasons())
            .map(|r| r.bits())
    }

    fn process_sm_samples(&self, since_us: u64) -> Result<Vec<ProcessSmSample>, GpuError> {
        let samples = self.with(|d| d.process_utilization_stats(since_us))?;
        Ok(samples
            .into_iter()
            .map(|s| ProcessSmSample {
                pid: s.pid,
                timestamp_us: s.timestamp,
                sm_util_pct: s.sm_util,
            })
            .collect())
    }

    fn mig_enabled(&self) -> Result<bool, GpuError> {
        self.with(|d| d.mig_mode()).map(|m| m.current == 1)
    }

    fn mig_uuids(&self) -> Vec<String> {
        let Ok(device) = self.nvml.device_by_index(self.index) else {
            return Vec::new();
        };
        let count = device.mig_device_count().unwrap_or(0);
        (0..count)
            .filter_map(|i| device.mig_device_by_index(i).ok())
            .filter_map(|mig| mig.uuid().ok())
            .collect()
    }
}
