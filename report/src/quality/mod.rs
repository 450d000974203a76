//! Quality beside energy: each measured answer of `answers.jsonl` scored against its
//! references by its dataset's scorer (from `run.json`), then per repetition and per
//! configuration, over the same usable repetitions as the energy figures.
//!
//! A configuration's quality is the mean over the dataset rows it sent of each row's mean
//! score, with a 95% interval over those rows: the uncertainty of estimating the model's
//! quality from this sample of the dataset. Scores of 0 or 1 (accuracy, exact match) make a
//! proportion, whose interval is Wilson's (inside 0–1, never of zero width); graded scores
//! (F1, ROUGE) get Student's t, clamped to 0–1. The spread between repetitions (the
//! server's nondeterminism) is reported beside it.

pub mod label;
pub mod matching;
pub mod rouge;
pub mod score;
pub mod squad;

use crate::ReportError;
use crate::configs::Configuration;
use crate::flags::{self, Flag};
use crate::model::ConfigSummary;
use crate::stats::Describe;
use crate::summary::finite;
use records::files::ANSWERS_JSONL;
use records::manifest::RunManifest;
use records::reference::ReferenceRow;
use records::scoring::{Metric, Scorer};
use score::{Compiled, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One row of `request_scores.csv`: one metric of one scored answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestScore {
    /// Configuration id.
    pub config: String,
    /// Repetition number.
    pub repetition: u32,
    /// Index of the request within its repetition.
    pub index: u32,
    /// The dataset row sent.
    pub row: u64,
    /// The metric (`accuracy`, `f1`, `rouge_l`...).
    pub metric: String,
    /// The score (0–1).
    pub score: f64,
    /// The label read from the answer (classification, pattern), `unparsed` when none
    /// could be; empty for other scorers.
    pub label: String,
}

/// Where each scored answer goes as it is scored.
pub trait ScoreSink {
    /// Takes one score.
    fn take(&mut self, score: &RequestScore) -> Result<(), ReportError>;
}

/// A sink that keeps nothing (for callers that need the summaries only).
pub struct Discard;

impl ScoreSink for Discard {
    fn take(&mut self, _: &RequestScore) -> Result<(), ReportError> {
        Ok(())
    }
}

/// One metric of one configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricSummary {
    /// The metric.
    pub metric: Metric,
    /// Mean over the dataset rows of each row's mean score (0–1).
    pub mean: f64,
    /// Lower bound of the 95% CI over rows; `None` when it cannot be computed (one row of
    /// a graded score).
    pub ci95_low: Option<f64>,
    /// Upper bound of the 95% CI.
    pub ci95_high: Option<f64>,
    /// How the CI was computed: `wilson` (0/1 scores) or `student-t` (graded scores).
    pub ci_method: &'static str,
    /// Distinct dataset rows scored.
    pub items: u64,
    /// Mean score of each usable repetition: (number, mean).
    pub repetitions: Vec<(u32, f64)>,
    /// Standard deviation of the repetitions' means; `None` with fewer than two.
    pub repetition_std: Option<f64>,
    /// Each row's mean score: (row, mean), in row order (what the quality gate tests).
    #[serde(skip)]
    pub per_item: Vec<(u64, f64)>,
}

/// The quality of one configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConfigQuality {
    /// Configuration id.
    pub config: String,
    /// The scorer (`accuracy`, `squad`, `rouge`, `exact`, `regex`), when the dataset has one.
    pub scorer: Option<String>,
    /// Its metrics, the headline first; empty when nothing was scored.
    pub metrics: Vec<MetricSummary>,
    /// Answers scored.
    pub scored: u64,
    /// Measured requests of usable repetitions with no text answer (failed, or not text).
    pub unanswered: u64,
    /// Answers whose row has no reference answer (not scored).
    pub no_reference: u64,
    /// Of the answers scored, those from which no label could be read (classification and
    /// pattern scorers; counted wrong); `None` for other scorers.
    pub unparsed: Option<u64>,
    /// Measured requests of usable repetitions with no record in `answers.jsonl` (a run
    /// begun by a joulebench that did not record answers, then resumed): the figures cover
    /// the others only.
    pub answers_missing: u64,
    /// Measured requests of the usable repetitions.
    pub requests: u64,
    /// Why the configuration has no quality figure, when it has none.
    pub unscored: Option<String>,
    /// The study's own score for the model it stands for (from `reference.csv`, by
    /// [`attach_study`]), when the suite's `[reference]` has a quality table with one.
    pub study: Option<StudyScore>,
}

/// A study's score beside a measured one, with its provenance.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StudyScore {
    /// How the study is named (the suite's `[reference] label`).
    pub label: String,
    /// The study's model.
    pub model: String,
    /// The study's dataset, or `mean of ...` over the task's datasets.
    pub dataset: String,
    /// The study's metric, as it names it (`accuracy`, `f1`, `rouge`).
    pub metric: String,
    /// The study's score (0–1).
    pub value: f64,
    /// Where it comes from (the study's file and column).
    pub source: String,
}

