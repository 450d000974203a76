//! What the efficiency techniques save: each variant configuration beside its baseline's
//! configuration on the same dataset (and load level), as ratios with Fieller 95% CIs over
//! the repetitions' per-inference figures (`savings.csv`).

pub mod facts;
pub mod markdown;

use crate::configs::Configuration;
use crate::scan::RequestFacts;
use crate::stats::fieller::{Interval, NoRatio, fieller};
use crate::summary::{latency_values, per_inference, token_values};
use facts::{ModelFacts, Sourced};
use records::labels::FigureLabel;
use records::models::Technique;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The file of the savings rows.
pub const SAVINGS_CSV: &str = "savings.csv";

/// One row of `savings.csv`: a variant's configuration against its baseline's. A ratio is
/// variant ÷ baseline; a cell that cannot be computed is empty and its `_note` says why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SavingsRow {
    /// The variant's configuration id.
    pub config: String,
    /// The baseline's configuration id on the same dataset and load level.
    pub baseline_config: String,
    /// The variant model.
    pub model: String,
    /// The baseline model.
    pub baseline: String,
    /// Techniques that make the variant, joined with `+`.
    pub techniques: String,
    /// Task name.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// Load level (`c8`), empty when the run swept none.
    pub load: String,
    /// Energy per inference, variant ÷ baseline.
    pub energy_ratio: Option<f64>,
    /// Lower bound of its 95% CI (Fieller).
    pub energy_ratio_ci95_low: Option<f64>,
    /// Upper bound of its 95% CI (Fieller).
    pub energy_ratio_ci95_high: Option<f64>,
    /// Why a cell of the energy ratio is empty (e.g. `CI unbounded: ...`).
    pub energy_ratio_note: String,
    /// Mean end-to-end latency per request, variant ÷ baseline.
    pub latency_ratio: Option<f64>,
    /// Lower bound of its 95% CI (Fieller).
    pub latency_ratio_ci95_low: Option<f64>,
    /// Upper bound of its 95% CI (Fieller).
    pub latency_ratio_ci95_high: Option<f64>,
    /// Why a cell of the latency ratio is empty.
    pub latency_ratio_note: String,
    /// Energy per output token, variant ÷ baseline (generators).
    pub j_per_token_ratio: Option<f64>,
    /// Lower bound of its 95% CI (Fieller).
    pub j_per_token_ratio_ci95_low: Option<f64>,
    /// Upper bound of its 95% CI (Fieller).
    pub j_per_token_ratio_ci95_high: Option<f64>,
    /// Why a cell of the per-token ratio is empty.
    pub j_per_token_ratio_note: String,
    /// The variant's mean energy per inference (J).
    pub energy_j_mean: Option<f64>,
    /// The baseline's mean energy per inference (J).
    pub baseline_energy_j_mean: Option<f64>,
    /// The variant's usable repetitions.
    pub repetitions: usize,
    /// The baseline's usable repetitions.
    pub baseline_repetitions: usize,
    /// The variant's total parameters.
    pub parameters: Option<u64>,
    /// The baseline's total parameters.
    pub baseline_parameters: Option<u64>,
    /// Total parameters, variant ÷ baseline.
    pub parameters_ratio: Option<f64>,
    /// Where the two parameter counts came from (`suite` or `server`, variant/baseline).
    pub parameters_source: String,
    /// The variant's active parameters (per token).
    pub active_parameters: Option<u64>,
    /// The baseline's active parameters.
    pub baseline_active_parameters: Option<u64>,
    /// Active parameters, variant ÷ baseline.
    pub active_parameters_ratio: Option<f64>,
    /// Where the two active counts came from.
    pub active_parameters_source: String,
    /// Bytes of the variant's weights.
    pub weight_bytes: Option<u64>,
    /// Bytes of the baseline's weights.
    pub baseline_weight_bytes: Option<u64>,
    /// Weight bytes, variant ÷ baseline.
    pub weight_bytes_ratio: Option<f64>,
    /// Where the two byte counts came from.
    pub weight_bytes_source: String,
    /// `measured`, `estimated` or `mixed`: the energy ratios are as estimated as the more
    /// estimated of their two figures; column `source`.
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
}

