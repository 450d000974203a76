//! Reading and writing CSV tables, naming the file in every error.

use crate::RecordsError;
use crate::finite::Figures;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Streams the rows of a CSV file with a header, naming the file in every error.
pub fn read_csv<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<impl Iterator<Item = Result<T, RecordsError>>, RecordsError> {
    let (reader, headers) = open_with_headers(path)?;
    let owned: PathBuf = path.to_path_buf();
    Ok(reader
        .into_deserialize::<T>()
        .map(move |r| r.map_err(|source| csv_error(&owned, &headers, source))))
}

/// Streams the rows of a CSV file of raw records with a header, checking every figure of
/// every row ([`crate::finite`]): a NaN, an infinity or a negative counter delta is an error
/// naming the file, line and column, never a figure.
pub fn read_records<T: serde::de::DeserializeOwned + Figures>(
    path: &Path,
) -> Result<impl Iterator<Item = Result<T, RecordsError>>, RecordsError> {
    let (mut reader, headers) = open_with_headers(path)?;
    let owned: PathBuf = path.to_path_buf();
    let mut record = csv::StringRecord::new();
    let mut done = false;
    Ok(std::iter::from_fn(move || {
        if done {
            return None;
        }
        let row = match reader.read_record(&mut record) {
            Ok(false) => {
                done = true;
                return None;
            }
            Ok(true) => record
                .deserialize::<T>(Some(&headers))
                .map_err(|source| csv_error(&owned, &headers, source))
                .and_then(|row| {
                    let line = record.position().map_or(0, csv::Position::line);
                    crate::finite::check(&row, &owned, line).map(|()| row)
                }),
            Err(source) => Err(csv_error(&owned, &headers, source)),
        };
        // A broken row ends the stream: what follows it cannot be trusted.
        done = row.is_err();
        Some(row)
    }))
}

/// [`open`], with the header row read.
fn open_with_headers(
    path: &Path,
) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord), RecordsError> {
    let mut reader = open(path)?;
    let headers = reader
        .headers()
        .map_err(|source| RecordsError::Csv {
            path: path.to_path_buf(),
            cause: source,
        })?
        .clone();
    Ok((reader, headers))
}

/// A CSV error, naming the line (and the column, where csv knows it) when a row could not be read.
fn csv_error(path: &Path, headers: &csv::StringRecord, source: csv::Error) -> RecordsError {
    if let csv::ErrorKind::Deserialize {
        pos: Some(pos),
        err,
    } = source.kind()
    {
        let column = err
            .field()
            .and_then(|i| headers.get(usize::try_from(i).ok()?));
        return match column {
            Some(column) => RecordsError::Field {
                path: path.to_path_buf(),
                line: pos.line(),
                field: column.to_string(),
                message: err.kind().to_string(),
            },
            // A value's own check (e.g. a label's) does not say its column; its message
            // names what was expected.
            None => RecordsError::Line {
                path: path.to_path_buf(),
                line: pos.line(),
                message: err.kind().to_string(),
            },
        };
    }
    RecordsError::Csv {
        path: path.to_path_buf(),
        cause: source,
    }
}

/// Opens a CSV file with a header for reading (buffered, 1 MiB).
pub fn open(path: &Path) -> Result<csv::Reader<std::fs::File>, RecordsError> {
    let file = std::fs::File::open(path).map_err(|source| RecordsError::Io {
        path: path.to_path_buf(),
        cause: source,
    })?;
    Ok(csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .from_reader(file))
}

/// Writes rows to a CSV file with a header, also when there are no rows.
pub fn write_csv<T: Serialize + Default>(path: &Path, rows: &[T]) -> Result<(), RecordsError> {
    let err = |source| RecordsError::Csv {
        path: path.to_path_buf(),
        cause: source,
    };
    if rows.is_empty() {
        let text = header_of::<T>().map_err(err)?;
        return std::fs::write(path, text).map_err(|source| RecordsError::Io {
            path: path.to_path_buf(),
            cause: source,
        });
    }
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    for row in rows {
        w.serialize(row).map_err(err)?;
    }
    w.flush().map_err(|source| RecordsError::Io {
        path: path.to_path_buf(),
        cause: source,
    })
}

/// The header line (with its newline) that serialising a `T` would write.
pub fn header_of<T: Serialize + Default>() -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(T::default())?;
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text
        .lines()
        .next()
        .map(|l| format!("{l}\n"))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Serialize)]
    struct Row {
        a: f64,
        b: Option<String>,
    }

    #[test]
    fn empty_table_keeps_its_header() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.csv");
        write_csv::<Row>(&path, &[]).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a,b\n");
    }

    #[derive(serde::Deserialize)]
    struct Labelled {
        #[allow(dead_code)]
        a: f64,
        #[allow(dead_code)]
        p: crate::labels::Provenance,
    }

    fn first_error(text: &str) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).expect("write");
        read_csv::<Labelled>(&path)
            .expect("open")
            .find_map(Result::err)
            .expect("an error")
            .to_string()
    }

    #[test]
    fn a_bad_number_names_the_line_and_column() {
        let text = first_error("a,p\n1.0,measured\nabc,measured\n");
        assert!(text.contains("t.csv, line 3, field `a`:"), "{text}");
    }

    #[test]
    fn a_bad_label_names_the_line_and_the_allowed_texts() {
        let text = first_error("a,p\n1.0,guessed\n");
        assert!(text.contains("t.csv, line 2: "), "{text}");
        assert!(
            text.contains("expected one of measured, estimated"),
            "{text}"
        );
    }

    #[test]
    fn a_non_finite_figure_names_the_file_line_and_column() {
        use crate::raw::RepetitionRecord;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("repetitions.csv");
        let row = |energy_j| RepetitionRecord {
            energy_j,
            ..RepetitionRecord::default()
        };
        write_csv(&path, &[row(1.5), row(2.5), row(3.5)]).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        for bad in ["NaN", "inf", "-inf", "-2.5"] {
            std::fs::write(&path, text.replace("2.5", bad)).expect("corrupt");
            let rows: Vec<_> = read_records::<RepetitionRecord>(&path)
                .expect("open")
                .collect();
            assert_eq!(rows.len(), 2, "the stream ends at the broken row");
            let e = rows[1].as_ref().expect_err(bad).to_string();
            assert!(
                e.contains("repetitions.csv, line 3, field `energy_j`:") && e.contains(bad),
                "{e}"
            );
        }
    }
}
