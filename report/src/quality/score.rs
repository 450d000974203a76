//! One answer scored against its references by a dataset's scorer.

use super::label::{self, Read};
use super::{matching, rouge, squad};
use records::scoring::{Metric, Scorer};

/// A scorer ready to use (its pattern compiled).
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The scorer as the run recorded it.
    pub scorer: Scorer,
    pattern: Option<regex::Regex>,
}

/// What scoring one answer gave.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Scores per metric, in the scorer's order; `label` is what was read from the answer
    /// (classification and pattern scorers), `None` when nothing could be read (unparsed).
    Scored {
        /// Each metric's score (0–1).
        values: Vec<(Metric, f64)>,
        /// The label read, for scorers that read one.
        label: Option<Option<String>>,
    },
    /// The row has no reference answer: nothing to score against.
    NoReference,
    /// The row's reference is not a label of the label map: the suite must fix the map.
    BadReference(String),
}

impl Compiled {
    /// Compiles `scorer`; the error says why its pattern is not a regular expression.
    pub fn new(scorer: &Scorer) -> Result<Self, String> {
        let pattern = match scorer {
            Scorer::Regex { pattern } => Some(
                regex::Regex::new(pattern)
                    .map_err(|e| format!("pattern {pattern:?} is not a regular expression: {e}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            scorer: scorer.clone(),
            pattern,
        })
    }

    /// Scores `answer` against `expected`.
    pub fn score(&self, answer: &str, expected: &[String]) -> Outcome {
        if expected.is_empty() {
            return Outcome::NoReference;
        }
        let one = |metric: Metric, hit: bool| vec![(metric, if hit { 1.0 } else { 0.0 })];
        match &self.scorer {
            Scorer::Accuracy { labels } => {
                let Some(want) = label::reference_label(&expected[0], labels) else {
                    return Outcome::BadReference(format!(
                        "reference label {:?} is not a label of `labels` ({}): add it, or map `expected` to the column of labels",
                        expected[0],
                        records::scoring::label_list(labels)
                    ));
                };
                match label::read(answer, labels) {
                    Read::Label(got) => Outcome::Scored {
                        values: one(Metric::Accuracy, label::same(&got, &want)),
                        label: Some(Some(got)),
                    },
                    Read::Unparsed => Outcome::Scored {
                        values: one(Metric::Accuracy, false),
                        label: Some(None),
                    },
                }
            }
            Scorer::Squad => match squad::score(answer, expected) {
                Some(s) => Outcome::Scored {
                    values: vec![(Metric::F1, s.f1), (Metric::ExactMatch, s.exact_match)],
                    label: None,
                },
                None => Outcome::NoReference,
            },
            Scorer::Rouge => match rouge::score_multi(answer, expected) {
                Some(s) => Outcome::Scored {
                    values: vec![
                        (Metric::RougeL, s.rouge_l),
                        (Metric::Rouge1, s.rouge1),
                        (Metric::Rouge2, s.rouge2),
                    ],
                    label: None,
                },
                None => Outcome::NoReference,
            },
            Scorer::Exact { case_sensitive } => Outcome::Scored {
                values: one(
                    Metric::Exact,
                    matching::exact(answer, expected, *case_sensitive),
                ),
                label: None,
            },
            Scorer::Regex { .. } => {
                let got = self
                    .pattern
                    .as_ref()
                    .and_then(|p| matching::extract(p, answer));
                Outcome::Scored {
                    values: one(
                        Metric::Match,
                        got.is_some_and(|g| expected.iter().any(|e| e.trim() == g)),
                    ),
                    label: Some(got.map(str::to_string)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_scorer_gives_its_metrics_in_order() {
        let accuracy = Compiled::new(&Scorer::Accuracy {
            labels: [("1".to_string(), vec!["positive".to_string()])].into(),
        })
        .expect("compiles");
        assert_eq!(
            accuracy.score("Positive!", &expected(&["1"])),
            Outcome::Scored {
                values: vec![(Metric::Accuracy, 1.0)],
                label: Some(Some("1".into()))
            }
        );
        assert_eq!(
            accuracy.score("meh", &expected(&["1"])),
            Outcome::Scored {
                values: vec![(Metric::Accuracy, 0.0)],
                label: Some(None)
            }
        );
        assert!(matches!(
            accuracy.score("positive", &expected(&["7"])),
            Outcome::BadReference(m) if m.contains("\"7\"")
        ));
        let squad = Compiled::new(&Scorer::Squad).expect("compiles");
        let Outcome::Scored { values, .. } = squad.score(
            "the Denver Broncos",
            &expected(&["Broncos", "Denver Broncos"]),
        ) else {
            panic!("scored")
        };
        assert_eq!(values, vec![(Metric::F1, 1.0), (Metric::ExactMatch, 1.0)]);
        let regex = Compiled::new(&Scorer::Regex {
            pattern: r"is (\w+)".into(),
        })
        .expect("compiles");
        assert_eq!(
            regex.score("it is Paris", &expected(&["Paris"])),
            Outcome::Scored {
                values: vec![(Metric::Match, 1.0)],
                label: Some(Some("Paris".into()))
            }
        );
        assert_eq!(squad.score("x", &[]), Outcome::NoReference);
    }
}
