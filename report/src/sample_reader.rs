//! A streamed reader of `samples.csv` for the report's passes: one reused buffer, rows split
//! at commas and newlines 64 bytes at a time (SSE2 bit masks), numbers parsed in place,
//! names resolved to a domain index.
//!
//! `samples.csv` is written by the run and holds plain rows (numbers, probe and domain
//! names). A row the plain path cannot take as it is (a quoted field, a carriage return, a
//! field count other than the header's, bytes that are not UTF-8, an empty line) hands the
//! rest of the file to the `csv` crate at that row's position, which reads it, or refuses
//! it with its own error, exactly as before this reader existed.

use crate::ReportError;
use crate::configs::DomainKey;
use crate::sample_numbers::{digits, plain_decimal};
use records::finite::{check_value, sample_figures};
use records::table_io::open;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes read from the file at a time.
const CHUNK: usize = 1 << 20;

/// One sample; its domain is an index into [`SampleReader::domains`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) t_ns: u64,
    pub(crate) domain: usize,
    pub(crate) energy_j: f64,
    pub(crate) power_w: Option<f64>,
}

/// The columns the report reads, by position in the header (`power_w` may be absent).
#[derive(Clone, Copy)]
pub(crate) struct Columns {
    pub(crate) t_ns: usize,
    pub(crate) source: usize,
    pub(crate) domain: usize,
    pub(crate) energy_j: usize,
    pub(crate) power_w: Option<usize>,
}

impl Columns {
    /// Where the figures lie in a row split into `cuts` (field bounds).
    pub(crate) fn spans(&self, cuts: &[(usize, usize)]) -> Spans {
        Spans {
            t_ns: cuts[self.t_ns],
            energy_j: cuts[self.energy_j],
            power_w: self.power_w.map(|i| cuts[i]),
        }
    }
}

/// Where the rows of a `samples.csv` start, and how they are laid out.
#[derive(Clone, Copy)]
pub(crate) struct RowsStart {
    /// File offset, line and record number of the first row after the header.
    pub(crate) byte: u64,
    pub(crate) line: u64,
    pub(crate) record: u64,
    pub(crate) columns: Columns,
    /// Fields per row, as in the header.
    pub(crate) fields: usize,
}

/// Where the plain path stands in the file.
struct Plain {
    file: File,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// File offset of `buf[0]`.
    offset: u64,
    eof: bool,
}

/// A fast reader of `samples.csv` that reuses one buffer.
pub(crate) struct SampleReader {
    path: PathBuf,
    /// Where the first row starts, and the header's layout.
    rows_start: RowsStart,
    /// Line and record number of the next row.
    line: u64,
    record: u64,
    plain: Plain,
    /// Field boundaries of the current plain row (`start..end` in `plain.buf`).
    cuts: Vec<(usize, usize)>,
    /// The `csv` reader: it read the header, and takes over at the first row the plain
    /// path does not take (`csv_mode`).
    csv: csv::Reader<File>,
    csv_mode: bool,
    record_buf: csv::StringRecord,
    /// The domains seen, in order of first appearance, and the last one found.
    domains: Vec<DomainKey>,
    last: usize,
}

