//! Carbon over time: each repetition's intensity from the hourly series in the run folder
//! (`carbon_intensity.csv`), and the what-ifs (the cleanest window of the series, the
//! other zones) for the same energy.
//!
//! A repetition's intensity is the mean of the hours its window overlaps, each weighted by
//! the time of the window in it (its energy is taken as spread evenly over its window).
//! A repetition outside the series takes the run's constant intensity when the suite gave
//! one, and none otherwise; either way it is flagged `carbon-outside-series`.

mod whatif;
pub(crate) mod windows;

pub use whatif::{Cleanest, ZoneWhatIf};

use crate::ReportError;
use crate::configs::Configuration;
use crate::flags::Flag;
use crate::model::ConfigSummary;
use crate::units::J_PER_KWH;
use chrono::{DateTime, Utc};
use records::carbon::{Basis, Coverage, Series, mean_intensity};
use records::manifest::RunManifest;
use serde::Serialize;
use std::path::Path;

/// How the figures are made, in one sentence for exports.
pub const METHOD: &str = "each repetition's intensity is the mean of the series' hours its UTC window overlaps, weighted by the time in each hour (energy taken as spread evenly over the window); what-if figures place the same measured energy, with the same layout in time, in the cleanest window of the run's zone (whole-hour starts) or at the same hours in another zone: they are computed from the series, not measured";

/// What the hourly series says about a run: the run's zone, the series, and the what-ifs.
#[derive(Clone, Debug)]
pub struct RunCarbon {
    /// The zone the run happened in.
    pub zone: String,
    /// The Electricity Maps column the series was read from.
    pub basis: Basis,
    /// The files the series was read from at the run's start.
    pub sources: Vec<String>,
    /// Each zone's coverage: `[first hour, end)` (UTC).
    pub coverage: Vec<ZoneCoverage>,
    /// Emissions of the whole run's usable repetitions as measured (gCO2eq, PUE included);
    /// `None` when a repetition has no intensity.
    pub run_gco2e: Option<f64>,
    /// What-if: the same repetitions, laid out the same way, in the cleanest window.
    pub cleanest: Result<Cleanest, String>,
    /// What-if: the same repetitions at the same hours in each other zone.
    pub zones: Vec<ZoneWhatIf>,
    /// The series itself.
    pub series: Series,
}

/// The hours a zone of the series covers.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneCoverage {
    /// Zone id.
    pub zone: String,
    /// First hour (UTC).
    pub from_utc: String,
    /// End of the last hour (UTC).
    pub to_utc: String,
}

/// One usable repetition in UTC, with its gross energy and inferences.
#[derive(Clone, Debug)]
pub(crate) struct RepWindow {
    /// Configuration position in the report.
    pub config: usize,
    /// Repetition number.
    pub number: u32,
    /// Window start (UTC).
    pub start: DateTime<Utc>,
    /// Window end (UTC).
    pub end: DateTime<Utc>,
    /// Counted gross energy (J).
    pub energy_j: f64,
    /// Requests in the window.
    pub requests: u32,
}

impl RepWindow {
    /// Gross kWh per 1,000 inferences of the repetition.
    pub fn kwh_per_1000(&self) -> f64 {
        self.energy_j / f64::from(self.requests) * 1000.0 / J_PER_KWH
    }
}

