//! `[carbon] series` and `zone`: the hourly intensity series, read and checked with the
//! suite, and the zone the run happens in.

use super::SuiteError;
use super::error::SourceText;
use super::file::SuiteFile;
use super::keys::{Step, value_span};
use records::carbon::{Basis, Series};
use std::path::{Path, PathBuf};

/// A suite's hourly intensity series with the zone its run happens in.
#[derive(Clone, Debug)]
pub struct CarbonSeries {
    /// The files, resolved against the suite's folder, in the order read.
    pub paths: Vec<PathBuf>,
    /// The zone the run happens in.
    pub zone: String,
    /// The Electricity Maps column read.
    pub basis: Basis,
    /// Every zone's hours.
    pub series: Series,
}

/// Reads `[carbon] series` (relative to `dir`) and checks `[carbon] zone` against it.
pub(super) fn load(
    src: SourceText<'_>,
    spec: &SuiteFile,
    dir: &Path,
) -> Result<Option<CarbonSeries>, SuiteError> {
    let c = &spec.carbon;
    let at = |key: &str, message: String| {
        let span = value_span(src.text, &[Step::Key("carbon"), Step::Key(key)]).unwrap_or(0..0);
        src.error_at(span, Some(&format!("carbon.{key}")), message)
    };
    let Some(files) = &c.series else {
        if c.zone.is_some() {
            return Err(at(
                "zone",
                "`zone` names a zone of an hourly intensity series, but [carbon] has no `series`: add series = \"carbon/sample.csv\" (relative to the suite), or remove `zone`".into(),
            ));
        }
        return Ok(None);
    };
    let paths: Vec<PathBuf> = files.paths().iter().map(|p| dir.join(p)).collect();
    if paths.is_empty() {
        return Err(at(
            "series",
            "expected a CSV file or a list of them, e.g. series = [\"carbon/DE-2023.csv\", \"carbon/FR-2023.csv\"], found an empty list".into(),
        ));
    }
    for p in &paths {
        if !p.is_file() {
            return Err(at(
                "series",
                format!(
                    "intensity series {} not found (paths are relative to the suite file's folder)",
                    p.display()
                ),
            ));
        }
    }
    let series = records::carbon::read_files(&paths, c.series_basis).map_err(|e| {
        at(
            "series",
            format!("the intensity series cannot be used: {e}"),
        )
    })?;
    let zone = match &c.zone {
        Some(z) if series.zone(z).is_some() => z.clone(),
        Some(z) => {
            let hint = records::study::closest(z, series.zones.keys().map(String::as_str))
                .map(|near| format!("did you mean {near:?}? "))
                .unwrap_or_default();
            return Err(at(
                "zone",
                format!(
                    "unknown zone {z:?}: the series has {}; {hint}name the zone the run happens in",
                    series.zone_list()
                ),
            ));
        }
        None if series.zones.len() == 1 => series.zones.keys().next().cloned().unwrap_or_default(),
        None => {
            return Err(at(
                "series",
                format!(
                    "the series has several zones ({}): add zone = \"…\" to [carbon], naming the one the run happens in",
                    series.zone_list()
                ),
            ));
        }
    };
    Ok(Some(CarbonSeries {
        paths,
        zone,
        basis: c.series_basis,
        series,
    }))
}
