//! The thread that streams sampler events into `samples.csv` with bounded memory.

use crate::writer::{RowAppender, WriteError};
use probes::SamplerEvent;
use probes::discovery::SourceDescription;
use report::records::SampleRecord;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of pending rows that trigger a write.
const BATCH_BYTES: usize = 64 * 1024;
/// Longest time rows wait before they are written.
const BATCH_AGE: Duration = Duration::from_millis(500);

/// Starts the writer thread; it ends when every sender of `events` is dropped.
pub fn spawn_writer(
    path: &Path,
    sources: Vec<SourceDescription>,
    events: Receiver<SamplerEvent>,
) -> Result<JoinHandle<Result<u64, WriteError>>, WriteError> {
    let mut out = RowAppender::<SampleRecord>::open(path)?;
    let handle = std::thread::Builder::new()
        .name("samples-writer".into())
        .spawn(move || {
            let mut written = 0u64;
            let mut last_write = Instant::now();
            loop {
                let event = events.recv_timeout(BATCH_AGE);
                match event {
                    Ok(SamplerEvent::Energy(s)) => {
                        let Some(source) = sources.get(s.source) else { continue };
                        let Some(domain) = source.domains.get(s.domain) else { continue };
                        out.push(&SampleRecord {
                            t_ns: s.t_ns,
                            source: source.name.clone(),
                            domain: domain.name.clone(),
                            provenance: domain.provenance.as_str().to_string(),
                            energy_j: s.energy_j,
                            power_w: s.power_w,
                        })?;
                        written += 1;
                    }
                    Ok(SamplerEvent::Context(_)) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
                if out.pending_bytes() >= BATCH_BYTES || last_write.elapsed() >= BATCH_AGE {
                    out.flush()?;
                    last_write = Instant::now();
                }
            }
            out.flush()?;
            Ok(written)
        })
        .map_err(|e| WriteError {
            path: path.to_path_buf(),
            reason: format!("cannot start the samples writer thread: {e}"),
        })?;
    Ok(handle)
}
