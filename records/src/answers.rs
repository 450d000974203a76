//! `answers.jsonl`: each measured request's answer beside its row's reference answers,
//! written as the request ends (JSON Lines, so answers with line breaks stay one line).

use crate::RecordsError;
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::Path;

/// One line of `answers.jsonl`: a measured request's answer and what it is scored against.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnswerRecord {
    /// Configuration id (`model@dataset`).
    pub config: String,
    /// Repetition number (1-based).
    pub repetition: u32,
    /// Index of the request within its repetition.
    pub index: u32,
    /// The dataset row sent (its line in the file).
    pub row: u64,
    /// The answer as the server gave it (generated text, or the top label of a classifier);
    /// `None` when the request failed or its protocol answers with no text (embeddings).
    pub answer: Option<String>,
    /// The row's reference answers (one label or summary, or several SQuAD answers);
    /// empty when the dataset maps none.
    pub expected: Vec<String>,
}

/// Reads `answers.jsonl` line by line, handing each record to `each`; a missing file has
/// none. Errors name the file and line.
pub fn for_each<E: From<RecordsError>>(
    path: &Path,
    mut each: impl FnMut(AnswerRecord) -> Result<(), E>,
) -> Result<(), E> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(RecordsError::Io {
                path: path.to_path_buf(),
                cause: e,
            }
            .into());
        }
    };
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| RecordsError::Io {
            path: path.to_path_buf(),
            cause: e,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|e| RecordsError::Line {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            message: format!(
                "not an answer record ({e}); each line is {{\"config\", \"repetition\", \"index\", \"row\", \"answer\", \"expected\"}}"
            ),
        })?;
        each(record)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("answers.jsonl");
        let a = AnswerRecord {
            config: "m@d".into(),
            repetition: 1,
            index: 0,
            row: 3,
            answer: Some("two\nlines".into()),
            expected: vec!["x".into()],
        };
        let line = serde_json::to_string(&a).expect("serialises");
        assert!(!line.contains('\n'), "one record, one line");
        std::fs::write(&path, format!("{line}\n{{\"config\": 1}}\n")).expect("write");
        let mut seen = Vec::new();
        let e = for_each(&path, |r| -> Result<(), RecordsError> {
            seen.push(r);
            Ok(())
        })
        .expect_err("line 2 is not a record");
        assert_eq!(seen, vec![a]);
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
