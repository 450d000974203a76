//! One streamed pass over `requests.csv` and `samples.csv`: latencies, tokens, per-request
//! energy (handed to a [`RequestEnergySink`] as it is found, `request_energy.csv` when
//! rendering) and the power timelines.
//!
//! Both files are in time order; neither is ever held in memory. What is kept per request
//! is a few numbers per configuration (latency and energy, for percentiles).

use crate::ReportError;
use crate::configs::{Configuration, DomainKey};
use crate::per_request::{Integrated, Integrator};
use crate::sample_stream::SampleStream;
use crate::timeline::Timelines;
use records::files::{REQUESTS_CSV, SAMPLES_CSV};
use records::labels::FigureLabel;
use records::raw::{Phase, RequestEnergyRecord, RequestRecord, RequestStatus};
use records::table_io::read_records;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What the requests of one configuration say.
#[derive(Clone, Debug, Default)]
pub struct RequestFacts {
    /// Latency of each successful measured request (ms).
    pub latencies_ms: Vec<f64>,
    /// Per repetition: the sum of those latencies (ms) and how many there are.
    pub latency_ms_by_repetition: BTreeMap<u32, (f64, u64)>,
    /// Time to first token of streamed requests (ms).
    pub ttft_ms: Vec<f64>,
    /// Completion tokens per repetition, over the requests that reported them.
    pub completion_tokens: BTreeMap<u32, u64>,
    /// Requests that reported completion tokens, per repetition.
    pub requests_with_tokens: BTreeMap<u32, u32>,
    /// Successful measured requests per repetition.
    pub ok_requests: BTreeMap<u32, u32>,
    /// Energy of each request with a known energy (J).
    pub request_energy_j: Vec<f64>,
    /// Energy net of idle of each request with a known energy and baseline (J).
    pub request_net_energy_j: Vec<f64>,
    /// Requests shorter than the coarsest counted probe's resolution.
    pub below_resolution: u64,
    /// Requests whose energy could not be found (no sample around them, or a counter that
    /// went back with no stated power); reported as `request-energy-unknown`.
    pub energy_unknown: u64,
    /// Token-count origins, output pinning and stream timing of the same requests.
    pub stream: crate::streams::StreamFacts,
}

/// What the pass found, per configuration (same order as the configurations given).
#[derive(Debug, Default)]
pub struct RunScan {
    /// Facts per configuration.
    pub requests: Vec<RequestFacts>,
    /// Power timelines of the repetitions chosen for plotting.
    pub timelines: Timelines,
    /// Whether `requests.csv` was there.
    pub has_requests: bool,
    /// Whether `samples.csv` was there.
    pub has_samples: bool,
}

/// What to do in the pass.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Configurations (in order) whose repetitions get a timeline.
    pub timeline_configs: usize,
    /// Points per timeline.
    pub timeline_points: usize,
    /// Resolution of each counted domain's probe (s), by source name.
    pub resolution_s: HashMap<String, f64>,
}

/// Where the energy of each request goes as the pass finds it.
pub trait RequestEnergySink {
    /// Called once, before the first record, when the run has requests and samples (so
    /// per-request energies can be found at all).
    fn start(&mut self) -> Result<(), ReportError>;
    /// Takes one request's energy.
    fn take(&mut self, record: &RequestEnergyRecord) -> Result<(), ReportError>;
}

/// Keeps the records in memory.
impl RequestEnergySink for Vec<RequestEnergyRecord> {
    fn start(&mut self) -> Result<(), ReportError> {
        Ok(())
    }

    fn take(&mut self, record: &RequestEnergyRecord) -> Result<(), ReportError> {
        self.push(record.clone());
        Ok(())
    }
}

struct Payload {
    config: usize,
    repetition: u32,
    index: u32,
    latency_ms: f64,
}

/// Runs the pass over a run folder, handing each request's energy to `sink`.
pub fn scan(
    dir: &Path,
    configs: &[Configuration],
    options: &ScanOptions,
    sink: &mut dyn RequestEnergySink,
) -> Result<RunScan, ReportError> {
    let index: HashMap<&str, usize> = configs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.info.id.as_str(), i))
        .collect();
    let counted = counted_domains(configs);
    let min_resolution_ns = counted
        .iter()
        .filter_map(|k| options.resolution_s.get(&k.source))
        .fold(0.0f64, |a, &b| a.max(b))
        * 1e9;
    let idle_w = idle_power(configs);
    let mut out = RunScan {
        requests: vec![RequestFacts::default(); configs.len()],
        timelines: Timelines::plan(configs, options.timeline_configs, options.timeline_points),
        has_requests: dir.join(REQUESTS_CSV).exists(),
        // An empty file (a run that ended before its first sample) has no samples.
        has_samples: std::fs::metadata(dir.join(SAMPLES_CSV)).is_ok_and(|m| m.len() > 0),
    };
    if !out.has_requests {
        return Ok(out);
    }
    let requests_path = dir.join(REQUESTS_CSV);
    let mut requests = read_records::<RequestRecord>(&requests_path)?.peekable();
    if out.has_samples {
        sink.start()?;
    }
    let mut integrator: Integrator<Payload> = Integrator::new(counted.len());
    let labels: Vec<FigureLabel> = configs.iter().map(Configuration::label).collect();
    let mut ctx = Ctx {
        index: &index,
        configs,
        idle_w: &idle_w,
        labels: &labels,
        min_resolution_ns,
        has_samples: out.has_samples,
    };

    if out.has_samples {
        let samples_path = dir.join(SAMPLES_CSV);
        let mut samples = SampleStream::open(&samples_path)?;
        let mut domains: Vec<(DomainKey, Option<usize>)> = Vec::new();
        while let Some(s) = samples.next()? {
            // Open every request that starts before this sample.
            loop {
                match requests.peek() {
                    Some(Ok(r)) if r.t_start_ns <= s.t_ns => {}
                    Some(Err(_)) => {
                        if let Some(Err(e)) = requests.next() {
                            return Err(e.into());
                        }
                    }
                    _ => break,
                }
                if let Some(Ok(r)) = requests.next() {
                    take_request(r, &mut ctx, &mut out, &mut integrator);
                }
            }
            let d = s.domain;
            track_domains(&mut domains, &counted, samples.domains());
            if let Some(d) = domains[d].1 {
                integrator.sample(d, s.t_ns, s.energy_j, s.power_w);
            }
            out.timelines.sample(d, s.t_ns, s.energy_j, s.power_w);
            for done in integrator.drain() {
                finish(done, &ctx, &mut out, sink)?;
            }
        }
        out.timelines
            .set_domains(domains.into_iter().map(|(k, _)| k).collect());
    }
    for r in requests {
        let r = r?;
        take_request(r, &mut ctx, &mut out, &mut integrator);
    }
    for done in integrator.finish() {
        finish(done, &ctx, &mut out, sink)?;
    }
    Ok(out)
}

