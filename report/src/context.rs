//! `context.csv` (GPU temperature, clocks and the like, when the runner wrote them),
//! summarised per configuration over its repetitions' windows, streamed.

use crate::ReportError;
use crate::configs::Configuration;
use records::files::CONTEXT_CSV;
use records::raw::ContextRecord;
use records::table_io::read_records;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One metric of one configuration over its valid repetitions' windows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextRow {
    /// Configuration id.
    pub config: String,
    /// Source name.
    pub source: String,
    /// Domain name.
    pub domain: String,
    /// Metric name.
    pub metric: String,
    /// Readings inside the windows.
    pub samples: u64,
    /// Mean.
    pub mean: f64,
    /// Lowest.
    pub min: f64,
    /// Highest.
    pub max: f64,
    /// Mean in the first repetition minus mean in the last (drift, e.g. warming up).
    pub first_to_last: Option<f64>,
}

#[derive(Default)]
struct Acc {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    per_rep: BTreeMap<u32, (f64, u64)>,
}

/// Summarises `context.csv` when there is one; an empty list otherwise.
pub fn summarise(dir: &Path, configs: &[Configuration]) -> Result<Vec<ContextRow>, ReportError> {
    let path = dir.join(CONTEXT_CSV);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let windows = crate::configs::usable_windows(configs);
    let mut acc: BTreeMap<(usize, String, String, String), Acc> = BTreeMap::new();
    let mut cursor = 0;
    for rec in read_records::<ContextRecord>(&path)? {
        let rec = rec?;
        while cursor < windows.len() && windows[cursor].1 < rec.t_ns {
            cursor += 1;
        }
        let Some(&(start, _, config, rep)) = windows.get(cursor) else {
            continue;
        };
        if rec.t_ns < start || !rec.value.is_finite() {
            continue;
        }
        let a = acc
            .entry((config, rec.source, rec.domain, rec.metric))
            .or_insert_with(|| Acc {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                ..Acc::default()
            });
        a.n += 1;
        a.sum += rec.value;
        a.min = a.min.min(rec.value);
        a.max = a.max.max(rec.value);
        let r = a.per_rep.entry(rep).or_default();
        r.0 += rec.value;
        r.1 += 1;
    }
    Ok(acc
        .into_iter()
        .map(|((config, source, domain, metric), a)| {
            let mean_of = |v: Option<&(f64, u64)>| v.map(|(s, n)| s / *n as f64);
            let first = mean_of(a.per_rep.values().next());
            let last = mean_of(a.per_rep.values().next_back());
            ContextRow {
                config: configs[config].info.id.clone(),
                source,
                domain,
                metric,
                samples: a.n,
                mean: a.sum / a.n as f64,
                min: a.min,
                max: a.max,
                first_to_last: first
                    .zip(last)
                    .filter(|_| a.per_rep.len() > 1)
                    .map(|(f, l)| l - f),
            }
        })
        .collect())
}
