//! Why shards could not be merged: one line naming the folders, the values and the fix.

use crate::ReportError;
use std::path::PathBuf;

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
    /// A shard's run.json names an index or a count no `--shard I/N` gives.
    #[error(
        "{}: run.json says shard {index} of {count}, which no `--shard I/N` gives (N from 1 to {max}, I below N); merge the folders `joulebench run --shard` wrote, unedited",
        dir.display(),
        max = super::MAX_SHARDS
    )]
    BadShard {
        /// The folder.
        dir: PathBuf,
        /// The index recorded.
        index: u32,
        /// The number of shards recorded.
        count: u32,
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

impl MergeError {
    /// A [`Mismatch`] between folders `a` and `b`.
    pub fn mismatch(
        a: &std::path::Path,
        b: &std::path::Path,
        what: &'static str,
        (va, vb): (String, String),
        fix: &'static str,
    ) -> Self {
        Self::Mismatch(Box::new(Mismatch {
            a: a.to_path_buf(),
            b: b.to_path_buf(),
            what,
            va,
            vb,
            fix,
        }))
    }
}

impl From<records::RecordsError> for MergeError {
    fn from(e: records::RecordsError) -> Self {
        Self::Report(e.into())
    }
}
