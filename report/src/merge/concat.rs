//! The shards' raw records concatenated into one folder: times laid end to end, and each
//! shard's energy counters visibly restarting, so nothing is interpolated across shards.
//!
//! Times: shard 0 keeps its own; each later shard starts [`SHARD_GAP_NS`] after the
//! previous shard's last time. Energy: `energy_j` in `samples.csv` is cumulative per
//! domain since its source was opened, and per-request energy interpolates it between
//! samples. Between shards nothing was measured, so each shard's energies are raised by an
//! offset that decreases from shard to shard (by more than any shard's largest value),
//! which makes every counter drop at every shard boundary; with the first sample of each
//! domain in a shard carrying no `power_w`, the report treats the span between shards as
//! unknown energy, as it does any counter that was reopened.

use super::RAW_FILES;
use crate::ReportError;
use records::files;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Gap left between two shards on the merged timeline (ns).
pub const SHARD_GAP_NS: u64 = 1_000_000_000;

/// Margin (J) by which each counter drops at a shard boundary, at least.
const ENERGY_DROP_J: f64 = 1.0;

/// What was added to each shard's records, in shard order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shifts {
    /// Added to every `t_*_ns` (ns).
    pub t_offset_ns: Vec<u64>,
    /// Added to every `energy_j` of `samples.csv` (J).
    pub energy_offset_j: Vec<f64>,
}

/// Appends every shard's raw records to the files in `out`, in the order of `dirs`.
pub fn concatenate(dirs: &[&Path], out: &Path) -> Result<Shifts, ReportError> {
    let energy_offset_j = energy_offsets(dirs)?;
    let mut writers: BTreeMap<&str, csv::Writer<std::fs::File>> = BTreeMap::new();
    let mut t_offset_ns = Vec::new();
    let mut offset = 0u64;
    for (dir, &energy_offset) in dirs.iter().zip(&energy_offset_j) {
        t_offset_ns.push(offset);
        let mut last = offset;
        for name in RAW_FILES {
            let path = dir.join(name);
            if !super::is_nonempty(&path) {
                continue;
            }
            let mut reader = records::table_io::open(&path)?;
            let header = reader.headers().map_err(csv_err(&path))?.clone();
            let writer = match writers.entry(name) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let target = out.join(name);
                    let mut w = csv::Writer::from_path(&target).map_err(csv_err(&target))?;
                    w.write_record(&header).map_err(csv_err(&target))?;
                    e.insert(w)
                }
            };
            let mut shift = RowShift::new(&header, &path, offset, energy_offset, name);
            let mut record = csv::StringRecord::new();
            let mut fields: Vec<String> = Vec::new();
            while reader.read_record(&mut record).map_err(csv_err(&path))? {
                fields.clear();
                fields.extend(record.iter().map(str::to_string));
                let line = record.position().map_or(0, |p| p.line());
                last = last.max(shift.apply(&mut fields, line)?);
                writer
                    .write_record(&fields)
                    .map_err(csv_err(&out.join(name)))?;
            }
        }
        offset = last.saturating_add(SHARD_GAP_NS);
        append_answers(dir, out)?;
    }
    for (name, mut w) in writers {
        w.flush().map_err(|source| records::RecordsError::Io {
            path: out.join(name),
            cause: source,
        })?;
    }
    Ok(Shifts {
        t_offset_ns,
        energy_offset_j,
    })
}

/// Appends a shard's `answers.jsonl` (no times or energies in it) to the merged one.
fn append_answers(dir: &Path, out: &Path) -> Result<(), ReportError> {
    let path = dir.join(files::ANSWERS_JSONL);
    if !super::is_nonempty(&path) {
        return Ok(());
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| ReportError::from(records::RecordsError::Io { path, cause })
    };
    let mut bytes = std::fs::read(&path).map_err(io(&path))?;
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    let target = out.join(files::ANSWERS_JSONL);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&target)
        .map_err(io(&target))?;
    std::io::Write::write_all(&mut file, &bytes).map_err(io(&target))
}

