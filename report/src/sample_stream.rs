//! `samples.csv` parsed on a thread of its own, handed over in batches, so the pass that
//! integrates the samples runs beside the parsing instead of after it.

use crate::ReportError;
use crate::configs::DomainKey;
use crate::sample_reader::{Sample, SampleReader};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Samples per batch (32 bytes each).
const BATCH: usize = 2048;
/// Batches parsed ahead of the consumer at most.
const AHEAD: usize = 4;

/// Samples parsed ahead, the domains they name, and how the file ended after them.
struct Batch {
    samples: Vec<Sample>,
    /// Domains first seen in this batch, in the reader's order.
    new_domains: Vec<DomainKey>,
    /// `Some` in the last batch: the end of the file, or the error that stopped the reader.
    end: Option<Result<(), ReportError>>,
}

/// The samples of one `samples.csv`, in file order, parsed on a thread of their own.
pub(crate) struct SampleStream {
    batches: Option<Receiver<Batch>>,
    parser: Option<JoinHandle<()>>,
    current: std::vec::IntoIter<Sample>,
    end: Option<Result<(), ReportError>>,
    domains: Vec<DomainKey>,
}

impl SampleStream {
    /// Opens `path` (its header is read here, so a bad header is refused at once) and
    /// starts parsing it.
    pub(crate) fn open(path: &Path) -> Result<Self, ReportError> {
        let reader = SampleReader::open(path)?;
        let (tx, rx) = sync_channel(AHEAD);
        let parser = std::thread::Builder::new()
            .name("samples.csv".into())
            .spawn(move || parse_in_batches(reader, &tx))
            .map_err(|e| {
                ReportError::Invalid(format!("cannot start the thread reading samples.csv: {e}"))
            })?;
        Ok(Self {
            batches: Some(rx),
            parser: Some(parser),
            current: Vec::new().into_iter(),
            end: None,
            domains: Vec::new(),
        })
    }

    /// The domains of the samples returned so far (`Sample::domain` indexes them).
    pub(crate) fn domains(&self) -> &[DomainKey] {
        &self.domains
    }

    /// The next sample, `None` at the end of the file.
    pub(crate) fn next(&mut self) -> Result<Option<Sample>, ReportError> {
        loop {
            if let Some(s) = self.current.next() {
                return Ok(Some(s));
            }
            if let Some(end) = self.end.take() {
                // Once ended, the stream stays ended.
                self.end = Some(Ok(()));
                return end.map(|()| None);
            }
            let batch = self.batches.as_ref().and_then(|rx| rx.recv().ok());
            let Some(batch) = batch else {
                self.end = Some(Ok(()));
                return Err(ReportError::Invalid(
                    "the thread reading samples.csv stopped before the end of the file".into(),
                ));
            };
            self.domains.extend(batch.new_domains);
            self.current = batch.samples.into_iter();
            self.end = batch.end;
        }
    }
}

impl Drop for SampleStream {
    fn drop(&mut self) {
        // A closed channel stops the parser at its next batch; then it is joined, so no
        // thread outlives the pass.
        self.batches = None;
        if let Some(parser) = self.parser.take() {
            let _ = parser.join();
        }
    }
}

/// Parses every sample of `reader` into batches sent on `tx`, until the end of the file,
/// an error, or a consumer that has gone.
fn parse_in_batches(mut reader: SampleReader, tx: &SyncSender<Batch>) {
    let mut known = 0;
    loop {
        let mut samples = Vec::with_capacity(BATCH);
        let mut end = None;
        while samples.len() < BATCH {
            match reader.next() {
                Ok(Some(s)) => samples.push(s),
                Ok(None) => {
                    end = Some(Ok(()));
                    break;
                }
                Err(e) => {
                    end = Some(Err(e));
                    break;
                }
            }
        }
        let new_domains = reader.domains()[known..].to_vec();
        known = reader.domains().len();
        let last = end.is_some();
        let batch = Batch {
            samples,
            new_domains,
            end,
        };
        if tx.send(batch).is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rows: usize, bad_at: Option<usize>) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("samples.csv");
        let mut text = String::from("t_ns,source,domain,energy_j,power_w\n");
        for i in 0..rows {
            let energy = if bad_at == Some(i) {
                "oops".to_string()
            } else {
                format!("{}.5", i)
            };
            let domain = ["package-0", "dram"][i % 2];
            text.push_str(&format!("{i},rapl,{domain},{energy},\n"));
        }
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn batches_give_every_sample_in_order_with_its_domain() {
        let rows = 3 * BATCH + 5;
        let (_dir, path) = file(rows, None);
        let mut stream = SampleStream::open(&path).expect("open");
        let mut n = 0;
        while let Some(s) = stream.next().expect("sample") {
            assert_eq!((s.t_ns, s.energy_j), (n as u64, n as f64 + 0.5));
            assert_eq!(
                stream.domains()[s.domain].domain,
                ["package-0", "dram"][n % 2]
            );
            n += 1;
        }
        assert_eq!(n, rows);
        assert!(stream.next().expect("ended").is_none(), "stays ended");
    }

    #[test]
    fn an_error_comes_after_the_samples_before_it() {
        let (_dir, path) = file(2 * BATCH, Some(BATCH + 3));
        let mut stream = SampleStream::open(&path).expect("open");
        let mut n = 0;
        let e = loop {
            match stream.next() {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("the bad row was not refused"),
                Err(e) => break e.to_string(),
            }
        };
        assert_eq!(n, BATCH + 3, "every sample before the bad row");
        // Line 1 is the header.
        assert!(
            e.contains(&format!("line {}", BATCH + 5)) && e.contains("oops"),
            "{e}"
        );
    }

    #[test]
    fn a_stream_dropped_early_stops_its_thread() {
        let (_dir, path) = file(20 * BATCH, None);
        let mut stream = SampleStream::open(&path).expect("open");
        assert!(stream.next().expect("first").is_some());
        // The parser is blocked on a full channel: dropping must close it and join.
        drop(stream);
    }
}
