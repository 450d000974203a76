//! Reading intensity series: Electricity Maps hourly exports, or a plain
//! `datetime,zone,intensity` CSV; one or more files, one or more zones each.

use super::{Series, SeriesError, ZoneSeries};
use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The highest intensity accepted (gCO2eq/kWh): above any real grid (lignite is about
/// 1,100), so a larger value is a unit or column mistake.
pub const MAX_INTENSITY: f64 = 5000.0;

/// Which Electricity Maps column a series is read from (a plain CSV has one column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Life-cycle emissions (`Carbon Intensity gCO₂eq/kWh (LCA)` or `(Life cycle)`).
    #[default]
    Lca,
    /// Direct (combustion) emissions (`Carbon Intensity gCO₂eq/kWh (direct)`).
    Direct,
}

impl Basis {
    /// The name used in suite files.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Lca => "lca",
            Basis::Direct => "direct",
        }
    }
}

/// The positions of the three fields a row is read from, and their names in the header.
struct Columns {
    datetime: (usize, String),
    zone: (usize, String),
    intensity: (usize, String),
}

/// Where a zone's latest hour was read.
struct Last {
    hour: DateTime<Utc>,
    path: PathBuf,
    line: u64,
}

/// Reads one series file.
pub fn read(path: &Path, basis: Basis) -> Result<Series, SeriesError> {
    read_files(&[path.to_path_buf()], basis)
}

/// Reads series files in the order given: a zone may continue from one file into the next
/// (e.g. one Electricity Maps export per year), its hours consecutive throughout.
pub fn read_files(paths: &[PathBuf], basis: Basis) -> Result<Series, SeriesError> {
    let mut zones: BTreeMap<String, (ZoneSeries, Last)> = BTreeMap::new();
    for path in paths {
        read_one(path, basis, &mut zones)?;
    }
    Ok(Series {
        zones: zones.into_iter().map(|(k, (z, _))| (k, z)).collect(),
    })
}

fn read_one(
    path: &Path,
    basis: Basis,
    zones: &mut BTreeMap<String, (ZoneSeries, Last)>,
) -> Result<(), SeriesError> {
    let file = |message: String| SeriesError::File {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|cause| SeriesError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| file(format!("cannot read the header: {e}")))?
        .clone();
    let cols = columns(&header, basis).map_err(file)?;
    let mut rows = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| file(format!("cannot read a row: {e}")))?;
        let line = record.position().map_or(0, |p| p.line());
        let at = |(index, name): &(usize, String), message: String| SeriesError::At {
            path: path.to_path_buf(),
            line,
            column: index + 1,
            field: name.clone(),
            message,
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |c: &(usize, String)| record.get(c.0).unwrap_or("").trim();
        let hour = parse_hour(get(&cols.datetime)).map_err(|m| at(&cols.datetime, m))?;
        let zone = get(&cols.zone);
        if zone.is_empty() {
            return Err(at(
                &cols.zone,
                "expected a zone id (e.g. DE, FR, US-CAL-CISO), found an empty field".into(),
            ));
        }
        let value = parse_intensity(get(&cols.intensity)).map_err(|m| at(&cols.intensity, m))?;
        rows += 1;
        let here = Last {
            hour,
            path: path.to_path_buf(),
            line,
        };
        match zones.get_mut(zone) {
            None => {
                zones.insert(
                    zone.to_string(),
                    (
                        ZoneSeries {
                            start: hour,
                            values: vec![value],
                        },
                        here,
                    ),
                );
            }
            Some((series, last)) => {
                order(last, hour, zone).map_err(|m| at(&cols.datetime, m))?;
                series.values.push(value);
                *last = here;
            }
        }
    }
    if rows == 0 {
        return Err(file(
            "the series has no rows; give at least one hour per zone (columns: datetime,zone,intensity, or an Electricity Maps hourly export)".into(),
        ));
    }
    Ok(())
}

/// The columns of either form, by header name (case and spaces ignored).
fn columns(header: &csv::StringRecord, basis: Basis) -> Result<Columns, String> {
    let names: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    let find = |want: &dyn Fn(&str) -> bool| {
        names
            .iter()
            .position(|n| want(n))
            .map(|i| (i, header.get(i).unwrap_or("").trim().to_string()))
    };
    if let Some(datetime) = find(&|n| n == "datetime (utc)") {
        let zone = find(&|n| n == "zone id").ok_or_else(|| {
            "an Electricity Maps export needs a `Zone Id` column; export the hourly data with its zone columns".to_string()
        })?;
        let intensity = match basis {
            Basis::Lca => find(&|n| {
                n.starts_with("carbon intensity") && (n.ends_with("(lca)") || n.ends_with("(life cycle)"))
            }),
            Basis::Direct => find(&|n| n.starts_with("carbon intensity") && n.ends_with("(direct)")),
        }
        .ok_or_else(|| {
            format!(
                "no `Carbon Intensity gCO₂eq/kWh ({})` column for `series_basis = \"{}\"`; export it, or set series_basis to the column the file has (lca or direct)",
                if basis == Basis::Lca { "LCA" } else { "direct" },
                basis.as_str()
            )
        })?;
        return Ok(Columns {
            datetime,
            zone,
            intensity,
        });
    }
    match (
        find(&|n| n == "datetime"),
        find(&|n| n == "zone"),
        find(&|n| n == "intensity"),
    ) {
        (Some(datetime), Some(zone), Some(intensity)) => Ok(Columns {
            datetime,
            zone,
            intensity,
        }),
        _ => Err(format!(
            "the header ({}) is neither an Electricity Maps hourly export (`Datetime (UTC)`, `Zone Id`, `Carbon Intensity gCO₂eq/kWh (LCA)`/`(direct)`) nor the plain form `datetime,zone,intensity`; use one of them (see docs/reporting.md)",
            header.iter().collect::<Vec<_>>().join(",")
        )),
    }
}

