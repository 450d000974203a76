//! Fake powercap trees written to a directory, for tests and benchmarks.

use std::io;
use std::path::{Path, PathBuf};

/// Intel's usual `max_energy_range_uj` for packages (µJ).
pub const INTEL_MAX_RANGE_UJ: u64 = 262_143_328_850;
/// A `max_energy_range_uj` seen on AMD EPYC (µJ).
pub const AMD_MAX_RANGE_UJ: u64 = 65_532_610_987;

/// A powercap tree in the class layout (`<root>/intel-rapl:N[:M]/{name,energy_uj,...}`).
#[derive(Clone, Debug)]
pub struct FakePowercap {
    root: PathBuf,
}

impl FakePowercap {
    /// A tree rooted at `root` (created if absent), with no zones yet.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    /// The tree's root, to give as the powercap root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Adds zone directory `dir` (e.g. `intel-rapl:0:2`) with its `name`, counter and range.
    pub fn add_zone(
        &self,
        dir: &str,
        name: &str,
        energy_uj: u64,
        max_range_uj: Option<u64>,
    ) -> io::Result<()> {
        let zone = self.root.join(dir);
        std::fs::create_dir_all(&zone)?;
        std::fs::write(zone.join("name"), format!("{name}\n"))?;
        std::fs::write(zone.join("energy_uj"), format!("{energy_uj}\n"))?;
        if let Some(max) = max_range_uj {
            std::fs::write(zone.join("max_energy_range_uj"), format!("{max}\n"))?;
        }
        Ok(())
    }

    /// Rewrites a zone's counter in place (same file, as the kernel updates it). A value
    /// at least as long as the old one is written over it in one call with no truncation,
    /// so a reader racing a simulated load never sees an empty file; a shorter one (a
    /// wrap) truncates after.
    pub fn set_energy(&self, dir: &str, energy_uj: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let path = self.root.join(dir).join("energy_uj");
        let text = format!("{energy_uj}\n");
        let file = std::fs::OpenOptions::new().write(true).open(&path)?;
        file.write_all_at(text.as_bytes(), 0)?;
        if file.metadata()?.len() > text.len() as u64 {
            file.set_len(text.len() as u64)?;
        }
        Ok(())
    }

    /// An Intel server: per socket a package, its core sub-zone and, if `dram`, a dram sub-zone.
    pub fn intel(root: impl Into<PathBuf>, sockets: u32, dram: bool) -> io::Result<Self> {
        let tree = Self::new(root)?;
        for s in 0..sockets {
            let max = Some(INTEL_MAX_RANGE_UJ);
            tree.add_zone(
                &format!("intel-rapl:{s}"),
                &format!("package-{s}"),
                1_000_000,
                max,
            )?;
            tree.add_zone(&format!("intel-rapl:{s}:0"), "core", 500_000, max)?;
            if dram {
                tree.add_zone(&format!("intel-rapl:{s}:1"), "dram", 200_000, max)?;
            }
        }
        Ok(tree)
    }

    /// An AMD Zen machine: per socket a package and a core zone, no dram.
    pub fn amd(root: impl Into<PathBuf>, sockets: u32) -> io::Result<Self> {
        let tree = Self::new(root)?;
        for s in 0..sockets {
            let max = Some(AMD_MAX_RANGE_UJ);
            tree.add_zone(
                &format!("intel-rapl:{s}"),
                &format!("package-{s}"),
                3_000_000,
                max,
            )?;
            tree.add_zone(&format!("intel-rapl:{s}:0"), "core", 1_000_000, max)?;
        }
        Ok(tree)
    }
}
