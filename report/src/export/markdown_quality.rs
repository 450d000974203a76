//! `summary.md`'s quality section: each configuration's scored answers beside its energy.

use super::format::sig_opt;
use super::markdown::cell;
use crate::model::Report;
use std::fmt::Write as _;

/// A share (0–1) as a percentage with one decimal, `–` when absent.
pub(super) fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{:.1}", v * 100.0))
}

/// The measured quality beside the study's own score, for configurations that have one.
fn beside_study(out: &mut String, report: &Report) {
    let rows: Vec<_> = report
        .quality
        .iter()
        .filter_map(|q| q.study.as_ref().map(|s| (q, s)))
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "\n| Configuration | measured (%) [95% CI] | study model | study dataset | study (%) | study source |\n",
    );
    out.push_str("|---|--:|---|---|--:|---|\n");
    for (q, s) in rows {
        let measured = match q.headline() {
            Some(h) => format!(
                "{} {} [{} – {}]",
                h.metric.as_str(),
                pct(Some(h.mean)),
                pct(h.ci95_low),
                pct(h.ci95_high)
            ),
            None => "not scored".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {measured} | {} | {} | {} {} | {} ({}) |",
            cell(&q.config),
            cell(&s.model),
            cell(&s.dataset),
            cell(&s.metric),
            pct(Some(s.value)),
            cell(&s.source),
            cell(&s.label),
        );
    }
    out.push_str(
        "\nThe study's scores are its own (its prompts, decoding and scoring script), shown as published; \
         a metric of another name (e.g. its `rouge`, variant not stated, against ROUGE-L) is not the same measure.\n",
    );
}

/// Writes the quality section of `report` (nothing when no configuration was assessed).
pub(super) fn render(out: &mut String, report: &Report) {
    if report.quality.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Quality beside energy\n");
    let scored: Vec<_> = report
        .quality
        .iter()
        .zip(&report.summary)
        .filter(|(q, _)| !q.metrics.is_empty())
        .collect();
    if !scored.is_empty() {
        out.push_str(
            "| Configuration | Scorer | Metric | mean (%) | 95% CI (%) | rows | sd over reps (%) | unparsed | J / inference |\n",
        );
        out.push_str("|---|---|---|--:|--:|--:|--:|--:|--:|\n");
        for (q, s) in scored {
            for m in &q.metrics {
                let ci = match (m.ci95_low, m.ci95_high) {
                    (Some(lo), Some(hi)) => format!("{} – {}", pct(Some(lo)), pct(Some(hi))),
                    _ => "–".to_string(),
                };
                let unparsed = match q.unparsed {
                    Some(u) => format!("{u} of {}", q.scored),
                    None => "–".to_string(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {ci} | {} | {} | {unparsed} | {}{} |",
                    cell(&q.config),
                    q.scorer.as_deref().unwrap_or("–"),
                    m.metric.title(),
                    pct(Some(m.mean)),
                    m.items,
                    pct(m.repetition_std),
                    sig_opt(s.row.energy_j_mean, 4),
                    super::markdown::tag(s.row.provenance),
                );
            }
        }
        out.push_str(
            "\nQuality: mean over the dataset rows sent of each row's mean score over the usable repetitions; \
             95% CI over those rows (the uncertainty of the dataset sample): Wilson's for 0/1 scores (accuracy, exact match), \
             Student's t for graded ones (F1, ROUGE), clamped to 0–100. \
             SQuAD: the official v1.1 normalisation, best over the reference answers. \
             ROUGE: F-measure, rouge-score's tokenisation, no stemming (ROUGE-L at sentence level). \
             Unparsed answers (no label word) count as wrong. Seeded weights (the reference server's default) know nothing: \
             a classifier scores about chance, and a generator's text names no label (unparsed).\n",
        );
    }
    beside_study(out, report);
    let unscored: Vec<String> = report
        .quality
        .iter()
        .filter_map(|q| {
            q.unscored
                .as_ref()
                .map(|why| format!("`{}`: {}", cell(&q.config), cell(why)))
        })
        .collect();
    if !unscored.is_empty() {
        let _ = writeln!(
            out,
            "\n**Not scored** (`quality-unscored`, no quality figure): {}.",
            unscored.join("; ")
        );
    }
}
