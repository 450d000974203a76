//! `joulebench report --merge`: the results folders of a sharded run become one folder.
//!
//! Shards must be of one suite (name and SHA-256), one results format and one joulebench
//! version, split into the same number of shards, each index given once, and no
//! configuration in two shards; anything else is refused before a file is written.
//! Missing shards are not refused: the merged run is written, marked `interrupted`, with
//! the missing indices in `run.json` (`merged.missing`) and in [`Merged::warnings`].
//!
//! Raw records are concatenated in shard order ([`concat`]). Monotonic clocks of different
//! hosts (or of one host at different times) have unrelated zeros, so the shards'
//! timelines are laid end to end, and each shard's energy counters restart: times in a
//! merged folder order the records of one shard; across shards they mean nothing.

mod concat;
mod hosts;

pub use concat::{SHARD_GAP_NS, Shifts};
pub use hosts::{HostRecord, hosts, label_hosts};

use crate::ReportError;
use crate::files;
use crate::manifest::{MergeInfo, MergedShard, RunManifest, RunStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The raw record files a merge concatenates (derived files are rebuilt by the report).
pub const RAW_FILES: [&str; 6] = [
    files::REQUESTS_CSV,
    files::SAMPLES_CSV,
    files::CONTEXT_CSV,
    files::BASELINES_CSV,
    files::REPETITIONS_CSV,
    files::SAMPLER_GAPS_CSV,
];

/// Files every shard of one suite holds identically, copied from the first that has one.
pub const COPIED_FILES: [&str; 2] = [files::SUITE_COPY, files::REFERENCE_CSV];

/// Why shards could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file could not be read or written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// No folder was given.
    #[error("give the results folders of the shards to merge: --merge DIR...")]
    NoShards,
    /// A folder is not a shard.
    #[error(
        "{}: run.json has no `shard`: it is not one shard of a sharded run; merge folders written by `joulebench run --shard I/N`",
        dir.display()
    )]
    NotAShard {
        /// The folder.
        dir: PathBuf,
    },
    /// Two shards differ where they must agree.
    #[error(transparent)]
    Mismatch(Box<Mismatch>),
    /// One shard index given twice.
    #[error(
        "{} and {} are both shard {index} of {count}; give each shard once",
        a.display(),
        b.display()
    )]
    DuplicateShard {
        /// The first folder.
        a: PathBuf,
        /// The other folder.
        b: PathBuf,
        /// The index.
        index: u32,
        /// The number of shards.
        count: u32,
    },
    /// One configuration in two shards.
    #[error(
        "configuration {config} is in both {} and {}; shards of one split never share a configuration, so one of them was run with another split",
        a.display(),
        b.display()
    )]
    DuplicateConfiguration {
        /// The configuration id.
        config: String,
        /// The first folder.
        a: PathBuf,
        /// The other folder.
        b: PathBuf,
    },
    /// The output folder is in the way.
    #[error("{}: {reason}; choose another --out", dir.display())]
    Out {
        /// The folder.
        dir: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
}

/// A field two shards must agree on, and its two values.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} and {} cannot be merged: {what} differs ({va} vs {vb}); {fix}",
    a.display(),
    b.display()
)]
pub struct Mismatch {
    /// The first folder.
    pub a: PathBuf,
    /// The other folder.
    pub b: PathBuf,
    /// The field that differs, as named in run.json (or the record file).
    pub what: &'static str,
    /// Its value in `a`.
    pub va: String,
    /// Its value in `b`.
    pub vb: String,
    /// What to do.
    pub fix: &'static str,
}

/// What a merge wrote.
#[derive(Debug)]
pub struct Merged {
    /// The merged folder's manifest.
    pub manifest: RunManifest,
    /// Things the user must know: missing shards, shards that did not complete.
    pub warnings: Vec<String>,
}

struct Shard {
    dir: PathBuf,
    manifest: RunManifest,
    index: u32,
    count: u32,
    configurations: BTreeSet<String>,
}

