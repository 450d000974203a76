//! One pass over `samples.csv` for the load figures: the counted machine energy over each
//! steady-state window and over each segment the apportionment shares, from each counted
//! domain's cumulative energy interpolated linearly between its samples.

use super::requests::RepKey;
use super::window::Window;
use crate::ReportError;
use crate::configs::{Configuration, DomainKey};
use crate::per_request::Integrator;
use crate::sample_stream::SampleStream;
use crate::scan::{counted_domains, track_domains};
use records::files::SAMPLES_CSV;
use std::collections::BTreeMap;
use std::path::Path;

/// What to integrate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Span {
    Window(RepKey),
    Segment(RepKey, usize),
}

/// The energies found (J); `None` where a counted domain had no sample around an edge or a
/// counter gap lay inside.
#[derive(Debug, Default)]
pub struct Energies {
    /// Per repetition, over its steady-state window.
    pub windows: BTreeMap<RepKey, Option<f64>>,
    /// Per repetition, over each segment between consecutive boundaries.
    pub segments: BTreeMap<RepKey, Vec<Option<f64>>>,
    /// Whether the run has samples at all.
    pub has_samples: bool,
}

/// Integrates the counted domains of `configs` over every window and every segment
/// between consecutive `bounds` of a repetition.
pub fn integrate(
    dir: &Path,
    configs: &[Configuration],
    windows: &BTreeMap<RepKey, Window>,
    bounds: &BTreeMap<RepKey, Vec<u64>>,
) -> Result<Energies, ReportError> {
    let path = dir.join(SAMPLES_CSV);
    let mut out = Energies {
        has_samples: std::fs::metadata(&path).is_ok_and(|m| m.len() > 0),
        ..Energies::default()
    };
    for (key, b) in bounds {
        out.segments
            .insert(*key, vec![None; b.len().saturating_sub(1)]);
    }
    for key in windows.keys() {
        out.windows.insert(*key, None);
    }
    if !out.has_samples {
        return Ok(out);
    }
    let counted = counted_domains(configs);
    let mut integrator: Integrator<Span> = Integrator::new(counted.len());
    for (key, w) in windows {
        integrator.open(Span::Window(*key), w.start_ns, w.end_ns);
    }
    for (key, b) in bounds {
        for (i, pair) in b.windows(2).enumerate() {
            integrator.open(Span::Segment(*key, i), pair[0], pair[1]);
        }
    }
    let mut reader = SampleStream::open(&path)?;
    let mut domains: Vec<(DomainKey, Option<usize>)> = Vec::new();
    while let Some(s) = reader.next()? {
        let d = s.domain;
        track_domains(&mut domains, &counted, reader.domains());
        if let Some(d) = domains[d].1 {
            integrator.sample(d, s.t_ns, s.energy_j, s.power_w);
        }
        for done in integrator.drain() {
            store(&mut out, done.payload, done.energy_j);
        }
    }
    for done in integrator.finish() {
        store(&mut out, done.payload, done.energy_j);
    }
    Ok(out)
}

fn store(out: &mut Energies, span: Span, energy_j: Option<f64>) {
    match span {
        Span::Window(key) => {
            out.windows.insert(key, energy_j);
        }
        Span::Segment(key, i) => {
            if let Some(slot) = out.segments.get_mut(&key).and_then(|v| v.get_mut(i)) {
                *slot = energy_j;
            }
        }
    }
}