impl SampleReader {
    /// Opens `path` and reads its header.
    pub(crate) fn open(path: &Path) -> Result<Self, ReportError> {
        let mut csv = open(path)?;
        let header = csv.headers().map_err(|e| csv_err(path, e))?.clone();
        let missing = |name: &str| records::RecordsError::Field {
            path: path.to_path_buf(),
            line: 1,
            field: name.to_string(),
            message: "column missing from the header".to_string(),
        };
        let find = |name: &str| header.iter().position(|h| h == name);
        let columns = Columns {
            t_ns: find("t_ns").ok_or_else(|| missing("t_ns"))?,
            source: find("source").ok_or_else(|| missing("source"))?,
            domain: find("domain").ok_or_else(|| missing("domain"))?,
            energy_j: find("energy_j").ok_or_else(|| missing("energy_j"))?,
            // Only used where a counter went back.
            power_w: find("power_w"),
        };
        let at = csv.position().clone();
        let mut file = File::open(path).map_err(|cause| records::RecordsError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        file.seek(SeekFrom::Start(at.byte()))
            .map_err(|cause| records::RecordsError::Io {
                path: path.to_path_buf(),
                cause,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            line: at.line(),
            record: at.record(),
            rows_start: RowsStart {
                byte: at.byte(),
                line: at.line(),
                record: at.record(),
                columns,
                fields: header.len(),
            },
            plain: Plain {
                file,
                buf: vec![0; CHUNK],
                start: 0,
                end: 0,
                offset: at.byte(),
                eof: false,
            },
            cuts: Vec::with_capacity(header.len() + 1),
            csv,
            csv_mode: false,
            record_buf: csv::StringRecord::new(),
            domains: Vec::new(),
            last: 0,
        })
    }

    /// The domains of the samples read so far (`Sample::domain` indexes them).
    pub(crate) fn domains(&self) -> &[DomainKey] {
        &self.domains
    }

    /// Where the rows start and how they are laid out.
    pub(crate) fn rows_start(&self) -> RowsStart {
        self.rows_start
    }

    /// The index of the domain named `source`/`domain` among [`Self::domains`], added when
    /// new.
    pub(crate) fn domain_index(&mut self, source: &str, domain: &str) -> usize {
        find_domain(
            &mut self.domains,
            &mut self.last,
            source.as_bytes(),
            domain.as_bytes(),
        );
        self.last
    }

    /// Goes on from the row at file offset `byte`, numbered `line` and `record` (rows
    /// before it were read elsewhere).
    pub(crate) fn resume_at(
        &mut self,
        byte: u64,
        line: u64,
        record: u64,
    ) -> Result<(), ReportError> {
        let p = &mut self.plain;
        p.file
            .seek(SeekFrom::Start(byte))
            .map_err(|cause| records::RecordsError::Io {
                path: self.path.clone(),
                cause,
            })?;
        (p.start, p.end, p.offset, p.eof) = (0, 0, byte, false);
        (self.line, self.record, self.csv_mode) = (line, record, false);
        Ok(())
    }

    /// The next sample, `None` at the end of the file.
    pub(crate) fn next(&mut self) -> Result<Option<Sample>, ReportError> {
        if !self.csv_mode {
            match self.next_plain_row()? {
                Some(true) => return self.plain_sample().map(Some),
                Some(false) => self.hand_over_to_csv()?,
                None => return Ok(None),
            }
        }
        self.next_csv()
    }

    /// Finds the next row and splits it: `Some(true)` when the plain path takes it,
    /// `Some(false)` when the `csv` reader must (the row is left unread), `None` at the end.
    fn next_plain_row(&mut self) -> Result<Option<bool>, ReportError> {
        let p = &mut self.plain;
        loop {
            match split_row(&p.buf[..p.end], p.start, &mut self.cuts) {
                Split::Row { newline, plain } => {
                    if newline == p.start || !plain || self.cuts.len() != self.rows_start.fields {
                        return Ok(Some(false));
                    }
                    break;
                }
                Split::Partial if p.eof => {
                    if p.start == p.end {
                        return Ok(None);
                    }
                    // A last row without a newline: end it here (the file is not changed).
                    if p.end == p.buf.len() {
                        p.buf.push(b'\n');
                    } else {
                        p.buf[p.end] = b'\n';
                    }
                    p.end += 1;
                }
                Split::Partial => {
                    // Keep the partial row at the front; grow the buffer for a row longer
                    // than it.
                    p.buf.copy_within(p.start..p.end, 0);
                    p.offset += p.start as u64;
                    p.end -= p.start;
                    p.start = 0;
                    if p.end == p.buf.len() {
                        p.buf.resize(p.buf.len() * 2, 0);
                    }
                    let read = p.file.read(&mut p.buf[p.end..]).map_err(|cause| {
                        ReportError::from(records::RecordsError::Io {
                            path: self.path.clone(),
                            cause,
                        })
                    })?;
                    p.end += read;
                    p.eof = read == 0;
                }
            }
        }
        let field = |i: usize| field(&self.plain.buf, &self.cuts, i);
        let c = self.rows_start.columns;
        let (source, domain) = (field(c.source), field(c.domain));
        // Names that are not UTF-8 are left to `csv`, which refuses them.
        Ok(Some(find_domain(
            &mut self.domains,
            &mut self.last,
            source,
            domain,
        )))
    }

    /// Parses the split row (its domain found), and moves past it.
    fn plain_sample(&mut self) -> Result<Sample, ReportError> {
        let line = self.line;
        let p = &mut self.plain;
        let row_end = self.cuts.last().map_or(p.start, |c| c.1);
        p.start = (row_end + 1).min(p.end);
        self.line += 1;
        self.record += 1;
        let spans = self.rows_start.columns.spans(&self.cuts);
        parse(&self.path, line, self.last, &self.plain.buf, spans)
    }

    /// Hands the rest of the file, from the row the plain path left unread, to `csv`.
    fn hand_over_to_csv(&mut self) -> Result<(), ReportError> {
        let mut at = csv::Position::new();
        at.set_byte(self.plain.offset + self.plain.start as u64)
            .set_line(self.line)
            .set_record(self.record);
        self.csv.seek(at).map_err(|e| csv_err(&self.path, e))?;
        self.csv_mode = true;
        Ok(())
    }

    fn next_csv(&mut self) -> Result<Option<Sample>, ReportError> {
        let more = self
            .csv
            .read_record(&mut self.record_buf)
            .map_err(|e| csv_err(&self.path, e))?;
        if !more {
            return Ok(None);
        }
        let line = self.record_buf.position().map_or(0, |p| p.line());
        let c = self.rows_start.columns;
        let get = |i: usize| self.record_buf.get(i).unwrap_or("").as_bytes();
        find_domain(
            &mut self.domains,
            &mut self.last,
            get(c.source),
            get(c.domain),
        );
        let span = |i: usize| {
            self.record_buf
                .range(i)
                .map_or((0, 0), |r| (r.start, r.end))
        };
        let spans = Spans {
            t_ns: span(c.t_ns),
            energy_j: span(c.energy_j),
            power_w: c.power_w.map(span),
        };
        let row = self.record_buf.as_slice().as_bytes();
        parse(&self.path, line, self.last, row, spans).map(Some)
    }
}

/// Field `i` of the row split into `cuts` over `buf`.
fn field<'a>(buf: &'a [u8], cuts: &[(usize, usize)], i: usize) -> &'a [u8] {
    let (a, b) = cuts[i];
    &buf[a..b]
}

