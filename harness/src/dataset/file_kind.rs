//! Whether a dataset path is a regular file, told from its metadata before it is opened
//! (opening a FIFO for reading would block until a writer comes).

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Why a dataset path is not a readable regular file.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// Nothing is there (a symlink to nothing included).
    #[error("not found")]
    Missing,
    /// A symlink loop: resolving the path never ends.
    #[error("is a symlink loop (too many levels of symbolic links); point the link at the file")]
    SymlinkLoop,
    /// Something other than a regular file is there.
    #[error("is not a regular file ({0}); give the path of a JSONL, CSV or Parquet file")]
    NotRegular(&'static str),
    /// Its metadata cannot be read (permissions on a folder above it, say).
    #[error("cannot be read: {0}")]
    Unreadable(std::io::Error),
}

/// `Ok` when `path` is (or links to) a regular file; else what is there instead.
pub fn check_regular(path: &Path) -> Result<(), FileProblem> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(FileProblem::SymlinkLoop),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FileProblem::Missing),
        Err(e) => return Err(FileProblem::Unreadable(e)),
    };
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device, such as /dev/null"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(FileProblem::NotRegular(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_path_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("d.jsonl");
        std::fs::write(&file, "{}\n").expect("write");
        assert!(check_regular(&file).is_ok());
        let message = |p: &Path| check_regular(p).expect_err("not a file").to_string();
        assert_eq!(message(&dir.path().join("none")), "not found");
        assert!(message(dir.path()).contains("(a directory)"));
        assert!(message(Path::new("/dev/null")).contains("(a character device"));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
        // SAFETY: mkfifo(3) with a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(message(&fifo).contains("is not a regular file (a FIFO)"));
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::os::unix::fs::symlink(&b, &a).expect("link");
        std::os::unix::fs::symlink(&a, &b).expect("link");
        assert!(message(&a).contains("symlink loop (too many levels"));
    }
}
