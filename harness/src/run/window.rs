//! Energy windows: the difference of two exact reads of every domain.

use probes::discovery::SourceDescription;
use probes::{Domain, Reading};

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

/// An energy window between two reads of every source.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Start (ns).
    pub t_start_ns: u64,
    /// End (ns).
    pub t_end_ns: u64,
    /// Energy per domain, in probe-set order.
    pub domains: Vec<DomainEnergy>,
}

impl Window {
    /// The window between `start` and `end` reads (one `Reading` per source).
    pub fn between(sources: &[SourceDescription], start: &[Reading], end: &[Reading]) -> Self {
        let mut domains = Vec::new();
        for ((desc, a), b) in sources.iter().zip(start).zip(end) {
            for (i, domain) in desc.domains.iter().enumerate() {
                let (Some(e0), Some(e1)) = (a.joules.get(i), b.joules.get(i)) else {
                    continue;
                };
                domains.push(DomainEnergy {
                    source: desc.name.clone(),
                    domain: domain.clone(),
                    energy_j: (e1 - e0).max(0.0),
                });
            }
        }
        let t_start_ns = start.iter().map(|r| r.t_ns).min().unwrap_or(0);
        let t_end_ns = end.iter().map(|r| r.t_ns).max().unwrap_or(t_start_ns);
        Self {
            t_start_ns,
            t_end_ns,
            domains,
        }
    }

    /// Window length (s).
    pub fn duration_s(&self) -> f64 {
        self.t_end_ns.saturating_sub(self.t_start_ns) as f64 / 1e9
    }

    /// Energy of the domains that count in the machine total (J).
    pub fn total_j(&self) -> f64 {
        self.domains
            .iter()
            .filter(|d| d.domain.counts_in_total())
            .map(|d| d.energy_j)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probes::{DomainKind, Provenance};

    #[test]
    fn window_subtracts_reads_and_totals_only_counted_domains() {
        let sources = vec![SourceDescription {
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
        }];
        let a = vec![Reading {
            t_ns: 1_000_000_000,
            joules: vec![10.0, 5.0, 2.0],
        }];
        let b = vec![Reading {
            t_ns: 3_000_000_000,
            joules: vec![30.0, 15.0, 3.0],
        }];
        let w = Window::between(&sources, &a, &b);
        assert_eq!(w.duration_s(), 2.0);
        assert_eq!(w.domains[1].energy_j, 10.0);
        assert_eq!(w.total_j(), 21.0, "package + dram, never + core");
    }
}
