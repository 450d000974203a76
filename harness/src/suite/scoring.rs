//! A dataset's scoring keys (`fields.expected`, `scorer`, `labels`, `pattern`,
//! `case_sensitive`), checked into the scorer a run records.

use super::error::{SourceText, SuiteError};
use super::file::DatasetSpec;
use records::scoring::Scorer;
use std::collections::BTreeMap;

/// The `fields` key that names the column of reference answers (not a placeholder).
pub const EXPECTED_FIELD: &str = "expected";

/// The scorers a suite can name.
const SCORERS: &str = "\"accuracy\", \"squad\", \"rouge\", \"exact\" or \"regex\"";

/// The reference-answer field and the scorer of dataset `d`: both `None` without
/// `fields.expected`; the scorer named, or the task's default.
pub(super) fn scoring_of(
    src: SourceText<'_>,
    d: &DatasetSpec,
) -> Result<(Option<String>, Option<Scorer>), SuiteError> {
    let expected = d.fields.get(EXPECTED_FIELD).cloned();
    let name_span = d.name.span();
    let Some(field) = expected else {
        let given = [
            d.scorer.as_ref().map(|s| ("scorer", s.span())),
            d.labels.as_ref().map(|s| ("labels", s.span())),
            d.pattern.as_ref().map(|s| ("pattern", s.span())),
            d.case_sensitive
                .as_ref()
                .map(|s| ("case_sensitive", s.span())),
        ];
        if let Some((key, span)) = given.into_iter().flatten().next() {
            return Err(src.error_at(
                span,
                Some(&format!("datasets.{key}")),
                format!(
                    "`{key}` scores answers against reference answers, but dataset {:?} maps none: add `expected = \"COLUMN\"` to its `fields` (e.g. fields = {{ text = \"sentence\", expected = \"label\" }}), or remove `{key}`",
                    d.name.get_ref()
                ),
            ));
        }
        return Ok((None, None));
    };
    if field.trim().is_empty() {
        return Err(src.error_at(
            name_span,
            Some("datasets.fields.expected"),
            "`expected` is empty: name the column (or dotted path, e.g. \"answers.text\") holding each row's reference answers".into(),
        ));
    }
    let name = match &d.scorer {
        Some(s) => s.get_ref().clone(),
        None => match default_scorer(d.task.get_ref()) {
            Some(s) => s.to_string(),
            None => {
                return Err(src.error_at(
                    name_span,
                    Some("datasets.scorer"),
                    format!(
                        "task {:?} has no default scorer: set `scorer` to {SCORERS} for dataset {:?}",
                        d.task.get_ref(),
                        d.name.get_ref()
                    ),
                ));
            }
        },
    };
    let scorer_span = d.scorer.as_ref().map_or(name_span.clone(), |s| s.span());
    let only_for = |key: &str, span: std::ops::Range<usize>, scorer: &str| {
        src.error_at(
            span,
            Some(&format!("datasets.{key}")),
            format!("`{key}` is a setting of scorer = \"{scorer}\", but this dataset's scorer is \"{name}\": remove it, or set scorer = \"{scorer}\""),
        )
    };
    if let (Some(l), false) = (&d.labels, name == "accuracy") {
        return Err(only_for("labels", l.span(), "accuracy"));
    }
    if let (Some(p), false) = (&d.pattern, name == "regex") {
        return Err(only_for("pattern", p.span(), "regex"));
    }
    if let (Some(c), false) = (&d.case_sensitive, name == "exact") {
        return Err(only_for("case_sensitive", c.span(), "exact"));
    }
    let scorer = match name.as_str() {
        "accuracy" => Scorer::Accuracy {
            labels: labels(src, d)?,
        },
        "squad" => Scorer::Squad,
        "rouge" => Scorer::Rouge,
        "exact" => Scorer::Exact {
            case_sensitive: d.case_sensitive.as_ref().is_some_and(|c| *c.get_ref()),
        },
        "regex" => {
            let Some(p) = &d.pattern else {
                return Err(src.error_at(
                    scorer_span,
                    Some("datasets.pattern"),
                    "scorer = \"regex\" needs `pattern`, a regular expression whose first group (or whole match) is compared with the reference, e.g. pattern = \"answer is (\\\\w+)\"".into(),
                ));
            };
            if let Err(e) = regex::Regex::new(p.get_ref()) {
                // The regex crate's message spans lines (the pattern, a caret, the error).
                let text = e.to_string();
                let why = text
                    .lines()
                    .last()
                    .unwrap_or(&text)
                    .trim_start_matches("error: ");
                return Err(src.error_at(
                    p.span(),
                    Some("datasets.pattern"),
                    format!(
                        "not a regular expression ({why}): fix {:?} (Rust regex syntax: https://docs.rs/regex)",
                        p.get_ref()
                    ),
                ));
            }
            Scorer::Regex {
                pattern: p.get_ref().clone(),
            }
        }
        other => {
            return Err(src.error_at(
                scorer_span,
                Some("datasets.scorer"),
                format!("unknown scorer {other:?}: expected {SCORERS}"),
            ));
        }
    };
    Ok((Some(field), Some(scorer)))
}

/// The scorer a task gets when a dataset maps reference answers but names no scorer.
pub fn default_scorer(task: &str) -> Option<&'static str> {
    match task {
        "text-classification" | "sentiment" | "classification" => Some("accuracy"),
        "extractive-qa" | "question-answering" | "qa" => Some("squad"),
        "summarization" => Some("rouge"),
        _ => None,
    }
}

/// `labels`, checked: each label has at least one non-empty word, and no word names two.
fn labels(
    src: SourceText<'_>,
    d: &DatasetSpec,
) -> Result<BTreeMap<String, Vec<String>>, SuiteError> {
    let Some(l) = &d.labels else {
        return Ok(BTreeMap::new());
    };
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    for (label, words) in l.get_ref() {
        let bad = |message: String| src.error_at(l.span(), Some("datasets.labels"), message);
        if words.is_empty() || words.iter().any(|w| w.trim().is_empty()) {
            return Err(bad(format!(
                "label {label:?} needs one or more non-empty words, e.g. labels = {{ \"1\" = [\"positive\"], \"0\" = [\"negative\"] }}"
            )));
        }
        for w in words {
            let key = w.trim().to_lowercase();
            if let Some(other) = owner.insert(key, label)
                && other != label
            {
                return Err(bad(format!(
                    "the word {w:?} names both label {other:?} and label {label:?}: an answer containing it could not be read; give each word to one label"
                )));
            }
        }
    }
    Ok(l.get_ref().clone())
}
