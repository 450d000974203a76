//! A scripted GPU and GPU library, for tests of the NVML logic without a driver.

use super::device::{GpuDevice, GpuError, GpuLibrary, PowerSample, ProcessSmSample};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A change an operator makes to a GPU (a clock locked, a power limit set).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FakeChange {
    /// A new SM clock (MHz).
    pub sm_clock_mhz: Option<f64>,
    /// A new power limit (W).
    pub power_limit_w: Option<f64>,
}

/// A fake GPU under a steady load: what it answers follows the time since `started`, as
/// a real GPU's counter, power field, temperature and clocks do.
#[derive(Clone, Debug)]
pub struct FakeDrive {
    /// When the load began.
    pub started: Instant,
    /// Power the energy counter accrues at (W).
    pub counter_w: f64,
    /// Power the instant power field reports (W); unlike `counter_w` in a test of the
    /// cross-check.
    pub field_w: f64,
    /// Temperature rise (°C per second).
    pub temperature_c_per_s: f64,
}

impl FakeDrive {
    /// A steady load of `watts` on counter and power field alike, cool and clocks fixed.
    pub fn steady(watts: f64) -> Self {
        Self {
            started: Instant::now(),
            counter_w: watts,
            field_w: watts,
            temperature_c_per_s: 0.0,
        }
    }

    fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

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
    /// Die temperature (°C), at the drive's start when driven.
    pub temperature_c: f64,
    /// SM clock (MHz).
    pub sm_clock_mhz: f64,
    /// Memory clock (MHz).
    pub mem_clock_mhz: f64,
    /// Enforced power limit (W), or the error it gives.
    pub power_limit_w: Result<f64, GpuError>,
    /// Default power limit (W), or the error it gives.
    pub power_limit_default_w: Result<f64, GpuError>,
    /// The range a power limit may be set in (min, max W), or the error it gives.
    pub power_limit_constraints_w: Result<(f64, f64), GpuError>,
    /// What every power-limit set answers instead of setting (e.g. `NoPermission`, as
    /// without root), `None` to set.
    pub set_power_limit_error: Option<GpuError>,
    /// Every power-limit set called (W), in order, refused ones included.
    pub power_limit_sets: Vec<f64>,
    /// A file holding the power limit (W, as text) across processes, as a real GPU keeps
    /// it after the process that set it is gone: a set writes it, a read prefers it.
    pub power_limit_file: Option<PathBuf>,
    /// Persistence mode.
    pub persistence: bool,
    /// Throttle-reason bits.
    pub throttle: u64,
    /// Processes with kernels resident and their SM utilisation (%): each query for
    /// per-process samples answers one sample per process, taken at the query.
    pub processes: Result<Vec<(u32, u32)>, GpuError>,
    /// Changes applied when a state read (as at a window edge: the only caller of
    /// `persistence_mode`) is the given one, counted from 1.
    pub changes: Vec<(u32, FakeChange)>,
    /// State reads so far.
    pub state_reads: u32,
    /// A load that moves the counter, power, temperature and clocks with time.
    pub drive: Option<FakeDrive>,
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
            temperature_c: 45.0,
            sm_clock_mhz: 1410.0,
            mem_clock_mhz: 1593.0,
            power_limit_w: Ok(400.0),
            power_limit_default_w: Ok(400.0),
            power_limit_constraints_w: Ok((100.0, 400.0)),
            set_power_limit_error: None,
            power_limit_sets: Vec::new(),
            power_limit_file: None,
            persistence: true,
            throttle: 0,
            processes: Ok(Vec::new()),
            changes: Vec::new(),
            state_reads: 0,
            drive: None,
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
        let s = self.state();
        let base = s.energy_mj?;
        Ok(match &s.drive {
            Some(d) => base + (d.counter_w * d.elapsed_s() * 1000.0) as u64,
            None => base,
        })
    }
    fn power_instant(&self) -> Result<PowerSample, GpuError> {
        let s = self.state();
        let sample = s.instant?;
        Ok(match &s.drive {
            Some(d) => PowerSample {
                watts: d.field_w,
                timestamp_us: now_us(),
            },
            None => sample,
        })
    }
    fn power_usage_w(&self) -> Result<f64, GpuError> {
        self.state().power_usage_w
    }
    fn utilization_pct(&self) -> Result<f64, GpuError> {
        self.state().utilization_pct
    }
    fn sm_clock_mhz(&self) -> Result<f64, GpuError> {
        Ok(self.state().sm_clock_mhz)
    }
    fn memory_used_mib(&self) -> Result<f64, GpuError> {
        Ok(1024.0)
    }
    fn temperature_c(&self) -> Result<f64, GpuError> {
        let s = self.state();
        let rise = s
            .drive
            .as_ref()
            .map_or(0.0, |d| d.temperature_c_per_s * d.elapsed_s());
        Ok(s.temperature_c + rise)
    }
    fn mem_clock_mhz(&self) -> Result<f64, GpuError> {
        Ok(self.state().mem_clock_mhz)
    }
    fn power_limit_w(&self) -> Result<f64, GpuError> {
        let s = self.state();
        match &s.power_limit_file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => text.trim().parse().map_err(|e| {
                    GpuError::Failed(format!("fake power limit file {}: {e}", path.display()))
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => s.power_limit_w,
                Err(e) => Err(GpuError::Failed(format!(
                    "fake power limit file {}: {e}",
                    path.display()
                ))),
            },
            None => s.power_limit_w,
        }
    }
    fn power_limit_default_w(&self) -> Result<f64, GpuError> {
        self.state().power_limit_default_w
    }
    fn power_limit_constraints_w(&self) -> Result<(f64, f64), GpuError> {
        self.state().power_limit_constraints_w
    }
    fn set_power_limit_w(&self, watts: f64) -> Result<(), GpuError> {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.power_limit_sets.push(watts);
        if let Some(e) = &s.set_power_limit_error {
            return Err(e.clone());
        }
        // As the driver: a limit outside the constraints is an invalid argument.
        let (min, max) = s.power_limit_constraints_w.clone()?;
        if !(watts.is_finite() && watts >= min && watts <= max) {
            return Err(GpuError::Failed(format!(
                "Invalid Argument: {watts} W is outside {min}-{max} W"
            )));
        }
        if let Some(path) = &s.power_limit_file {
            std::fs::write(path, format!("{watts}\n")).map_err(|e| {
                GpuError::Failed(format!("fake power limit file {}: {e}", path.display()))
            })?;
        }
        s.power_limit_w = Ok(watts);
        Ok(())
    }
    fn persistence_mode(&self) -> Result<bool, GpuError> {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.state_reads += 1;
        let due: Vec<FakeChange> = s
            .changes
            .iter()
            .filter(|(at, _)| *at == s.state_reads)
            .map(|(_, c)| *c)
            .collect();
        for c in due {
            if let Some(mhz) = c.sm_clock_mhz {
                s.sm_clock_mhz = mhz;
            }
            if let Some(w) = c.power_limit_w {
                s.power_limit_w = Ok(w);
            }
        }
        Ok(s.persistence)
    }
    fn throttle_reasons(&self) -> Result<u64, GpuError> {
        Ok(self.state().throttle)
    }
    fn process_sm_samples(&self, since_us: u64) -> Result<Vec<ProcessSmSample>, GpuError> {
        let now = now_us() as u64;
        Ok(self
            .state()
            .processes?
            .into_iter()
            .filter(|_| now > since_us)
            .map(|(pid, sm_util_pct)| ProcessSmSample {
                pid,
                timestamp_us: now,
                sm_util_pct,
            })
            .collect())
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
