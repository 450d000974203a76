//! The intensity of a window: each hour it overlaps, weighted by the time spent in it.

use super::ZoneSeries;
use chrono::{DateTime, Duration, DurationRound, Utc};

/// What a series says about a window.
#[derive(Clone, Debug, PartialEq)]
pub enum Coverage {
    /// The window lies in the series: its time-weighted mean intensity (gCO2eq/kWh).
    Covered(f64),
    /// Part of the window lies outside the series, from this instant on.
    Outside(DateTime<Utc>),
}

/// The mean intensity over `[start, end)`, each hour weighted by the time of the window in
/// it (the energy is taken as spread evenly over the window); a window of no length takes
/// the intensity of the hour holding `start`.
pub fn mean_intensity(zone: &ZoneSeries, start: DateTime<Utc>, end: DateTime<Utc>) -> Coverage {
    if end <= start {
        return match zone.at(start) {
            Some(v) => Coverage::Covered(v),
            None => Coverage::Outside(start),
        };
    }
    let hour = Duration::hours(1);
    let Ok(mut at) = start.duration_trunc(hour) else {
        return Coverage::Outside(start);
    };
    let mut weighted = 0.0;
    while at < end {
        let from = at.max(start);
        let to = (at + hour).min(end);
        let Some(v) = zone.at(at) else {
            return Coverage::Outside(from);
        };
        weighted += v * seconds(to - from);
        at += hour;
    }
    Coverage::Covered(weighted / seconds(end - start))
}

/// A duration in seconds, to the nanosecond.
pub(super) fn seconds(d: Duration) -> f64 {
    d.num_nanoseconds()
        .map_or(d.num_seconds() as f64, |n| n as f64 / 1e9)
}