fn csv_err(path: &Path) -> impl Fn(csv::Error) -> ReportError + use<> {
    let path = path.to_path_buf();
    move |source| {
        ReportError::from(records::RecordsError::Csv {
            path: path.clone(),
            cause: source,
        })
    }
}

/// Energy offset of each shard: the last shard's is 0, and each earlier one's exceeds the
/// next one's by that shard's largest `energy_j` plus [`ENERGY_DROP_J`].
fn energy_offsets(dirs: &[&Path]) -> Result<Vec<f64>, ReportError> {
    let mut offsets = vec![0.0; dirs.len()];
    for k in (1..dirs.len()).rev() {
        offsets[k - 1] = offsets[k] + largest_energy(dirs[k])? + ENERGY_DROP_J;
    }
    Ok(offsets)
}

/// The largest `energy_j` in a shard's `samples.csv` (0 when it has none).
fn largest_energy(dir: &Path) -> Result<f64, ReportError> {
    let path = dir.join(files::SAMPLES_CSV);
    if !super::is_nonempty(&path) {
        return Ok(0.0);
    }
    let mut reader = records::table_io::open(&path)?;
    let header = reader.headers().map_err(csv_err(&path))?.clone();
    let Some(col) = header.iter().position(|h| h == "energy_j") else {
        return Ok(0.0);
    };
    let mut largest = 0.0f64;
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_err(&path))? {
        let energy = record.get(col).and_then(|v| v.parse::<f64>().ok());
        if let Some(e) = energy.filter(|e| e.is_finite()) {
            largest = largest.max(e.abs());
        }
    }
    Ok(largest)
}

/// How the rows of one file of one shard change.
struct RowShift {
    path: PathBuf,
    header: Vec<String>,
    times: Vec<usize>,
    t_offset_ns: u64,
    /// `energy_j`, `power_w`, `source`, `domain` columns, for `samples.csv` only.
    energy: Option<(usize, Option<usize>, usize, usize)>,
    energy_offset_j: f64,
    seen: BTreeSet<(String, String)>,
}

impl RowShift {
    fn new(
        header: &csv::StringRecord,
        path: &Path,
        t_offset_ns: u64,
        energy_offset_j: f64,
        name: &str,
    ) -> Self {
        let col = |n: &str| header.iter().position(|h| h == n);
        let energy = if name == files::SAMPLES_CSV {
            match (col("energy_j"), col("source"), col("domain")) {
                (Some(e), Some(s), Some(d)) => Some((e, col("power_w"), s, d)),
                _ => None,
            }
        } else {
            None
        };
        Self {
            path: path.to_path_buf(),
            header: header.iter().map(str::to_string).collect(),
            times: header
                .iter()
                .enumerate()
                .filter(|(_, h)| h.starts_with("t_") && h.ends_with("_ns"))
                .map(|(i, _)| i)
                .collect(),
            t_offset_ns,
            energy,
            energy_offset_j,
            seen: BTreeSet::new(),
        }
    }

    /// Shifts one row in place; returns its latest shifted time.
    fn apply(&mut self, fields: &mut [String], line: u64) -> Result<u64, ReportError> {
        let mut last = 0;
        for &i in &self.times {
            if fields[i].is_empty() {
                continue;
            }
            let t: u64 = fields[i]
                .parse()
                .map_err(|_| self.bad(line, i, "a time in ns"))?;
            let shifted = t.saturating_add(self.t_offset_ns);
            last = last.max(shifted);
            fields[i] = shifted.to_string();
        }
        if let Some((e, power, source, domain)) = self.energy {
            if !fields[e].is_empty() {
                let energy: f64 = fields[e]
                    .parse()
                    .map_err(|_| self.bad(line, e, "an energy in J"))?;
                fields[e] = (energy + self.energy_offset_j).to_string();
            }
            let key = (fields[source].clone(), fields[domain].clone());
            if let Some(p) = power.filter(|_| !self.seen.contains(&key)) {
                // Nothing was measured since the previous shard's sample of this domain.
                fields[p].clear();
            }
            self.seen.insert(key);
        }
        Ok(last)
    }

