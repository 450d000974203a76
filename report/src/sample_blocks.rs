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
use crate::sample_reader::{RowsStart, Sample, Spans, figures, masks};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes read past a block's end to finish its last row (doubled for a longer row).
const SLACK: usize = 4096;
/// Fields a plain row may have; a row with more is left to the sequential reader.
const MAX_FIELDS: usize = 32;

/// The rows of one block.
pub(crate) struct Block {
    /// The samples, in file order; their `domain` indexes `names`.
    pub(crate) samples: Vec<Sample>,
    /// The domains of the block, in order of first appearance.
    pub(crate) names: Vec<DomainKey>,
    /// File offset just past the last row taken.
    pub(crate) resume: u64,
    /// Whether the block stopped at `resume`, on a row it does not take, before its end.
    pub(crate) stopped: bool,
}

/// Parses the rows that start within `start..end` of `file`, reusing `buf`.
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
        resume: start,
        stopped: true,
    };
    // From the byte before `start`, to see whether a row starts at `start`.
    let first = start <= layout.byte;
    let from = if first { start } else { start - 1 };
    let Some((filled, eof)) = read_rows(file, from, end, buf) else {
        return block;
    };
    let buf = &buf[..filled];
    let at = if first {
        0
    } else {
        match memchr::memchr(b'\n', buf) {
            Some(i) => i + 1,
            None => {
                // No row starts in the block: its bytes belong to a row before it.
                block.stopped = false;
                block.resume = from + buf.len() as u64;
                return block;
            }
        }
    };
    block.samples.reserve((end - start) as usize / 40);
    let end = usize::try_from(end - from).unwrap_or(usize::MAX);
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
                block.resume = from + row as u64;
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
    // A last row without a newline at the end of the file.
    if row < end && row < buf.len() && eof {
        if fields < MAX_FIELDS {
            rows.cuts[fields] = (field, buf.len());
        }
        fields += 1;
        let taken = fields == layout.fields && !(row..buf.len()).contains(&special);
        match taken.then(|| rows.sample(buf, &mut block.names)).flatten() {
            Some(sample) => {
                block.samples.push(sample);
                row = buf.len();
            }
            None => {
                block.resume = from + row as u64;
                return block;
            }
        }
    }
    block.resume = from + row as u64;
    block.stopped = row < end && row < buf.len();
    block
}

/// Reads `from..end` of `file` into the start of `buf`, and on past `end` to the next
/// newline; how many bytes were read and whether the file ended, or `None` at a read
/// error. `buf` only grows, so its bytes are zeroed once, not per block.
fn read_rows(file: &File, from: u64, end: u64, buf: &mut Vec<u8>) -> Option<(usize, bool)> {
    let past_end = usize::try_from(end - from).ok()?;
    let mut want = past_end.checked_add(SLACK)?;
    let mut filled = 0;
    loop {
        if buf.len() < want {
            buf.resize(want, 0);
        }
        while filled < want {
            match file.read_at(&mut buf[filled..want], from + filled as u64) {
                Ok(0) => return Some((filled, true)),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        // Every row starting before `end` must end in the buffer.
        if memchr::memchr(b'\n', &buf[past_end.min(filled)..filled]).is_some() {
            return Some((filled, false));
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
        let field = |i: usize| {
            let (a, b) = self.cuts[i];
            &buf[a..b]
        };
        let c = self.layout.columns;
        let spans = Spans {
            t_ns: self.cuts[c.t_ns],
            energy_j: self.cuts[c.energy_j],
            power_w: c.power_w.map(|i| self.cuts[i]),
        };
        let (t_ns, energy_j, power_w) = figures(buf, spans)?;
        let (source, domain) = (field(c.source), field(c.domain));
        let is = |k: &DomainKey| k.source.as_bytes() == source && k.domain.as_bytes() == domain;
        // Samplers write their domains in turn: the next row is most often the next domain.
        let next = if self.last + 1 < names.len() {
            self.last + 1
        } else {
            0
        };
        if names.get(next).is_some_and(is) {
            self.last = next;
        } else {
            self.last = match names.iter().position(is) {
                Some(i) => i,
                None => {
                    names.push(DomainKey {
                        source: std::str::from_utf8(source).ok()?.to_string(),
                        domain: std::str::from_utf8(domain).ok()?.to_string(),
                    });
                    names.len() - 1
                }
            };
        }
        Some(Sample {
            t_ns,
            domain: self.last,
            energy_j,
            power_w,
        })
    }
}