impl SavingsRow {
    /// The energy ratio's interval: bounds, or `None` (see the note).
    pub fn energy_ci(&self) -> Option<(f64, f64)> {
        self.energy_ratio_ci95_low.zip(self.energy_ratio_ci95_high)
    }
}

/// A ratio's cells: value, bounds and why any is empty.
struct RatioCells {
    ratio: Option<f64>,
    low: Option<f64>,
    high: Option<f64>,
    note: String,
}

/// The savings row of every variant configuration of the run (none without variants).
pub fn assess(
    configs: &[Configuration],
    requests: &[RequestFacts],
    facts: &BTreeMap<String, ModelFacts>,
) -> Vec<SavingsRow> {
    let mut rows = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let Some(mine) = facts.get(&c.info.model) else {
            continue;
        };
        let Some(baseline) = &mine.variant_of else {
            continue;
        };
        let theirs = facts.get(baseline);
        let base = configs.iter().position(|b| {
            &b.info.model == baseline && b.info.dataset == c.info.dataset && b.load == c.load
        });
        let load = c.load.map(|p| p.to_string()).unwrap_or_default();
        let mut row = SavingsRow {
            config: c.info.id.clone(),
            model: c.info.model.clone(),
            baseline: baseline.clone(),
            techniques: Technique::join(&mine.techniques),
            task: c.info.task.clone(),
            dataset: c.info.dataset.clone(),
            load,
            provenance: c.label(),
            ..SavingsRow::default()
        };
        sizes(&mut row, mine, theirs);
        let energy: Vec<f64> = per_inference(c).into_iter().map(|(_, v)| v).collect();
        row.repetitions = energy.len();
        row.energy_j_mean = (!energy.is_empty()).then(|| crate::stats::mean(&energy));
        let Some(b) = base else {
            let why = format!(
                "the baseline {baseline:?} has no configuration on dataset {:?}{} in this run",
                c.info.dataset,
                if row.load.is_empty() {
                    String::new()
                } else {
                    format!(" at load {}", row.load)
                }
            );
            row.energy_ratio_note = why.clone();
            row.latency_ratio_note = why.clone();
            row.j_per_token_ratio_note = why;
            rows.push(row);
            continue;
        };
        let bc = &configs[b];
        row.baseline_config = bc.info.id.clone();
        row.provenance = FigureLabel::ratio(c.label(), bc.label());
        let base_energy: Vec<f64> = per_inference(bc).into_iter().map(|(_, v)| v).collect();
        row.baseline_repetitions = base_energy.len();
        row.baseline_energy_j_mean =
            (!base_energy.is_empty()).then(|| crate::stats::mean(&base_energy));
        let e = cells(&base_energy, &energy, "usable repetition");
        (
            row.energy_ratio,
            row.energy_ratio_ci95_low,
            row.energy_ratio_ci95_high,
        ) = (e.ratio, e.low, e.high);
        row.energy_ratio_note = e.note;
        let (facts_v, facts_b) = (requests.get(i), requests.get(b));
        let (lat_v, lat_b) = match (facts_v, facts_b) {
            (Some(v), Some(bf)) => (latency_values(c, v), latency_values(bc, bf)),
            _ => (Vec::new(), Vec::new()),
        };
        let l = cells(
            &lat_b,
            &lat_v,
            "repetition with request latencies (requests.csv)",
        );
        (
            row.latency_ratio,
            row.latency_ratio_ci95_low,
            row.latency_ratio_ci95_high,
        ) = (l.ratio, l.low, l.high);
        row.latency_ratio_note = l.note;
        let (tok_v, tok_b) = match (facts_v, facts_b) {
            (Some(v), Some(bf)) => (token_values(c, v).1, token_values(bc, bf).1),
            _ => (Vec::new(), Vec::new()),
        };
        let t = if tok_v.is_empty() || tok_b.is_empty() {
            RatioCells {
                ratio: None,
                low: None,
                high: None,
                note: "no output token counts: not a generator, or its server reported none".into(),
            }
        } else {
            cells(&tok_b, &tok_v, "repetition with output tokens")
        };
        (
            row.j_per_token_ratio,
            row.j_per_token_ratio_ci95_low,
            row.j_per_token_ratio_ci95_high,
        ) = (t.ratio, t.low, t.high);
        row.j_per_token_ratio_note = t.note;
        rows.push(row);
    }
    rows
}

