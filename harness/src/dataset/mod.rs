//! Local dataset files (JSONL, CSV, Parquet) turned into rows of named text fields.

mod expected;
mod file_kind;
mod hashing;
mod parquet_file;
mod source;

pub use file_kind::{FileProblem, check_regular};
pub use source::{DatasetFormat, DatasetSource};

use crate::shuffle::shuffle;
use hashing::HashingReader;
use records::scoring::{Scorer, label_list, reference_label};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// One input: placeholder name → text.
pub type Row = BTreeMap<String, String>;

/// Rows of a dataset after offset, shuffle and limit, with their row numbers in the file.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Dataset name.
    pub name: String,
    /// (row number in the file, fields) in the order they are sent.
    pub rows: Vec<(u64, Row)>,
    /// SHA-256 (hex) of the file's bytes, as read.
    pub sha256: String,
    /// Each row's reference answers, in the order of `rows` (empty lists when the suite
    /// maps no `fields.expected`).
    pub expected: Vec<Vec<String>>,
}

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The path is not a regular file (checked before opening: a FIFO would block).
    #[error("{}: {problem}", path.display())]
    NotAFile {
        /// The dataset path.
        path: PathBuf,
        /// What is there instead.
        problem: FileProblem,
    },
    /// The file could not be opened or read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The dataset file.
        path: PathBuf,
        /// The I/O error (in the message, so not also a `source()`).
        cause: std::io::Error,
    },
    /// A line or record is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        /// The dataset file.
        path: PathBuf,
        /// Line number (1-based).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// After offset and limit nothing is left.
    #[error("{}: no rows left after offset {offset}; the file has fewer rows, lower `offset`", path.display())]
    Empty {
        /// The dataset file.
        path: PathBuf,
        /// The offset asked for.
        offset: usize,
    },
}