impl ConfigQuality {
    /// The headline metric, when scored.
    pub fn headline(&self) -> Option<&MetricSummary> {
        self.metrics.first()
    }

    /// Share of scored answers that were unparsed.
    pub fn unparsed_share(&self) -> Option<f64> {
        self.unparsed
            .filter(|_| self.scored > 0)
            .map(|u| u as f64 / self.scored as f64)
    }
}

/// Sums of one metric of one configuration.
#[derive(Default)]
struct Sums {
    /// Per dataset row: (sum, count).
    rows: BTreeMap<u64, (f64, u64)>,
    /// Per repetition: (sum, count).
    repetitions: BTreeMap<u32, (f64, u64)>,
}

/// What is accumulated for one configuration while reading the answers.
struct Tally {
    scorer: Result<Compiled, String>,
    usable: BTreeMap<u32, u32>,
    /// Answer records read per usable repetition.
    recorded: BTreeMap<u32, u64>,
    metrics: BTreeMap<Metric, Sums>,
    quality: ConfigQuality,
    bad_reference: Option<String>,
}

/// Scores the answers of `dir` for every configuration (in `configs` order), handing each
/// score to `sink`. Without a scorer, answers or references a configuration is
/// `unscored`, with the reason.
pub fn assess(
    dir: &Path,
    manifest: &RunManifest,
    configs: &[Configuration],
    sink: &mut dyn ScoreSink,
) -> Result<Vec<ConfigQuality>, ReportError> {
    let path = dir.join(ANSWERS_JSONL);
    let has_answers = path.is_file();
    let mut tallies: Vec<Tally> = configs
        .iter()
        .map(|c| tally_for(c, manifest, has_answers))
        .collect();
    let index = crate::configs::positions(configs);
    records::answers::for_each(&path, |a| -> Result<(), ReportError> {
        let Some(&i) = index.get(a.config.as_str()) else {
            return Ok(());
        };
        let t = &mut tallies[i];
        if !t.usable.contains_key(&a.repetition) {
            return Ok(());
        }
        *t.recorded.entry(a.repetition).or_default() += 1;
        let Ok(scorer) = &t.scorer else {
            return Ok(());
        };
        let Some(answer) = &a.answer else {
            t.quality.unanswered += 1;
            return Ok(());
        };
        match scorer.score(answer, &a.expected) {
            Outcome::NoReference => t.quality.no_reference += 1,
            Outcome::BadReference(why) => {
                if t.bad_reference.is_none() {
                    t.bad_reference = Some(format!("row {}: {why}", a.row));
                }
            }
            Outcome::Scored { values, label } => {
                t.quality.scored += 1;
                let label = match label {
                    Some(Some(l)) => l,
                    Some(None) => {
                        *t.quality.unparsed.get_or_insert(0) += 1;
                        "unparsed".to_string()
                    }
                    None => String::new(),
                };
                for (metric, score) in values {
                    let sums = t.metrics.entry(metric).or_default();
                    let r = sums.rows.entry(a.row).or_default();
                    *r = (r.0 + score, r.1 + 1);
                    let r = sums.repetitions.entry(a.repetition).or_default();
                    *r = (r.0 + score, r.1 + 1);
                    sink.take(&RequestScore {
                        config: a.config.clone(),
                        repetition: a.repetition,
                        index: a.index,
                        row: a.row,
                        metric: metric.as_str().to_string(),
                        score,
                        label: label.clone(),
                    })?;
                }
            }
        }
        Ok(())
    })?;
    Ok(tallies.into_iter().map(finish).collect())
}

/// Sets each configuration's study score from the rows of `reference.csv`.
pub fn attach_study(quality: &mut [ConfigQuality], reference: &[ReferenceRow]) {
    for q in quality {
        q.study = reference
            .iter()
            .find(|r| r.config == q.config)
            .and_then(|r| {
                Some(StudyScore {
                    label: r.label.clone(),
                    model: r.reference_model.clone(),
                    dataset: r.reference_dataset.clone(),
                    metric: r.reference_quality_metric.clone(),
                    value: r.reference_quality?,
                    source: r.reference_quality_source.clone(),
                })
            });
    }
}