/// Merges the shard folders `dirs` into `out` (created; must be new or empty). Derived
/// files (summary, plots) are not written: render the merged folder afterwards.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, MergeError> {
    let shards = load_shards(dirs)?;
    check_headers(&shards)?;
    prepare_out(out, &shards)?;
    let count = shards[0].count;
    let present: BTreeSet<u32> = shards.iter().map(|s| s.index).collect();
    let missing: Vec<u32> = (0..count).filter(|i| !present.contains(i)).collect();

    for name in COPIED_FILES {
        if let Some(s) = shards.iter().find(|s| s.dir.join(name).exists()) {
            copy(&s.dir.join(name), &out.join(name))?;
        }
    }
    let dirs: Vec<&Path> = shards.iter().map(|s| s.dir.as_path()).collect();
    let shifts = concat::concatenate(&dirs, out)?;
    copy_server_logs(&shards, out)?;
    hosts::write(
        out,
        shards.iter().flat_map(|s| {
            s.configurations
                .iter()
                .map(|c| (c.as_str(), s.index, s.manifest.host.hostname.as_str()))
        }),
    )?;

    let mut warnings = Vec::new();
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(u32::to_string).collect();
        warnings.push(format!(
            "missing shard(s) {} of {count}: the merged run lacks their configurations; run them (e.g. `sbatch --array={}` of the same script, or `joulebench run --shard I/{count}`) and merge again",
            list.join(", "),
            list.join(",")
        ));
    }
    for s in &shards {
        if s.manifest.status != RunStatus::Complete {
            warnings.push(format!(
                "shard {} ({}) is {}: {}; `joulebench run --resume {}` completes it, then merge again",
                s.index,
                s.dir.display(),
                status_word(s.manifest.status),
                s.manifest
                    .status_reason
                    .as_deref()
                    .unwrap_or("no reason recorded"),
                s.dir.display()
            ));
        }
    }
    let manifest = merged_manifest(&shards, &shifts, missing, &warnings);
    manifest.save(out)?;
    Ok(Merged { manifest, warnings })
}

fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running (or died without a word)",
        RunStatus::Complete => "complete",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Failed => "failed",
    }
}

