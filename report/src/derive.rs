//! What the report derives from the raw records: each repetition's idle power, net energy
//! and validity, from `baselines.csv` and the policy recorded in `run.json` (or, for a
//! version-1 folder, as its runner recorded them in `repetitions.csv`).

use crate::ReportError;
use records::files::{BASELINES_CSV, REPETITIONS_CSV};
use records::manifest::{DerivationPolicy, IdleSubtraction, RunManifest};
use records::raw::{BaselineRecord, RepetitionDerivedV1, RepetitionRecord};
use records::table_io::read_records;
use std::collections::BTreeMap;
use std::path::Path;

/// A repetition row with what the report derives from it.
#[derive(Clone, Debug, PartialEq)]
pub struct DerivedRow {
    /// The raw row.
    pub record: RepetitionRecord,
    /// Idle power of the domain from the configuration's baseline (W), when one was taken.
    pub idle_power_w: Option<f64>,
    /// Energy net of idle: gross − idle power × duration (J).
    pub net_energy_j: Option<f64>,
    /// Whether the repetition counts under the policy.
    pub valid: bool,
}

/// How a folder's derived figures are obtained.
enum Derivation {
    /// As a version-1 runner recorded them beside the measurement.
    Recorded,
    /// From the baselines and a policy.
    Policy(DerivationPolicy, Baselines),
}

/// Idle power per (configuration, source, domain): (baseline end, W), in time order.
type Baselines = BTreeMap<(String, String, String), Vec<(u64, f64)>>;

/// Every row of `repetitions.csv` in `dir` with its derived figures, under `policy` when
/// given, else the run's own; an empty list when the file is absent.
pub fn rows(
    dir: &Path,
    manifest: &RunManifest,
    policy: Option<&DerivationPolicy>,
) -> Result<Vec<DerivedRow>, ReportError> {
    let path = dir.join(REPETITIONS_CSV);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let derivation = match (policy, &manifest.policy) {
        (Some(p), _) | (None, Some(p)) => Derivation::Policy(p.clone(), baselines(dir)?),
        (None, None) if manifest.format_version < 2 => Derivation::Recorded,
        (None, None) => {
            return Err(ReportError::Invalid(format!(
                "{}: results format version {} has a `policy` (how net energy and validity are derived), and this run.json has none; restore the run's own run.json",
                dir.join(records::files::RUN_JSON).display(),
                manifest.format_version
            )));
        }
    };
    let raw = read_records::<RepetitionRecord>(&path)?.map(|record| record.map(underived));
    let mut out = Vec::new();
    match derivation {
        Derivation::Recorded => {
            for (row, recorded) in raw.zip(read_records::<RepetitionDerivedV1>(&path)?) {
                let recorded = recorded?;
                out.push(DerivedRow {
                    idle_power_w: recorded.idle_power_w,
                    net_energy_j: recorded.net_energy_j,
                    valid: recorded.valid,
                    ..row?
                });
            }
        }
        Derivation::Policy(policy, baselines) => {
            for row in raw {
                out.push(derive(row?, &policy, &baselines));
            }
        }
    }
    Ok(out)
}

/// A raw row with nothing derived yet (no baseline, not valid).
fn underived(record: RepetitionRecord) -> DerivedRow {
    DerivedRow {
        record,
        idle_power_w: None,
        net_energy_j: None,
        valid: false,
    }
}

/// One row's derived figures under `policy`.
fn derive(row: DerivedRow, policy: &DerivationPolicy, baselines: &Baselines) -> DerivedRow {
    let record = &row.record;
    let idle_power_w = match policy.idle {
        IdleSubtraction::LatestBaseline => baselines
            .get(&(
                record.config.clone(),
                record.source.clone(),
                record.domain.clone(),
            ))
            .and_then(|b| b.iter().rev().find(|(end, _)| *end <= record.t_start_ns))
            .map(|&(_, w)| w),
    };
    DerivedRow {
        net_energy_j: idle_power_w.map(|p| record.energy_j - p * record.duration_s),
        idle_power_w,
        valid: policy.is_valid(record.failures, record.requests),
        ..row
    }
}

/// The idle baselines of `dir`, in time order per domain (none without `baselines.csv`).
fn baselines(dir: &Path) -> Result<Baselines, ReportError> {
    let path = dir.join(BASELINES_CSV);
    let mut out = Baselines::new();
    if !path.exists() {
        return Ok(out);
    }
    for b in read_records::<BaselineRecord>(&path)? {
        let b = b?;
        out.entry((b.config, b.source, b.domain))
            .or_default()
            .push((b.t_end_ns, b.power_w));
    }
    for v in out.values_mut() {
        v.sort_by_key(|&(end, _)| end);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(t_start_ns: u64, failures: u32) -> DerivedRow {
        let record = RepetitionRecord {
            config: "m@d".into(),
            source: "s".into(),
            domain: "cpu".into(),
            t_start_ns,
            duration_s: 2.0,
            energy_j: 10.0,
            requests: 100,
            failures,
            ..RepetitionRecord::default()
        };
        underived(record)
    }

    #[test]
    fn the_latest_baseline_before_the_window_and_the_failure_share() {
        let policy = DerivationPolicy {
            max_failure_share: 0.05,
            idle: IdleSubtraction::LatestBaseline,
        };
        let mut baselines = Baselines::new();
        baselines.insert(
            ("m@d".into(), "s".into(), "cpu".into()),
            vec![(100, 1.0), (500, 2.0)],
        );
        let early = derive(record(50, 0), &policy, &baselines);
        assert_eq!((early.idle_power_w, early.net_energy_j), (None, None));
        let first = derive(record(100, 5), &policy, &baselines);
        assert_eq!(first.idle_power_w, Some(1.0));
        assert_eq!(first.net_energy_j, Some(8.0));
        assert!(first.valid, "5 of 100 is within 5%");
        let second = derive(record(900, 6), &policy, &baselines);
        assert_eq!(second.net_energy_j, Some(6.0));
        assert!(!second.valid, "6 of 100 is above 5%");
    }
}
