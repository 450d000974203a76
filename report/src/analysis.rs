//! The full analysis of a run folder: the energy pass, the pass over requests and samples,
//! and every table computed from them, into a [`Report`]. It reads only; the energy of each
//! request goes to the sink the caller gives.

use crate::ReportError;
use crate::energy::EnergyRun;
use crate::model::Report;
use crate::options::ReportOptions;
use crate::quality::ScoreSink;
use crate::scan::{self, RequestEnergySink, ScanOptions};
use crate::{aggregate, carbon, context, domains, fidelity, merge, quality, reference, summary};
use std::path::Path;

/// Computes the report of a run folder without writing anything; each request's energy
/// goes to `sink`, each answer's score to `scores`.
pub fn analyse(
    dir: &Path,
    options: &ReportOptions,
    sink: &mut dyn RequestEnergySink,
    scores: &mut dyn ScoreSink,
) -> Result<Report, ReportError> {
    let EnergyRun { manifest, configs } = EnergyRun::load(dir, options.policy.as_ref())?;
    let scan_options = ScanOptions {
        timeline_configs: if options.plots {
            options.timeline_configs
        } else {
            0
        },
        timeline_points: options.timeline_points,
        resolution_s: manifest
            .probes
            .iter()
            .map(|p| (p.name.clone(), p.resolution_s))
            .collect(),
    };
    let scan = scan::scan(dir, &configs, &scan_options, sink)?;
    let context = context::summarise(dir, &configs)?;
    let mut summaries: Vec<_> = configs
        .iter()
        .zip(&scan.requests)
        .map(|(config, facts)| summary::summarise(config, facts, &manifest, options))
        .collect();
    merge::label_hosts(dir, summaries.iter_mut().map(|s| &mut s.row))?;
    let carbon = carbon::assess(dir, &manifest, &configs, &mut summaries)?;
    let fidelity = fidelity::assess(dir, &manifest, &configs, &mut summaries, options)?;
    let mut quality = quality::assess(dir, &manifest, &configs, scores)?;
    quality::annotate(&mut summaries, &quality);
    crate::rating::annotate(summaries.iter_mut().map(|s| &mut s.row));
    // `reference.csv`, read once: the study's energy figures and its quality scores.
    let study = reference::load(dir)?;
    if let Some(rows) = &study {
        quality::attach_study(&mut quality, rows);
    }
    let load = crate::load::assess(dir, &manifest, &configs)?;
    let model_facts = crate::savings::facts::load(dir, &manifest, &configs)?;
    let savings = crate::savings::assess(&configs, &scan.requests, &model_facts);
    Ok(Report {
        savings,
        models: aggregate::models_with(&configs, &model_facts),
        load,
        carbon,
        fidelity,
        quality,
        beside_study: study.map(|rows| reference::compare(&configs, &rows)),
        domains: configs.iter().flat_map(domains::rows).collect(),
        tasks: aggregate::tasks(&configs),
        model_facts,
        context,
        manifest,
        options: options.clone(),
        configs,
        summary: summaries,
        scan,
        plots: Vec::new(),
    })
}
