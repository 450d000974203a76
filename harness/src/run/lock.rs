//! One process per results folder: an exclusive `flock` on the folder's `suite.toml`
//! (written once, never replaced), released by the kernel however the process ends.

use super::RunError;
use records::files;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Holds the folder while alive.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

/// Locks `dir` for this process, or says which other process must end first.
pub fn hold(dir: &Path) -> Result<FolderLock, RunError> {
    let path = dir.join(files::SUITE_COPY);
    let err = |reason: String| RunError::OutDir {
        path: dir.to_path_buf(),
        reason,
    };
    let file =
        File::open(&path).map_err(|e| err(format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: flock(2) on a descriptor owned by `file`, which outlives the lock.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            "another joulebench process is running in this folder; let it finish or stop it (Ctrl-C), then resume".into()
        } else {
            format!("cannot lock {}: {e}", path.display())
        }));
    }
    Ok(FolderLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(files::SUITE_COPY), "x").expect("write");
        let first = hold(dir.path()).expect("first");
        let e = hold(dir.path()).expect_err("second");
        assert!(e.to_string().contains("another joulebench process"), "{e}");
        drop(first);
        assert!(hold(dir.path()).is_ok());
    }
}