/// The empty tally of a configuration: its scorer, or why it has none.
fn tally_for(config: &Configuration, manifest: &RunManifest, has_answers: bool) -> Tally {
    let dataset = manifest
        .datasets
        .iter()
        .flatten()
        .find(|d| d.name == config.info.dataset);
    let scorer = if !has_answers {
        Err(format!(
            "the run has no {ANSWERS_JSONL}: it was taken before joulebench recorded answers or imported from another tool"
        ))
    } else {
        match dataset.and_then(|d| d.scorer.as_ref()) {
            Some(s) => Compiled::new(s),
            None => Err(format!(
                "dataset {:?} maps no reference answers: add `expected = \"COLUMN\"` to its `fields` in the suite",
                config.info.dataset
            )),
        }
    };
    // Scorers that read a label count unparsed answers: none is 0, not "not applicable".
    let reads_labels = scorer
        .as_ref()
        .is_ok_and(|s| matches!(s.scorer, Scorer::Accuracy { .. } | Scorer::Regex { .. }));
    Tally {
        quality: ConfigQuality {
            config: config.info.id.clone(),
            scorer: scorer.as_ref().ok().map(|s| s.scorer.name().to_string()),
            unparsed: reads_labels.then_some(0),
            ..ConfigQuality::default()
        },
        scorer,
        usable: config.usable().map(|r| (r.number, r.requests)).collect(),
        recorded: BTreeMap::new(),
        metrics: BTreeMap::new(),
        bad_reference: None,
    }
}

/// The summaries of a finished tally, in the scorer's metric order.
fn finish(t: Tally) -> ConfigQuality {
    let mut q = t.quality;
    q.requests = t.usable.values().map(|r| u64::from(*r)).sum();
    q.answers_missing = t
        .usable
        .iter()
        .map(|(rep, requests)| {
            u64::from(*requests).saturating_sub(t.recorded.get(rep).copied().unwrap_or(0))
        })
        .sum();
    let order: Vec<Metric> = match &t.scorer {
        Ok(s) => s.scorer.metrics().to_vec(),
        Err(why) => {
            q.unscored = Some(why.clone());
            return q;
        }
    };
    if let Some(why) = t.bad_reference {
        q.unscored = Some(why);
        return q;
    }
    let mut metrics = t.metrics;
    for metric in order {
        let Some(sums) = metrics.remove(&metric) else {
            continue;
        };
        let per_item: Vec<(u64, f64)> = sums
            .rows
            .iter()
            .map(|(row, (s, n))| (*row, s / *n as f64))
            .collect();
        let values: Vec<f64> = per_item.iter().map(|(_, v)| *v).collect();
        let Some(d) = Describe::of(&values) else {
            continue;
        };
        let (ci95_low, ci95_high, ci_method) = if metric.is_binary() {
            let (lo, hi) = crate::stats::wilson_ci95(d.mean, d.n);
            (finite(lo), finite(hi), "wilson")
        } else {
            (
                finite(d.ci95_low).map(|v| v.clamp(0.0, 1.0)),
                finite(d.ci95_high).map(|v| v.clamp(0.0, 1.0)),
                "student-t",
            )
        };
        let repetitions: Vec<(u32, f64)> = sums
            .repetitions
            .iter()
            .map(|(r, (s, n))| (*r, s / *n as f64))
            .collect();
        let spread = Describe::of(&repetitions.iter().map(|r| r.1).collect::<Vec<_>>());
        q.metrics.push(MetricSummary {
            metric,
            mean: d.mean,
            ci95_low,
            ci95_high,
            ci_method,
            items: per_item.len() as u64,
            repetitions,
            repetition_std: spread.and_then(|s| finite(s.std)),
            per_item,
        });
    }
    if q.metrics.is_empty() {
        q.unscored = Some(if q.unanswered > 0 && q.no_reference == 0 {
            format!(
                "none of its {} answers in usable repetitions is text (failed requests, or a protocol that answers with numbers)",
                q.unanswered
            )
        } else if q.no_reference > 0 {
            format!(
                "none of its {} answered rows has a reference answer",
                q.no_reference
            )
        } else {
            "no answer in its usable repetitions".to_string()
        });
    }
    q
}

/// Adds each configuration's quality to its summary row and flags (`quality-unscored`).
pub fn annotate(summaries: &mut [ConfigSummary], quality: &[ConfigQuality]) {
    for (s, q) in summaries.iter_mut().zip(quality) {
        match q.headline() {
            Some(h) => {
                s.row.quality_metric = h.metric.as_str().to_string();
                s.row.quality_mean = Some(h.mean);
                s.row.quality_ci95_low = h.ci95_low;
                s.row.quality_ci95_high = h.ci95_high;
                s.row.quality_items = Some(h.items);
                s.row.quality_repetition_std = h.repetition_std;
                s.row.quality_unparsed_share = q.unparsed_share();
            }
            None => {
                s.flags.push(Flag::QualityUnscored {
                    reason: q.unscored.clone().unwrap_or_default(),
                });
            }
        }
        if q.scorer.is_some() && q.answers_missing > 0 {
            s.flags.push(Flag::AnswersMissing {
                missing: q.answers_missing,
                requests: q.requests,
            });
        }
        s.row.flags = flags::join(&s.flags);
    }
}
