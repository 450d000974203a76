//! `carbon_intensity.csv`: the `[carbon] series` kept in the run folder from the start, so
//! that `joulebench report` gives each repetition its hour without the suite's files.

use super::RunError;
use crate::suite::Suite;
use records::files::CARBON_INTENSITY_CSV;
use std::path::Path;

/// Writes the whole series (every zone: the report's what-ifs need them) into `dir` when
/// the suite has one and the folder has none yet (a resumed run keeps the series it
/// started with).
pub fn keep(dir: &Path, suite: &Suite) -> Result<(), RunError> {
    let Some(c) = &suite.carbon_series else {
        return Ok(());
    };
    let path = dir.join(CARBON_INTENSITY_CSV);
    if path.exists() {
        return Ok(());
    }
    records::carbon::write(&path, &c.series).map_err(|e| RunError::OutDir {
        path,
        reason: e.to_string(),
    })
}
