//! The `power` PMU of perf_event as described in sysfs: its type, RAPL events and CPUs.

use crate::sysfs::read_trimmed;
use crate::{DomainKind, ProbeError};
use std::path::{Path, PathBuf};

/// Events of the power PMU joulebench reads, the kind of domain each covers, in order.
const EVENTS: [(&str, DomainKind); 5] = [
    ("energy-pkg", DomainKind::CpuPackage),
    ("energy-ram", DomainKind::Dram),
    ("energy-cores", DomainKind::CpuCore),
    ("energy-gpu", DomainKind::CpuUncore),
    ("energy-psys", DomainKind::Psys),
];

/// One RAPL event of the power PMU.
#[derive(Clone, Debug, PartialEq)]
pub struct PmuEvent {
    /// Event name, e.g. `energy-pkg`.
    pub name: String,
    /// What the event covers.
    pub kind: DomainKind,
    /// `perf_event_attr.config` from the event file (`event=0x02`).
    pub config: u64,
    /// Joules per count, from `<event>.scale`.
    pub scale: f64,
    /// The event's sysfs file, named in errors.
    pub path: PathBuf,
}

/// The power PMU: its perf type, its events, and one CPU per package to open them on.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerPmu {
    /// `perf_event_attr.type` for this PMU.
    pub pmu_type: u32,
    /// RAPL events present, in a stable order.
    pub events: Vec<PmuEvent>,
    /// (cpu, package label) pairs from the PMU's cpumask: `1`, or `0-die-1` where a
    /// package has several dies (named as powercap names them).
    pub cpus: Vec<(u32, String)>,
}

impl PowerPmu {
    /// Reads the PMU under `sys_root` (normally `/sys`).
    pub fn discover(sys_root: &Path) -> Result<Self, ProbeError> {
        let pmu = sys_root.join("bus/event_source/devices/power");
        if !pmu.is_dir() {
            return Err(ProbeError::Unavailable {
                probe: "rapl-perf".into(),
                reason: format!(
                    "no power PMU at {} (no RAPL perf events on this CPU or kernel)",
                    pmu.display()
                ),
            });
        }
        let type_path = pmu.join("type");
        let pmu_type = parse_num(&type_path, &read_trimmed(&type_path)?)?;
        let mut events = Vec::new();
        for (name, kind) in EVENTS {
            let path = pmu.join("events").join(name);
            if !path.exists() {
                continue;
            }
            let config = parse_event_config(&path, &read_trimmed(&path)?)?;
            let scale_path = pmu.join("events").join(format!("{name}.scale"));
            let scale_text = read_trimmed(&scale_path)?;
            let scale: f64 = scale_text.parse().map_err(|e| ProbeError::Read {
                path: scale_path.clone(),
                reason: format!("expected a number, found {scale_text:?}: {e}"),
            })?;
            let unit_path = pmu.join("events").join(format!("{name}.unit"));
            if let Ok(unit) = read_trimmed(&unit_path)
                && unit != "Joules"
            {
                return Err(ProbeError::Read {
                    path: unit_path,
                    reason: format!("expected unit Joules, found {unit:?}"),
                });
            }
            events.push(PmuEvent {
                name: name.to_string(),
                kind,
                config,
                scale,
                path,
            });
        }
        if events.is_empty() {
            return Err(ProbeError::Unavailable {
                probe: "rapl-perf".into(),
                reason: format!("the power PMU at {} lists no energy events", pmu.display()),
            });
        }
        let mask_path = pmu.join("cpumask");
        let cpu_list = parse_cpu_list(&mask_path, &read_trimmed(&mask_path)?)?;
        let topology = |cpu: u32, file: &str| -> Option<u32> {
            let path = sys_root.join(format!("devices/system/cpu/cpu{cpu}/topology/{file}"));
            read_trimmed(&path).ok().and_then(|s| s.parse().ok())
        };
        let packages: Vec<u32> = cpu_list
            .iter()
            .enumerate()
            .map(|(i, &cpu)| topology(cpu, "physical_package_id").unwrap_or(i as u32))
            .collect();
        let cpus = cpu_list
            .iter()
            .zip(&packages)
            .map(|(&cpu, &package)| {
                let shared = packages.iter().filter(|&&p| p == package).count() > 1;
                let label = match topology(cpu, "die_id") {
                    Some(die) if shared => format!("{package}-die-{die}"),
                    _ => package.to_string(),
                };
                (cpu, label)
            })
            .collect();
        Ok(Self {
            pmu_type,
            events,
            cpus,
        })
    }
}

fn parse_num(path: &Path, text: &str) -> Result<u32, ProbeError> {
    text.parse().map_err(|e| ProbeError::Read {
        path: path.to_path_buf(),
        reason: format!("expected a number, found {text:?}: {e}"),
    })
}