struct Ctx<'a> {
    index: &'a HashMap<&'a str, usize>,
    configs: &'a [Configuration],
    idle_w: &'a [BTreeMap<u32, Option<f64>>],
    labels: &'a [FigureLabel],
    min_resolution_ns: f64,
    has_samples: bool,
}

fn take_request(
    r: RequestRecord,
    ctx: &mut Ctx<'_>,
    out: &mut RunScan,
    integrator: &mut Integrator<Payload>,
) {
    if r.phase != Phase::Measured || r.status != RequestStatus::Ok {
        return;
    }
    let Some(&config) = ctx.index.get(r.config.as_str()) else {
        return;
    };
    let usable = ctx.configs[config]
        .repetitions
        .get(&r.repetition)
        .is_some_and(|rep| rep.usable());
    out.timelines.mark(config, r.repetition, r.t_start_ns);
    if !usable {
        return;
    }
    let facts = &mut out.requests[config];
    facts.latencies_ms.push(r.latency_ms);
    let by_rep = facts
        .latency_ms_by_repetition
        .entry(r.repetition)
        .or_default();
    by_rep.0 += r.latency_ms;
    by_rep.1 += 1;
    facts.stream.take(&r);
    if let Some(t) = r.ttft_ms {
        facts.ttft_ms.push(t);
    }
    *facts.ok_requests.entry(r.repetition).or_default() += 1;
    if let Some(tokens) = r.completion_tokens {
        *facts.completion_tokens.entry(r.repetition).or_default() += tokens;
        *facts.requests_with_tokens.entry(r.repetition).or_default() += 1;
    }
    integrator.open(
        Payload {
            config,
            repetition: r.repetition,
            index: r.index,
            latency_ms: r.latency_ms,
        },
        r.t_start_ns,
        r.t_end_ns,
    );
}

fn finish(
    done: Integrated<Payload>,
    ctx: &Ctx<'_>,
    out: &mut RunScan,
    sink: &mut dyn RequestEnergySink,
) -> Result<(), ReportError> {
    let p = &done.payload;
    let facts = &mut out.requests[p.config];
    let below =
        ((done.t_end_ns - done.t_start_ns) as f64) < ctx.min_resolution_ns && ctx.has_samples;
    if below {
        facts.below_resolution += 1;
    }
    let idle = ctx.idle_w[p.config].get(&p.repetition).copied().flatten();
    let seconds = (done.t_end_ns - done.t_start_ns) as f64 * 1e-9;
    let net = done.energy_j.zip(idle).map(|(e, w)| e - w * seconds);
    match done.energy_j {
        Some(e) => facts.request_energy_j.push(e),
        None if ctx.has_samples => facts.energy_unknown += 1,
        None => {}
    }
    if let Some(n) = net {
        facts.request_net_energy_j.push(n);
    }
    if !ctx.has_samples {
        return Ok(());
    }
    sink.take(&RequestEnergyRecord {
        config: ctx.configs[p.config].info.id.clone(),
        repetition: p.repetition,
        index: p.index,
        t_start_ns: done.t_start_ns,
        t_end_ns: done.t_end_ns,
        latency_ms: p.latency_ms,
        energy_j: done.energy_j,
        net_energy_j: net,
        below_resolution: below,
        provenance: ctx.labels[p.config],
    })
}

/// The domains that count in the machine total, in a fixed order.
pub(crate) fn counted_domains(configs: &[Configuration]) -> Vec<DomainKey> {
    let mut keys: Vec<DomainKey> = configs
        .iter()
        .flat_map(|c| c.domains())
        .filter(|(_, (_, counts))| *counts)
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Idle power of the counted domains per configuration and repetition (W).
fn idle_power(configs: &[Configuration]) -> Vec<BTreeMap<u32, Option<f64>>> {
    configs
        .iter()
        .map(|c| {
            c.repetitions
                .iter()
                .map(|(n, rep)| {
                    let idle: Option<f64> = rep
                        .domains
                        .values()
                        .filter(|w| w.counts_in_total)
                        .map(|w| w.idle_power_w)
                        .sum();
                    (*n, idle)
                })
                .collect()
        })
        .collect()
}

/// Extends `domains` (each domain with its index among the counted ones) to every domain
/// the reader has seen (`seen`, in the reader's order).
pub(crate) fn track_domains(
    domains: &mut Vec<(DomainKey, Option<usize>)>,
    counted: &[DomainKey],
    seen: &[DomainKey],
) {
    for key in &seen[domains.len().min(seen.len())..] {
        let counted_index = counted.iter().position(|k| k == key);
        domains.push((key.clone(), counted_index));
    }
}
