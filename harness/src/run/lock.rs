//! One process per results folder: an exclusive `flock` on the folder itself, taken before
//! anything is written into it (a racing run cannot replace the winner's `suite.toml`) and
//! released by the kernel however the process ends.

use super::RunError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Holds the folder while alive.
#[derive(Debug)]
pub struct FolderLock {
    _dir: File,
}

/// Locks `dir` for this process, or says which other process must end first.
pub fn hold(dir: &Path) -> Result<FolderLock, RunError> {
    let err = |reason: String| RunError::OutDir {
        path: dir.to_path_buf(),
        reason,
    };
    let handle = File::open(dir).map_err(|e| err(format!("cannot open the folder: {e}")))?;
    // SAFETY: flock(2) on a descriptor owned by `handle`, which outlives the lock.
    let rc = unsafe { libc::flock(handle.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            "another joulebench process is running in this folder; let it finish or stop it (Ctrl-C), then resume".into()
        } else {
            format!("cannot lock the folder: {e}")
        }));
    }
    Ok(FolderLock { _dir: handle })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = hold(dir.path()).expect("first");
        let e = hold(dir.path()).expect_err("second");
        assert!(e.to_string().contains("another joulebench process"), "{e}");
        drop(first);
        assert!(hold(dir.path()).is_ok());
    }

    #[test]
    fn an_empty_folder_is_locked_without_writing_into_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let _held = hold(dir.path()).expect("lock");
        let entries = std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(entries, 0, "the lock needs no file in the folder");
    }
}
