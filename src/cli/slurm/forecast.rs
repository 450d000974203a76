//! `slurm --forecast`: the array's `--begin` at the start of the cleanest window of an
//! intensity forecast, as long as the suite is estimated to run, from now on.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use harness::suite::Suite;
use records::carbon::{Basis, Placed, cleanest_start, format_hour};
use std::path::Path;

/// The per-request latency the window's length assumes (s): the middle of the dry run's
/// three estimates.
pub const ASSUMED_LATENCY_S: f64 = 0.1;

/// The longest window sought (h): ten years, longer than any forecast.
pub const MAX_WINDOW_HOURS: u32 = 87_840;

/// The chosen start and what it rests on.
#[derive(Debug)]
pub struct Begin {
    /// The `#SBATCH --begin=` value (UTC, `YYYY-MM-DDTHH:MM:SS`).
    pub sbatch: String,
    /// One line for the user: window, zone, mean intensity, assumption.
    pub note: String,
}

/// The cleanest window of `hours` (or the suite's estimated duration, rounded up to whole
/// hours) in `file`'s zone (`zone`, else the suite's `[carbon] zone`, else its only zone),
/// starting no earlier than `now`.
pub fn begin(
    file: &Path,
    zone: Option<&str>,
    hours: Option<u32>,
    suite: &Suite,
    now: DateTime<Utc>,
) -> anyhow::Result<Begin> {
    let series = records::carbon::read(file, Basis::default())
        .with_context(|| format!("--forecast {}", file.display()))?;
    let wanted = zone
        .map(str::to_string)
        .or_else(|| suite.carbon_series.as_ref().map(|c| c.zone.clone()));
    let (zone_id, z) = match wanted {
        Some(w) => match series.zone(&w) {
            Some(z) => (w, z),
            None => anyhow::bail!(
                "--forecast {}: no zone {w:?} in it (its zones: {}); give --forecast-zone ZONE",
                file.display(),
                series.zone_list()
            ),
        },
        None => match series.zones.iter().next() {
            Some((id, z)) if series.zones.len() == 1 => (id.clone(), z),
            _ => anyhow::bail!(
                "--forecast {}: it has several zones ({}); name one with --forecast-zone ZONE",
                file.display(),
                series.zone_list()
            ),
        },
    };
    let (hours, why) = match hours {
        Some(h) if h == 0 || h > MAX_WINDOW_HOURS => {
            anyhow::bail!("--window-hours {h}: give 1 to {MAX_WINDOW_HOURS} hours")
        }
        Some(h) => (h, "--window-hours".to_string()),
        None => {
            let s = harness::dry_run::estimated_seconds(suite, &suite.plan, ASSUMED_LATENCY_S);
            let h = (s / 3600.0).ceil().max(1.0);
            if !h.is_finite() || h > f64::from(MAX_WINDOW_HOURS) {
                anyhow::bail!(
                    "the suite's estimated duration ({s:.0} s at {} ms/request) is longer than {MAX_WINDOW_HOURS} hours: no forecast covers it; give --window-hours H",
                    ASSUMED_LATENCY_S * 1000.0
                );
            }
            (
                h as u32,
                format!(
                    "estimated: the dry run's {:.0} s for the whole suite at {} ms/request, rounded up to whole hours (an upper bound when the shards run at once; set --window-hours to override)",
                    s,
                    ASSUMED_LATENCY_S * 1000.0
                ),
            )
        }
    };
    let span = Duration::hours(i64::from(hours));
    let work = [Placed {
        offset: Duration::zero(),
        length: span,
        energy: 1.0,
    }];
    let Some((start, mean)) = cleanest_start(z, &work, span, Some(now)) else {
        anyhow::bail!(
            "--forecast {}: zone {zone_id} covers {} to {} UTC, which holds no {hours}-hour window from now ({} UTC) on; give a forecast reaching at least {} UTC, or a shorter --window-hours",
            file.display(),
            format_hour(z.start),
            format_hour(z.end()),
            format_hour(now),
            format_hour(now + span + Duration::hours(1))
        );
    };
    Ok(Begin {
        sbatch: start.format("%Y-%m-%dT%H:%M:%S").to_string(),
        note: format!(
            "begin: {} UTC, the cleanest {hours}-hour window of {} (zone {zone_id}, mean {mean:.1} gCO2eq/kWh, forecast); window length {why}",
            format_hour(start),
            file.display()
        ),
    })
}