impl Dataset {
    /// Reads a suite's dataset: its file, then offset, shuffle, limit and field mapping.
    pub fn load(spec: &DatasetSource) -> Result<Self, DatasetError> {
        let path = spec.path.as_path();
        check_regular(path).map_err(|problem| DatasetError::NotAFile {
            path: path.to_path_buf(),
            problem,
        })?;
        let (raw, sha256) = match spec.format {
            DatasetFormat::Jsonl => read_jsonl(path)?,
            DatasetFormat::Csv => read_csv(path)?,
            DatasetFormat::Parquet => {
                let rows = parquet_file::read_parquet(path)?;
                // Parquet is read by random access: hash the file streamed from disk.
                (rows, hashing::hash_file(path).map_err(io(path))?)
            }
        };
        // Columns some row has: a row without one holds a null there (Parquet leaves nulls
        // out of a row, JSONL rows may omit a key).
        let known: BTreeSet<String> = raw.iter().flat_map(|(_, r)| r.keys().cloned()).collect();
        let mut rows: Vec<(u64, Row)> = raw.into_iter().skip(spec.offset).collect();
        if rows.is_empty() {
            return Err(DatasetError::Empty {
                path: path.to_path_buf(),
                offset: spec.offset,
            });
        }
        if let Some(seed) = spec.seed {
            shuffle(&mut rows, seed);
        }
        if let Some(limit) = spec.limit {
            rows.truncate(limit.max(1));
        }
        let expected = match &spec.expected {
            Some(field) => rows
                .iter()
                .map(|(n, row)| {
                    let bad = |message: String| DatasetError::Malformed {
                        path: path.to_path_buf(),
                        line: *n,
                        message,
                    };
                    let answers = expected::expected_of(row, field, &|c| known.contains(c))
                        .map_err(|why| {
                            bad(format!(
                                "the reference answers (fields.expected = {field:?}): the row {why}; map `expected` to the column (or dotted path, e.g. \"answers.text\") that holds them"
                            ))
                        })?;
                    check_label(spec, &answers).map_err(bad)?;
                    Ok(answers)
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![Vec::new(); rows.len()],
        };
        // Map placeholder names onto columns: `fields = { text = "sentence" }`.
        let rows = rows
            .into_iter()
            .map(|(n, mut row)| {
                for (placeholder, column) in &spec.fields {
                    if let Some(v) = row.get(column).cloned() {
                        row.insert(placeholder.clone(), v);
                    }
                }
                (n, row)
            })
            .collect();
        Ok(Self {
            name: spec.name.clone(),
            rows,
            sha256,
            expected,
        })
    }

    /// The row sent as request `index` of a repetition (rows repeat when fewer than requests).
    pub fn row(&self, index: u32) -> &(u64, Row) {
        &self.rows[index as usize % self.rows.len()]
    }
}

/// For a classification scorer with a label map: the row's reference must be one of its
/// labels (or a label's word), or the whole configuration could not be scored.
fn check_label(spec: &DatasetSource, answers: &[String]) -> Result<(), String> {
    let Some(Scorer::Accuracy { labels }) = &spec.scorer else {
        return Ok(());
    };
    match answers.first() {
        Some(value) if reference_label(value, labels).is_none() => Err(format!(
            "the reference label {value:?} (fields.expected = {:?}) is not a label of `labels` ({}): add it to `labels` with the words that name it in an answer",
            spec.expected.as_deref().unwrap_or(""),
            label_list(labels)
        )),
        _ => Ok(()),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        cause: source,
    }
}

/// The UTF-8 byte order mark some editors write at the start of a file.
const BOM: &str = "\u{feff}";

/// Reads JSON Lines: one object per line; strings kept, other values as JSON text; a
/// leading UTF-8 byte order mark is skipped (as the CSV reader does). Returns the rows and
/// the file's SHA-256.
fn read_jsonl(path: &Path) -> Result<(Vec<(u64, Row)>, String), DatasetError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut reader = BufReader::new(HashingReader::new(file));
    let mut rows = Vec::new();
    let mut bytes = Vec::new();
    let mut n = 0u64;
    loop {
        bytes.clear();
        if reader.read_until(b'\n', &mut bytes).map_err(io(path))? == 0 {
            break;
        }
        n += 1;
        let line = std::str::from_utf8(&bytes).map_err(|e| DatasetError::Malformed {
            path: path.to_path_buf(),
            line: n,
            message: format!(
                "not UTF-8 (invalid byte at column {}); re-save the file as UTF-8",
                e.valid_up_to() + 1
            ),
        })?;
        let line = if n == 1 {
            line.strip_prefix(BOM).unwrap_or(line)
        } else {
            line
        };
        if line.trim().is_empty() {
            continue;
        }
        rows.push((n, jsonl_row(path, n, line)?));
    }
    Ok((rows, reader.into_inner().finish()))
}

/// One JSON Lines line as a row.
fn jsonl_row(path: &Path, n: u64, line: &str) -> Result<Row, DatasetError> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| DatasetError::Malformed {
            path: path.to_path_buf(),
            line: n,
            message: format!("not JSON: {e}"),
        })?;
    let serde_json::Value::Object(map) = value else {
        return Err(DatasetError::Malformed {
            path: path.to_path_buf(),
            line: n,
            message: "expected a JSON object per line, e.g. {\"text\": \"...\"}".into(),
        });
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect())
}

