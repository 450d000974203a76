//! Energy domains: what a source measures, and whether it was measured or estimated.

use serde::{Deserialize, Serialize};

pub use records::labels::Provenance;

/// What part of the machine a domain covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DomainKind {
    /// A whole CPU package (socket), or the whole CPU for estimates.
    CpuPackage,
    /// The cores of a package: a part of the package, detail only.
    CpuCore,
    /// The uncore of a package (e.g. integrated GPU): a part of the package, detail only.
    CpuUncore,
    /// Memory attached to a package.
    Dram,
    /// The whole platform (psys): an alternative to the sum of the others, not an addend.
    Psys,
    /// One GPU (a whole physical GPU, even under MIG).
    Gpu,
}

impl DomainKind {
    /// Whether energy of this kind is added into the total of a machine.
    pub fn counts_in_total(self) -> bool {
        matches!(
            self,
            DomainKind::CpuPackage | DomainKind::Dram | DomainKind::Gpu
        )
    }
}

/// One energy domain of a source, e.g. `cpu-package-0`, `dram-0`, `gpu-0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// Stable name used in every record, the same whichever source reads it.
    pub name: String,
    /// What the domain covers.
    pub kind: DomainKind,
    /// Whether its figures are measured or estimated.
    pub provenance: Provenance,
}

impl Domain {
    /// A domain with the given name, kind and provenance.
    pub fn new(name: impl Into<String>, kind: DomainKind, provenance: Provenance) -> Self {
        Self {
            name: name.into(),
            kind,
            provenance,
        }
    }

    /// Whether this domain's energy is part of the machine total (packages, DRAM, GPUs).
    pub fn counts_in_total(&self) -> bool {
        self.kind.counts_in_total()
    }
}
