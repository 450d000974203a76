//! The UTC window of each usable repetition: the run's clock zero (`clock_epoch_utc`) plus
//! its monotonic times; in a folder merged from shards, the zero and offset of the shard
//! that ran its configuration.

use super::RepWindow;
use crate::ReportError;
use crate::configs::Configuration;
use chrono::{DateTime, Duration, Utc};
use records::manifest::RunManifest;

/// Every usable repetition of `configs` with its UTC window and energy.
pub(super) fn usable(
    manifest: &RunManifest,
    configs: &[Configuration],
) -> Result<Vec<RepWindow>, ReportError> {
    let mut out = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let (epoch, offset_ns) = clock_of(manifest, &c.info.id)?;
        for r in c.usable() {
            let at = |t_ns: u64| {
                let ns = i64::try_from(t_ns.saturating_sub(offset_ns)).unwrap_or(i64::MAX);
                epoch + Duration::nanoseconds(ns)
            };
            out.push(RepWindow {
                config: i,
                number: r.number,
                start: at(r.t_start_ns),
                end: at(r.t_end_ns),
                energy_j: r.total_energy_j(),
                requests: r.requests,
            });
        }
    }
    Ok(out)
}

/// The UTC clock zero of the run (or of the shard that ran `config`) and the offset its
/// times were shifted by in the merged records (ns).
pub(crate) fn clock_of(
    manifest: &RunManifest,
    config: &str,
) -> Result<(DateTime<Utc>, u64), ReportError> {
    let (text, offset) = match manifest.merged.as_ref().and_then(|m| {
        m.shards
            .iter()
            .find(|s| s.configurations.iter().any(|c| c == config))
    }) {
        Some(shard) => (shard.clock_epoch_utc.as_str(), shard.t_offset_ns),
        None => (manifest.clock_epoch_utc.as_str(), 0),
    };
    let epoch = DateTime::parse_from_rfc3339(text)
        .map_err(|e| {
            ReportError::Invalid(format!(
                "run.json: clock_epoch_utc {text:?} is not an RFC 3339 time ({e}); each repetition's hour of the carbon series cannot be found without it"
            ))
        })?
        .with_timezone(&Utc);
    Ok((epoch, offset))
}
