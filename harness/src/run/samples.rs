//! The thread that streams sampler events into `samples.csv` with bounded memory.

use crate::writer::{RowAppender, WriteError};
use probes::discovery::SourceDescription;
use probes::{DRAIN_PERIOD, SamplerEvent, drain_every};
use records::raw::{ContextRecord, SampleRecord};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// Starts the writer thread for `samples.csv` and `context.csv`; it takes what the
/// sampler queued every `DRAIN_PERIOD` and ends when every sender of `events` is dropped
/// (unpark its thread then, so it ends at once).
pub fn spawn_writer(
    dir: &Path,
    sources: Vec<SourceDescription>,
    events: Receiver<SamplerEvent>,
    continuation: Continuation,
) -> Result<JoinHandle<Result<u64, WriteError>>, WriteError> {
    let path = dir.join(records::files::SAMPLES_CSV);
    let path = path.as_path();
    let mut writer = SampleWriter {
        sources,
        continuation,
        out: RowAppender::<SampleRecord>::open(path)?,
        context: None,
        context_path: dir.join(records::files::CONTEXT_CSV),
        written: 0,
        last_write: Instant::now(),
    };
    let handle = std::thread::Builder::new()
        .name("samples-writer".into())
        .spawn(move || {
            drain_every(&events, DRAIN_PERIOD, |batch| {
                for event in batch {
                    writer.take(event)?;
                }
                writer.flush_when_due()
            })?;
            writer.flush()?;
            Ok(writer.written)
        })
        .map_err(|e| WriteError {
            path: path.to_path_buf(),
            reason: format!("cannot start the samples writer thread: {e}"),
        })?;
    Ok(handle)
}

/// Sampler events turned into rows of `samples.csv` and `context.csv`.
struct SampleWriter {
    sources: Vec<SourceDescription>,
    continuation: Continuation,
    out: RowAppender<SampleRecord>,
    /// Opened at the first context event.
    context: Option<RowAppender<ContextRecord>>,
    context_path: PathBuf,
    written: u64,
    last_write: Instant,
}

impl SampleWriter {
    /// Queues the row of one event (events of unknown sources or domains are dropped).
    fn take(&mut self, event: SamplerEvent) -> Result<(), WriteError> {
        let offset = self.continuation.t_offset_ns;
        match event {
            SamplerEvent::Energy(s) => {
                let Some(source) = self.sources.get(s.source) else {
                    return Ok(());
                };
                let Some(domain) = source.domains.get(s.domain) else {
                    return Ok(());
                };
                let before = if self.continuation.energy_j.is_empty() {
                    0.0
                } else {
                    self.continuation
                        .energy_j
                        .get(&(source.name.clone(), domain.name.clone()))
                        .copied()
                        .unwrap_or(0.0)
                };
                self.out.push(&SampleRecord {
                    t_ns: s.t_ns + offset,
                    source: source.name.clone(),
                    domain: domain.name.clone(),
                    provenance: domain.provenance,
                    energy_j: s.energy_j + before,
                    power_w: s.power_w,
                })?;
                self.written += 1;
            }
            SamplerEvent::Context(c) => {
                let Some(source) = self.sources.get(c.source) else {
                    return Ok(());
                };
                let Some(domain) = source.domains.get(c.domain) else {
                    return Ok(());
                };
                let file = match &mut self.context {
                    Some(f) => f,
                    None => self.context.insert(RowAppender::open(&self.context_path)?),
                };
                file.push(&ContextRecord {
                    t_ns: c.t_ns + offset,
                    source: source.name.clone(),
                    domain: domain.name.clone(),
                    metric: c.metric.to_string(),
                    value: c.value,
                })?;
            }
        }
        Ok(())
    }

    /// Writes the queued rows once they fill a batch or have waited `BATCH_AGE`.
    fn flush_when_due(&mut self) -> Result<(), WriteError> {
        let pending =
            self.out.pending_bytes() + self.context.as_ref().map_or(0, |c| c.pending_bytes());
        if pending >= BATCH_BYTES || self.last_write.elapsed() >= BATCH_AGE {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes every queued row.
    fn flush(&mut self) -> Result<(), WriteError> {
        self.out.flush()?;
        if let Some(c) = &mut self.context {
            c.flush()?;
        }
        self.last_write = Instant::now();
        Ok(())
    }
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
