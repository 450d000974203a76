//! `joulebench report --merge`: the results folders of a sharded run become one folder.
//!
//! Shards must be of one suite (name and SHA-256, and the same study table), one results
//! format and one joulebench version, split into the same number of shards, each index
//! given once, and no configuration in two shards; anything else is refused before a file
//! is written ([`check`]). Missing shards are not refused: the merged run is written,
//! marked `interrupted`, with the missing indices in `run.json` (`merged.missing`) and in
//! [`Merged::warnings`].
//!
//! Raw records are concatenated in shard order ([`concat`]). Monotonic clocks of different
//! hosts (or of one host at different times) have unrelated zeros, so the shards'
//! timelines are laid end to end, and each shard's energy counters restart: times in a
//! merged folder order the records of one shard; across shards they mean nothing.
//!
//! Everything is written into a temporary sibling of `--out` and renamed at the end
//! ([`staging`]): a merge that fails leaves no `--out` behind.

mod check;
mod concat;
mod error;
mod hosts;
mod manifest;
mod staging;

pub use concat::{SHARD_GAP_NS, Shifts};
pub use error::{MergeError, Mismatch};
pub use hosts::{HostRecord, hosts, label_hosts};

use crate::ReportError;
use check::Shard;
use records::files;
use records::manifest::{RunManifest, RunStatus};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The raw record files a merge concatenates (derived files are rebuilt by the report).
pub const RAW_FILES: [&str; 8] = [
    files::REQUESTS_CSV,
    files::SAMPLES_CSV,
    files::CONTEXT_CSV,
    files::BASELINES_CSV,
    files::REPETITIONS_CSV,
    files::SAMPLER_GAPS_CSV,
    files::WINDOW_STATE_CSV,
    files::ATTRIBUTION_CSV,
];

/// Files every shard of one suite holds identically, copied from the first that has one.
pub const COPIED_FILES: [&str; 3] = [
    files::SUITE_COPY,
    files::REFERENCE_CSV,
    files::CARBON_INTENSITY_CSV,
];

pub use records::MAX_SHARDS;

/// What a merge wrote.
#[derive(Debug)]
pub struct Merged {
    /// The merged folder's manifest.
    pub manifest: RunManifest,
    /// Things the user must know: missing shards, shards that did not complete.
    pub warnings: Vec<String>,
}

/// Merges the shard folders `dirs` into `out` (created; must be new or empty). Derived
/// files (summary, plots) are not written: render the merged folder afterwards, or use
/// [`merge_with`].
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, MergeError> {
    merge_with(dirs, out, |_, _| Ok::<(), MergeError>(())).map(|(merged, ())| merged)
}

/// Merges `dirs` into a temporary sibling of `out`, runs `finish` on that folder (e.g. the
/// report), then renames it to `out`. When anything fails the temporary folder is removed
/// and `out` is left as it was.
pub fn merge_with<T, E: From<MergeError>>(
    dirs: &[PathBuf],
    out: &Path,
    finish: impl FnOnce(&Path, &Merged) -> Result<T, E>,
) -> Result<(Merged, T), E> {
    let shards = check::load_shards(dirs)?;
    check::check_headers(&shards)?;
    check::check_reference(&shards)?;
    check::check_carbon_series(&shards)?;
    let staging = staging::Staging::new(out, &shards)?;
    let merged = write(&shards, staging.path())?;
    let done = finish(staging.path(), &merged)?;
    staging.commit()?;
    Ok((merged, done))
}

/// Writes the merged folder of `shards` (checked, sorted by index) into `out`.
fn write(shards: &[Shard], out: &Path) -> Result<Merged, MergeError> {
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
    copy_server_logs(shards, out)?;
    hosts::write(
        out,
        shards.iter().flat_map(|s| {
            s.configurations
                .iter()
                .map(|c| (c.as_str(), s.index, s.manifest.host.hostname.as_str()))
        }),
    )?;
    let warnings = warnings(shards, &missing, count);
    let manifest = manifest::merged_manifest(shards, &shifts, missing, &warnings);
    manifest.save(out)?;
    Ok(Merged { manifest, warnings })
}

/// Missing shards, and shards that did not complete.
fn warnings(shards: &[Shard], missing: &[u32], count: u32) -> Vec<String> {
    let mut warnings = Vec::new();
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(u32::to_string).collect();
        warnings.push(format!(
            "missing shard(s) {} of {count}: the merged run lacks their configurations; run them (e.g. `sbatch --array={}` of the same script, or `joulebench run --shard I/{count}`) and merge again",
            list.join(", "),
            list.join(",")
        ));
    }
    for s in shards {
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
    warnings
}

fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running (or died without a word)",
        RunStatus::Complete => "complete",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Failed => "failed",
    }
}

/// Whether a file exists and holds at least one byte.
fn is_nonempty(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

fn copy(from: &Path, to: &Path) -> Result<(), ReportError> {
    if !from.exists() {
        return Ok(());
    }
    Ok(std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| records::RecordsError::Io {
            path: to.to_path_buf(),
            cause: source,
        })?)
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
        std::fs::create_dir_all(&to).map_err(|source| records::RecordsError::Io {
            path: to.clone(),
            cause: source,
        })?;
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                copy(&entry.path(), &to.join(entry.file_name()))?;
            }
        }
    }
    Ok(())
}
