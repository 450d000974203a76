//! RAPL (CPU package, DRAM, psys) energy over powercap sysfs or perf_event.

pub mod counter;
pub mod perf_event;
pub mod perf_pmu;
pub mod powercap;
pub mod zone;

pub use counter::WrappingCounter;
pub use perf_event::PerfRaplSource;
pub use perf_pmu::{PmuEvent, PowerPmu};
pub use powercap::PowercapSource;
pub use zone::{PowercapZone, ZoneScan};
