//! RAPL energy read through perf_event (the `power` PMU): 64-bit counters, no wrap.

use super::perf_pmu::{PmuEvent, PowerPmu};
use crate::source::RawCounter;
use crate::{Domain, DomainKind, EnergySource, MonotonicClock, ProbeError, Provenance, Reading};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to allow RAPL perf events without root.
pub const PERF_PERMISSION_FIX: &str = "opening RAPL perf events needs root, CAP_PERFMON \
(e.g. `setcap cap_perfmon+ep` on the binary), or `sysctl kernel.perf_event_paranoid=0` (or lower)";

/// `struct perf_event_attr` up to `config1` (PERF_ATTR_SIZE_VER0, 64 bytes).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

/// `PERF_FLAG_FD_CLOEXEC`.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// Opens a counting, system-wide event of `pmu_type`/`config` on `cpu`.
fn perf_event_open(pmu_type: u32, config: u64, cpu: u32) -> io::Result<File> {
    let attr = PerfEventAttr {
        kind: pmu_type,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config,
        ..PerfEventAttr::default()
    };
    let cpu =
        libc::c_int::try_from(cpu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `attr` is a valid, fully initialised perf_event_attr of the size it states;
    // pid -1 with a cpu counts system-wide on that cpu; no group; the kernel only reads it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            -1 as libc::pid_t,
            cpu,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(fd).map_err(|_| io::Error::other("fd out of range"))?;
    // SAFETY: the syscall returned a new file descriptor that nothing else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Reads the 64-bit count of an open perf event.
fn read_count(file: &mut File) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    file.read_exact(&mut buf)?;
    Ok(u64::from_ne_bytes(buf))
}

/// One open event: its file, scale and first count.
#[derive(Debug)]
struct OpenEvent {
    file: File,
    path: PathBuf,
    scale: f64,
    first: u64,
    last: u64,
}

/// RAPL over perf_event: the same domain names as powercap, read from the power PMU.
#[derive(Debug)]
pub struct PerfRaplSource {
    domains: Vec<Domain>,
    events: Vec<OpenEvent>,
}

impl PerfRaplSource {
    /// Discovers the power PMU under `sys_root` and opens every event on one CPU per package.
    pub fn open(sys_root: &Path) -> Result<Self, ProbeError> {
        let pmu = PowerPmu::discover(sys_root)?;
        let mut domains = Vec::new();
        let mut events = Vec::new();
        for (i, (cpu, package)) in pmu.cpus.iter().enumerate() {
            let cpu = *cpu;
            for event in &pmu.events {
                // psys is platform-wide: open it once.
                if event.kind == DomainKind::Psys && i > 0 {
                    continue;
                }
                let mut file = perf_event_open(pmu.pmu_type, event.config, cpu)
                    .map_err(|e| open_error(event, cpu, &e))?;
                let first = read_count(&mut file).map_err(|e| open_error(event, cpu, &e))?;
                domains.push(Domain::new(
                    domain_name(event.kind, package),
                    event.kind,
                    Provenance::Measured,
                ));
                events.push(OpenEvent {
                    file,
                    path: event.path.clone(),
                    scale: event.scale,
                    first,
                    last: first,
                });
            }
        }
        Ok(Self { domains, events })
    }
}

/// The domain name of an event on a package, the same as powercap gives.
pub fn domain_name(kind: DomainKind, package: &str) -> String {
    match kind {
        DomainKind::CpuPackage => format!("cpu-package-{package}"),
        DomainKind::Dram => format!("dram-{package}"),
        DomainKind::CpuCore => format!("cpu-core-{package}"),
        DomainKind::CpuUncore => format!("cpu-uncore-{package}"),
        DomainKind::Psys => "psys".into(),
        DomainKind::Gpu => format!("gpu-{package}"),
    }
}

fn open_error(event: &PmuEvent, cpu: u32, e: &io::Error) -> ProbeError {
    let denied = matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM));
    if denied {
        let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        ProbeError::PermissionDenied {
            path: event.path.clone(),
            fix: format!("{PERF_PERMISSION_FIX} (perf_event_paranoid is {paranoid}, cpu {cpu})"),
        }
    } else {
        ProbeError::Read {
            path: event.path.clone(),
            reason: format!("perf_event_open on cpu {cpu}: {e}"),
        }
    }
}

impl EnergySource for PerfRaplSource {
    fn name(&self) -> &str {
        "rapl-perf"
    }

    fn domains(&self) -> &[Domain] {
        &self.domains
    }

    fn read(&mut self, clock: &MonotonicClock) -> Result<Reading, ProbeError> {
        let t_ns = clock.now_ns();
        let mut joules = Vec::with_capacity(self.events.len());
        for ev in &mut self.events {
            let count = read_count(&mut ev.file).map_err(|e| ProbeError::Read {
                path: ev.path.clone(),
                reason: format!("reading the perf event: {e}"),
            })?;
            ev.last = count;
            joules.push(count.wrapping_sub(ev.first) as f64 * ev.scale);
        }
        Ok(Reading { t_ns, joules })
    }

    fn resolution(&self) -> Duration {
        Duration::from_millis(100)
    }

    fn raw_counters(&self) -> Vec<Option<RawCounter>> {
        self.events
            .iter()
            .map(|e| {
                Some(RawCounter {
                    joules: e.last as f64 * e.scale,
                    wrap_j: None,
                    wrap_known: true,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rapl::perf_pmu::tests::fake_pmu;

    #[test]
    fn attr_has_the_version_0_size() {
        assert_eq!(std::mem::size_of::<PerfEventAttr>(), 64);
    }

    #[test]
    fn names_match_powercap() {
        assert_eq!(domain_name(DomainKind::CpuPackage, "1"), "cpu-package-1");
        assert_eq!(domain_name(DomainKind::Dram, "0-die-1"), "dram-0-die-1");
        assert_eq!(domain_name(DomainKind::Psys, "3"), "psys");
    }

    #[test]
    fn a_pmu_type_the_kernel_does_not_know_is_an_error_naming_the_event() {
        // The fake tree's type 23 is not this kernel's power PMU (there is none here,
        // or it has another number): the real syscall refuses it and we say which event.
        let dir = tempfile::tempdir().expect("temp dir");
        fake_pmu(dir.path());
        let pmu_type = std::fs::read_to_string("/sys/bus/event_source/devices/power/type")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        if pmu_type == Some(23) {
            return; // this kernel really has a power PMU of type 23: nothing to refuse
        }
        let e = PerfRaplSource::open(dir.path()).expect_err("unknown pmu type");
        assert!(e.to_string().contains("energy-pkg"), "{e}");
    }
}