/// Reads CSV with a header row (a leading UTF-8 byte order mark is skipped); returns the
/// rows and the file's SHA-256.
fn read_csv(path: &Path) -> Result<(Vec<(u64, Row)>, String), DatasetError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut reader = csv::Reader::from_reader(HashingReader::new(file));
    let headers = reader
        .headers()
        .map_err(|e| DatasetError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            message: e.to_string(),
        })?
        .clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| DatasetError::Malformed {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let row = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        rows.push((line, row));
    }
    Ok((rows, reader.into_inner().finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn spec(
        fields: &[(&str, &str)],
        offset: usize,
        limit: Option<usize>,
        seed: Option<u64>,
    ) -> DatasetSource {
        DatasetSource {
            name: "d".into(),
            task: "t".into(),
            path: PathBuf::from("x"),
            format: DatasetFormat::Jsonl,
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            limit,
            offset,
            seed,
            reference: None,
            expected: None,
            scorer: None,
        }
    }

    /// `spec` reading `path` as `format`.
    fn at(spec: DatasetSource, path: &Path, format: DatasetFormat) -> DatasetSource {
        DatasetSource {
            path: path.to_path_buf(),
            format,
            ..spec
        }
    }

    #[test]
    fn jsonl_rows_are_mapped_offset_and_limited() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        for i in 0..10 {
            writeln!(f, "{{\"sentence\": \"s{i}\", \"label\": {}}}", i % 2).expect("write");
        }
        let d = Dataset::load(&at(
            spec(&[("text", "sentence")], 2, Some(3), None),
            f.path(),
            DatasetFormat::Jsonl,
        ))
        .expect("loads");
        assert_eq!(d.rows.len(), 3);
        assert_eq!(d.rows[0].0, 3);
        assert_eq!(d.rows[0].1["text"], "s2");
        assert_eq!(d.rows[0].1["label"], "0");
        assert_eq!(d.row(4).1["text"], "s3", "rows repeat past the end");
    }

    #[test]
    fn references_are_read_null_is_none_and_an_unknown_label_names_its_line() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(f, "{{\"sentence\": \"a\", \"label\": 1}}").expect("write");
        writeln!(f, "{{\"sentence\": \"b\", \"label\": null}}").expect("write");
        writeln!(f, "{{\"sentence\": \"c\"}}").expect("write");
        let labels: BTreeMap<String, Vec<String>> = [
            ("0".to_string(), vec!["negative".to_string()]),
            ("1".to_string(), vec!["positive".to_string()]),
        ]
        .into();
        let scored = |spec: DatasetSource| DatasetSource {
            expected: Some("label".into()),
            scorer: Some(Scorer::Accuracy {
                labels: labels.clone(),
            }),
            ..spec
        };
        let d = Dataset::load(&scored(at(
            spec(&[], 0, None, None),
            f.path(),
            DatasetFormat::Jsonl,
        )))
        .expect("loads");
        assert_eq!(d.expected, vec![vec!["1".to_string()], vec![], vec![]]);
        writeln!(f, "{{\"sentence\": \"d\", \"label\": -1}}").expect("write");
        let e = Dataset::load(&scored(at(
            spec(&[], 0, None, None),
            f.path(),
            DatasetFormat::Jsonl,
        )))
        .expect_err("-1 is not a label");
        let text = e.to_string();
        assert!(
            text.contains(":4: the reference label \"-1\" (fields.expected = \"label\") is not a label of `labels` (\"0\", \"1\")"),
            "{text}"
        );
    }

    #[test]
    fn shuffle_changes_order_reproducibly() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        for i in 0..50 {
            writeln!(f, "{{\"text\": \"s{i}\"}}").expect("write");
        }
        let a = Dataset::load(&at(
            spec(&[], 0, Some(10), Some(3)),
            f.path(),
            DatasetFormat::Jsonl,
        ))
        .expect("loads");
        let b = Dataset::load(&at(
            spec(&[], 0, Some(10), Some(3)),
            f.path(),
            DatasetFormat::Jsonl,
        ))
        .expect("loads");
        let order: Vec<u64> = a.rows.iter().map(|r| r.0).collect();
        assert_eq!(order, b.rows.iter().map(|r| r.0).collect::<Vec<_>>());
        assert_ne!(order, (1..=10).collect::<Vec<u64>>());
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(f, "{{\"text\": \"ok\"}}\n[1, 2]").expect("write");
        let e = Dataset::load(&at(
            spec(&[], 0, None, None),
            f.path(),
            DatasetFormat::Jsonl,
        ))
        .expect_err("second line is not an object");
        assert!(e.to_string().contains(":2: expected a JSON object"), "{e}");
    }

    #[test]
    fn invalid_utf8_names_file_and_line() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(b"{\"text\": \"ok\"}\n{\"text\": \"caf\xe9\"}\n")
            .expect("write");
        let e = Dataset::load(&at(
            spec(&[], 0, None, None),
            f.path(),
            DatasetFormat::Jsonl,
        ))
        .expect_err("second line is Latin-1");
        let text = e.to_string();
        assert!(text.contains(&f.path().display().to_string()), "{text}");
        assert!(
            text.contains(":2: not UTF-8 (invalid byte at column 14)"),
            "{text}"
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped_in_jsonl_and_csv() {
        let mut j = tempfile::NamedTempFile::new().expect("temp file");
        j.write_all("\u{feff}{\"text\": \"a\"}\n{\"text\": \"b\"}\n".as_bytes())
            .expect("write");
        let d = Dataset::load(&at(
            spec(&[], 0, None, None),
            j.path(),
            DatasetFormat::Jsonl,
        ))
        .expect("a BOM is accepted in JSONL");
        assert_eq!(d.rows[0].1["text"], "a");
        let mut c = tempfile::NamedTempFile::new().expect("temp file");
        c.write_all("\u{feff}text\na\n".as_bytes()).expect("write");
        let d = Dataset::load(&at(spec(&[], 0, None, None), c.path(), DatasetFormat::Csv))
            .expect("a BOM is accepted in CSV");
        assert_eq!(
            d.rows[0].1["text"], "a",
            "the header is `text`, not BOM + text"
        );
    }

    #[test]
    fn the_file_hash_is_of_its_bytes_in_every_format() {
        let mut j = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(j, "{{\"text\": \"a\"}}").expect("write");
        let mut c = tempfile::NamedTempFile::new().expect("temp file");
        write!(c, "text\na\n").expect("write");
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("d.parquet");
        parquet_file::tests::write_parquet(&p, &["s0"]);
        for (path, format) in [
            (j.path(), DatasetFormat::Jsonl),
            (c.path(), DatasetFormat::Csv),
            (p.as_path(), DatasetFormat::Parquet),
        ] {
            let d = Dataset::load(&at(spec(&[], 0, None, None), path, format)).expect("loads");
            assert_eq!(
                d.sha256,
                hashing::hash_file(path).expect("hash"),
                "{format:?}"
            );
        }
    }

    #[test]
    fn a_fifo_is_refused_without_opening_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("d.jsonl");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
        // SAFETY: mkfifo(3) with a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Opening it would block until a writer came: the test would hang, not fail.
        let e = Dataset::load(&at(spec(&[], 0, None, None), &fifo, DatasetFormat::Jsonl))
            .expect_err("a FIFO");
        assert!(
            e.to_string().contains("is not a regular file (a FIFO)"),
            "{e}"
        );
    }

    #[test]
    fn csv_rows_keep_their_line_numbers() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        write!(f, "question,context\n\"who, then?\",\"a\nb\"\nwhat,c\n").expect("write");
        let d = Dataset::load(&at(spec(&[], 0, None, None), f.path(), DatasetFormat::Csv))
            .expect("loads");
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.rows[0].1["question"], "who, then?");
        assert_eq!(d.rows[0].1["context"], "a\nb");
        assert_eq!(d.rows[1].0, 4);
    }

    #[test]
    fn parquet_rows_are_mapped_and_limited_like_the_others() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("d.parquet");
        parquet_file::tests::write_parquet(&path, &["s0", "s1", "s2", "s3"]);
        let d = Dataset::load(&at(
            spec(&[("text", "sentence")], 1, Some(2), None),
            &path,
            DatasetFormat::Parquet,
        ))
        .expect("loads");
        assert_eq!(d.rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(d.rows[0].1["text"], "s1");
    }
}
