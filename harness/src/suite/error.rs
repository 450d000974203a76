//! Suite errors that name the file, line, column and key, and say what was expected.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a suite could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The suite file could not be read.
    // The cause is in the message and deliberately not a `source()`: `{e:#}` would
    // print it twice.
    #[error("{}: cannot read suite: {cause}", path.display())]
    Read {
        /// The suite file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A key of the suite is wrong.
    #[error("{location}: {message}")]
    At {
        /// Where in the file.
        location: Location,
        /// What is wrong and what was expected.
        message: String,
    },
}

/// A suite file's path and text, for errors that point into it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SourceText<'a> {
    /// The suite file.
    pub path: &'a Path,
    /// Its text.
    pub text: &'a str,
}

impl SourceText<'_> {
    /// An error at byte `span` of the file, naming `key` (or the key found there).
    pub(crate) fn error_at(
        &self,
        span: Range<usize>,
        key: Option<&str>,
        message: String,
    ) -> SuiteError {
        SuiteError::At {
            location: Location::of_span(self.path, self.text, span, key),
            message,
        }
    }
}

/// A place in a suite file: path, 1-based line and column, and the key there.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    /// The suite file.
    pub path: PathBuf,
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based, in characters).
    pub column: usize,
    /// Dotted key, e.g. `schedule.inferences` (empty when unknown).
    pub key: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        Ok(())
    }
}

impl Location {
    /// The location of byte `span` in `text`, with the key found there or given.
    pub fn of_span(path: &Path, text: &str, span: Range<usize>, key: Option<&str>) -> Self {
        let start = span.start.min(text.len());
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..start].chars().count() + 1;
        let line_text = text[line_start..].lines().next().unwrap_or("");
        let local = key
            .map(str::to_string)
            .or_else(|| key_on_line(line_text))
            .unwrap_or_default();
        let table = table_before(before);
        let key = match (table.as_deref(), local.as_str()) {
            (None, l) => l.to_string(),
            (Some(t), "") => t.to_string(),
            (Some(t), l) if l.starts_with(t) => l.to_string(),
            (Some(t), l) => format!("{t}.{l}"),
        };
        Self {
            path: path.to_path_buf(),
            line,
            column,
            key,
        }
    }
}

/// The key assigned on a `key = value` line.
fn key_on_line(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
}

/// The table header (`[a.b]` or `[[a]]`) in force at the end of `text`.
fn table_before(text: &str) -> Option<String> {
    text.lines().rev().find_map(|l| {
        let l = l.trim();
        l.starts_with('[').then(|| {
            l.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
    })
}

/// The first backtick-quoted word of a serde message, e.g. the field of "unknown field `x`".
pub(crate) fn quoted_field(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_line_column_and_dotted_key() {
        let text = "[suite]\nname = \"x\"\n\n[schedule]\ninferences = \"ten\"\n";
        let at = text.find("\"ten\"").expect("present");
        let loc = Location::of_span(Path::new("s.toml"), text, at..at + 5, None);
        assert_eq!((loc.line, loc.column), (5, 14));
        assert_eq!(loc.key, "schedule.inferences");
        assert_eq!(loc.to_string(), "s.toml:5:14: key `schedule.inferences`");
    }

    #[test]
    fn quoted_fields_are_found() {
        assert_eq!(
            quoted_field("unknown field `foo`, expected one of `a`"),
            Some("foo")
        );
        assert_eq!(quoted_field("no quotes"), None);
    }
}
