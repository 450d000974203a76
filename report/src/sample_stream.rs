//! `samples.csv` parsed on threads of their own, handed over in file order, so the pass
//! that integrates the samples runs beside the parsing instead of after it.
//!
//! The file is cut into blocks of [`BLOCK`] bytes, dealt in turn to one parser per core
//! ([`crate::sample_blocks`]); the pass takes the blocks back in file order, each parser
//! at most [`AHEAD`] blocks ahead. At the first row a block does not take (or a parser
//! gone), the parsers are stopped and the sequential reader goes on from that row, with
//! its line number, reading what follows or refusing it as it always has.

use crate::ReportError;
use crate::configs::DomainKey;
use crate::sample_blocks::{Block, parse_block};
use crate::sample_reader::{RowsStart, Sample, SampleReader};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes of the file per block (about 18,000 rows of a run's samples).
const BLOCK: u64 = 1 << 20;
/// Blocks each parser may have parsed ahead of the pass.
const AHEAD: usize = 2;
/// Parsers at most, whatever the core count.
const MAX_PARSERS: usize = 8;

/// The parsers and the blocks they have yet to hand over.
struct Parsers {
    /// One receiver per parser; block `i` comes from `queues[i % queues.len()]`.
    queues: Vec<Receiver<Block>>,
    threads: Vec<JoinHandle<()>>,
    /// The next block to take, and how many there are.
    next: u64,
    count: u64,
}

/// How the file is cut and parsed.
#[derive(Clone, Copy)]
struct Plan {
    /// Bytes per block.
    block: u64,
    /// Parsers at most.
    parsers: usize,
}

impl Plan {
    /// Blocks of [`BLOCK`] bytes, a parser per core.
    fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            block: BLOCK,
            parsers: cores.clamp(1, MAX_PARSERS),
        }
    }
}

impl Parsers {
    /// Starts the parsers over the blocks of `path` after its header; `None` when there
    /// is nothing to parse or no thread could start (the sequential reader does it all).
    fn start(path: &Path, layout: RowsStart, plan: Plan) -> Option<Self> {
        let file = Arc::new(File::open(path).ok()?);
        let len = file.metadata().ok()?.len();
        let count = len.saturating_sub(layout.byte).div_ceil(plan.block);
        if count == 0 {
            return None;
        }
        let parsers = plan
            .parsers
            .min(usize::try_from(count).unwrap_or(usize::MAX));
        let block = plan.block;
        let mut started = Self {
            queues: Vec::new(),
            threads: Vec::new(),
            next: 0,
            count,
        };
        for k in 0..parsers {
            let (tx, rx) = sync_channel(AHEAD);
            let file = Arc::clone(&file);
            let deal = Deal {
                first: k as u64,
                step: parsers as u64,
                count,
                block,
                len,
            };
            let thread = std::thread::Builder::new()
                .name("samples.csv".into())
                .spawn(move || parse_blocks(&file, layout, deal, &tx))
                // The blocks are dealt to every planned parser: without one of them, the
                // sequential reader does it all (dropping `started` joins the others).
                .ok()?;
            started.queues.push(rx);
            started.threads.push(thread);
        }
        Some(started)
    }

    /// The next block in file order; `None` after the last, or when its parser is gone.
    fn take(&mut self) -> Option<Block> {
        if self.next == self.count {
            return None;
        }
        let queue = &self.queues[(self.next % self.queues.len() as u64) as usize];
        let block = queue.recv().ok()?;
        self.next += 1;
        Some(block)
    }
}

