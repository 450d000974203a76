//! The savings section of `summary.md` (and so of `report.html`) and its LaTeX table.

use super::SavingsRow;
use crate::export::latex::escape;
use records::labels::FigureLabel;
use records::number::{sig, sig_opt};
use std::fmt::Write as _;

/// A ratio with its interval, or the note saying why a part is missing; `label`'s note
/// (`estimated`) follows an energy figure.
fn ratio_text(
    ratio: Option<f64>,
    low: Option<f64>,
    high: Option<f64>,
    note: &str,
    label: Option<FigureLabel>,
) -> String {
    let tag = label
        .and_then(FigureLabel::note)
        .map_or_else(String::new, |n| format!(" *{n}*"));
    match (ratio, low.zip(high)) {
        (Some(r), Some((lo, hi))) => {
            format!("{} [{} – {}]{tag}", sig(r, 3), sig(lo, 3), sig(hi, 3))
        }
        (Some(r), None) => format!("{} ({}){tag}", sig(r, 3), note),
        (None, _) => format!("– ({note})"),
    }
}

/// A size beside its baseline's with their ratio: `34.5M / 135M (0.256)`.
fn size_text(mine: Option<u64>, theirs: Option<u64>, ratio: Option<f64>) -> String {
    let n = |v: Option<u64>| v.map_or_else(|| "–".to_string(), |v| sig(v as f64, 3));
    match ratio {
        Some(r) => format!("{} / {} ({})", n(mine), n(theirs), sig(r, 3)),
        None => format!("{} / {}", n(mine), n(theirs)),
    }
}

/// The Markdown section of the savings rows (nothing without variants).
pub fn section(out: &mut String, rows: &[SavingsRow]) {
    if rows.is_empty() {
        return;
    }
    out.push_str("\n## What the techniques save (variant ÷ baseline)\n\n");
    out.push_str(
        "Each variant's configuration beside its baseline's on the same dataset and load level: \
         ratios of the means over usable repetitions, 95% CI by Fieller's theorem (the unit is a \
         repetition's per-inference figure). Below 1 the variant saves. A ratio of estimated \
         energy is estimated (`savings.csv` has every column).\n\n",
    );
    out.push_str(
        "| Variant | Baseline | Technique | Dataset | Load | energy / inference [95% CI] | latency [95% CI] | J / output token [95% CI] | parameters (variant / baseline) | active parameters | weight bytes | source |\n",
    );
    out.push_str("|---|---|---|---|---|--:|--:|--:|--:|--:|--:|---|\n");
    for r in rows {
        let energy = Some(r.provenance);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&r.model),
            cell(&r.baseline),
            cell(&r.techniques),
            cell(&r.dataset),
            if r.load.is_empty() { "–" } else { &r.load },
            cell(&ratio_text(
                r.energy_ratio,
                r.energy_ratio_ci95_low,
                r.energy_ratio_ci95_high,
                &r.energy_ratio_note,
                energy
            )),
            cell(&ratio_text(
                r.latency_ratio,
                r.latency_ratio_ci95_low,
                r.latency_ratio_ci95_high,
                &r.latency_ratio_note,
                None
            )),
            cell(&ratio_text(
                r.j_per_token_ratio,
                r.j_per_token_ratio_ci95_low,
                r.j_per_token_ratio_ci95_high,
                &r.j_per_token_ratio_note,
                energy
            )),
            size_text(r.parameters, r.baseline_parameters, r.parameters_ratio),
            size_text(
                r.active_parameters,
                r.baseline_active_parameters,
                r.active_parameters_ratio
            ),
            size_text(
                r.weight_bytes,
                r.baseline_weight_bytes,
                r.weight_bytes_ratio
            ),
            r.provenance,
        );
    }
    let sources: Vec<String> = rows
        .iter()
        .filter(|r| !r.parameters_source.is_empty() || !r.weight_bytes_source.is_empty())
        .map(|r| {
            format!(
                "{}: parameters {}, active {}, weight bytes {}",
                r.model,
                or_dash(&r.parameters_source),
                or_dash(&r.active_parameters_source),
                or_dash(&r.weight_bytes_source)
            )
        })
        .collect();
    if !sources.is_empty() {
        let _ = writeln!(
            out,
            "\nWhere the sizes come from (variant/baseline; `suite` declared, `server` said by its `/v1/models`): {}.",
            sources.join("; ")
        );
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "–" } else { s }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The LaTeX table of the savings rows (nothing without variants).
pub fn latex(out: &mut String, rows: &[SavingsRow]) {
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "\n% What the techniques save: variant / baseline, 95\\% CI by Fieller's theorem.\n",
    );
    out.push_str("\\begin{tabular}{lllrrrr}\n\\toprule\n");
    out.push_str(
        "Variant & Baseline & Technique & Energy ratio [95\\% CI] & Latency ratio & J/token ratio & Params ratio \\\\\n\\midrule\n",
    );
    let mut any_estimated = false;
    for r in rows {
        let mark = match r.provenance {
            FigureLabel::Measured => "",
            FigureLabel::Mixed => "$^\\ddagger$",
            FigureLabel::Estimated => "$^\\dagger$",
        };
        any_estimated |= !mark.is_empty();
        let ci = |ratio: Option<f64>, low: Option<f64>, high: Option<f64>| match (
            ratio,
            low.zip(high),
        ) {
            (Some(v), Some((lo, hi))) => format!("{} [{}, {}]", sig(v, 3), sig(lo, 3), sig(hi, 3)),
            (Some(v), None) => format!("{} [unbounded]", sig(v, 3)),
            (None, _) => "--".into(),
        };
        let _ = writeln!(
            out,
            "{} & {} & {} & {}{mark} & {} & {}{} & {} \\\\",
            escape(&r.model),
            escape(&r.baseline),
            escape(&r.techniques),
            ci(
                r.energy_ratio,
                r.energy_ratio_ci95_low,
                r.energy_ratio_ci95_high
            ),
            ci(
                r.latency_ratio,
                r.latency_ratio_ci95_low,
                r.latency_ratio_ci95_high
            ),
            ci(
                r.j_per_token_ratio,
                r.j_per_token_ratio_ci95_low,
                r.j_per_token_ratio_ci95_high
            ),
            if r.j_per_token_ratio.is_some() {
                mark
            } else {
                ""
            },
            sig_opt(r.parameters_ratio, 3),
        );
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n");
    if any_estimated {
        out.push_str("\\par\\footnotesize $^\\dagger$~estimated, not measured; $^\\ddagger$~partly estimated.\n");
    }
}