/// Reads the run's series (when `run.json` names one), gives every usable repetition its
/// intensity, sets each summary's gCO2eq per 1,000, what-if columns and flags, and returns
/// the run's what-ifs; `None` for a run with a constant intensity only.
pub fn assess(
    dir: &Path,
    manifest: &RunManifest,
    configs: &[Configuration],
    summaries: &mut [ConfigSummary],
) -> Result<Option<RunCarbon>, ReportError> {
    let Some(info) = &manifest.carbon_series else {
        return Ok(None);
    };
    let path = dir.join(records::files::CARBON_INTENSITY_CSV);
    let series = records::carbon::read(&path, Basis::default()).map_err(|e| {
        ReportError::Invalid(format!(
            "{e}; run.json names an hourly intensity series (zone {}), so the folder needs its copy {}",
            info.zone,
            records::files::CARBON_INTENSITY_CSV
        ))
    })?;
    let Some(zone) = series.zone(&info.zone) else {
        return Err(ReportError::Invalid(format!(
            "{}: no zone {:?} (run.json's carbon_series.zone); its zones are {}",
            path.display(),
            info.zone,
            series.zone_list()
        )));
    };
    let reps = windows::usable(manifest, configs)?;
    let constant = manifest
        .carbon_intensity_g_per_kwh
        .is_finite()
        .then_some(manifest.carbon_intensity_g_per_kwh);
    let pue = manifest.pue;
    let mut run_g = Some(0.0);
    // Whether every usable repetition took its intensity from the series (a saving is
    // stated only against such a figure, never against the constant fallback).
    let mut wholly_series = true;
    let mut actuals = Vec::with_capacity(summaries.len());
    for (i, summary) in summaries.iter_mut().enumerate() {
        let mine: Vec<&RepWindow> = reps.iter().filter(|r| r.config == i).collect();
        if mine.is_empty() {
            actuals.push(None);
            continue;
        }
        let mut outside = Vec::new();
        let mut per_1000 = Vec::new();
        for r in &mine {
            let intensity = match mean_intensity(zone, r.start, r.end) {
                Coverage::Covered(v) => Some(v),
                Coverage::Outside(_) => {
                    outside.push(r.number);
                    wholly_series = false;
                    constant
                }
            };
            per_1000.push(intensity.map(|v| r.kwh_per_1000() * pue * v));
            run_g = match (run_g, intensity) {
                (Some(g), Some(v)) => Some(g + r.energy_j / J_PER_KWH * pue * v),
                _ => None,
            };
        }
        let known: Option<Vec<f64>> = per_1000.into_iter().collect();
        let actual = known.map(|v| crate::stats::mean(&v));
        summary.row.gco2e_per_1000 = Some(actual.unwrap_or(f64::NAN));
        if !outside.is_empty() {
            summary.flags.push(Flag::CarbonOutsideSeries {
                repetitions: outside.clone(),
                zone: info.zone.clone(),
                fallback: constant,
            });
        }
        // A saving is stated against a figure wholly from the series.
        actuals.push(actual.filter(|_| outside.is_empty()));
    }
    for s in summaries.iter_mut() {
        s.row.flags = crate::flags::join(&s.flags);
    }
    let cleanest = whatif::cleanest(&reps, zone, pue, run_g.filter(|_| wholly_series));
    let zones = whatif::zones(&reps, &series, &info.zone, pue);
    let first = reps.iter().map(|r| r.start).min();
    for (i, s) in summaries.iter_mut().enumerate() {
        let mine: Vec<&RepWindow> = reps.iter().filter(|r| r.config == i).collect();
        if mine.is_empty() {
            continue;
        }
        whatif::fill_row(
            &mut s.row,
            &mine,
            &series,
            &info.zone,
            pue,
            actuals.get(i).copied().flatten(),
            match (&cleanest, first) {
                (Ok((start, c)), Some(first)) => Some((c.start_utc.as_str(), *start - first)),
                _ => None,
            },
        );
    }
    Ok(Some(RunCarbon {
        zone: info.zone.clone(),
        basis: info.basis,
        sources: info.sources.clone(),
        coverage: series
            .zones
            .iter()
            .map(|(z, s)| ZoneCoverage {
                zone: z.clone(),
                from_utc: records::carbon::format_hour(s.start),
                to_utc: records::carbon::format_hour(s.end()),
            })
            .collect(),
        run_gco2e: run_g,
        cleanest: cleanest.map(|(_, c)| c),
        zones,
        series,
    }))
}
