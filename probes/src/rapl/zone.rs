//! Finding RAPL zones in a powercap tree and naming their domains.

use crate::sysfs::{read_trimmed, read_u64};
use crate::{Domain, DomainKind, ProbeError, Provenance};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Directory name prefixes of RAPL zones, in order of preference (MSR before MMIO).
const PREFIXES: [&str; 2] = ["intel-rapl:", "intel-rapl-mmio:"];

/// One RAPL zone of a powercap tree, with the domain it reports.
#[derive(Clone, Debug, PartialEq)]
pub struct PowercapZone {
    /// The zone's directory.
    pub dir: PathBuf,
    /// The domain it reports (named the same as over perf_event).
    pub domain: Domain,
    /// `max_energy_range_uj`, or `None` when the zone has no such file.
    pub max_range_uj: Option<u64>,
}

impl PowercapZone {
    /// Path of the zone's cumulative counter.
    pub fn energy_path(&self) -> PathBuf {
        self.dir.join("energy_uj")
    }
}

/// Zones found under a powercap root, and the ones left out with why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneScan {
    /// Zones to read, packages first, in a stable order.
    pub zones: Vec<PowercapZone>,
    /// Zones left out (duplicates over MMIO, unknown names), one line each.
    pub skipped: Vec<String>,
}

/// A zone directory before naming: its prefix rank, ids and `name` file.
struct RawZone {
    dir: PathBuf,
    rank: usize,
    ids: Vec<u32>,
    name: String,
}

/// Finds every RAPL zone under `root` (flat class layout or nested devices layout).
pub fn scan(root: &Path) -> Result<ZoneScan, ProbeError> {
    let mut raw = Vec::new();
    let mut seen = HashSet::new();
    collect(root, &mut raw, &mut seen, 0)?;
    if raw.is_empty() {
        return Err(ProbeError::Unavailable {
            probe: "rapl-powercap".into(),
            reason: format!(
                "no intel-rapl:* or intel-rapl-mmio:* zone under {} (no RAPL here, \
                 the intel_rapl_msr / intel_rapl_common module not loaded, or sysfs mounted elsewhere: \
                 set --powercap-root)",
                root.display()
            ),
        });
    }
    // Package number of each top-level zone, for naming its sub-zones.
    // Labels come from the `name` file (`package-1`, `package-0-die-1`), not the directory
    // index; sort keys from the directory index.
    let mut package_of: BTreeMap<(usize, u32), String> = BTreeMap::new();
    for z in raw.iter().filter(|z| z.ids.len() == 1) {
        let label = package_label(&z.name).unwrap_or_else(|| z.ids[0].to_string());
        package_of.insert((z.rank, z.ids[0]), label);
    }
    let mut scan = ZoneScan::default();
    let mut named: Vec<(usize, (u32, u8), PowercapZone)> = Vec::new();
    for z in raw {
        let label = package_of
            .get(&(z.rank, z.ids[0]))
            .cloned()
            .unwrap_or_else(|| z.ids[0].to_string());
        let Some((kind, name, order)) = classify(&z.name, &label, z.ids[0], z.ids.len()) else {
            scan.skipped.push(format!(
                "{} (zone name {:?} is not a RAPL domain joulebench knows)",
                z.dir.display(),
                z.name
            ));
            continue;
        };
        let max_path = z.dir.join("max_energy_range_uj");
        let max_range_uj = if max_path.exists() {
            Some(read_u64(&max_path)?)
        } else {
            None
        };
        named.push((
            z.rank,
            order,
            PowercapZone {
                dir: z.dir,
                domain: Domain::new(name, kind, Provenance::Measured),
                max_range_uj,
            },
        ));
    }
    named.sort_by_key(|a| (a.1, a.0));
    let mut names = HashSet::new();
    for (_, _, zone) in named {
        if names.insert(zone.domain.name.clone()) {
            scan.zones.push(zone);
        } else {
            scan.skipped.push(format!(
                "{} (a second interface to {}, already read)",
                zone.dir.display(),
                zone.domain.name
            ));
        }
    }
    Ok(scan)
}

