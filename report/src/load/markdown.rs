//! `summary.md`'s sections "Load levels" (a table per model and dataset) and "Lowest energy
//! within each latency target".

use super::LoadReport;
use super::LoadRow;
use super::figure::Figure;
use super::targets::Scope;
use crate::export::markdown::cell;
use records::labels::FigureLabel;
use records::number::sig;
use std::fmt::Write as _;

/// A figure as `mean [low – high]`, `–` when unknown; `tag` follows a known mean.
fn show(f: &Figure, digits: usize, tag: &str) -> String {
    match f.mean {
        None => "–".to_string(),
        Some(m) => match (f.ci95_low, f.ci95_high) {
            (Some(lo), Some(hi)) => format!(
                "{}{tag} [{} – {}]",
                sig(m, digits),
                sig(lo, digits),
                sig(hi, digits)
            ),
            _ => format!("{}{tag}", sig(m, digits)),
        },
    }
}

/// The mean alone, `–` when unknown.
fn bare(f: &Figure, digits: usize) -> String {
    f.mean.map_or_else(|| "–".to_string(), |m| sig(m, digits))
}

/// Writes both sections.
pub fn render(out: &mut String, load: &LoadReport) {
    out.push_str(
        "\n## Load levels\n\nSteady state only: closed loop (`cN`) from when all N clients are \
         in flight to when the drain begins, open loop (`pR`) after the ramp-up share of the \
         arrivals to the last arrival. Energy is the counted machine energy in that window \
         (gross) divided by the request-equivalents served in it (each successful request \
         counted by the share of its duration inside); per token, by the output tokens \
         generated in it; req/s is request-equivalents per second. Latency is that of the \
         steady-state requests (closed loop: wholly inside the window; open loop: arrived \
         inside it). Offered and achieved rates are (events − 1) / span of the scheduled \
         arrivals and of the successful answers. Each cell is the mean over repetitions [95% CI, Student's \
         t]. Prefill and decode energies are *apportioned* (the machine's power shared \
         equally among the requests in flight), not measured. See `docs/load.md` and \
         `load.csv` (with the reason for every empty cell).\n",
    );
    let mut groups: Vec<(&str, &str)> = load
        .levels
        .iter()
        .map(|r| (r.model.as_str(), r.dataset.as_str()))
        .collect();
    groups.dedup();
    groups.sort_unstable();
    groups.dedup();
    for (model, dataset) in groups {
        let _ = writeln!(out, "\n### {} on {}\n", cell(model), cell(dataset));
        out.push_str(
            "| Level | n | J / request | net J / request | J / token | req/s | tok/s | e2e p50 / p90 / p99 (ms) | TTFT p90 (ms) | ITL p90 (ms) | offered / achieved (req/s) | queueing delay (ms) | prefill J (apportioned) | decode J / token (apportioned) | source |\n",
        );
        out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
        for r in load
            .levels
            .iter()
            .filter(|r| r.model == model && r.dataset == dataset)
        {
            let tag = note(r.provenance);
            let rates = if r.point.load.is_open() {
                format!("{} / {}", bare(&r.offered_rps, 3), bare(&r.achieved_rps, 3))
            } else {
                "–".to_string()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {rates} | {} | {} | {} | {} |",
                r.point,
                r.steady_repetitions,
                show(&r.energy_j_per_request, 4, &tag),
                show(&r.net_energy_j_per_request, 4, &tag),
                show(&r.energy_j_per_token, 3, &tag),
                show(&r.throughput_rps, 3, ""),
                show(&r.throughput_tps, 3, ""),
                bare(&r.e2e_p50_ms, 4),
                bare(&r.e2e_p90_ms, 4),
                bare(&r.e2e_p99_ms, 4),
                show(&r.ttft_p90_ms, 3, ""),
                show(&r.itl_p90_ms, 3, ""),
                show(&r.queueing_delay_ms, 3, ""),
                show(&r.prefill_j_apportioned, 3, &tag),
                show(&r.decode_j_per_token_apportioned, 3, &tag),
                r.provenance,
            );
        }
        let empty: Vec<String> = load
            .levels
            .iter()
            .filter(|r| r.model == model && r.dataset == dataset)
            .filter_map(|r| {
                let reasons: Vec<String> = [
                    ("J / request", &r.energy_j_per_request),
                    ("J / token", &r.energy_j_per_token),
                    ("queueing delay", &r.queueing_delay_ms),
                    ("prefill/decode", &r.prefill_j_apportioned),
                ]
                .iter()
                .filter(|(_, f)| f.mean.is_none())
                .map(|(name, f)| format!("{name}: {}", f.why))
                .collect();
                let short = (r.short_windows > 0).then(|| {
                    format!(
                        "{} of {} windows shorter than {} sample intervals ({} s each): their energy rests on few samples",
                        r.short_windows,
                        r.steady_repetitions,
                        super::SHORT_WINDOW_SAMPLES,
                        sig(r.sample_interval_s, 3)
                    )
                });
                let all: Vec<String> = reasons
                    .into_iter()
                    .chain(short)
                    .chain(past_capacity(r))
                    .collect();
                (!all.is_empty()).then(|| format!("- `{}`: {}", r.point, cell(&all.join("; "))))
            })
            .collect();
        if !empty.is_empty() {
            out.push_str("\nEmpty cells (–) and caveats:\n\n");
            for line in empty {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    targets(out, load);
}

/// Achieved rates under this share of the offered one flag an open loop past capacity.
pub const PAST_CAPACITY_SHARE: f64 = 0.8;

/// The caveat of an open-loop level whose achieved rate is well under the offered one.
fn past_capacity(r: &LoadRow) -> Option<String> {
    let (offered, achieved) = (r.offered_rps.mean?, r.achieved_rps.mean?);
    (achieved < PAST_CAPACITY_SHARE * offered).then(|| {
        format!(
            "past capacity (achieved {} of {} req/s offered): the queue grows through the window, \
             so there is no steady state and time spent queued counts as served; J / request \
             reads low and req/s high",
            sig(achieved, 3),
            sig(offered, 3)
        )
    })
}

/// A figure's provenance note in italics, empty when measured.
fn note(label: FigureLabel) -> String {
    label.note().map_or_else(String::new, |n| format!(" *{n}*"))
}

fn targets(out: &mut String, load: &LoadReport) {
    if load.latency_targets.is_empty() {
        return;
    }
    out.push_str(
        "\n## Lowest energy within each latency target\n\nPer model and dataset, across every \
         power limit measured (*all*; the level names its limit), then, where more than one \
         was measured, within each: of the levels whose mean of the bounded metric (over the \
         steady-state requests) meets the target, the one with the lowest energy per request \
         (gross); when none meets it, the closest.\n\n",
    );
    out.push_str("| Target | Model | Dataset | Power limits compared | Level | metric (ms) | J / request [95% CI] | |\n");
    out.push_str("|---|---|---|--:|---|--:|--:|---|\n");
    for t in &load.latency_targets {
        let energy = match (
            t.energy_j_per_request,
            t.energy_j_per_request_ci95_low,
            t.energy_j_per_request_ci95_high,
        ) {
            (Some(m), Some(lo), Some(hi)) => format!(
                "{}{} [{} – {}]",
                sig(m, 4),
                note(t.provenance),
                sig(lo, 4),
                sig(hi, 4)
            ),
            (Some(m), _, _) => format!("{}{}", sig(m, 4), note(t.provenance)),
            (None, _, _) => "–".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} ≤ {} ms | {} | {} | {} | {} | {} | {energy} | {} |",
            t.metric,
            sig(t.target_ms, 4),
            cell(&t.model),
            cell(&t.dataset),
            match (t.scope, t.power_limit_w) {
                (Scope::AllLimits, _) => "all".to_string(),
                (Scope::OneLimit, None) => "as found".to_string(),
                (Scope::OneLimit, Some(w)) => format!("{w} W"),
            },
            if t.point.is_empty() {
                "–"
            } else {
                t.point.as_str()
            },
            t.metric_ms.map_or_else(|| "–".to_string(), |m| sig(m, 4)),
            if t.meets {
                "meets it".to_string()
            } else {
                cell(&t.note)
            },
        );
    }
}
