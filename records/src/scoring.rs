//! How a dataset's answers are scored: the scorer a suite names for it, kept in `run.json`
//! so that a report scores the answers of `answers.jsonl` without the suite.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A scorer and its settings (`scorer = "..."` of a suite's dataset).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scorer", rename_all = "kebab-case")]
pub enum Scorer {
    /// Classification accuracy: the answer's label against the reference label.
    Accuracy {
        /// Reference label → words that name it in an answer (case-insensitive, whole
        /// words, the earliest in the answer wins); empty: the whole answer is the label.
        #[serde(default)]
        labels: BTreeMap<String, Vec<String>>,
    },
    /// SQuAD v1.1 exact match and token F1, the best over the reference answers.
    Squad,
    /// ROUGE-1, ROUGE-2 and ROUGE-L F-measures (rouge-score's tokenisation, no stemming),
    /// the best over the references.
    Rouge,
    /// The answer, trimmed, equal to a reference.
    Exact {
        /// Whether case matters.
        #[serde(default)]
        case_sensitive: bool,
    },
    /// The pattern's first capture group (or whole match) in the answer, equal to a
    /// reference after trimming.
    Regex {
        /// A regular expression (Rust `regex` syntax).
        pattern: String,
    },
}

/// One measure a scorer gives per answer, named as tables name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of answers whose label is right.
    Accuracy,
    /// SQuAD exact match.
    ExactMatch,
    /// SQuAD token F1.
    F1,
    /// ROUGE-1 F-measure.
    Rouge1,
    /// ROUGE-2 F-measure.
    Rouge2,
    /// ROUGE-L F-measure (sentence-level longest common subsequence).
    RougeL,
    /// Share of answers equal to a reference.
    Exact,
    /// Share of answers whose pattern match equals a reference.
    Match,
}

impl Metric {
    /// The name in files and tables (`accuracy`, `f1`, `rouge_l`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::ExactMatch => "exact_match",
            Self::F1 => "f1",
            Self::Rouge1 => "rouge1",
            Self::Rouge2 => "rouge2",
            Self::RougeL => "rouge_l",
            Self::Exact => "exact",
            Self::Match => "match",
        }
    }

    /// Whether each answer scores 0 or 1 (a proportion, whose interval is Wilson's).
    pub fn is_binary(self) -> bool {
        matches!(
            self,
            Self::Accuracy | Self::ExactMatch | Self::Exact | Self::Match
        )
    }

    /// A name for a reader (`SQuAD F1`, `ROUGE-L F`).
    pub fn title(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::ExactMatch => "SQuAD exact match",
            Self::F1 => "SQuAD F1",
            Self::Rouge1 => "ROUGE-1 F",
            Self::Rouge2 => "ROUGE-2 F",
            Self::RougeL => "ROUGE-L F",
            Self::Exact => "exact match",
            Self::Match => "pattern match",
        }
    }
}

/// The label a reference value stands for under `labels`: a key of the map, or
/// (case-insensitive) one of a label's words; without a map the value itself. `None` when
/// the map has no such label.
pub fn reference_label(value: &str, labels: &BTreeMap<String, Vec<String>>) -> Option<String> {
    let value = value.trim();
    if labels.is_empty() || labels.contains_key(value) {
        return Some(value.to_string());
    }
    let lower = value.to_lowercase();
    labels
        .iter()
        .find(|(_, words)| words.iter().any(|w| w.trim().to_lowercase() == lower))
        .map(|(label, _)| label.clone())
}

/// The labels of a map, quoted and comma-separated (for messages).
pub fn label_list(labels: &BTreeMap<String, Vec<String>>) -> String {
    labels
        .keys()
        .map(|k| format!("{k:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Scorer {
    /// The scorer's name in a suite (`accuracy`, `squad`, `rouge`, `exact`, `regex`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Accuracy { .. } => "accuracy",
            Self::Squad => "squad",
            Self::Rouge => "rouge",
            Self::Exact { .. } => "exact",
            Self::Regex { .. } => "regex",
        }
    }

    /// The measures it gives, the headline first.
    pub fn metrics(&self) -> &'static [Metric] {
        match self {
            Self::Accuracy { .. } => &[Metric::Accuracy],
            Self::Squad => &[Metric::F1, Metric::ExactMatch],
            Self::Rouge => &[Metric::RougeL, Metric::Rouge1, Metric::Rouge2],
            Self::Exact { .. } => &[Metric::Exact],
            Self::Regex { .. } => &[Metric::Match],
        }
    }

    /// The headline measure: the one summaries, the frontier and the gate use.
    pub fn headline(&self) -> Metric {
        self.metrics()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scorer_round_trips_through_json_with_its_settings() {
        let mut labels = BTreeMap::new();
        labels.insert("1".to_string(), vec!["positive".to_string()]);
        for scorer in [
            Scorer::Accuracy { labels },
            Scorer::Squad,
            Scorer::Rouge,
            Scorer::Exact {
                case_sensitive: true,
            },
            Scorer::Regex {
                pattern: "answer: (\\d+)".into(),
            },
        ] {
            let text = serde_json::to_string(&scorer).expect("serialises");
            assert!(
                text.contains(&format!("\"scorer\":\"{}\"", scorer.name())),
                "{text}"
            );
            let back: Scorer = serde_json::from_str(&text).expect("parses");
            assert_eq!(back, scorer);
        }
    }

    #[test]
    fn a_reference_is_a_key_or_one_of_its_words() {
        let m: BTreeMap<String, Vec<String>> = [
            ("0".to_string(), vec!["negative".to_string()]),
            ("1".to_string(), vec!["positive".to_string()]),
        ]
        .into();
        assert_eq!(reference_label("1", &m).as_deref(), Some("1"));
        assert_eq!(reference_label(" Negative ", &m).as_deref(), Some("0"));
        assert_eq!(reference_label("2", &m), None);
        assert_eq!(
            reference_label("anything", &BTreeMap::new()).as_deref(),
            Some("anything")
        );
        assert_eq!(label_list(&m), "\"0\", \"1\"");
    }

    #[test]
    fn the_headline_is_the_first_metric() {
        assert_eq!(Scorer::Squad.headline(), Metric::F1);
        assert_eq!(Scorer::Rouge.headline(), Metric::RougeL);
        assert_eq!(Metric::RougeL.as_str(), "rouge_l");
    }
}