    fn bad(&self, line: u64, i: usize, what: &str) -> ReportError {
        ReportError::from(records::RecordsError::Field {
            path: self.path.clone(),
            line,
            field: self.header.get(i).cloned().unwrap_or_default(),
            message: format!(
                "not {what}; repair the shard (`joulebench run --resume` repairs torn rows)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(root: &Path, name: &str, samples: &str, requests: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(files::SAMPLES_CSV), samples).expect("samples");
        std::fs::write(dir.join(files::REQUESTS_CSV), requests).expect("requests");
        dir
    }

    fn rows(path: &Path) -> Vec<Vec<String>> {
        csv::Reader::from_path(path)
            .expect("open")
            .records()
            .map(|r| r.expect("row").iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn times_lie_end_to_end_and_counters_drop_at_each_boundary() {
        let root = tempfile::tempdir().expect("temp dir");
        let header = "t_ns,source,domain,provenance,energy_j,power_w\n";
        // Shard a: a tiny run (0.5 J at most); shard b starts with a larger counter, and its
        // first sample states a power it cannot know across the gap.
        let a = shard(
            root.path(),
            "a",
            &format!("{header}10,s,cpu,measured,0.1,\n20,s,cpu,measured,0.5,40\n"),
            "config,t_start_ns,t_end_ns\nx@d,12,25\n",
        );
        let b = shard(
            root.path(),
            "b",
            &format!("{header}5,s,cpu,measured,2.0,99\n15,s,cpu,measured,3.0,100\n"),
            "config,t_start_ns,t_end_ns\ny@d,6,14\n",
        );
        let out = root.path().join("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        let shifts = concatenate(&[&a, &b], &out).expect("concatenate");
        assert_eq!(shifts.t_offset_ns, vec![0, 25 + SHARD_GAP_NS]);
        assert_eq!(shifts.energy_offset_j, vec![3.0 + ENERGY_DROP_J, 0.0]);

        let samples = rows(&out.join(files::SAMPLES_CSV));
        let times: Vec<u64> = samples.iter().map(|r| r[0].parse().expect("t")).collect();
        let b0 = 25 + SHARD_GAP_NS;
        assert_eq!(times, vec![10, 20, b0 + 5, b0 + 15]);
        let energy: Vec<f64> = samples.iter().map(|r| r[4].parse().expect("e")).collect();
        assert_eq!(energy, vec![4.1, 4.5, 2.0, 3.0]);
        assert!(energy[2] < energy[1], "the counter drops at the boundary");
        let power: Vec<&str> = samples.iter().map(|r| r[5].as_str()).collect();
        assert_eq!(power, vec!["", "40", "", "100"]);

        let requests = rows(&out.join(files::REQUESTS_CSV));
        assert_eq!(requests[0], vec!["x@d", "12", "25"]);
        assert_eq!(
            requests[1],
            vec![
                "y@d".to_string(),
                (b0 + 6).to_string(),
                (b0 + 14).to_string()
            ]
        );
    }

    #[test]
    fn a_bad_time_names_file_line_and_column() {
        let root = tempfile::tempdir().expect("temp dir");
        let a = shard(
            root.path(),
            "a",
            "t_ns,source,domain,provenance,energy_j,power_w\n",
            "config,t_start_ns,t_end_ns\nx@d,12,soon\n",
        );
        let out = root.path().join("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        let e = concatenate(&[&a], &out).expect_err("bad time").to_string();
        assert!(
            e.contains("requests.csv") && e.contains("line 2") && e.contains("t_end_ns"),
            "{e}"
        );
    }
}
