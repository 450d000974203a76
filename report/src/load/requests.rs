//! The measured requests of a sweep's repetitions, read from `requests.csv` and kept per
//! repetition in start order (a sweep's levels are small enough to hold).

use crate::ReportError;
use crate::configs::Configuration;
use records::files::REQUESTS_CSV;
use records::raw::{Phase, RequestRecord, RequestStatus};
use records::table_io::read_records;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A repetition of a configuration: its position in the report's configurations and its
/// number.
pub type RepKey = (usize, u32);

/// What the load figures need of one measured request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadRequest {
    /// Sent (ns).
    pub t_start_ns: u64,
    /// Ended (ns).
    pub t_end_ns: u64,
    /// When an open-loop arrival was due (ns).
    pub t_scheduled_ns: Option<u64>,
    /// Whether it succeeded.
    pub ok: bool,
    /// End-to-end latency (ms).
    pub latency_ms: f64,
    /// Time to first token of a streamed answer (ms).
    pub ttft_ms: Option<f64>,
    /// Inter-token latency: the median gap when recorded, else the mean (ms).
    pub itl_ms: Option<f64>,
    /// Completion tokens, when the server reported them.
    pub completion_tokens: Option<u64>,
}

impl LoadRequest {
    /// When the first token came (ns): start + TTFT, inside the request; `None` when the
    /// answer was not streamed.
    pub fn t_first_token_ns(&self) -> Option<u64> {
        let ttft = self.ttft_ms.filter(|t| t.is_finite() && *t >= 0.0)?;
        let t = self.t_start_ns.saturating_add((ttft * 1e6).round() as u64);
        Some(t.clamp(self.t_start_ns, self.t_end_ns.max(self.t_start_ns)))
    }

    /// Start of the interval its tokens were generated over: the first token, or the start
    /// when the answer was not streamed.
    pub fn decode_start_ns(&self) -> u64 {
        self.t_first_token_ns().unwrap_or(self.t_start_ns)
    }
}

impl From<&RequestRecord> for LoadRequest {
    fn from(r: &RequestRecord) -> Self {
        Self {
            t_start_ns: r.t_start_ns,
            t_end_ns: r.t_end_ns.max(r.t_start_ns),
            t_scheduled_ns: r.t_scheduled_ns,
            ok: r.status == RequestStatus::Ok,
            latency_ms: r.latency_ms,
            ttft_ms: r.ttft_ms,
            itl_ms: r.itl_p50_ms.or(r.itl_ms),
            completion_tokens: r.completion_tokens,
        }
    }
}

/// The measured requests (any status) of every usable repetition of the configurations
/// at `load_configs` (positions in `configs`), in start order.
pub fn read(
    dir: &Path,
    configs: &[Configuration],
    load_configs: &[usize],
) -> Result<BTreeMap<RepKey, Vec<LoadRequest>>, ReportError> {
    let mut out: BTreeMap<RepKey, Vec<LoadRequest>> = BTreeMap::new();
    let path = dir.join(REQUESTS_CSV);
    if !path.exists() {
        return Ok(out);
    }
    let index: HashMap<&str, usize> = load_configs
        .iter()
        .map(|&i| (configs[i].info.id.as_str(), i))
        .collect();
    for record in read_records::<RequestRecord>(&path)? {
        let r = record?;
        if r.phase != Phase::Measured {
            continue;
        }
        let Some(&i) = index.get(r.config.as_str()) else {
            continue;
        };
        let usable = configs[i]
            .repetitions
            .get(&r.repetition)
            .is_some_and(|rep| rep.usable());
        if usable {
            out.entry((i, r.repetition))
                .or_default()
                .push(LoadRequest::from(&r));
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|r| (r.t_start_ns, r.t_end_ns));
    }
    Ok(out)
}
