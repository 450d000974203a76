//! The what-ifs: the same repetitions (same energy, same layout in time) in the cleanest
//! window of the series, and at the same hours in each other zone. They say what the
//! series implies, not what was measured.

use super::RepWindow;
use crate::model::SummaryRow;
use crate::units::J_PER_KWH;
use chrono::{DateTime, Duration, Utc};
use records::carbon::{Coverage, Placed, Series, ZoneSeries, cleanest_start, mean_intensity};
use serde::Serialize;

/// What-if: the run's repetitions moved, all by one shift, to the cleanest window.
#[derive(Clone, Debug, Serialize)]
pub struct Cleanest {
    /// Start of the window (UTC, a whole hour): where the first repetition would start.
    pub start_utc: String,
    /// Length of the window (s): first repetition's start to last one's end.
    pub span_s: f64,
    /// The energy-weighted intensity the repetitions meet there (gCO2eq/kWh).
    pub intensity_g_per_kwh: f64,
    /// Emissions of the run's usable repetitions there (gCO2eq, PUE included).
    pub run_gco2e: f64,
    /// Saving against the run as measured (%); `None` when a repetition was outside the
    /// series.
    pub saving_pct: Option<f64>,
}

/// What-if: the run's repetitions at the same hours in another zone.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneWhatIf {
    /// Zone id.
    pub zone: String,
    /// Emissions of the run's usable repetitions there (gCO2eq, PUE included), or why
    /// they are not known.
    pub run_gco2e: Result<f64, String>,
}

/// The cleanest window of the run's zone for the run's repetitions as laid out, with its
/// start instant; `run_g` is the run's emissions as measured, when wholly from the series.
pub(super) fn cleanest(
    reps: &[RepWindow],
    zone: &ZoneSeries,
    pue: f64,
    run_g: Option<f64>,
) -> Result<(DateTime<Utc>, Cleanest), String> {
    let (Some(first), Some(last)) = (
        reps.iter().map(|r| r.start).min(),
        reps.iter().map(|r| r.end).max(),
    ) else {
        return Err("no usable repetition".into());
    };
    let pieces: Vec<Placed> = reps
        .iter()
        .map(|r| Placed {
            offset: r.start - first,
            length: r.end - r.start,
            energy: r.energy_j,
        })
        .collect();
    let span = last - first;
    let (start, intensity) = cleanest_start(zone, &pieces, span, None).ok_or_else(|| {
        format!(
            "the series ({} hours) has no window of {:.0} s (the run's span)",
            zone.values.len(),
            span.num_milliseconds() as f64 / 1000.0
        )
    })?;
    let energy_kwh: f64 = reps.iter().map(|r| r.energy_j).sum::<f64>() / J_PER_KWH;
    // Candidate starts are whole hours (where a scheduler would start a job) and the run's
    // own start, so the what-if is never worse than what happened.
    let (start, intensity) = match run_g {
        Some(g) if energy_kwh * pue > 0.0 && g / (energy_kwh * pue) < intensity => {
            (first, g / (energy_kwh * pue))
        }
        _ => (start, intensity),
    };
    let run_gco2e = energy_kwh * pue * intensity;
    Ok((
        start,
        Cleanest {
            start_utc: records::carbon::format_hour(start),
            span_s: span.num_milliseconds() as f64 / 1000.0,
            intensity_g_per_kwh: intensity,
            run_gco2e,
            saving_pct: run_g.and_then(|g| saving(g, run_gco2e)),
        },
    ))
}

/// The run's repetitions at the same hours in every zone but the run's.
pub(super) fn zones(reps: &[RepWindow], series: &Series, own: &str, pue: f64) -> Vec<ZoneWhatIf> {
    series
        .zones
        .iter()
        .filter(|(z, _)| z.as_str() != own)
        .map(|(z, zs)| {
            let mut g = 0.0;
            for r in reps {
                match mean_intensity(zs, r.start, r.end) {
                    Coverage::Covered(v) => g += r.energy_j / J_PER_KWH * pue * v,
                    Coverage::Outside(at) => {
                        return ZoneWhatIf {
                            zone: z.clone(),
                            run_gco2e: Err(format!(
                                "outside the series from {}",
                                records::carbon::format_hour(at)
                            )),
                        };
                    }
                }
            }
            ZoneWhatIf {
                zone: z.clone(),
                run_gco2e: Ok(g),
            }
        })
        .collect()
}

