//! Measurement windows: the energy of every domain between two reads of every source.

use crate::delta::{DeltaError, cumulative_delta};
use crate::discovery::SourceDescription;
use crate::{Domain, Reading};

/// One domain's energy over a window.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainEnergy {
    /// Source name.
    pub source: String,
    /// The domain.
    pub domain: Domain,
    /// Energy over the window (J).
    pub energy_j: f64,
}

/// A domain whose energy over a window cannot be known, with the two reads that say why.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedDomain {
    /// Source name.
    pub source: String,
    /// The domain.
    pub domain: Domain,
    /// The start read: clock time (ns) and cumulative energy (J).
    pub start: (u64, f64),
    /// The end read: clock time (ns) and cumulative energy (J).
    pub end: (u64, f64),
    /// Why the delta failed.
    pub error: DeltaError,
}

/// An energy window between two reads of every source.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Start (ns).
    pub t_start_ns: u64,
    /// End (ns).
    pub t_end_ns: u64,
    /// Energy per domain whose delta is known, in probe-set order.
    pub domains: Vec<DomainEnergy>,
    /// Domains whose delta failed (e.g. a counter went backwards): they have no energy.
    pub failed: Vec<FailedDomain>,
}

impl Window {
    /// The window between `start` and `end` reads (one `Reading` per source).
    ///
    /// A domain whose delta fails is left out of `domains` (no energy, never a zero),
    /// kept in `failed`, and logged as a warning naming the domain and both reads.
    pub fn between(sources: &[SourceDescription], start: &[Reading], end: &[Reading]) -> Self {
        let mut domains = Vec::new();
        let mut failed = Vec::new();
        for ((desc, a), b) in sources.iter().zip(start).zip(end) {
            for (i, domain) in desc.domains.iter().enumerate() {
                let (Some(&e0), Some(&e1)) = (a.joules.get(i), b.joules.get(i)) else {
                    continue;
                };
                match cumulative_delta(e0, e1) {
                    Ok(energy_j) => domains.push(DomainEnergy {
                        source: desc.name.clone(),
                        domain: domain.clone(),
                        energy_j,
                    }),
                    Err(error) => {
                        let f = FailedDomain {
                            source: desc.name.clone(),
                            domain: domain.clone(),
                            start: (a.t_ns, e0),
                            end: (b.t_ns, e1),
                            error,
                        };
                        tracing::warn!("{}", f.describe());
                        failed.push(f);
                    }
                }
            }
        }
        let t_start_ns = start.iter().map(|r| r.t_ns).min().unwrap_or(0);
        let t_end_ns = end.iter().map(|r| r.t_ns).max().unwrap_or(t_start_ns);
        Self {
            t_start_ns,
            t_end_ns,
            domains,
            failed,
        }
    }

    /// Window length (s).
    pub fn duration_s(&self) -> f64 {
        self.t_end_ns.saturating_sub(self.t_start_ns) as f64 / 1e9
    }

    /// Energy of the domains that count in the machine total (J); failed domains are
    /// not in it (see `failed`).
    pub fn total_j(&self) -> f64 {
        self.domains
            .iter()
            .filter(|d| d.domain.counts_in_total())
            .map(|d| d.energy_j)
            .sum()
    }
}

impl FailedDomain {
    /// One line naming the domain, both reads and the reason it has no energy.
    pub fn describe(&self) -> String {
        format!(
            "{} {}: no energy for the window from {} J at {} ns to {} J at {} ns: {}",
            self.source,
            self.domain.name,
            self.start.1,
            self.start.0,
            self.end.1,
            self.end.0,
            self.error
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DomainKind, Provenance};

    fn rapl() -> Vec<SourceDescription> {
        vec![SourceDescription {
            name: "rapl".into(),
            domains: vec![
                Domain::new(
                    "cpu-package-0",
                    DomainKind::CpuPackage,
                    Provenance::Measured,
                ),
                Domain::new("cpu-core-0", DomainKind::CpuCore, Provenance::Measured),
                Domain::new("dram-0", DomainKind::Dram, Provenance::Measured),
            ],
            resolution_s: 0.001,
            method: String::new(),
        }]
    }

    fn reading(t_ns: u64, joules: &[f64]) -> Vec<Reading> {
        vec![Reading {
            t_ns,
            joules: joules.to_vec(),
        }]
    }

    #[test]
    fn window_subtracts_reads_and_totals_only_counted_domains() {
        let a = reading(1_000_000_000, &[10.0, 5.0, 2.0]);
        let b = reading(3_000_000_000, &[30.0, 15.0, 3.0]);
        let w = Window::between(&rapl(), &a, &b);
        assert_eq!(w.duration_s(), 2.0);
        assert_eq!(w.domains[1].energy_j, 10.0);
        assert_eq!(w.total_j(), 21.0, "package + dram, never + core");
        assert!(w.failed.is_empty());
    }

    #[test]
    fn a_backwards_read_gives_the_domain_no_energy_never_zero() {
        let a = reading(1_000_000_000, &[10.0, 5.0, 2.0]);
        let b = reading(3_000_000_000, &[30.0, 15.0, 1.0]);
        let w = Window::between(&rapl(), &a, &b);
        let names: Vec<&str> = w.domains.iter().map(|d| d.domain.name.as_str()).collect();
        assert_eq!(
            names,
            ["cpu-package-0", "cpu-core-0"],
            "dram-0 has no energy"
        );
        assert_eq!(w.total_j(), 20.0, "the package alone, not package + 0");
        let f = &w.failed[0];
        assert_eq!(f.domain.name, "dram-0");
        assert_eq!(
            (f.start, f.end),
            ((1_000_000_000, 2.0), (3_000_000_000, 1.0))
        );
        assert!(matches!(f.error, DeltaError::WentBackwards { .. }));
        let line = f.describe();
        assert!(
            line.contains("dram-0") && line.contains("2 J") && line.contains("1 J"),
            "{line}"
        );
    }
}
