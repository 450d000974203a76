//! Reading the shards and checking, before a file is written, that they belong together:
//! one suite, one build, one split, each index once, no configuration twice, the same
//! record columns and the same study table.

use super::{MAX_SHARDS, MergeError, RAW_FILES, is_nonempty};
use crate::ReportError;
use records::files;
use records::manifest::RunManifest;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One shard folder, read.
pub(super) struct Shard {
    /// The folder, as given.
    pub dir: PathBuf,
    /// Its run.json.
    pub manifest: RunManifest,
    /// Its index (0-based).
    pub index: u32,
    /// The number of shards of its split.
    pub count: u32,
    /// Configurations listed in run.json or found in its records.
    pub configurations: BTreeSet<String>,
}

/// A value every shard must share: its name in run.json, how to read it, and the fix.
struct Agreement {
    what: &'static str,
    value: fn(&Shard) -> String,
    fix: &'static str,
}

const SAME_SUITE: &str = "merge shards of one suite file";
const SAME_BUILD: &str = "run every shard with the same joulebench build";

/// What shards must agree on, checked in this order.
const AGREEMENTS: [Agreement; 5] = [
    Agreement {
        what: "suite.name",
        value: |s| s.manifest.suite.name.clone(),
        fix: SAME_SUITE,
    },
    Agreement {
        what: "suite.sha256",
        value: |s| s.manifest.suite.sha256.clone(),
        fix: SAME_SUITE,
    },
    Agreement {
        what: "format_version",
        value: |s| s.manifest.format_version.to_string(),
        fix: SAME_BUILD,
    },
    Agreement {
        what: "joulebench_version",
        value: |s| s.manifest.joulebench_version.clone(),
        fix: SAME_BUILD,
    },
    Agreement {
        what: "shard.count",
        value: |s| s.count.to_string(),
        fix: "merge shards of one split (the same --shard .../N)",
    },
];

/// Reads every shard's manifest and checks that they belong together; sorted by index.
pub(super) fn load_shards(dirs: &[PathBuf]) -> Result<Vec<Shard>, MergeError> {
    if dirs.is_empty() {
        return Err(MergeError::NoShards);
    }
    let mut shards = Vec::new();
    for dir in dirs {
        shards.push(load_shard(dir)?);
    }
    let first = &shards[0];
    for other in &shards[1..] {
        for a in &AGREEMENTS {
            let (va, vb) = ((a.value)(first), (a.value)(other));
            if va != vb {
                return Err(MergeError::mismatch(
                    &first.dir,
                    &other.dir,
                    a.what,
                    (va, vb),
                    a.fix,
                ));
            }
        }
    }
    shards.sort_by_key(|s| s.index);
    for pair in shards.windows(2) {
        if pair[0].index == pair[1].index {
            return Err(MergeError::DuplicateShard {
                a: pair[0].dir.clone(),
                b: pair[1].dir.clone(),
                index: pair[0].index,
                count: pair[0].count,
            });
        }
    }
    let mut owner: BTreeMap<&str, &Path> = BTreeMap::new();
    for s in &shards {
        for c in &s.configurations {
            if let Some(a) = owner.insert(c, &s.dir) {
                return Err(MergeError::DuplicateConfiguration {
                    config: c.clone(),
                    a: a.to_path_buf(),
                    b: s.dir.clone(),
                });
            }
        }
    }
    Ok(shards)
}

fn load_shard(dir: &Path) -> Result<Shard, MergeError> {
    let manifest = RunManifest::load(dir)?;
    let Some(info) = manifest.shard.clone() else {
        return Err(MergeError::NotAShard {
            dir: dir.to_path_buf(),
        });
    };
    if info.count == 0 || info.count > MAX_SHARDS || info.index >= info.count {
        return Err(MergeError::BadShard {
            dir: dir.to_path_buf(),
            index: info.index,
            count: info.count,
        });
    }
    let mut configurations: BTreeSet<String> = info.configurations.into_iter().collect();
    configurations.extend(recorded_configurations(dir)?);
    Ok(Shard {
        dir: dir.to_path_buf(),
        manifest,
        index: info.index,
        count: info.count,
        configurations,
    })
}

