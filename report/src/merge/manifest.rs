//! The merged folder's `run.json`: the shards' common header, their span of time, a status
//! that counts missing and unfinished shards, and what each shard was (`merged`).
//!
//! Where shards differ the header says so rather than repeat the first shard: with more
//! than one host the top-level `host` is named "N hosts (see hosts.csv)" and keeps only
//! what every host shares; a probe missing on some shards only is listed as missing there.

use super::Shifts;
use super::check::Shard;
use records::manifest::{
    HostInfo, MergeInfo, MergedShard, MissingProbeInfo, RunManifest, RunStatus,
};
use std::collections::{BTreeMap, BTreeSet};

/// The manifest of the merged folder of `shards` (sorted by index).
pub(super) fn merged_manifest(
    shards: &[Shard],
    shifts: &Shifts,
    missing: Vec<u32>,
    warnings: &[String],
) -> RunManifest {
    let mut m = shards[0].manifest.clone();
    m.shard = None;
    for s in &shards[1..] {
        for p in &s.manifest.probes {
            if !m.probes.iter().any(|q| q.name == p.name) {
                m.probes.push(p.clone());
            }
        }
        // Each shard records the datasets its configurations read (and how they are
        // scored): the merged folder needs every shard's.
        for d in s.manifest.datasets.iter().flatten() {
            let datasets = m.datasets.get_or_insert_with(Vec::new);
            if !datasets.iter().any(|e| e.name == d.name) {
                datasets.push(d.clone());
            }
        }
    }
    m.missing_probes = missing_probes(shards);
    m.host = merged_host(shards);
    m.started_utc = shards
        .iter()
        .map(|s| s.manifest.started_utc.clone())
        .min()
        .unwrap_or_default();
    m.ended_utc = shards
        .iter()
        .map(|s| s.manifest.ended_utc.clone())
        .collect::<Option<Vec<_>>>()
        .and_then(|ends| ends.into_iter().max());
    m.status = status(shards, &missing);
    m.status_reason = (!warnings.is_empty()).then(|| warnings.join("; "));
    let hosts: BTreeSet<String> = shards
        .iter()
        .map(|s| s.manifest.host.hostname.clone())
        .collect();
    m.merged = Some(MergeInfo {
        count: shards[0].count,
        shards: shards
            .iter()
            .zip(shifts.t_offset_ns.iter().zip(&shifts.energy_offset_j))
            .map(|(s, (&t_offset_ns, &energy_offset_j))| {
                merged_shard(s, t_offset_ns, energy_offset_j)
            })
            .collect(),
        missing,
        hosts: hosts.into_iter().collect(),
    });
    m
}

/// `complete` when every shard is there and complete, `failed` when one failed, else
/// `interrupted`.
fn status(shards: &[Shard], missing: &[u32]) -> RunStatus {
    if shards
        .iter()
        .any(|s| s.manifest.status == RunStatus::Failed)
    {
        RunStatus::Failed
    } else if missing.is_empty()
        && shards
            .iter()
            .all(|s| s.manifest.status == RunStatus::Complete)
    {
        RunStatus::Complete
    } else {
        RunStatus::Interrupted
    }
}

fn merged_shard(s: &Shard, t_offset_ns: u64, energy_offset_j: f64) -> MergedShard {
    MergedShard {
        index: s.index,
        dir: std::fs::canonicalize(&s.dir)
            .unwrap_or_else(|_| s.dir.clone())
            .display()
            .to_string(),
        index_from: s
            .manifest
            .shard
            .as_ref()
            .map(|i| i.index_from.clone())
            .unwrap_or_default(),
        status: s.manifest.status,
        status_reason: s.manifest.status_reason.clone(),
        host: s.manifest.host.clone(),
        clock_epoch_utc: s.manifest.clock_epoch_utc.clone(),
        started_utc: s.manifest.started_utc.clone(),
        ended_utc: s.manifest.ended_utc.clone(),
        t_offset_ns,
        energy_offset_j,
        configurations: s.configurations.iter().cloned().collect(),
    }
}

/// The shards' host when they ran on one; otherwise "N hosts (see hosts.csv)" with only
/// the fields every host shares (each shard's whole host is in `merged.shards[].host`).
fn merged_host(shards: &[Shard]) -> HostInfo {
    let first = &shards[0].manifest.host;
    let names: BTreeSet<&str> = shards
        .iter()
        .map(|s| s.manifest.host.hostname.as_str())
        .collect();
    if names.len() < 2 {
        return first.clone();
    }
    let hosts: Vec<&HostInfo> = shards.iter().map(|s| &s.manifest.host).collect();
    fn shared<T: PartialEq + Clone>(hosts: &[&HostInfo], field: fn(&HostInfo) -> &T) -> Option<T> {
        let value = field(hosts[0]);
        hosts
            .iter()
            .all(|h| field(h) == value)
            .then(|| value.clone())
    }
    HostInfo {
        hostname: format!("{} hosts (see hosts.csv)", names.len()),
        os: shared(&hosts, |h| &h.os).unwrap_or_default(),
        kernel: shared(&hosts, |h| &h.kernel).unwrap_or_default(),
        cpu_model: shared(&hosts, |h| &h.cpu_model).unwrap_or_default(),
        cpu_logical: shared(&hosts, |h| &h.cpu_logical).unwrap_or_default(),
        cpu_physical: shared(&hosts, |h| &h.cpu_physical).flatten(),
        memory_gb: shared(&hosts, |h| &h.memory_gb).unwrap_or_default(),
        gpus: Vec::new(),
        nvidia_driver: shared(&hosts, |h| &h.nvidia_driver).flatten(),
        nvml_version: shared(&hosts, |h| &h.nvml_version).flatten(),
    }
}

/// Each probe missing on some shard, once: as the shards said when it was missing on every
/// shard, else prefixed "missing on shard(s) I (host) only", since the other shards had it.
fn missing_probes(shards: &[Shard]) -> Vec<MissingProbeInfo> {
    let mut by_probe: BTreeMap<&str, (&str, Vec<&Shard>)> = BTreeMap::new();
    let mut order = Vec::new();
    for s in shards {
        for p in &s.manifest.missing_probes {
            let entry = by_probe.entry(p.probe.as_str()).or_insert_with(|| {
                order.push(p.probe.as_str());
                (p.reason.as_str(), Vec::new())
            });
            if !entry.1.iter().any(|t| t.index == s.index) {
                entry.1.push(s);
            }
        }
    }
    order
        .into_iter()
        .map(|probe| {
            let (reason, on) = &by_probe[probe];
            let reason = if on.len() == shards.len() {
                reason.to_string()
            } else {
                let which: Vec<String> = on
                    .iter()
                    .map(|s| format!("{} ({})", s.index, s.manifest.host.hostname))
                    .collect();
                format!("missing on shard(s) {} only: {reason}", which.join(", "))
            };
            MissingProbeInfo {
                probe: probe.to_string(),
                reason,
            }
        })
        .collect()
}
