//! One block of `samples.csv` parsed on its own, so that blocks can be parsed on several
//! threads at once.
//!
//! A block is a byte range of the file; its rows are the rows that start in it (the last
//! one may end past it). It takes plain rows only: at the first row that is not plain (a
//! quote or carriage return, another field count, an empty line, a name that is not UTF-8,
//! a figure that is not a plain decimal within its bounds), or at a read error, it stops
//! and says where, and the sequential reader goes on from there, with the line numbers a
//! block cannot know, and words any error.

use crate::configs::DomainKey;
use crate::sample_reader::{RowsStart, Sample, figures, find_domain, masks};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes read past a block's end to finish its last row (doubled for a longer row).
const SLACK: usize = 4096;
/// Bytes a block reads at most (its own and its last row's): past that, the sequential
/// reader takes the row.
const MAX_READ: usize = 64 << 20;
/// Fields a plain row may have; a file with more is left to the sequential reader.
const MAX_FIELDS: usize = 32;

/// The rows of one block.
pub(crate) struct Block {
    /// The samples, in file order; their `domain` indexes `names`.
    pub(crate) samples: Vec<Sample>,
    /// The domains of the block, in order of first appearance.
    pub(crate) names: Vec<DomainKey>,
    /// File offset where the rows after the block's samples start; `None` when the block
    /// took no row and knows no row start (the rows after the previous block's start
    /// where they did).
    pub(crate) resume: Option<u64>,
    /// Whether the rows after the samples are left to the sequential reader: the block
    /// met a row it does not take (or could not read), before its end.
    pub(crate) stopped: bool,
}

/// Parses the rows that start within `start..end` of `file`, reusing `buf`. Only rows
/// ended by a newline are taken: one the writer may still be finishing is left to the
/// sequential reader, as is everything after a row that is not plain.
pub(crate) fn parse_block(
    file: &File,
    layout: &RowsStart,
    start: u64,
    end: u64,
    buf: &mut Vec<u8>,
) -> Block {
    let mut block = Block {
        samples: Vec::new(),
        names: Vec::new(),
        resume: None,
        stopped: true,
    };
    if layout.fields > MAX_FIELDS {
        return block;
    }
    // From the byte before `start`, to see whether a row starts at `start`.
    let first = start <= layout.byte;
    let from = if first { start } else { start - 1 };
    let Some(filled) = read_rows(file, from, end, !first, buf) else {
        return block;
    };
    let buf = &buf[..filled];
    let end = usize::try_from(end - from).unwrap_or(usize::MAX);
    let at = if first {
        0
    } else {
        match memchr::memchr(b'\n', &buf[..end.min(buf.len())]) {
            Some(i) => i + 1,
            // No row starts in the block: its bytes belong to a row before it.
            None if buf.len() > end => {
                block.stopped = false;
                return block;
            }
            // Or to a last row the writer may still be finishing.
            None => return block,
        }
    };
    block.samples.reserve(end.saturating_sub(at) / 40);
    // The first quote or carriage return: the row holding it is not plain.
    let special = memchr::memchr2(b'"', b'\r', buf).unwrap_or(usize::MAX);
    let mut rows = Rows {
        layout,
        last: 0,
        cuts: [(0, 0); MAX_FIELDS],
    };
    // Rows are split at the commas and newlines of 64 bytes at a time (bit masks), one
    // row after another; `row` is where the current row starts, `field` its current field.
    let (mut row, mut field, mut fields) = (at, at, 0);
    let mut chunk = at;
    let mut padded = [0u8; 64];
    while row < end && chunk < buf.len() {
        let bytes: &[u8; 64] = match buf.get(chunk..chunk + 64) {
            Some(b) => b.try_into().unwrap_or(&padded),
            None => {
                padded = [0; 64];
                padded[..buf.len() - chunk].copy_from_slice(&buf[chunk..]);
                &padded
            }
        };
        let (newlines, commas, _) = masks(bytes);
        let mut cuts = newlines | commas;
        while cuts != 0 {
            let bit = cuts.trailing_zeros();
            cuts &= cuts - 1;
            let at = chunk + bit as usize;
            if fields < MAX_FIELDS {
                rows.cuts[fields] = (field, at);
            }
            fields += 1;
            field = at + 1;
            if newlines >> bit & 1 == 0 {
                continue;
            }
            let taken = fields == layout.fields && at > row && !(row..at).contains(&special);
            let sample = taken.then(|| rows.sample(buf, &mut block.names)).flatten();
            let Some(sample) = sample else {
                block.resume = Some(from + row as u64);
                return block;
            };
            block.samples.push(sample);
            (row, fields) = (at + 1, 0);
            if row >= end {
                break;
            }
        }
        chunk += 64;
    }
    block.resume = Some(from + row as u64);
    // Rows left before the end are the file's last, without a newline (yet).
    block.stopped = row < end && row < buf.len();
    block
}