/// Walks `dir` (and zone directories inside zones, one level) collecting zones.
fn collect(
    dir: &Path,
    out: &mut Vec<RawZone>,
    seen: &mut HashSet<String>,
    depth: usize,
) -> Result<(), ProbeError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // A zone directory that cannot be listed holds no further zones of ours.
        Err(_) if depth > 0 => return Ok(()),
        Err(e) => {
            return Err(ProbeError::Unavailable {
                probe: "rapl-powercap".into(),
                reason: format!("cannot list powercap root {}: {e}", dir.display()),
            });
        }
    };
    let mut dirs: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    dirs.sort();
    for (file_name, path) in dirs {
        let Some((rank, ids)) = parse_dir_name(&file_name) else {
            continue;
        };
        if !seen.insert(file_name) {
            continue;
        }
        let name = read_trimmed(&path.join("name"))?;
        out.push(RawZone {
            dir: path.clone(),
            rank,
            ids,
            name,
        });
        if depth < 2 {
            collect(&path, out, seen, depth + 1)?;
        }
    }
    Ok(())
}

/// `intel-rapl:0:1` → (0, [0, 1]); `intel-rapl-mmio:0` → (1, [0]).
fn parse_dir_name(name: &str) -> Option<(usize, Vec<u32>)> {
    PREFIXES.iter().enumerate().find_map(|(rank, prefix)| {
        let rest = name.strip_prefix(prefix)?;
        let ids: Option<Vec<u32>> = rest.split(':').map(|s| s.parse().ok()).collect();
        ids.filter(|v| !v.is_empty() && v.len() <= 2)
            .map(|v| (rank, v))
    })
}

/// `package-1` → `1`; `package-0-die-1` → `0-die-1` (multi-die parts).
fn package_label(name: &str) -> Option<String> {
    let rest = name.strip_prefix("package-")?;
    let valid = rest.starts_with(|c: char| c.is_ascii_digit())
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid.then(|| rest.to_string())
}

/// Kind, domain name and sort key of a zone from its `name` file, its package's label
/// and its package directory's index.
fn classify(
    name: &str,
    package: &str,
    key: u32,
    depth: usize,
) -> Option<(DomainKind, String, (u32, u8))> {
    match name {
        n if n.starts_with("package-") && depth == 1 => Some((
            DomainKind::CpuPackage,
            format!("cpu-package-{package}"),
            (key, 0),
        )),
        "dram" => Some((DomainKind::Dram, format!("dram-{package}"), (key, 1))),
        "core" => Some((DomainKind::CpuCore, format!("cpu-core-{package}"), (key, 2))),
        "uncore" => Some((
            DomainKind::CpuUncore,
            format!("cpu-uncore-{package}"),
            (key, 3),
        )),
        "psys" => Some((DomainKind::Psys, "psys".to_string(), (u32::MAX, 0))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_parse_to_rank_and_ids() {
        assert_eq!(parse_dir_name("intel-rapl:0"), Some((0, vec![0])));
        assert_eq!(parse_dir_name("intel-rapl:1:2"), Some((0, vec![1, 2])));
        assert_eq!(parse_dir_name("intel-rapl-mmio:0"), Some((1, vec![0])));
        assert_eq!(parse_dir_name("intel-rapl"), None);
        assert_eq!(parse_dir_name("intel-rapl:x"), None);
        assert_eq!(parse_dir_name("dtpm"), None);
    }

    #[test]
    fn names_map_to_stable_domains() {
        assert_eq!(
            classify("package-1", "1", 1, 1).map(|c| c.1),
            Some("cpu-package-1".into())
        );
        assert_eq!(
            classify("dram", "1", 1, 2).map(|c| c.0),
            Some(DomainKind::Dram)
        );
        assert_eq!(
            classify("core", "0", 0, 2).map(|c| c.0),
            Some(DomainKind::CpuCore)
        );
        assert_eq!(
            classify("psys", "1", 1, 1).map(|c| c.1),
            Some("psys".into())
        );
        assert_eq!(classify("mystery", "0", 0, 1), None);
    }

    #[test]
    fn package_labels_keep_dies_apart() {
        assert_eq!(package_label("package-3"), Some("3".into()));
        assert_eq!(package_label("package-0-die-1"), Some("0-die-1".into()));
        assert_eq!(package_label("package-"), None);
        assert_eq!(package_label("psys"), None);
    }
}