/// A whole UTC hour: RFC 3339 (`2024-01-01T00:00:00Z`, any offset) or a time without an
/// offset, taken as UTC (`2024-01-01 00:00:00`, as Electricity Maps writes).
fn parse_hour(text: &str) -> Result<DateTime<Utc>, String> {
    let parsed = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%:z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
                .map(|t| t.and_utc())
        })
        .ok_or_else(|| {
            format!(
                "expected a UTC time such as 2024-01-01 00:00:00 or 2024-01-01T00:00:00Z, found {text:?}; write the hour's start in one of these forms"
            )
        })?;
    if parsed.minute() != 0 || parsed.second() != 0 || parsed.nanosecond() != 0 {
        return Err(format!(
            "expected the start of an hour (minutes and seconds 0), found {text:?}; the series is hourly: give one row per hour, at its start"
        ));
    }
    Ok(parsed)
}

/// An intensity from 0 to [`MAX_INTENSITY`] gCO2eq/kWh.
fn parse_intensity(text: &str) -> Result<f64, String> {
    let range = format!("a number of gCO2eq/kWh from 0 to {MAX_INTENSITY}");
    let value: f64 = text.parse().map_err(|_| {
        format!(
            "expected {range}, found {text:?}; fill the hour (e.g. with the figure of the hour before) or cut the series before it"
        )
    })?;
    if !(value.is_finite() && (0.0..=MAX_INTENSITY).contains(&value)) {
        return Err(format!(
            "expected {range}, found {value}; check the column's unit (gCO2eq/kWh) and fix the value"
        ));
    }
    Ok(value)
}

/// Whether `hour` follows a zone's last hour: the next one, no earlier, no repeat, no gap.
fn order(last: &Last, hour: DateTime<Utc>, zone: &str) -> Result<(), String> {
    let next = last.hour + Duration::hours(1);
    let was = format!(
        "{} (line {} of {})",
        super::format_hour(last.hour),
        last.line,
        last.path.display()
    );
    let now = super::format_hour(hour);
    if hour == next {
        Ok(())
    } else if hour == last.hour {
        Err(format!(
            "duplicate hour {now} of zone {zone}: it is already at {was}; keep one row per zone and hour"
        ))
    } else if hour < last.hour {
        Err(format!(
            "hours of zone {zone} are not in time order: {now} comes after {was}; sort the rows by zone and time (files in time order)"
        ))
    } else {
        let missing = (hour - next).num_hours();
        Err(format!(
            "gap in zone {zone}: {missing} hour(s) missing between {was} and {now}; the series needs every hour: fill the missing hours or cut the series at the gap"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), text).expect("write");
        f
    }

    #[test]
    fn both_forms_read_and_bad_rows_name_line_field_and_fix() {
        let em = file(
            "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage\n\
             2024-01-01 00:00:00,France,France,FR,35.34,56.64,92.78\n\
             2024-01-01 01:00:00,France,France,FR,36.53,58.17,92.56\n",
        );
        let s = read(em.path(), Basis::Lca).expect("reads");
        assert_eq!(
            s.zone("FR").map(|z| z.values.clone()),
            Some(vec![56.64, 58.17])
        );
        let s = read(em.path(), Basis::Direct).expect("reads");
        assert_eq!(
            s.zone("FR").map(|z| z.values.clone()),
            Some(vec![35.34, 36.53])
        );
        let plain =
            file("datetime,zone,intensity\n2024-01-01T00:00:00Z,A,1\n2024-01-01T02:00:00Z,A,2\n");
        let e = read(plain.path(), Basis::Lca).expect_err("gap").to_string();
        assert!(
            e.contains(":3:1: field `datetime`: gap in zone A: 1 hour(s) missing"),
            "{e}"
        );
        let bad = file("datetime,zone,intensity\n2024-01-01T00:00:00Z,A,-3\n");
        let e = read(bad.path(), Basis::Lca)
            .expect_err("negative")
            .to_string();
        assert!(
            e.contains(":2:3: field `intensity`: expected a number of gCO2eq/kWh from 0 to 5000"),
            "{e}"
        );
    }
}
