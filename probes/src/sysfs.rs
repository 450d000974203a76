//! Reading small sysfs attribute files, with errors that name the file and the fix.

use crate::ProbeError;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How to let a non-root user read RAPL energy counters (CVE-2020-8694 made them root-only).
pub const RAPL_PERMISSION_FIX: &str = "since CVE-2020-8694 RAPL energy_uj is readable by root only on most kernels; \
either run as root, or add a udev rule such as \
`SUBSYSTEM==\"powercap\", ACTION==\"add\", RUN+=\"/bin/chmod 0444 /sys%p/energy_uj\"` \
(or a `mode class/powercap/intel-rapl:0/energy_uj = 0444` line in /etc/sysfs.conf), \
or give a group read access (`chgrp power` + `chmod 0440` on each energy_uj) and add the user to it; \
alternatively allow perf_event (kernel.perf_event_paranoid <= 0 or CAP_PERFMON) so joulebench reads RAPL through perf";

/// Opens a file read-only; a function so tests can inject failures the way a real kernel gives them.
pub type OpenFn = fn(&Path) -> io::Result<File>;

/// The real opener.
pub fn open_file(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Turns an I/O error on `path` into a probe error; permission errors carry `fix`.
pub fn io_error(path: &Path, e: &io::Error, fix: &str) -> ProbeError {
    if e.kind() == io::ErrorKind::PermissionDenied {
        ProbeError::PermissionDenied {
            path: path.to_path_buf(),
            fix: fix.to_string(),
        }
    } else {
        ProbeError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// Reads a whole small text file, trimmed.
pub fn read_trimmed(path: &Path) -> Result<String, ProbeError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| io_error(path, &e, RAPL_PERMISSION_FIX))
}

/// Parses a file holding one unsigned integer.
pub fn read_u64(path: &Path) -> Result<u64, ProbeError> {
    parse_u64(path, &read_trimmed(path)?)
}

fn parse_u64(path: &Path, text: &str) -> Result<u64, ProbeError> {
    text.parse::<u64>().map_err(|e| ProbeError::Read {
        path: path.to_path_buf(),
        reason: format!("expected an unsigned integer, found {text:?}: {e}"),
    })
}

/// An open counter file re-read from offset 0 on every read (no reopen: cheap at 1 kHz).
#[derive(Debug)]
pub struct CounterFile {
    path: PathBuf,
    file: File,
    buf: [u8; 32],
}

impl CounterFile {
    /// Opens `path` with `open`, then reads it once to prove it is readable.
    pub fn open(path: &Path, open: OpenFn, fix: &str) -> Result<Self, ProbeError> {
        let file = open(path).map_err(|e| io_error(path, &e, fix))?;
        let mut counter = Self {
            path: path.to_path_buf(),
            file,
            buf: [0; 32],
        };
        counter.read_with_fix(fix)?;
        Ok(counter)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the current value.
    pub fn read(&mut self) -> Result<u64, ProbeError> {
        self.read_with_fix(RAPL_PERMISSION_FIX)
    }

    fn read_with_fix(&mut self, fix: &str) -> Result<u64, ProbeError> {
        let n = self
            .file
            .read_at(&mut self.buf, 0)
            .map_err(|e| io_error(&self.path, &e, fix))?;
        let text = std::str::from_utf8(&self.buf[..n]).map_err(|e| ProbeError::Read {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        parse_u64(&self.path, text.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_name_the_file_and_the_fix() {
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        let msg = io_error(Path::new("/x/energy_uj"), &e, RAPL_PERMISSION_FIX).to_string();
        assert!(msg.contains("/x/energy_uj"), "{msg}");
        assert!(msg.contains("root"), "{msg}");
        assert!(msg.contains("udev"), "{msg}");
        assert!(msg.contains("sysfs.conf"), "{msg}");
        assert!(msg.contains("group"), "{msg}");
    }

    #[test]
    fn counter_file_rereads_in_place_and_rejects_garbage() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("energy_uj");
        std::fs::write(&path, "100\n").expect("write");
        let mut c = CounterFile::open(&path, open_file, "fix").expect("open");
        assert_eq!(c.read().expect("read"), 100);
        std::fs::write(&path, "123456789\n").expect("rewrite");
        assert_eq!(c.read().expect("read"), 123_456_789);
        std::fs::write(&path, "abc\n").expect("rewrite");
        let err = c.read().expect_err("garbage must not parse");
        assert!(err.to_string().contains("energy_uj"));
    }
}