impl Drop for Parsers {
    fn drop(&mut self) {
        // Closed queues stop each parser at its next block; joined, no thread outlives
        // the pass.
        self.queues.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The blocks one parser takes: `first`, `first + step`, … below `count`.
struct Deal {
    first: u64,
    step: u64,
    count: u64,
    /// Bytes per block, and the file's length when it was opened.
    block: u64,
    len: u64,
}

/// Parses the blocks of `deal` in turn, until one stops early or the pass has gone.
fn parse_blocks(file: &File, layout: RowsStart, deal: Deal, tx: &SyncSender<Block>) {
    let mut buf = Vec::new();
    let mut i = deal.first;
    while i < deal.count {
        let start = layout.byte + i * deal.block;
        let end = (start + deal.block).min(deal.len);
        let block = parse_block(file, &layout, start, end, &mut buf);
        let stopped = block.stopped;
        if tx.send(block).is_err() || stopped {
            return;
        }
        i += deal.step;
    }
}

/// The samples of one `samples.csv`, in file order.
pub(crate) struct SampleStream {
    reader: SampleReader,
    parsers: Option<Parsers>,
    current: std::vec::IntoIter<Sample>,
    /// The reader's index of each domain of the current block.
    current_domains: Vec<usize>,
    /// Where the rows after the current block start: file offset, line, record.
    resume: (u64, u64, u64),
    /// Whether the sequential reader has been moved there (once the parsers are done).
    reader_resumed: bool,
}

impl SampleStream {
    /// Opens `path` (its header is read here, so a bad header is refused at once) and
    /// starts parsing it.
    pub(crate) fn open(path: &Path) -> Result<Self, ReportError> {
        Self::open_with(path, Plan::for_this_machine())
    }

    fn open_with(path: &Path, plan: Plan) -> Result<Self, ReportError> {
        let reader = SampleReader::open(path)?;
        let layout = reader.rows_start();
        Ok(Self {
            parsers: Parsers::start(path, layout, plan),
            reader,
            current: Vec::new().into_iter(),
            current_domains: Vec::new(),
            resume: (layout.byte, layout.line, layout.record),
            reader_resumed: false,
        })
    }

    /// The domains met so far (`Sample::domain` indexes them): those of every sample
    /// returned, and perhaps some of the block being returned.
    pub(crate) fn domains(&self) -> &[DomainKey] {
        self.reader.domains()
    }

    /// The next sample, `None` at the end of the file.
    #[inline]
    pub(crate) fn next(&mut self) -> Result<Option<Sample>, ReportError> {
        if let Some(mut s) = self.current.next() {
            s.domain = self.current_domains[s.domain];
            return Ok(Some(s));
        }
        self.next_block()
    }

    /// Takes the next block and gives its first sample; after the last block, or after
    /// one that stopped at a row it did not take, the sequential reader goes on from
    /// there.
    #[cold]
    fn next_block(&mut self) -> Result<Option<Sample>, ReportError> {
        loop {
            if let Some(mut s) = self.current.next() {
                s.domain = self.current_domains[s.domain];
                return Ok(Some(s));
            }
            let Some(parsers) = self.parsers.as_mut() else {
                if !self.reader_resumed {
                    self.reader_resumed = true;
                    let (byte, line, record) = self.resume;
                    self.reader.resume_at(byte, line, record)?;
                }
                return self.reader.next();
            };
            let Some(block) = parsers.take() else {
                // The last block, or a parser gone.
                self.parsers = None;
                continue;
            };
            let rows = block.samples.len() as u64;
            self.current_domains.clear();
            for k in &block.names {
                let i = self.reader.domain_index(&k.source, &k.domain);
                self.current_domains.push(i);
            }
            let (byte, line, record) = self.resume;
            self.resume = (block.resume.unwrap_or(byte), line + rows, record + rows);
            if block.stopped {
                // The rows after these go to the sequential reader.
                self.parsers = None;
            }
            self.current = block.samples.into_iter();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "t_ns,source,domain,energy_j,power_w\n";

    /// Every sample as (t_ns, source/domain, energy bits, power bits), then the error if
    /// one ended the file.
    type Read = (Vec<(u64, String, u64, Option<u64>)>, Option<String>);

    fn write(text: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("samples.csv");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    /// Every sample `next` gives, with its domain's name, until the end or an error.
    fn read_all(next: &mut dyn FnMut() -> Result<Option<(Sample, String)>, ReportError>) -> Read {
        let mut out = Vec::new();
        loop {
            match next() {
                Ok(Some((s, domain))) => out.push((
                    s.t_ns,
                    domain,
                    s.energy_j.to_bits(),
                    s.power_w.map(f64::to_bits),
                )),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    fn name(k: &DomainKey) -> String {
        format!("{}/{}", k.source, k.domain)
    }

    fn through_stream(path: &Path, plan: Plan) -> Read {
        let mut stream = SampleStream::open_with(path, plan).expect("open");
        read_all(&mut || {
            let s = stream.next()?;
            Ok(s.map(|s| (s, name(&stream.domains()[s.domain]))))
        })
    }

    fn through_reader(path: &Path) -> Read {
        let mut reader = SampleReader::open(path).expect("open");
        read_all(&mut || {
            let s = reader.next()?;
            Ok(s.map(|s| (s, name(&reader.domains()[s.domain]))))
        })
    }

    /// Plain rows with figures as the run writes them (shortest round trip: up to 17
    /// digits, exponents for tiny powers) over three domains.
    fn rows(n: usize) -> String {
        let mut text = String::new();
        for i in 0..n {
            let domain = ["package-0", "dram", "core"][i % 3];
            let energy = i as f64 * 0.015625 + 1.0 / 3.0;
            let power = match i % 4 {
                0 => String::new(),
                1 => format!("{}", 1.0 / (i as f64 + 7.0)),
                2 => "2.5e-7".to_string(),
                _ => format!("{}", i * 10),
            };
            text.push_str(&format!(
                "{},rapl,{domain},{energy},{power}\n",
                1_700_000_000_000_000_000u64 + i as u64 * 10_000_000
            ));
        }
        text
    }

    /// Files the blocks must read exactly as the sequential reader does, row for row and
    /// error for error.
    fn cases() -> Vec<(&'static str, Vec<u8>)> {
        let plain = format!("{HEADER}{}", rows(60));
        let mut cases = vec![
            ("plain", plain.clone().into_bytes()),
            ("no final newline", plain.trim_end().as_bytes().to_vec()),
            ("header only", HEADER.as_bytes().to_vec()),
        ];
        let at = |k: usize| -> usize {
            plain
                .match_indices('\n')
                .nth(k)
                .map_or(plain.len(), |(i, _)| i + 1)
        };
        let splice = |k: usize, row: &str| -> Vec<u8> {
            let i = at(k);
            format!("{}{row}{}", &plain[..i], &plain[i..]).into_bytes()
        };
        cases.push(("quoted field", splice(30, "9,\"rapl\",dram,1.5,\n")));
        cases.push(("quoted newline", splice(30, "9,rapl,\"dr\nam\",1.5,\n")));
        cases.push(("crlf row", splice(20, "9,rapl,dram,1.5,\r\n")));
        cases.push(("empty line", splice(40, "\n")));
        cases.push(("bad number", splice(45, "9,rapl,dram,x1,\n")));
        cases.push(("negative", splice(45, "9,rapl,dram,-1,\n")));
        cases.push(("bad time", splice(45, "+9,rapl,dram,1,\n")));
        cases.push(("torn row", splice(25, "9,rapl,dr\n")));
        cases.push(("more fields", splice(25, "9,rapl,dram,1,2,3\n")));
        cases.push((
            "a plain row inside a quoted field",
            splice(30, "9,rapl,\"x\n10,rapl,dram,2.5,\n\",1.5,\n"),
        ));
        cases.push((
            "twenty-digit time",
            splice(12, "18446744073709551615,rapl,dram,1,\n"),
        ));
        cases.push((
            "time past u64",
            splice(12, "18446744073709551616,rapl,dram,1,\n"),
        ));
        cases.push(("not a number", splice(33, "9,rapl,dram,NaN,\n")));
        cases.push(("infinite", splice(33, "9,rapl,dram,1,inf\n")));
        cases.push(("exponent", splice(33, "9,rapl,dram,1e3,2.5E-2\n")));
        cases.push((
            "carriage returns only",
            plain.replace('\n', "\r").into_bytes(),
        ));
        cases.push((
            "long name",
            splice(10, &format!("9,rapl,{},1,\n", "d".repeat(5000))),
        ));
        let mut number = plain.clone().into_bytes();
        let i = at(35);
        number.splice(i..i, b"9,rapl,dram,1.\xff5,\n".iter().copied());
        cases.push(("number not UTF-8", number));
        let mut odd = plain.clone().into_bytes();
        let i = at(50);
        odd.splice(i..i, b"9,rapl,dr\xffam,1.5,\n".iter().copied());
        cases.push(("name not UTF-8", odd));
        cases
    }

    #[test]
    fn blocks_read_every_file_as_the_sequential_reader_does() {
        for (name, text) in cases() {
            let (_dir, path) = write(&text);
            let want = through_reader(&path);
            for block in [1, 2, 7, 33, 64, 100, 1000, BLOCK] {
                for parsers in [1, 2, 3] {
                    let got = through_stream(&path, Plan { block, parsers });
                    assert_eq!(
                        got, want,
                        "{name}: blocks of {block} bytes, {parsers} parsers"
                    );
                }
            }
        }
    }

    #[test]
    fn the_cases_cover_an_error_and_rows_after_the_sequential_reader_takes_over() {
        let cases = cases();
        let read = |name: &str| {
            let (_, text) = cases.iter().find(|(n, _)| *n == name).expect("case");
            let (_dir, path) = write(text);
            through_reader(&path)
        };
        let (rows, error) = read("bad number");
        assert_eq!(rows.len(), 45);
        assert!(error.is_some_and(|e| e.contains("line 47") && e.contains("x1")));
        let (rows, error) = read("quoted field");
        assert_eq!((rows.len(), error), (61, None));
    }

    #[test]
    fn an_error_comes_after_the_samples_before_it() {
        let mut text = format!("{HEADER}{}", rows(5000));
        text.push_str("1,rapl,dram,oops,\n");
        text.push_str(&rows(10));
        let (_dir, path) = write(text.as_bytes());
        // Blocks of 4 KiB: the bad row is in the 80th or so, parsed ahead by two parsers.
        let plan = Plan {
            block: 4096,
            parsers: 2,
        };
        let (samples, error) = through_stream(&path, plan);
        assert_eq!(samples.len(), 5000, "every sample before the bad row");
        // Line 1 is the header.
        let e = error.expect("refused");
        assert!(e.contains("line 5002") && e.contains("oops"), "{e}");
    }

    #[test]
    fn a_stream_dropped_early_stops_its_threads() {
        let text = format!("{HEADER}{}", rows(20_000));
        let (_dir, path) = write(text.as_bytes());
        let plan = Plan {
            block: 4096,
            parsers: 2,
        };
        let mut stream = SampleStream::open_with(&path, plan).expect("open");
        assert!(stream.next().expect("first").is_some());
        assert!(stream.parsers.is_some(), "the parsers are running");
        // The parsers are blocked on full queues: dropping must close them and join.
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(stream);
            let _ = done.send(());
        });
        // A bound on a hang, not a timing: joining takes microseconds.
        assert!(
            dropped
                .recv_timeout(std::time::Duration::from_secs(60))
                .is_ok(),
            "dropping the stream did not join its parsers"
        );
    }

    /// A file the run is still writing: a last row without its newline is left to the
    /// sequential reader, which ends the file there, as when it reads alone.
    #[test]
    fn a_last_row_being_written_is_read_as_the_sequential_reader_reads_it() {
        let head = format!("{HEADER}{}1,rapl,dram,1.5,2", rows(300));
        let (_dir, path) = write(head.as_bytes());
        let append = |path: &Path| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .expect("open");
            f.write_all(b"5\n2,rapl,dram,3,\n").expect("append");
        };
        let plan = Plan {
            block: 1024,
            parsers: 2,
        };
        // Up to `most` samples (or the end, or an error), as (t_ns, energy, power) bits.
        type Taken = Vec<Result<(u64, u64, Option<u64>), String>>;
        let take = |next: &mut dyn FnMut() -> Result<Option<Sample>, ReportError>, most| {
            let mut out: Taken = Vec::new();
            while out.len() < most {
                match next() {
                    Ok(Some(s)) => out.push(Ok((
                        s.t_ns,
                        s.energy_j.to_bits(),
                        s.power_w.map(f64::to_bits),
                    ))),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e.to_string()));
                        break;
                    }
                }
            }
            out
        };
        // Every row there is, then more read after the writer went on.
        let mut stream = SampleStream::open_with(&path, plan).expect("open");
        let before = take(&mut || stream.next(), 301);
        append(&path);
        let after = take(&mut || stream.next(), usize::MAX);
        let (_dir2, path2) = write(head.as_bytes());
        let mut reader = SampleReader::open(&path2).expect("open");
        let want_before = take(&mut || reader.next(), 301);
        append(&path2);
        let want_after = take(&mut || reader.next(), usize::MAX);
        assert_eq!(before.len(), 301);
        assert_eq!(
            before.last().and_then(|s| s.as_ref().ok()).map(|s| s.2),
            Some(Some(2f64.to_bits()))
        );
        assert_eq!(after, want_after, "after the writer went on");
        assert!(before == want_before, "the rows there were");
    }
}
