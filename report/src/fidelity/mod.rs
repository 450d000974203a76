//! Whether each configuration's figures can be trusted, whose energy they are, and how
//! many repetitions a claim needs: window states and their drift, cross-checks between
//! counters, attribution to the served model's processes, repetitions needed, and the
//! validity checklist built from all of it.

pub mod attribution;
pub mod checklist;
pub mod cross_check;
pub mod state;

use crate::ReportError;
use crate::configs::Configuration;
use crate::flags::Flag;
use crate::model::ConfigSummary;
use crate::options::ReportOptions;
use crate::stats::Describe;
use crate::stats::power::RepetitionsNeeded;
use records::manifest::RunManifest;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use attribution::{Attributed, ConfigAttribution};
pub use checklist::{Check, Status};
pub use cross_check::{ConfigCrossChecks, CrossCheck, CrossCheckBounds};
pub use state::{ConfigState, StateBounds, StateFinding};

/// What the report found about one configuration's fidelity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfigFidelity {
    /// Configuration id.
    pub config: String,
    /// Its window states and what drifted.
    pub state: ConfigState,
    /// Its cross-checks.
    pub cross_checks: ConfigCrossChecks,
    /// Whose energy it is.
    pub attribution: ConfigAttribution,
    /// Repetitions a claim needs, from its spread; `None` with fewer than two.
    pub repetitions_needed: Option<RepetitionsNeeded>,
    /// The validity checklist.
    pub checklist: Vec<Check>,
}

impl ConfigFidelity {
    /// Whether any check failed.
    pub fn fails(&self) -> bool {
        self.checklist.iter().any(|c| c.status == Status::Fail)
    }
}

/// Assesses every configuration (in `configs` order) and adds the flags it raises to its
/// summary (flags column, failed checks, attribution and repetitions-needed columns).
pub fn assess(
    dir: &Path,
    manifest: &RunManifest,
    configs: &[Configuration],
    summaries: &mut [ConfigSummary],
    options: &ReportOptions,
) -> Result<Vec<ConfigFidelity>, ReportError> {
    let states = state::summarise(dir, configs, &options.state_bounds)?;
    let crosses = cross_check::check(dir, manifest, configs, &options.cross_check_bounds)?;
    let attributions = attribution::summarise(dir, configs)?;
    let mut out = Vec::with_capacity(configs.len());
    for ((((config, summary), state), cross), attribution) in configs
        .iter()
        .zip(summaries.iter_mut())
        .zip(states)
        .zip(crosses)
        .zip(attributions)
    {
        summary
            .flags
            .extend(state.findings.iter().cloned().map(Flag::State));
        summary.flags.extend(cross_flags(&cross));
        summary.row.flags = crate::flags::join(&summary.flags);
        let values: Vec<f64> = config
            .usable()
            .map(|r| r.energy_per_inference_j())
            .collect();
        let repetitions_needed = Describe::of(&values)
            .as_ref()
            .and_then(RepetitionsNeeded::of);
        let checks = checklist::checklist(&summary.flags, &state, &cross);
        let row = &mut summary.row;
        row.checks_failed = checklist::failed_names(&checks);
        if let Some(r) = &repetitions_needed {
            // In the order of `HALF_WIDTHS`: ±1%, ±2%, ±5%.
            let at = |i: usize| r.ci_half_width.get(i).and_then(|c| c.repetitions);
            row.repetitions_for_ci_1pct = at(0);
            row.repetitions_for_ci_2pct = at(1);
            row.repetitions_for_ci_5pct = at(2);
        }
        row.server_cpu_share = attribution.server_cpu.as_ref().map(|a| a.share);
        row.server_cpu_energy_j_mean = attribution.server_cpu.as_ref().map(|a| a.energy_j);
        row.client_cpu_share = attribution.client_cpu.as_ref().map(|a| a.share);
        out.push(ConfigFidelity {
            config: config.info.id.clone(),
            state,
            cross_checks: cross,
            attribution,
            repetitions_needed,
            checklist: checks,
        });
    }
    Ok(out)
}

/// A row of a per-window raw file (`window_state.csv`, `attribution.csv`): which window
/// of which configuration it belongs to.
trait WindowRow {
    /// Configuration id, window kind and repetition number.
    fn window(&self) -> (&str, records::raw::WindowKind, u32);
}

impl WindowRow for records::raw::WindowStateRecord {
    fn window(&self) -> (&str, records::raw::WindowKind, u32) {
        (&self.config, self.window, self.repetition)
    }
}

impl WindowRow for records::raw::AttributionRecord {
    fn window(&self) -> (&str, records::raw::WindowKind, u32) {
        (&self.config, self.window, self.repetition)
    }
}

/// Streams the rows of per-window raw file `path` that belong to a usable repetition of
/// `configs`, each with its configuration's position and the repetition; nothing when the
/// run wrote no such file (older runs).
fn for_usable_repetitions<T>(
    path: &Path,
    configs: &[Configuration],
    mut each: impl FnMut(usize, &crate::configs::Repetition, T),
) -> Result<(), ReportError>
where
    T: WindowRow + serde::de::DeserializeOwned + records::finite::Figures,
{
    if !path.exists() {
        return Ok(());
    }
    let index = crate::configs::positions(configs);
    for rec in records::table_io::read_records::<T>(path)? {
        let rec = rec?;
        let (config, kind, number) = rec.window();
        let Some(&i) = index.get(config) else {
            continue;
        };
        let Some(rep) = configs[i].repetitions.get(&number) else {
            continue;
        };
        if kind == records::raw::WindowKind::Repetition && rep.usable() {
            each(i, rep, rec);
        }
    }
    Ok(())
}

/// The repetitions each configuration of an earlier run would have needed, from its
/// energy records alone (for a dry run planning the next one).
pub fn repetitions_needed(dir: &Path) -> Result<Vec<(String, RepetitionsNeeded)>, ReportError> {
    let run = crate::energy::EnergyRun::load(dir, None)?;
    Ok(run
        .configs
        .iter()
        .filter_map(|c| {
            let values: Vec<f64> = c.usable().map(|r| r.energy_per_inference_j()).collect();
            let needed = Describe::of(&values)
                .as_ref()
                .and_then(RepetitionsNeeded::of)?;
            Some((c.info.id.clone(), needed))
        })
        .collect())
}

/// One flag per domain and check whose cross-check disagreed, with its worst difference.
fn cross_flags(cross: &ConfigCrossChecks) -> Vec<Flag> {
    let mut by: BTreeMap<(&str, &str), (Vec<u32>, f64)> = BTreeMap::new();
    for c in cross.disagreements() {
        let e = by
            .entry((c.check, c.domain.as_str()))
            .or_insert((Vec::new(), 0.0));
        e.0.push(c.repetition);
        if c.difference.abs() > e.1.abs() {
            e.1 = c.difference;
        }
    }
    by.into_iter()
        .map(|((check, domain), (repetitions, worst))| Flag::CrossCheck {
            check: check.to_string(),
            domain: domain.to_string(),
            repetitions,
            worst,
        })
        .collect()
}