/// Sets a configuration's what-if columns: its gCO2eq per 1,000 in the cleanest window
/// (its repetitions moved by the run's `shift` to the window starting `start_utc`) with the
/// saving against `actual`, and in each other zone at the same hours.
pub(super) fn fill_row(
    row: &mut SummaryRow,
    mine: &[&RepWindow],
    series: &Series,
    own: &str,
    pue: f64,
    actual: Option<f64>,
    cleanest: Option<(&str, Duration)>,
) {
    if let (Some((start_utc, shift)), Some(zone)) = (cleanest, series.zone(own)) {
        row.whatif_cleanest_start_utc = start_utc.to_string();
        let whatif = per_1000(mine, zone, shift, pue);
        row.whatif_cleanest_gco2e_per_1000 = whatif;
        row.whatif_cleanest_saving_pct = match (actual, whatif) {
            (Some(a), Some(w)) => saving(a, w),
            _ => None,
        };
    }
    let others: Vec<String> = series
        .zones
        .iter()
        .filter(|(z, _)| z.as_str() != own)
        .map(|(z, zs)| match per_1000(mine, zs, Duration::zero(), pue) {
            Some(g) => format!("{z}={g}"),
            None => format!("{z}=outside-series"),
        })
        .collect();
    row.whatif_other_zones_gco2e_per_1000 = others.join(";");
}

/// Mean over repetitions of gCO2eq per 1,000 inferences with each window moved by
/// `shift`; `None` when one falls outside `zone`.
pub(super) fn per_1000(
    mine: &[&RepWindow],
    zone: &ZoneSeries,
    shift: Duration,
    pue: f64,
) -> Option<f64> {
    let mut sum = 0.0;
    for r in mine {
        match mean_intensity(zone, r.start + shift, r.end + shift) {
            Coverage::Covered(v) => sum += r.kwh_per_1000() * pue * v,
            Coverage::Outside(_) => return None,
        }
    }
    Some(sum / mine.len() as f64)
}

/// `(actual − what-if) / actual` in %; `None` when the actual is not above 0.
fn saving(actual: f64, whatif: f64) -> Option<f64> {
    (actual > 0.0).then(|| 100.0 * (actual - whatif) / actual)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn a_run_no_whole_hour_beats_is_its_own_cleanest_window() {
        // Hours at 50, 0 and 100. A 1.5 h run from 00:30 meets 50 for half an hour and 0
        // for an hour: 16.7 g/kWh. Whole-hour starts: 00:00 meets 50 for an hour and 0 for
        // half an hour (33.3); 01:00 would run past the series' end.
        let t0 = Utc
            .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        let zone = ZoneSeries {
            start: t0,
            values: vec![50.0, 0.0, 100.0],
        };
        let start = t0 + Duration::minutes(30);
        let reps = [RepWindow {
            config: 0,
            number: 1,
            start,
            end: start + Duration::minutes(90),
            energy_j: 3.6e6,
            requests: 1000,
        }];
        let own = (50.0 * 0.5 + 0.0 * 1.0) / 1.5;
        // The run as measured, wholly from the series: 1 kWh × PUE 1 × its intensity.
        let (at, c) = cleanest(&reps, &zone, 1.0, Some(own)).expect("a window");
        assert_eq!(at, start, "no whole hour beats the run's own start");
        assert!((c.intensity_g_per_kwh - own).abs() < 1e-9);
        assert_eq!(c.saving_pct, Some(0.0), "never a negative saving");
        // Without the run's own figure (partly outside the series), whole hours only.
        let (at, c) = cleanest(&reps, &zone, 1.0, None).expect("a window");
        assert_eq!(at, t0);
        assert!((c.intensity_g_per_kwh - 50.0 / 1.5).abs() < 1e-9);
        assert_eq!(c.saving_pct, None);
    }
}