/// `event=0x02` (possibly with other `key=value` terms) → 2.
fn parse_event_config(path: &Path, text: &str) -> Result<u64, ProbeError> {
    let value = text
        .split(',')
        .find_map(|term| term.trim().strip_prefix("event="))
        .ok_or_else(|| ProbeError::Read {
            path: path.to_path_buf(),
            reason: format!("no event= term in {text:?}"),
        })?;
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    parsed.map_err(|e| ProbeError::Read {
        path: path.to_path_buf(),
        reason: format!("bad event number {value:?}: {e}"),
    })
}

/// `0,28` or `0-1,4` → the CPUs listed.
fn parse_cpu_list(path: &Path, text: &str) -> Result<Vec<u32>, ProbeError> {
    let bad = |t: &str| ProbeError::Read {
        path: path.to_path_buf(),
        reason: format!("bad CPU list {t:?}"),
    };
    let mut cpus = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let a: u32 = a.parse().map_err(|_| bad(text))?;
                let b: u32 = b.parse().map_err(|_| bad(text))?;
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad(text))?),
        }
    }
    if cpus.is_empty() {
        return Err(bad(text));
    }
    Ok(cpus)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }

    /// A two-socket power PMU with pkg and ram events.
    pub(crate) fn fake_pmu(sys: &Path) {
        let pmu = sys.join("bus/event_source/devices/power");
        write(&pmu.join("type"), "23\n");
        write(&pmu.join("cpumask"), "0,28\n");
        for (name, code) in [("energy-pkg", "0x02"), ("energy-ram", "0x03")] {
            write(&pmu.join("events").join(name), &format!("event={code}\n"));
            write(
                &pmu.join("events").join(format!("{name}.scale")),
                "2.3283064365386962890625e-10\n",
            );
            write(&pmu.join("events").join(format!("{name}.unit")), "Joules\n");
        }
        write(
            &sys.join("devices/system/cpu/cpu0/topology/physical_package_id"),
            "0\n",
        );
        write(
            &sys.join("devices/system/cpu/cpu28/topology/physical_package_id"),
            "1\n",
        );
    }

    #[test]
    fn discovers_type_events_scale_and_packages() {
        let dir = tempfile::tempdir().expect("temp dir");
        fake_pmu(dir.path());
        let pmu = PowerPmu::discover(dir.path()).expect("discover");
        assert_eq!(pmu.pmu_type, 23);
        assert_eq!(pmu.cpus, vec![(0, "0".into()), (28, "1".into())]);
        let names: Vec<_> = pmu.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["energy-pkg", "energy-ram"]);
        assert_eq!(pmu.events[0].config, 2);
        assert_eq!(pmu.events[1].config, 3);
        assert!((pmu.events[0].scale - 2.328_306_436_538_696_3e-10).abs() < 1e-24);
    }

    #[test]
    fn dies_of_one_package_get_their_own_labels() {
        let dir = tempfile::tempdir().expect("temp dir");
        fake_pmu(dir.path());
        let cpu = dir.path().join("devices/system/cpu");
        write(&cpu.join("cpu28/topology/physical_package_id"), "0\n");
        write(&cpu.join("cpu0/topology/die_id"), "0\n");
        write(&cpu.join("cpu28/topology/die_id"), "1\n");
        let pmu = PowerPmu::discover(dir.path()).expect("discover");
        assert_eq!(
            pmu.cpus,
            vec![(0, "0-die-0".into()), (28, "0-die-1".into())]
        );
    }

    #[test]
    fn missing_pmu_and_wrong_unit_are_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = PowerPmu::discover(dir.path()).expect_err("no pmu");
        assert!(e.to_string().contains("no power PMU"), "{e}");
        fake_pmu(dir.path());
        write(
            &dir.path()
                .join("bus/event_source/devices/power/events/energy-ram.unit"),
            "mJ\n",
        );
        let e = PowerPmu::discover(dir.path()).expect_err("wrong unit");
        assert!(e.to_string().contains("energy-ram.unit"), "{e}");
    }

    #[test]
    fn cpu_lists_and_event_terms_parse() {
        let p = Path::new("x");
        assert_eq!(parse_cpu_list(p, "0-2,8").expect("list"), vec![0, 1, 2, 8]);
        assert!(parse_cpu_list(p, "").is_err());
        assert_eq!(parse_event_config(p, "event=0x1b").expect("hex"), 0x1b);
        assert_eq!(parse_event_config(p, "umask=0,event=7").expect("dec"), 7);
        assert!(parse_event_config(p, "umask=1").is_err());
    }
}
