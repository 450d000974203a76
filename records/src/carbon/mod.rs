//! Hourly grid carbon intensity series (`[carbon] series`): per zone, one intensity
//! (gCO2eq/kWh) per whole UTC hour with no gaps, read from Electricity Maps exports or a
//! plain `datetime,zone,intensity` CSV, copied into the run folder as
//! [`files::CARBON_INTENSITY_CSV`](crate::files::CARBON_INTENSITY_CSV).

mod apportion;
mod error;
mod parse;
mod window;
mod write;

pub use apportion::{Coverage, mean_intensity};
pub use error::SeriesError;
pub use parse::{Basis, MAX_INTENSITY, read, read_files};
pub use window::{Placed, cleanest_start};
pub use write::write;

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// One zone's hourly intensities: `values[i]` holds for the hour starting `start + i h`.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneSeries {
    /// Start of the first hour (UTC, on the hour).
    pub start: DateTime<Utc>,
    /// Intensity of each hour (gCO2eq/kWh), consecutive hours.
    pub values: Vec<f64>,
}

impl ZoneSeries {
    /// End of the last hour: the series covers `[start, end)`.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::hours(self.values.len() as i64)
    }

    /// The intensity of the hour holding `t`, or `None` outside the series.
    pub fn at(&self, t: DateTime<Utc>) -> Option<f64> {
        let hours = (t - self.start).num_seconds().div_euclid(3600);
        usize::try_from(hours)
            .ok()
            .and_then(|i| self.values.get(i).copied())
    }
}

/// Hourly intensities of one or more zones, by zone id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Each zone's hours.
    pub zones: BTreeMap<String, ZoneSeries>,
}

impl Series {
    /// A zone's hours, by id.
    pub fn zone(&self, id: &str) -> Option<&ZoneSeries> {
        self.zones.get(id)
    }

    /// The zone ids, sorted, joined with `, ` (for messages).
    pub fn zone_list(&self) -> String {
        self.zones.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// An hour as written in the run folder's copy, e.g. `2022-06-01T00:00:00Z`.
pub fn format_hour(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
