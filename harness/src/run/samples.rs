//! The thread that streams sampler events into `samples.csv` with bounded memory.

use crate::writer::{RowAppender, WriteError};
use probes::SamplerEvent;
use probes::discovery::SourceDescription;
use records::raw::{ContextRecord, SampleRecord};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of pending rows that trigger a write.
const BATCH_BYTES: usize = 64 * 1024;
/// Longest time rows wait before they are written.
const BATCH_AGE: Duration = Duration::from_millis(500);

/// How a resumed run continues the interrupted one's samples.
#[derive(Clone, Debug, Default)]
pub struct Continuation {
    /// Added to every time written (ns).
    pub t_offset_ns: u64,
    /// Last cumulative energy per (source, domain) before the interruption (J), added
    /// so `energy_j` keeps growing across the gap.
    pub energy_j: BTreeMap<(String, String), f64>,
}

/// Starts the writer thread for `samples.csv` and `context.csv`; it ends when every
/// sender of `events` is dropped.
pub fn spawn_writer(
    dir: &Path,
    sources: Vec<SourceDescription>,
    events: Receiver<SamplerEvent>,
    continuation: Continuation,
) -> Result<JoinHandle<Result<u64, WriteError>>, WriteError> {
    let path = dir.join(records::files::SAMPLES_CSV);
    let path = path.as_path();
    let mut out = RowAppender::<SampleRecord>::open(path)?;
    let context_path = dir.join(records::files::CONTEXT_CSV);
    let mut context: Option<RowAppender<ContextRecord>> = None;
    let handle = std::thread::Builder::new()
        .name("samples-writer".into())
        .spawn(move || {
            let mut written = 0u64;
            let mut last_write = Instant::now();
            loop {
                let event = events.recv_timeout(BATCH_AGE);
                match event {
                    Ok(SamplerEvent::Energy(s)) => {
                        let Some(source) = sources.get(s.source) else {
                            continue;
                        };
                        let Some(domain) = source.domains.get(s.domain) else {
                            continue;
                        };
                        let before = if continuation.energy_j.is_empty() {
                            0.0
                        } else {
                            continuation
                                .energy_j
                                .get(&(source.name.clone(), domain.name.clone()))
                                .copied()
                                .unwrap_or(0.0)
                        };
                        out.push(&SampleRecord {
                            t_ns: s.t_ns + continuation.t_offset_ns,
                            source: source.name.clone(),
                            domain: domain.name.clone(),
                            provenance: domain.provenance,
                            energy_j: s.energy_j + before,
                            power_w: s.power_w,
                        })?;
                        written += 1;
                    }
                    Ok(SamplerEvent::Context(c)) => {
                        let Some(source) = sources.get(c.source) else {
                            continue;
                        };
                        let Some(domain) = source.domains.get(c.domain) else {
                            continue;
                        };
                        let file = match &mut context {
                            Some(f) => f,
                            None => context.insert(RowAppender::open(&context_path)?),
                        };
                        file.push(&ContextRecord {
                            t_ns: c.t_ns + continuation.t_offset_ns,
                            source: source.name.clone(),
                            domain: domain.name.clone(),
                            metric: c.metric.to_string(),
                            value: c.value,
                        })?;
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
                let pending =
                    out.pending_bytes() + context.as_ref().map_or(0, |c| c.pending_bytes());
                if pending >= BATCH_BYTES || last_write.elapsed() >= BATCH_AGE {
                    out.flush()?;
                    if let Some(c) = &mut context {
                        c.flush()?;
                    }
                    last_write = Instant::now();
                }
            }
            out.flush()?;
            if let Some(c) = &mut context {
                c.flush()?;
            }
            Ok(written)
        })
        .map_err(|e| WriteError {
            path: path.to_path_buf(),
            reason: format!("cannot start the samples writer thread: {e}"),
        })?;
    Ok(handle)
}

/// Appends the sampler's read gaps to `sampler_gaps.csv` (created only when there are any),
/// with times shifted by `t_offset_ns` like the samples.
pub fn write_gaps(
    dir: &Path,
    sources: &[SourceDescription],
    gaps: &[probes::Gap],
    t_offset_ns: u64,
) -> Result<(), WriteError> {
    if gaps.is_empty() {
        return Ok(());
    }
    let mut out = RowAppender::open(&dir.join(records::files::SAMPLER_GAPS_CSV))?;
    for gap in gaps {
        out.push(&records::raw::SamplerGapRecord {
            source: sources
                .get(gap.source)
                .map_or_else(|| format!("source-{}", gap.source), |s| s.name.clone()),
            t_start_ns: gap.t_start_ns + t_offset_ns,
            t_end_ns: gap.t_end_ns + t_offset_ns,
            errors: gap.errors,
            error: gap.error.clone(),
            open: gap.open,
            keep_alive_missed: gap.keep_alive_missed,
        })?;
    }
    out.flush()
}