/// The ratio of `variant`'s mean to `baseline`'s with its Fieller CI, or why not; `what`
/// names the unit a side may lack.
fn cells(baseline: &[f64], variant: &[f64], what: &str) -> RatioCells {
    let empty = |note: String| RatioCells {
        ratio: None,
        low: None,
        high: None,
        note,
    };
    if baseline.is_empty() {
        return empty(format!("the baseline has no {what}"));
    }
    if variant.is_empty() {
        return empty(format!("the variant has no {what}"));
    }
    let point = crate::stats::mean(variant) / crate::stats::mean(baseline);
    let point = point.is_finite().then_some(point);
    match fieller(baseline, variant) {
        Ok(r) => match r.ci {
            Interval::Bounded { low, high } => RatioCells {
                ratio: Some(r.ratio),
                low: Some(low),
                high: Some(high),
                note: String::new(),
            },
            Interval::Unbounded => RatioCells {
                ratio: Some(r.ratio),
                low: None,
                high: None,
                note: "CI unbounded: the baseline mean is not distinguishable from 0 at 95%".into(),
            },
        },
        Err(NoRatio::TooFewValues) => RatioCells {
            ratio: point,
            low: None,
            high: None,
            note: "no CI: a side has fewer than 2 repetitions".into(),
        },
        Err(NoRatio::NotFinite) => empty("no ratio: the baseline mean is 0".into()),
    }
}

/// The size columns of `row`: parameters, active parameters, weight bytes and ratios.
fn sizes(row: &mut SavingsRow, mine: &ModelFacts, theirs: Option<&ModelFacts>) {
    let pair = |f: fn(&ModelFacts) -> Option<Sourced<u64>>| (f(mine), theirs.and_then(f));
    let ratio = |a: Option<Sourced<u64>>, b: Option<Sourced<u64>>| match (a, b) {
        (Some(a), Some(b)) if b.value > 0 => Some(a.value as f64 / b.value as f64),
        _ => None,
    };
    let source = |a: Option<Sourced<u64>>, b: Option<Sourced<u64>>| {
        let s = |x: Option<Sourced<u64>>| x.map_or("", |x| x.source.as_str());
        if a.is_none() && b.is_none() {
            String::new()
        } else {
            format!("{}/{}", s(a), s(b))
        }
    };
    let (p, bp) = pair(|m| m.parameters);
    row.parameters = p.map(|x| x.value);
    row.baseline_parameters = bp.map(|x| x.value);
    row.parameters_ratio = ratio(p, bp);
    row.parameters_source = source(p, bp);
    let (a, ba) = pair(|m| m.active_parameters);
    row.active_parameters = a.map(|x| x.value);
    row.baseline_active_parameters = ba.map(|x| x.value);
    row.active_parameters_ratio = ratio(a, ba);
    row.active_parameters_source = source(a, ba);
    let (w, bw) = pair(|m| m.weight_bytes);
    row.weight_bytes = w.map(|x| x.value);
    row.baseline_weight_bytes = bw.map(|x| x.value);
    row.weight_bytes_ratio = ratio(w, bw);
    row.weight_bytes_source = source(w, bw);
}
