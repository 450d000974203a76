//! Where a merge writes: a temporary sibling of `--out` (`OUT.partial-<pid>`), renamed to
//! `--out` only once everything is written, and removed when anything fails, so that a
//! failed merge leaves no half-written `--out` in the way of the next try.

use super::MergeError;
use super::check::Shard;
use std::path::{Path, PathBuf};

/// A merge being written into a temporary folder.
pub(super) struct Staging {
    tmp: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    /// Checks `out` (new or empty, none of the shards) and creates its temporary sibling.
    pub(super) fn new(out: &Path, shards: &[Shard]) -> Result<Self, MergeError> {
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
        let Some(name) = out.file_name() else {
            return Err(err("names no folder".into()));
        };
        let mut partial = name.to_os_string();
        partial.push(format!(".partial-{}", std::process::id()));
        let tmp = out.with_file_name(partial);
        if let Some(parent) = tmp.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| err(format!("cannot create: {e}")))?;
        }
        // Left by an earlier merge of this process id that was killed: never a result.
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .map_err(|e| err(format!("cannot remove {}: {e}", tmp.display())))?;
        }
        std::fs::create_dir(&tmp)
            .map_err(|e| err(format!("cannot create {}: {e}", tmp.display())))?;
        Ok(Self {
            tmp,
            out: out.to_path_buf(),
            committed: false,
        })
    }

    /// The folder to write into.
    pub(super) fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the written folder to `out` (replacing an empty `out`).
    pub(super) fn commit(mut self) -> Result<(), MergeError> {
        let err = |reason: String| MergeError::Out {
            dir: self.out.clone(),
            reason,
        };
        if self.out.exists() {
            std::fs::remove_dir(&self.out)
                .map_err(|e| err(format!("was written to during the merge ({e})")))?;
        }
        std::fs::rename(&self.tmp, &self.out)
            .map_err(|e| err(format!("cannot rename {} to it: {e}", self.tmp.display())))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