/// Reads every shard's manifest and checks that they belong together.
fn load_shards(dirs: &[PathBuf]) -> Result<Vec<Shard>, MergeError> {
    if dirs.is_empty() {
        return Err(MergeError::NoShards);
    }
    let mut shards = Vec::new();
    for dir in dirs {
        let manifest = RunManifest::load(dir)?;
        let Some(info) = manifest.shard.clone() else {
            return Err(MergeError::NotAShard { dir: dir.clone() });
        };
        let mut configurations: BTreeSet<String> = info.configurations.into_iter().collect();
        configurations.extend(recorded_configurations(dir)?);
        shards.push(Shard {
            dir: dir.clone(),
            manifest,
            index: info.index,
            count: info.count,
            configurations,
        });
    }
    let first = &shards[0];
    for other in &shards[1..] {
        let (a, b) = (&first.manifest, &other.manifest);
        let mismatch = |what, va: String, vb: String, fix| {
            MergeError::Mismatch(Box::new(Mismatch {
                a: first.dir.clone(),
                b: other.dir.clone(),
                what,
                va,
                vb,
                fix,
            }))
        };
        const SAME_SUITE: &str = "merge shards of one suite file";
        const SAME_BUILD: &str = "run every shard with the same joulebench build";
        if a.suite.name != b.suite.name {
            return Err(mismatch(
                "suite.name",
                a.suite.name.clone(),
                b.suite.name.clone(),
                SAME_SUITE,
            ));
        }
        if a.suite.sha256 != b.suite.sha256 {
            return Err(mismatch(
                "suite.sha256",
                a.suite.sha256.clone(),
                b.suite.sha256.clone(),
                SAME_SUITE,
            ));
        }
        if a.format_version != b.format_version {
            return Err(mismatch(
                "format_version",
                a.format_version.to_string(),
                b.format_version.to_string(),
                SAME_BUILD,
            ));
        }
        if a.joulebench_version != b.joulebench_version {
            return Err(mismatch(
                "joulebench_version",
                a.joulebench_version.clone(),
                b.joulebench_version.clone(),
                SAME_BUILD,
            ));
        }
        if first.count != other.count {
            return Err(mismatch(
                "shard.count",
                first.count.to_string(),
                other.count.to_string(),
                "merge shards of one split (the same --shard .../N)",
            ));
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

/// Configuration ids found in a shard's `repetitions.csv` and `requests.csv`.
fn recorded_configurations(dir: &Path) -> Result<BTreeSet<String>, ReportError> {
    let mut ids = BTreeSet::new();
    for name in [files::REPETITIONS_CSV, files::REQUESTS_CSV] {
        let path = dir.join(name);
        if !is_nonempty(&path) {
            continue;
        }
        let mut reader = crate::table_io::open(&path)?;
        let csv_err = |source| ReportError::Csv {
            path: path.clone(),
            source,
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

/// Whether a file exists and holds at least one byte.
fn is_nonempty(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// Refuses shards whose record files have different columns.
fn check_headers(shards: &[Shard]) -> Result<(), MergeError> {
    for name in RAW_FILES {
        let mut first: Option<(&Path, csv::StringRecord)> = None;
        for s in shards {
            let path = s.dir.join(name);
            if !is_nonempty(&path) {
                continue;
            }
            let header = crate::table_io::open(&path)?
                .headers()
                .map_err(|source| ReportError::Csv {
                    path: path.clone(),
                    source,
                })?
                .clone();
            match &first {
                None => first = Some((&s.dir, header)),
                Some((dir, want)) if *want != header => {
                    return Err(MergeError::Mismatch(Box::new(Mismatch {
                        a: dir.to_path_buf(),
                        b: s.dir.clone(),
                        what: name,
                        va: format!("columns {}", want.iter().collect::<Vec<_>>().join(",")),
                        vb: format!("columns {}", header.iter().collect::<Vec<_>>().join(",")),
                        fix: "run every shard with the same joulebench build",
                    })));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

fn prepare_out(out: &Path, shards: &[Shard]) -> Result<(), MergeError> {
    let err = |reason: String| MergeError::Out {
        dir: out.to_path_buf(),
        reason,
    };
    if let Ok(canon) = std::fs::canonicalize(out) {
        if shards
            .iter()
            .any(|s| std::fs::canonicalize(&s.dir).is_ok_and(|d| d == canon))
        {
            return Err(err("is one of the shards being merged".into()));
        }
        let mut entries = std::fs::read_dir(out).map_err(|e| err(e.to_string()))?;
        if entries.next().is_some() {
            return Err(err("already exists and is not empty".into()));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| err(format!("cannot create: {e}")))
}

fn copy(from: &Path, to: &Path) -> Result<(), ReportError> {
    if !from.exists() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| ReportError::Io {
            path: to.to_path_buf(),
            source,
        })
}

/// Copies `servers/NAME.log` of shard I to `servers/shard-I/NAME.log`.
fn copy_server_logs(shards: &[Shard], out: &Path) -> Result<(), ReportError> {
    for s in shards {
        let from = s.dir.join(files::SERVER_LOGS_DIR);
        let Ok(entries) = std::fs::read_dir(&from) else {
            continue;
        };
        let to = out
            .join(files::SERVER_LOGS_DIR)
            .join(format!("shard-{}", s.index));
        std::fs::create_dir_all(&to).map_err(|source| ReportError::Io {
            path: to.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                copy(&entry.path(), &to.join(entry.file_name()))?;
            }
        }
    }
    Ok(())
}

fn merged_manifest(
    shards: &[Shard],
    shifts: &Shifts,
    missing: Vec<u32>,
    warnings: &[String],
) -> RunManifest {
    let mut m = shards[0].manifest.clone();
    m.shard = None;
    for s in &shards[1..] {
        for p in &s.manifest.probes {
            if !m.probes.iter().any(|q| q.name == p.name) {
                m.probes.push(p.clone());
            }
        }
        for p in &s.manifest.missing_probes {
            if !m.missing_probes.contains(p) {
                m.missing_probes.push(p.clone());
            }
        }
    }
    m.started_utc = shards
        .iter()
        .map(|s| s.manifest.started_utc.clone())
        .min()
        .unwrap_or_default();
    m.ended_utc = shards
        .iter()
        .map(|s| s.manifest.ended_utc.clone())
        .collect::<Option<Vec<_>>>()
        .and_then(|ends| ends.into_iter().max());
    let failed = shards
        .iter()
        .any(|s| s.manifest.status == RunStatus::Failed);
    m.status = if failed {
        RunStatus::Failed
    } else if missing.is_empty()
        && shards
            .iter()
            .all(|s| s.manifest.status == RunStatus::Complete)
    {
        RunStatus::Complete
    } else {
        RunStatus::Interrupted
    };
    m.status_reason = (!warnings.is_empty()).then(|| warnings.join("; "));
    let hosts: BTreeSet<String> = shards
        .iter()
        .map(|s| s.manifest.host.hostname.clone())
        .collect();
    m.merged = Some(MergeInfo {
        count: shards[0].count,
        shards: shards
            .iter()
            .zip(shifts.t_offset_ns.iter().zip(&shifts.energy_offset_j))
            .map(|(s, (&t_offset_ns, &energy_offset_j))| MergedShard {
                index: s.index,
                dir: std::fs::canonicalize(&s.dir)
                    .unwrap_or_else(|_| s.dir.clone())
                    .display()
                    .to_string(),
                index_from: s
                    .manifest
                    .shard
                    .as_ref()
                    .map(|i| i.index_from.clone())
                    .unwrap_or_default(),
                status: s.manifest.status,
                status_reason: s.manifest.status_reason.clone(),
                host: s.manifest.host.clone(),
                clock_epoch_utc: s.manifest.clock_epoch_utc.clone(),
                started_utc: s.manifest.started_utc.clone(),
                ended_utc: s.manifest.ended_utc.clone(),
                t_offset_ns,
                energy_offset_j,
                configurations: s.configurations.iter().cloned().collect(),
            })
            .collect(),
        missing,
        hosts: hosts.into_iter().collect(),
    });
    m
}
