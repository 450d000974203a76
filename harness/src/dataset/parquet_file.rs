//! Parquet dataset files (the format Hugging Face publishes datasets in).
//!
//! Read with the `parquet` crate's row API: strings are kept as they are, other scalars
//! are written as text, nulls are left out (a template using them then names the field).
//! Codecs: uncompressed and Snappy (pyarrow's and Hugging Face's default).

use super::{DatasetError, Row};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::path::Path;

/// Reads every row of a Parquet file; row numbers are 1-based positions in the file.
pub fn read_parquet(path: &Path) -> Result<Vec<(u64, Row)>, DatasetError> {
    let file = std::fs::File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        cause: source,
    })?;
    let malformed = |line: u64, e: parquet::errors::ParquetError| DatasetError::Malformed {
        path: path.to_path_buf(),
        line,
        message: format!(
            "cannot read as Parquet: {e} (codecs supported: uncompressed, snappy; re-save with pyarrow compression=\"snappy\" or convert to JSONL)"
        ),
    };
    let reader = SerializedFileReader::new(file).map_err(|e| malformed(0, e))?;
    let rows = reader.get_row_iter(None).map_err(|e| malformed(0, e))?;
    let mut out = Vec::new();
    for (i, row) in rows.enumerate() {
        let n = i as u64 + 1;
        let row = row.map_err(|e| malformed(n, e))?;
        let fields = row
            .get_column_iter()
            .filter_map(|(name, field)| text(field).map(|t| (name.clone(), t)))
            .collect();
        out.push((n, fields));
    }
    Ok(out)
}

/// A field as template text; `None` for nulls.
fn text(field: &Field) -> Option<String> {
    match field {
        Field::Null => None,
        Field::Str(s) => Some(s.clone()),
        Field::Group(_) | Field::ListInternal(_) | Field::MapInternal(_) => {
            Some(json(field).to_string())
        }
        other => Some(other.to_string()),
    }
}

/// A nested value as JSON (as JSON Lines would hold it), so `fields` can reach inside it
/// with a dotted path (`answers.text`).
fn json(field: &Field) -> serde_json::Value {
    use serde_json::Value;
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Str(s) => Value::String(s.clone()),
        Field::Byte(v) => Value::from(*v),
        Field::Short(v) => Value::from(*v),
        Field::Int(v) => Value::from(*v),
        Field::Long(v) => Value::from(*v),
        Field::UByte(v) => Value::from(*v),
        Field::UShort(v) => Value::from(*v),
        Field::UInt(v) => Value::from(*v),
        Field::ULong(v) => Value::from(*v),
        Field::Float(v) => Value::from(*v),
        Field::Double(v) => Value::from(*v),
        Field::Group(row) => Value::Object(
            row.get_column_iter()
                .map(|(name, f)| (name.clone(), json(f)))
                .collect(),
        ),
        Field::ListInternal(list) => Value::Array(list.elements().iter().map(json).collect()),
        Field::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(k, v)| (json_key(k), json(v)))
                .collect(),
        ),
        other => Value::String(other.to_string()),
    }
}

/// A map key as an object key: strings as they are, anything else as written.
fn json_key(field: &Field) -> String {
    match field {
        Field::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    /// Writes `sentence` (UTF-8) and `label` (INT64) columns, Snappy-compressed.
    pub(crate) fn write_parquet(path: &Path, sentences: &[&str]) {
        let schema = Arc::new(
            parse_message_type(
                "message schema { REQUIRED BYTE_ARRAY sentence (UTF8); REQUIRED INT64 label; }",
            )
            .expect("schema"),
        );
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build(),
        );
        let file = std::fs::File::create(path).expect("create");
        let mut writer = SerializedFileWriter::new(file, schema, props).expect("writer");
        let mut group = writer.next_row_group().expect("row group");
        let texts: Vec<ByteArray> = sentences.iter().map(|s| ByteArray::from(*s)).collect();
        let mut col = group.next_column().expect("column").expect("sentence");
        col.typed::<ByteArrayType>()
            .write_batch(&texts, None, None)
            .expect("write");
        col.close().expect("close");
        let labels: Vec<i64> = (0..sentences.len() as i64).map(|i| i % 2).collect();
        let mut col = group.next_column().expect("column").expect("label");
        col.typed::<Int64Type>()
            .write_batch(&labels, None, None)
            .expect("write");
        col.close().expect("close");
        group.close().expect("close group");
        writer.close().expect("close file");
    }

    #[test]
    fn snappy_parquet_rows_read_as_text_fields() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("d.parquet");
        write_parquet(&path, &["a fine film", "dull, \"long\""]);
        let rows = read_parquet(&path).expect("reads");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].0, 2);
        assert_eq!(rows[1].1["sentence"], "dull, \"long\"");
        assert_eq!(rows[1].1["label"], "1");
    }

    #[test]
    fn a_nested_group_reads_as_json_that_a_dotted_path_reaches() {
        // SQuAD's layout: `answers` a group holding a repeated `text`.
        let schema = Arc::new(
            parse_message_type(
                "message schema { REQUIRED BYTE_ARRAY question (UTF8); \
                 REQUIRED group answers { REPEATED BYTE_ARRAY text (UTF8); } }",
            )
            .expect("schema"),
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("squad.parquet");
        let file = std::fs::File::create(&path).expect("create");
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(file, schema, props).expect("writer");
        let mut group = writer.next_row_group().expect("row group");
        let mut col = group.next_column().expect("column").expect("question");
        col.typed::<ByteArrayType>()
            .write_batch(&[ByteArray::from("q1"), ByteArray::from("q2")], None, None)
            .expect("write");
        col.close().expect("close");
        // Row 1 has two answers, row 2 one: repetition levels start a row at 0.
        let texts = ["Denver Broncos", "Broncos", "Paris"].map(ByteArray::from);
        let mut col = group.next_column().expect("column").expect("answers.text");
        col.typed::<ByteArrayType>()
            .write_batch(&texts, Some(&[1, 1, 1]), Some(&[0, 1, 0]))
            .expect("write");
        col.close().expect("close");
        group.close().expect("close group");
        writer.close().expect("close file");
        let rows = read_parquet(&path).expect("reads");
        assert_eq!(rows.len(), 2);
        let answers: serde_json::Value =
            serde_json::from_str(&rows[0].1["answers"]).expect("JSON text");
        assert_eq!(
            answers,
            serde_json::json!({"text": ["Denver Broncos", "Broncos"]})
        );
        assert_eq!(
            super::super::expected::expected_of(&rows[1].1, "answers.text", &|_| false)
                .expect("reached"),
            vec!["Paris"]
        );
    }

    #[test]
    fn a_file_that_is_not_parquet_is_named_with_a_fix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("d.parquet");
        std::fs::write(&path, "{\"text\": \"json\"}\n").expect("write");
        let e = read_parquet(&path).expect_err("not parquet");
        assert!(e.to_string().contains("d.parquet"), "{e}");
        assert!(e.to_string().contains("cannot read as Parquet"), "{e}");
    }
}
