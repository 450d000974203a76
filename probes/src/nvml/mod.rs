//! NVIDIA GPU energy over NVML, behind a small trait so the logic runs on fake devices.

pub mod device;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod integrator;
pub mod inventory;
pub mod real;
pub mod selection;
pub mod source;

pub use device::{GpuDevice, GpuError, GpuLibrary, PowerSample, ProcessSmSample};
pub use inventory::{GpuInfo, GpuInventory};
pub use selection::{GpuSelection, GpuSelector};
pub use source::{GpuOpening, NvmlSource, open_gpus};
