//! RAPL energy read from the powercap sysfs tree (`energy_uj`, wrap-corrected).

use super::counter::WrappingCounter;
use super::zone::{PowercapZone, scan};
use crate::source::RawCounter;
use crate::sysfs::{CounterFile, OpenFn, RAPL_PERMISSION_FIX, open_file};
use crate::{Domain, EnergySource, MonotonicClock, ProbeError, Reading};
use std::path::Path;
use std::time::Duration;

/// Highest power one RAPL zone is assumed able to draw, to bound the wrap period (W).
///
/// Well above any single socket's TDP today (500 W): reads then come at least twice
/// per shortest wrap period.
pub const ASSUMED_MAX_ZONE_POWER_W: f64 = 1000.0;

/// One zone being read: its open counter file and the accumulator.
#[derive(Debug)]
struct ZoneReader {
    file: CounterFile,
    counter: WrappingCounter,
}

/// RAPL over powercap: cumulative joules per zone, 64-bit, wraps corrected.
#[derive(Debug)]
pub struct PowercapSource {
    domains: Vec<Domain>,
    readers: Vec<ZoneReader>,
    joules: Vec<f64>,
    max_read_interval: Option<Duration>,
    notes: Vec<String>,
}

impl PowercapSource {
    /// Opens every RAPL zone under `root`; fails naming the first unreadable file.
    pub fn open(root: &Path) -> Result<Self, ProbeError> {
        Self::open_with(root, open_file)
    }

    /// Opens with an injected file opener (tests give it the kernel's permission error).
    pub fn open_with(root: &Path, open: OpenFn) -> Result<Self, ProbeError> {
        let found = scan(root)?;
        let mut notes = found
            .skipped
            .iter()
            .map(|s| format!("skipped {s}"))
            .collect::<Vec<_>>();
        let mut domains = Vec::new();
        let mut readers = Vec::new();
        let mut interval: Option<Duration> = None;
        for zone in &found.zones {
            let mut file = CounterFile::open(&zone.energy_path(), open, RAPL_PERMISSION_FIX)?;
            let first = file.read()?;
            if let Some(d) = keep_alive_for(zone) {
                interval = Some(interval.map_or(d, |i| i.min(d)));
            } else {
                notes.push(format!(
                    "{} has no max_energy_range_uj: its wrap range is unknown, so a wrap is \
                     reported as an error rather than corrected",
                    zone.dir.display()
                ));
            }
            domains.push(zone.domain.clone());
            readers.push(ZoneReader {
                file,
                counter: WrappingCounter::new(first, zone.max_range_uj),
            });
        }
        Ok(Self {
            joules: vec![0.0; domains.len()],
            domains,
            readers,
            max_read_interval: interval,
            notes,
        })
    }

    /// Zones left out and assumptions made, one line each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Wraps seen so far per domain.
    pub fn wraps(&self) -> Vec<u64> {
        self.readers.iter().map(|r| r.counter.wraps()).collect()
    }
}

/// Half the shortest time the zone's counter could take to wrap at the assumed peak power.
fn keep_alive_for(zone: &PowercapZone) -> Option<Duration> {
    let range_j = zone.max_range_uj? as f64 / 1e6;
    let secs = (range_j / ASSUMED_MAX_ZONE_POWER_W / 2.0).max(0.01);
    Some(Duration::from_secs_f64(secs))
}

impl EnergySource for PowercapSource {
    fn name(&self) -> &str {
        "rapl-powercap"
    }

    fn domains(&self) -> &[Domain] {
        &self.domains
    }

    fn read(&mut self, clock: &MonotonicClock) -> Result<Reading, ProbeError> {
        let t_ns = clock.now_ns();
        for (reader, joules) in self.readers.iter_mut().zip(self.joules.iter_mut()) {
            let raw = reader.file.read()?;
            let total_uj = reader.counter.update(raw, reader.file.path())?;
            *joules = total_uj as f64 / 1e6;
        }
        Ok(Reading {
            t_ns,
            joules: self.joules.clone(),
        })
    }

    fn resolution(&self) -> Duration {
        // Counters update about every 1 ms with jitter: a 100 ms window is within ~1%.
        Duration::from_millis(100)
    }

    fn max_read_interval(&self) -> Option<Duration> {
        self.max_read_interval
    }

    fn raw_counters(&self) -> Vec<Option<RawCounter>> {
        self.readers
            .iter()
            .map(|r| {
                Some(RawCounter {
                    joules: r.counter.last_raw() as f64 / 1e6,
                    wrap_j: r.counter.max_range().map(|m| (m as f64 + 1.0) / 1e6),
                    wrap_known: r.counter.max_range().is_some(),
                })
            })
            .collect()
    }
}
