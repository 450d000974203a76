//! The cleanest window of a series: where the same work, placed the same way, would have
//! met the lowest intensity.

use super::ZoneSeries;
use super::apportion::{Coverage, mean_intensity};
use chrono::{DateTime, Duration, DurationRound, Utc};

/// A piece of work to place: its start after the work's start, its length and its energy
/// (any unit: only the shares matter).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    /// Start, after the start of the work.
    pub offset: Duration,
    /// Length.
    pub length: Duration,
    /// Energy.
    pub energy: f64,
}

/// The whole hour `S` of `zone`, no earlier than `from` (rounded up to an hour) and with
/// `[S, S + span)` inside the series, at which `pieces` (placed at `S + offset`) meet the
/// lowest energy-weighted intensity; with that intensity (gCO2eq/kWh). The earliest wins a
/// tie. `None` when no whole hour leaves room for `span`, or the pieces have no energy.
pub fn cleanest_start(
    zone: &ZoneSeries,
    pieces: &[Placed],
    span: Duration,
    from: Option<DateTime<Utc>>,
) -> Option<(DateTime<Utc>, f64)> {
    let total: f64 = pieces.iter().map(|p| p.energy).sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let hour = Duration::hours(1);
    let first = match from {
        Some(t) if t > zone.start => {
            let down = t.duration_trunc(hour).ok()?;
            if down < t { down + hour } else { down }
        }
        _ => zone.start,
    };
    let mut best: Option<(DateTime<Utc>, f64)> = None;
    let mut s = first;
    while s + span <= zone.end() {
        let mut weighted = 0.0;
        let mut covered = true;
        for p in pieces {
            let at = s + p.offset;
            match mean_intensity(zone, at, at + p.length) {
                Coverage::Covered(v) => weighted += v * p.energy,
                Coverage::Outside(_) => {
                    covered = false;
                    break;
                }
            }
        }
        let mean = weighted / total;
        if covered && best.is_none_or(|(_, b)| mean < b) {
            best = Some((s, mean));
        }
        s += hour;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::hours(h)
    }

    #[test]
    fn the_valley_is_found_and_a_window_is_apportioned_by_time() {
        // 100 everywhere but hours 10, 11 and 12 at 40.
        let values = (0..24).map(|h| if (10..13).contains(&h) { 40.0 } else { 100.0 });
        let zone = ZoneSeries {
            start: t(0),
            values: values.collect(),
        };
        let work = [Placed {
            offset: Duration::zero(),
            length: Duration::hours(3),
            energy: 1.0,
        }];
        assert_eq!(
            cleanest_start(&zone, &work, Duration::hours(3), None),
            Some((t(10), 40.0))
        );
        // From hour 11 on, the best 3 h starts at 11 and half of... two hours of valley.
        let (start, mean) = cleanest_start(
            &zone,
            &work,
            Duration::hours(3),
            Some(t(10) + Duration::minutes(1)),
        )
        .expect("room");
        assert_eq!(start, t(11));
        assert!((mean - 60.0).abs() < 1e-9, "{mean}");
        // 45 minutes in hour 9 (100) and 15 in hour 10 (40): 85.
        let from = t(9) + Duration::minutes(15);
        assert_eq!(
            mean_intensity(&zone, from, from + Duration::hours(1)),
            Coverage::Covered(85.0)
        );
        assert_eq!(
            mean_intensity(&zone, t(23), t(25)),
            Coverage::Outside(t(24))
        );
        assert_eq!(
            cleanest_start(&zone, &work, Duration::hours(25), None),
            None
        );
    }
}