/// How far [`split_row`] got.
enum Split {
    /// A whole row ends at `newline`; `plain` when it holds no quote and no carriage return.
    Row { newline: usize, plain: bool },
    /// The bytes end before the row's newline.
    Partial,
}

/// Splits the row starting at `start` of `buf` at its commas into `cuts` (field bounds),
/// 64 bytes at a time: a bit mask per delimiter, its set bits walked in order.
fn split_row(buf: &[u8], start: usize, cuts: &mut Vec<(usize, usize)>) -> Split {
    cuts.clear();
    let (mut from, mut at, mut plain) = (start, start, true);
    while at < buf.len() {
        let n = (buf.len() - at).min(64);
        let mut block = [0u8; 64];
        block[..n].copy_from_slice(&buf[at..at + n]);
        let (newlines, mut commas, special) = masks(&block);
        let before = if newlines == 0 {
            u64::MAX
        } else {
            (1u64 << newlines.trailing_zeros()) - 1
        };
        commas &= before;
        plain &= special & before == 0;
        while commas != 0 {
            let i = at + commas.trailing_zeros() as usize;
            cuts.push((from, i));
            from = i + 1;
            commas &= commas - 1;
        }
        if newlines != 0 {
            let newline = at + newlines.trailing_zeros() as usize;
            cuts.push((from, newline));
            return Split::Row { newline, plain };
        }
        at += n;
    }
    Split::Partial
}

/// Bit i set where byte i of `block` is a newline, a comma, a quote or carriage return.
#[inline]
pub(crate) fn masks(block: &[u8; 64]) -> (u64, u64, u64) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let (mut newlines, mut commas, mut special) = (0u64, 0u64, 0u64);
        for (k, chunk) in block.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is part of x86_64; `chunk` holds 16 bytes (unaligned load).
            unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr() as *const __m128i);
                let eq = |c: u8| _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8)));
                let bits = |m: i32| u64::from(m as u16) << (16 * k);
                newlines |= bits(eq(b'\n'));
                commas |= bits(eq(b','));
                special |= bits(eq(b'"') | eq(b'\r'));
            }
        }
        (newlines, commas, special)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (mut newlines, mut commas, mut special) = (0u64, 0u64, 0u64);
        for (i, &c) in block.iter().enumerate() {
            newlines |= u64::from(c == b'\n') << i;
            commas |= u64::from(c == b',') << i;
            special |= u64::from(c == b'"' || c == b'\r') << i;
        }
        (newlines, commas, special)
    }
}