/// Configuration ids found in a shard's `repetitions.csv` and `requests.csv`.
fn recorded_configurations(dir: &Path) -> Result<BTreeSet<String>, ReportError> {
    let mut ids = BTreeSet::new();
    for name in [files::REPETITIONS_CSV, files::REQUESTS_CSV] {
        let path = dir.join(name);
        if !is_nonempty(&path) {
            continue;
        }
        let mut reader = records::table_io::open(&path)?;
        let csv_err = |source| records::RecordsError::Csv {
            path: path.clone(),
            cause: source,
        };
        let Some(col) = reader
            .headers()
            .map_err(csv_err)?
            .iter()
            .position(|h| h == "config")
        else {
            continue;
        };
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).map_err(csv_err)? {
            if let Some(id) = record.get(col).filter(|id| !ids.contains(*id)) {
                ids.insert(id.to_string());
            }
        }
    }
    Ok(ids)
}

/// Refuses shards whose record files have different columns.
pub(super) fn check_headers(shards: &[Shard]) -> Result<(), MergeError> {
    for name in RAW_FILES {
        let mut first: Option<(&Path, csv::StringRecord)> = None;
        for s in shards {
            let path = s.dir.join(name);
            if !is_nonempty(&path) {
                continue;
            }
            let header = records::table_io::open(&path)?
                .headers()
                .map_err(|source| records::RecordsError::Csv {
                    path: path.clone(),
                    cause: source,
                })?
                .clone();
            match &first {
                None => first = Some((&s.dir, header)),
                Some((dir, want)) if *want != header => {
                    let columns = |h: &csv::StringRecord| {
                        format!("columns {}", h.iter().collect::<Vec<_>>().join(","))
                    };
                    return Err(MergeError::mismatch(
                        dir,
                        &s.dir,
                        name,
                        (columns(want), columns(&header)),
                        SAME_BUILD,
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Refuses shards whose `reference.csv` (the study table, which the suite's SHA-256 does
/// not cover) differ, or that one shard has and another lacks.
pub(super) fn check_reference(shards: &[Shard]) -> Result<(), MergeError> {
    check_same(
        shards,
        files::REFERENCE_CSV,
        "the study table changed between shards; run (or resume) every shard with the same [reference] file",
    )
}

/// Refuses shards whose `carbon_intensity.csv` (the `[carbon] series` copied at each
/// shard's start, which the suite's SHA-256 does not cover) differ, or that one shard has
/// and another lacks: the merged report gives every repetition its hour from one series.
pub(super) fn check_carbon_series(shards: &[Shard]) -> Result<(), MergeError> {
    check_same(
        shards,
        files::CARBON_INTENSITY_CSV,
        "the [carbon] series changed between shards; run every shard with the same series files (copy one shard's carbon_intensity.csv over the others' if their runs overlap the same hours)",
    )
}

/// Refuses shards whose copies of `name` differ, or that one shard has and another lacks.
fn check_same(shards: &[Shard], name: &'static str, fix: &'static str) -> Result<(), MergeError> {
    let read = |s: &Shard| -> Result<Option<String>, ReportError> {
        let path = s.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ReportError::from(records::RecordsError::Io {
                path,
                cause: source,
            })),
        }
    };
    let first = &shards[0];
    let want = read(first)?;
    for other in &shards[1..] {
        let got = read(other)?;
        if got != want {
            return Err(MergeError::mismatch(
                &first.dir,
                &other.dir,
                name,
                first_difference(want.as_deref(), got.as_deref()),
                fix,
            ));
        }
    }
    Ok(())
}

/// The first line where two texts differ, for each side (`absent` for a missing file).
fn first_difference(a: Option<&str>, b: Option<&str>) -> (String, String) {
    let (Some(a), Some(b)) = (a, b) else {
        let say = |t: Option<&str>| if t.is_some() { "present" } else { "absent" };
        return (say(a).into(), say(b).into());
    };
    let mut la = a.lines();
    let mut lb = b.lines();
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (x, y) if x != y => {
                let show = |l: Option<&str>| match l {
                    Some(l) => {
                        let short: String = l.chars().take(60).collect();
                        format!("line {n}: {short:?}")
                    }
                    None => format!("no line {n}"),
                };
                return (show(x), show(y));
            }
            (None, None) => return ("same lines".into(), "other line endings".into()),
            _ => n += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_line_or_absence() {
        assert_eq!(
            first_difference(Some("h\na\nb\n"), Some("h\na\nc\n")),
            (r#"line 3: "b""#.to_string(), r#"line 3: "c""#.to_string())
        );
        assert_eq!(
            first_difference(Some("h\na\n"), Some("h\n")),
            (r#"line 2: "a""#.to_string(), "no line 2".to_string())
        );
        assert_eq!(
            first_difference(None, Some("h\n")),
            ("absent".to_string(), "present".to_string())
        );
    }
}
