//! Appending CSV rows (or JSON Lines records) so that a crash never leaves half a row
//! behind.
//!
//! Each batch of rows is serialised in memory and handed to the kernel in one `write`,
//! so a killed process leaves whole rows; the header is written when the file is created
//! (or found empty), so a run stopped before its first row leaves a file that reads as
//! "no rows yet" rather than a 0-byte file no CSV reader accepts.

use crate::redact::Redactor;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Bytes csv stages a row in before handing them on (longer rows pass through in parts).
const ROW_STAGING_BYTES: usize = 256;

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// How rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// CSV, with a header line.
    Csv,
    /// One JSON object per line, no header.
    JsonLines,
}

/// An append-only CSV (or JSON Lines) file of rows of type `T`.
pub struct RowAppender<T> {
    file: File,
    path: PathBuf,
    format: Format,
    buffer: Vec<u8>,
    /// Applied to every row before it is written (the run's secrets).
    redactor: Redactor,
    _rows: PhantomData<fn(T)>,
}

impl<T: Serialize + Default> RowAppender<T> {
    /// Opens the CSV file `path` for appending; a new or empty file gets the header at once.
    pub fn open(path: &Path) -> Result<Self, WriteError> {
        Self::open_as(path, Format::Csv)
    }

    /// Opens the JSON Lines file `path` for appending (created when missing).
    pub fn open_json_lines(path: &Path) -> Result<Self, WriteError> {
        Self::open_as(path, Format::JsonLines)
    }

    fn open_as(path: &Path, format: Format) -> Result<Self, WriteError> {
        let err = |e: std::io::Error| WriteError {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        let mut appender = Self {
            file,
            path: path.to_path_buf(),
            format,
            buffer: Vec::new(),
            redactor: Redactor::default(),
            _rows: PhantomData,
        };
        if format == Format::Csv && appender.file.metadata().map_err(err)?.len() == 0 {
            let header = records::table_io::header_of::<T>().map_err(|e| WriteError {
                path: path.to_path_buf(),
                reason: format!("cannot write the header: {e}"),
            })?;
            appender.buffer.extend_from_slice(header.as_bytes());
            appender.flush()?;
        }
        Ok(appender)
    }

    /// Replaces every secret `redactor` knows in each row written from now on.
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Serialises a row into the pending batch, its secrets redacted.
    pub fn push(&mut self, row: &T) -> Result<(), WriteError> {
        let json_err = |e: serde_json::Error| WriteError {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        match self.format {
            Format::Csv => {
                let line = self.csv_line(row)?;
                self.buffer
                    .extend_from_slice(&self.redactor.redact_bytes(&line));
            }
            Format::JsonLines => {
                // Redacted value by value: replacing bytes of serialised JSON could cut an
                // escape (`\n` before a secret starting with `n`) and break the line.
                if self.redactor.is_empty() {
                    serde_json::to_writer(&mut self.buffer, row).map_err(json_err)?;
                } else {
                    let mut value = serde_json::to_value(row).map_err(json_err)?;
                    self.redactor.redact_json(&mut value);
                    serde_json::to_writer(&mut self.buffer, &value).map_err(json_err)?;
                }
                self.buffer.push(b'\n');
            }
        }
        Ok(())
    }

    /// A row as one CSV record.
    fn csv_line(&self, row: &T) -> Result<Vec<u8>, WriteError> {
        let mut line = Vec::new();
        // A small staging buffer: csv's default is 8 KiB, zeroed for every row written
        // (callgrind: a tenth of the run loop's instructions per request).
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .buffer_capacity(ROW_STAGING_BYTES)
            .from_writer(&mut line);
        w.serialize(row).map_err(|e| WriteError {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        w.flush().map_err(|e| WriteError {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        drop(w);
        Ok(line)
    }

    /// Writes the pending batch in one call.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.buffer);
        self.buffer.clear();
        result.map_err(|e| WriteError {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// Appends one row and writes it at once.
    pub fn append(&mut self, row: &T) -> Result<(), WriteError> {
        self.push(row)?;
        self.flush()
    }

    /// Rows waiting in the batch, in bytes.
    pub fn pending_bytes(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, Default, PartialEq)]
    struct Row {
        a: u32,
        b: String,
    }

    #[test]
    fn header_once_across_reopen_and_rows_intact() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.csv");
        let mut w = RowAppender::open(&path).expect("open");
        w.append(&Row {
            a: 1,
            b: "x,y".into(),
        })
        .expect("append");
        drop(w);
        let mut w = RowAppender::open(&path).expect("reopen");
        w.push(&Row {
            a: 2,
            b: "line\nbreak".into(),
        })
        .expect("push");
        assert!(w.pending_bytes() > 0);
        w.flush().expect("flush");
        let rows: Vec<Row> = csv::Reader::from_path(&path)
            .expect("read")
            .deserialize()
            .collect::<Result<_, _>>()
            .expect("parse");
        assert_eq!(
            rows,
            vec![
                Row {
                    a: 1,
                    b: "x,y".into()
                },
                Row {
                    a: 2,
                    b: "line\nbreak".into()
                }
            ]
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.matches("a,b").count(), 1);
    }

    #[test]
    fn rows_are_written_with_their_secrets_redacted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.csv");
        let mut w = RowAppender::open(&path)
            .expect("open")
            .with_redactor(Redactor::new(["sk-0123456789"]));
        w.append(&Row {
            a: 1,
            b: "HTTP 500: Authorization: Bearer sk-0123456789".into(),
        })
        .expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "a,b\n1,HTTP 500: Authorization: Bearer [redacted]\n");
    }

    #[test]
    fn json_lines_stay_json_when_a_secret_follows_an_escape() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.jsonl");
        // The serialised string is `x\nabcdefgh`: replacing bytes would eat the `n` of `\n`.
        let mut w = RowAppender::open_json_lines(&path)
            .expect("open")
            .with_redactor(Redactor::new(["nabcdefgh"]));
        for b in ["x\nabcdefgh", "key nabcdefgh"] {
            w.append(&Row { a: 1, b: b.into() }).expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2, "no header, a line each: {text}");
        let back: Vec<Row> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("still JSON"))
            .collect();
        assert_eq!(back[0].b, "x\nabcdefgh", "the text holds no secret");
        assert_eq!(back[1].b, "key [redacted]");
    }

    #[test]
    fn a_new_file_has_its_header_before_any_row() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.csv");
        let w = RowAppender::<Row>::open(&path).expect("open");
        drop(w);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a,b\n");
        // A 0-byte file (left by an older joulebench) gets its header on reopening.
        std::fs::write(&path, "").expect("truncate");
        let mut w = RowAppender::<Row>::open(&path).expect("reopen");
        w.append(&Row {
            a: 3,
            b: "z".into(),
        })
        .expect("append");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a,b\n3,z\n");
    }
}