/// Sets `last` to the domain named `source`/`domain` in `domains`, adding it when new;
/// `false` when a new name is not UTF-8.
pub(crate) fn find_domain(
    domains: &mut Vec<DomainKey>,
    last: &mut usize,
    source: &[u8],
    domain: &[u8],
) -> bool {
    let is = |k: &DomainKey| k.source.as_bytes() == source && k.domain.as_bytes() == domain;
    // Samplers write their domains in turn: a row is most often of the next domain.
    let next = if *last + 1 < domains.len() {
        *last + 1
    } else {
        0
    };
    if domains.get(next).is_some_and(is) {
        *last = next;
        return true;
    }
    if domains.get(*last).is_some_and(is) {
        return true;
    }
    if let Some(i) = domains.iter().position(is) {
        *last = i;
        return true;
    }
    let (Ok(source), Ok(domain)) = (std::str::from_utf8(source), std::str::from_utf8(domain))
    else {
        return false;
    };
    domains.push(DomainKey {
        source: source.to_string(),
        domain: domain.to_string(),
    });
    *last = domains.len() - 1;
    true
}

/// Where a sample's figures lie in the bytes of its row (`start..end`).
#[derive(Clone, Copy)]
pub(crate) struct Spans {
    pub(crate) t_ns: (usize, usize),
    pub(crate) energy_j: (usize, usize),
    /// `None` without a `power_w` column; an empty span is an empty field.
    pub(crate) power_w: Option<(usize, usize)>,
}

/// A sample's time, energy and power from its fields in `buf` when each parses and is
/// within its bounds (`sample_figures`); `None` otherwise (the caller words the error).
#[inline]
pub(crate) fn figures(buf: &[u8], spans: Spans) -> Option<(u64, f64, Option<f64>)> {
    let t = digits(&buf[spans.t_ns.0..spans.t_ns.1])?;
    // Plain decimals are finite and never negative: within the bounds of both columns.
    let mut plain = true;
    let mut number = |(a, b): (usize, usize)| {
        plain_decimal(buf, a, b).or_else(|| {
            plain = false;
            std::str::from_utf8(&buf[a..b]).ok()?.parse::<f64>().ok()
        })
    };
    let energy = number(spans.energy_j)?;
    let power = match spans.power_w {
        Some((a, b)) if b > a => Some(number((a, b))?),
        _ => None,
    };
    if plain {
        return Some((t, energy, power));
    }
    sample_figures(energy, power)
        .all(|(_, value, bound)| bound.violation(value).is_none())
        .then_some((t, energy, power))
}

/// The sample of one row's fields (its domain already found), or the error naming the
/// file, line and column.
fn parse(
    path: &Path,
    line: u64,
    domain: usize,
    buf: &[u8],
    spans: Spans,
) -> Result<Sample, ReportError> {
    if let Some((t_ns, energy_j, power_w)) = figures(buf, spans) {
        return Ok(Sample {
            t_ns,
            domain,
            energy_j,
            power_w,
        });
    }
    let bad = |field: &str, value: &[u8]| records::RecordsError::Field {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        message: format!("{:?} is not a number", String::from_utf8_lossy(value)),
    };
    let number = |field: &str, value: &[u8]| {
        std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| bad(field, value))
    };
    let field = |(a, b): (usize, usize)| &buf[a..b];
    let (t_ns, energy_j) = (field(spans.t_ns), field(spans.energy_j));
    let power_w = spans.power_w.map_or(&[][..], field);
    let t = match digits(t_ns) {
        Some(t) => t,
        None => std::str::from_utf8(t_ns)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| bad("t_ns", t_ns))?,
    };
    let energy = number("energy_j", energy_j)?;
    let power = match power_w {
        [] => None,
        v => Some(number("power_w", v)?),
    };
    for (column, value, bound) in sample_figures(energy, power) {
        check_value(path, line, column, value, bound)?;
    }
    Ok(Sample {
        t_ns: t,
        domain,
        energy_j: energy,
        power_w: power,
    })
}