/// Reads `from..end` of `file` into the start of `buf`, and on past `end` to the next
/// newline (or the end of the file); how many bytes were read, or `None` at a read error
/// or past [`MAX_READ`]. When `row_start_needed`, it stops early where no newline falls
/// before `end` (no row starts in the block). `buf` only grows, so its bytes are zeroed
/// once, not per block.
fn read_rows(
    file: &File,
    from: u64,
    end: u64,
    row_start_needed: bool,
    buf: &mut Vec<u8>,
) -> Option<usize> {
    let past_end = usize::try_from(end - from).ok()?;
    let mut want = past_end.checked_add(SLACK)?;
    let mut filled = 0;
    loop {
        if want > MAX_READ {
            return None;
        }
        if buf.len() < want {
            buf.resize(want, 0);
        }
        while filled < want {
            match file.read_at(&mut buf[filled..want], from + filled as u64) {
                Ok(0) => return Some(filled),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        if row_start_needed && memchr::memchr(b'\n', &buf[..past_end.min(filled)]).is_none() {
            return Some(filled);
        }
        // Every row starting before `end` must end in the buffer.
        if memchr::memchr(b'\n', &buf[past_end.min(filled)..filled]).is_some() {
            return Some(filled);
        }
        want = want.checked_mul(2)?;
    }
}

/// Splits and reads plain rows of one block.
struct Rows<'a> {
    layout: &'a RowsStart,
    /// The block domain of the last row.
    last: usize,
    cuts: [(usize, usize); MAX_FIELDS],
}

impl Rows<'_> {
    /// The sample of the row just split into `cuts` over `buf`, its domain among `names`;
    /// `None` when the row is not plain.
    #[inline]
    fn sample(&mut self, buf: &[u8], names: &mut Vec<DomainKey>) -> Option<Sample> {
        let c = self.layout.columns;
        let (t_ns, energy_j, power_w) = figures(buf, c.spans(&self.cuts))?;
        let field = |i: usize| {
            let (a, b) = self.cuts[i];
            &buf[a..b]
        };
        // A new name that is not UTF-8 is not plain.
        if !find_domain(names, &mut self.last, field(c.source), field(c.domain)) {
            return None;
        }
        Some(Sample {
            t_ns,
            domain: self.last,
            energy_j,
            power_w,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample_reader::SampleReader;

    fn layout_of(text: &str) -> (tempfile::TempDir, File, RowsStart) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("samples.csv");
        std::fs::write(&path, text).expect("write");
        let layout = SampleReader::open(&path).expect("open").rows_start();
        let file = File::open(&path).expect("open");
        (dir, file, layout)
    }

    /// Each block takes the rows that start in it, and says where the next one starts.
    #[test]
    fn blocks_take_the_rows_that_start_in_them() {
        let rows: String = (0..40)
            .map(|i| format!("{i},rapl,{},{i}.5,\n", ["package-0", "dram"][i % 2]))
            .collect();
        let text = format!("t_ns,source,domain,energy_j,power_w\n{rows}");
        let (_dir, file, layout) = layout_of(&text);
        let len = text.len() as u64;
        let mut buf = Vec::new();
        let (mut start, mut next_row, mut seen) = (layout.byte, layout.byte, 0u64);
        while start < len {
            let end = (start + 50).min(len);
            let block = parse_block(&file, &layout, start, end, &mut buf);
            assert!(!block.stopped, "block at {start}");
            for s in &block.samples {
                assert_eq!(s.t_ns, seen, "block at {start}");
                assert_eq!(s.energy_j, seen as f64 + 0.5);
                assert_eq!(
                    block.names[s.domain].domain,
                    ["package-0", "dram"][seen as usize % 2]
                );
                seen += 1;
            }
            let resume = block.resume.expect("a row start");
            assert!(resume >= end && resume >= next_row, "block at {start}");
            assert!(resume == len || text.as_bytes()[resume as usize - 1] == b'\n');
            next_row = resume;
            start = end;
        }
        assert_eq!(seen, 40);
    }

    /// A block inside one long row takes nothing and knows no row start; the block where
    /// the row starts reads it whole.
    #[test]
    fn a_block_inside_a_long_row_takes_nothing() {
        let long = "d".repeat(10_000);
        let text =
            format!("t_ns,source,domain,energy_j,power_w\n1,rapl,{long},0.5,\n2,rapl,x,1,\n");
        let (_dir, file, layout) = layout_of(&text);
        let mut buf = Vec::new();
        let inside = parse_block(
            &file,
            &layout,
            layout.byte + 100,
            layout.byte + 200,
            &mut buf,
        );
        assert!(inside.samples.is_empty() && !inside.stopped && inside.resume.is_none());
        let first = parse_block(&file, &layout, layout.byte, layout.byte + 100, &mut buf);
        assert_eq!(first.samples.len(), 1);
        let second_row = text.find("2,rapl").expect("row") as u64;
        assert_eq!((first.resume, first.stopped), (Some(second_row), false));
    }

    /// A header of more columns than a block splits is left to the sequential reader,
    /// without a panic.
    #[test]
    fn more_columns_than_a_block_splits_are_left_to_the_sequential_reader() {
        let extra: String = (0..40).map(|i| format!("c{i},")).collect();
        let values = "0,".repeat(40);
        let text =
            format!("{extra}t_ns,source,domain,energy_j,power_w\n{values}1,rapl,dram,0.5,\n");
        let (_dir, file, layout) = layout_of(&text);
        let mut buf = Vec::new();
        let block = parse_block(&file, &layout, layout.byte, text.len() as u64, &mut buf);
        assert!(block.samples.is_empty() && block.stopped);
    }
}
