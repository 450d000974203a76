//! The run folder's copy of a series, in the plain form (`datetime,zone,intensity`).

use super::{Series, SeriesError, format_hour};
use chrono::Duration;
use std::path::Path;

/// Writes `series` to `path` in the plain form, zone by zone, hour by hour; numbers are
/// written so they read back exactly.
pub fn write(path: &Path, series: &Series) -> Result<(), SeriesError> {
    let io = |cause: std::io::Error| SeriesError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut row = |fields: [&str; 3]| out.write_record(fields).map_err(|e| io(e.into()));
    row(["datetime", "zone", "intensity"])?;
    for (zone, z) in &series.zones {
        for (i, v) in z.values.iter().enumerate() {
            let hour = format_hour(z.start + Duration::hours(i as i64));
            row([&hour, zone, &v.to_string()])?;
        }
    }
    let bytes = out.into_inner().map_err(|e| io(e.into_error()))?;
    std::fs::write(path, bytes).map_err(io)
}