fn csv_err(path: &Path, source: csv::Error) -> ReportError {
    ReportError::from(records::RecordsError::Csv {
        path: path.to_path_buf(),
        cause: source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "t_ns,source,domain,energy_j,power_w\n";

    /// A sample as (t_ns, source/domain, energy, power).
    type Row = (u64, String, f64, Option<f64>);

    /// Every sample of `text` as (t_ns, source/domain, energy, power), or the error.
    fn read(text: &[u8]) -> Result<Vec<Row>, String> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("samples.csv");
        std::fs::write(&path, text).expect("write");
        let mut reader = SampleReader::open(&path).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(s) = reader.next().map_err(|e| e.to_string())? {
            let k = &reader.domains()[s.domain];
            out.push((
                s.t_ns,
                format!("{}/{}", k.source, k.domain),
                s.energy_j,
                s.power_w,
            ));
        }
        Ok(out)
    }

    fn plain() -> Vec<Row> {
        vec![
            (1, "rapl/package-0".into(), 0.5, None),
            (2, "rapl/dram".into(), 0.25, Some(3.0)),
            (3, "rapl/package-0".into(), 1.5, None),
            (4, "rapl/dram".into(), 0.75, None),
        ]
    }

    #[test]
    fn plain_rows_give_their_samples_and_domains_in_order_of_appearance() {
        let text = format!(
            "{HEADER}1,rapl,package-0,0.5,\n2,rapl,dram,0.25,3\n3,rapl,package-0,1.5,\n4,rapl,dram,0.75,"
        );
        assert_eq!(
            read(text.as_bytes()).expect("read"),
            plain(),
            "no final newline"
        );
    }

    #[test]
    fn quoted_fields_and_crlf_rows_are_read_as_csv_reads_them() {
        let text = format!(
            "{HEADER}1,rapl,package-0,0.5,\n2,\"rapl\",dram,0.25,3\r\n3,rapl,\"package-0\",1.5,\r\n4,rapl,dram,0.75,\n"
        );
        assert_eq!(read(text.as_bytes()).expect("read"), plain());
    }

    #[test]
    fn rows_past_one_buffer_are_read_whole() {
        let mut text = HEADER.to_string();
        let rows = 2 * CHUNK / 30 + 7;
        for i in 0..rows {
            text.push_str(&format!("{i},rapl,package-0,{}.125,\n", i * 3));
        }
        let got = read(text.as_bytes()).expect("read");
        assert_eq!(got.len(), rows);
        for (i, s) in got.iter().enumerate() {
            assert_eq!((s.0, s.2), (i as u64, (i * 3) as f64 + 0.125), "row {i}");
        }
    }

    #[test]
    fn rows_longer_than_a_64_byte_block_are_split_at_every_comma() {
        let long = "d".repeat(150);
        let text = format!("{HEADER}1,rapl,{long},0.5,2\n2,rapl,{long},0.75,\n");
        let got = read(text.as_bytes()).expect("read");
        assert_eq!(
            got,
            vec![
                (1, format!("rapl/{long}"), 0.5, Some(2.0)),
                (2, format!("rapl/{long}"), 0.75, None)
            ]
        );
    }

    #[test]
    fn a_bad_number_names_its_line_and_column() {
        let text = format!("{HEADER}1,rapl,package-0,0.5,\n2,rapl,dram,x1,\n");
        let e = read(text.as_bytes()).expect_err("refused");
        assert!(
            e.contains("line 3") && e.contains("energy_j") && e.contains("x1"),
            "{e}"
        );
        let text = format!("{HEADER}1,rapl,package-0,-0.5,\n");
        let e = read(text.as_bytes()).expect_err("negative");
        assert!(e.contains("line 2") && e.contains("negative"), "{e}");
        let text =
            format!("{HEADER}1,rapl,package-0,0.5,\n+2,rapl,package-0,0.6,\n-3,rapl,dram,1,\n");
        let e = read(text.as_bytes()).expect_err("t_ns");
        assert!(e.contains("line 4") && e.contains("t_ns"), "{e}");
    }

    #[test]
    fn a_torn_row_is_refused_by_csv_with_its_line() {
        let text = format!("{HEADER}1,rapl,package-0,0.5,\n2,rapl,dr\n3,rapl,dram,1,\n");
        let e = read(text.as_bytes()).expect_err("refused");
        assert!(e.contains("line: 3"), "{e}");
    }

    #[test]
    fn a_name_that_is_not_utf8_is_refused() {
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(b"1,rapl,pack\xffage,0.5,\n");
        let e = read(&text).expect_err("refused");
        assert!(e.contains("UTF-8"), "{e}");
    }
}
