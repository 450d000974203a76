//! `summary.md`: the tables for CI logs and pull requests.

use super::Exporter;
use super::format::{sig, sig_opt};
use crate::ReportError;
use crate::model::Report;
use records::labels::FigureLabel;
use std::fmt::Write as _;

/// `summary.md`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Markdown;

impl Exporter for Markdown {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        Ok(render(report).into_bytes())
    }
}

/// A figure's label note in italics after a space; empty when measured.
pub(super) fn tag(label: FigureLabel) -> String {
    label
        .note()
        .map_or_else(String::new, |note| format!(" *{note}*"))
}

/// Escapes a table cell.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown text of a report.
pub fn render(report: &Report) -> String {
    let m = &report.manifest;
    let mut out = String::new();
    let _ = writeln!(out, "# joulebench results: {}\n", cell(&m.suite.name));
    let gpus: Vec<&str> = m.host.gpus.iter().map(|g| g.name.as_str()).collect();
    let machine = [m.host.hostname.as_str(), m.host.cpu_model.as_str()]
        .into_iter()
        .chain(gpus.iter().copied())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let grid = if let Some(c) = &m.carbon_series {
        format!(
            "Grid intensity hour by hour from the series of zone {} (see *Carbon over time*){} × PUE {}.",
            cell(&c.zone),
            if m.carbon_intensity_g_per_kwh.is_finite() {
                format!(
                    "; outside it {} gCO2eq/kWh",
                    sig(m.carbon_intensity_g_per_kwh, 4)
                )
            } else {
                "; outside it none".to_string()
            },
            m.pue
        )
    } else if m.carbon_intensity_g_per_kwh.is_finite() {
        format!(
            "Grid {} gCO2eq/kWh × PUE {}.",
            sig(m.carbon_intensity_g_per_kwh, 4),
            m.pue
        )
    } else {
        "Grid intensity **unknown**: emissions are unknown and gCO2eq is not computed \
         (`gco2-unknown`)."
            .to_string()
    };
    let _ = writeln!(
        out,
        "Status **{}**, started {}{}. {grid}\n",
        format!("{:?}", m.status).to_lowercase(),
        m.started_utc,
        if machine.is_empty() {
            String::new()
        } else {
            format!(" on {}", cell(&machine))
        },
    );
    for p in &m.probes {
        let _ = writeln!(
            out,
            "- energy source `{}`: **{}** ({}), domains {}, resolution {} s",
            p.name,
            p.provenance,
            cell(&p.method),
            p.domains.join(", "),
            p.resolution_s
        );
    }
    if let Some(reason) = &m.status_reason {
        let _ = writeln!(out, "- {}", cell(reason));
    }
    for p in &m.missing_probes {
        let _ = writeln!(out, "- not available: `{}`: {}", p.probe, cell(&p.reason));
    }
    out.push_str("\n## Energy per inference\n\n");
    out.push_str(
        "| Model | Task | Dataset | Class | n | J / inference (mean ± sd) | 95% CI (J) | CV | \
         kWh / 1,000 | net J / inference | gCO2eq / 1,000 | latency p50 / p99 (ms) | source | flags |\n",
    );
    out.push_str("|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n");
    for summary in &report.summary {
        let (row, flags) = (&summary.row, &summary.flags);
        let tag = if row.energy_j_mean.is_some() {
            tag(row.provenance)
        } else {
            String::new()
        };
        let net_tag = if row.net_energy_j_mean.is_some() {
            tag.as_str()
        } else {
            ""
        };
        let co2_tag = if row.gco2e_per_1000.is_some_and(f64::is_finite) {
            tag.as_str()
        } else {
            ""
        };
        // A configuration without figures shows one `–` per cell; the reason follows the table.
        let (mean_sd, ci) = match (row.energy_j_mean, row.energy_j_std) {
            (Some(mean), std) => (
                format!("{} ± {}{tag}", sig(mean, 4), sig_opt(std, 2)),
                format!(
                    "{} – {}",
                    sig_opt(row.energy_j_ci95_low, 4),
                    sig_opt(row.energy_j_ci95_high, 4)
                ),
            ),
            (None, _) => ("–".to_string(), "–".to_string()),
        };
        let latency = match (row.latency_ms_p50, row.latency_ms_p99) {
            (None, None) => "–".to_string(),
            (p50, p99) => format!("{} / {}", sig_opt(p50, 4), sig_opt(p99, 4)),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {mean_sd} | {ci} | {} | {}{tag} | {}{net_tag} | {}{co2_tag} | {latency} | {} | {} |",
            cell(&row.model),
            cell(&row.task),
            cell(&row.dataset),
            cell(row.class.as_str()),
            row.repetitions,
            row.energy_j_cv
                .filter(|cv| cv.is_finite())
                .map_or_else(|| "–".to_string(), |cv| format!("{:.1}%", cv * 100.0)),
            sig_opt(row.kwh_per_1000, 3),
            sig_opt(row.net_energy_j_mean, 4),
            sig_opt(row.gco2e_per_1000, 3),
            row.provenance,
            cell(&crate::flags::join(flags)),
        );
    }
    match &m.shard {
        Some(shard) if shard.configurations.is_empty() => {
            let _ = writeln!(
                out,
                "\nShard {}/{} had no configurations: the suite's configurations all went to other shards, so this shard measured nothing. Merge every shard with `joulebench report --merge`.",
                shard.index, shard.count
            );
        }
        _ if report.summary.iter().all(|s| s.row.repetitions == 0) => {
            out.push_str("\nNo configuration has a valid repetition yet.\n");
        }
        _ => {}
    }
    without_valid_repetition(&mut out, report);
    failures(&mut out, report);
    super::markdown_streams::render(&mut out, report);
    super::markdown_quality::render(&mut out, report);
    if let Some(load) = &report.load {
        crate::load::markdown::render(&mut out, load);
    }
    out.push_str(
        "\nUnit of replication: one repetition. CI: Student's t, n − 1 degrees of freedom. \
         *estimated* marks figures that come wholly or partly from an estimate, not a measurement.\n",
    );
    super::markdown_fidelity::render(&mut out, report);
    hosts(&mut out, report);
    tasks(&mut out, report);
    ratings(&mut out, report);
    models(&mut out, report);
    crate::savings::markdown::section(&mut out, &report.savings);
    beside_study(&mut out, report);
    super::markdown_carbon::render(&mut out, report);
    out
}

/// The configurations whose figures are empty (`–`), each with the flags that say why.
fn without_valid_repetition(out: &mut String, report: &Report) {
    let lines: Vec<String> = report
        .without_valid_repetition()
        .map(|s| {
            format!(
                "`{}` ({})",
                cell(&s.row.config),
                cell(&crate::flags::join(&s.flags))
            )
        })
        .collect();
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n**No valid repetition** (figures empty, –): {}.",
        lines.join("; ")
    );
}

/// The configurations with failed measured requests, with their count and share.
fn failures(out: &mut String, report: &Report) {
    let lines: Vec<String> = report
        .configs
        .iter()
        .filter_map(|c| {
            let f = c.failures();
            let share = f.share().filter(|_| f.failed > 0)?;
            Some(format!(
                "{}: {} of {} ({:.1}%)",
                cell(&c.info.id),
                f.failed,
                f.sent,
                100.0 * share
            ))
        })
        .collect();
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nFailed measured requests (their time is in the energy per inference; the latency \
         percentiles leave them out): {}.",
        lines.join("; ")
    );
}

/// Which node measured each configuration, when a merged run spans more than one host.
fn hosts(out: &mut String, report: &Report) {
    if report.rows().all(|r| r.host.is_none()) {
        return;
    }
    out.push_str(
        "\n## Hosts\n\nThis merged run was measured on more than one node; two boards of one \
         model differ, so compare configurations measured on the same host.\n\n",
    );
    out.push_str("| Model | Dataset | Host |\n|---|---|---|\n");
    for row in report.rows() {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            cell(&row.model),
            cell(&row.dataset),
            cell(row.host.as_deref().unwrap_or("–"))
        );
    }
}

/// The stars of each configuration within its task, with the method.
fn ratings(out: &mut String, report: &Report) {
    if report.rows().all(|r| r.rating_stars.is_none()) {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Ratings\n\n{} Stars rank within this run only.\n",
        crate::rating::METHOD
    );
    out.push_str("| Task | Model | Dataset | Rating | J / inference | Rated among |\n");
    out.push_str("|---|---|---|---|--:|---|\n");
    for row in report.rows() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}{} | {}{} | {} |",
            cell(&row.task),
            cell(&row.model),
            cell(&row.dataset),
            crate::rating::glyphs(row.rating_stars),
            // Stars given on estimates are estimated too.
            row.rating_stars
                .map_or_else(String::new, |_| tag(row.provenance)),
            sig_opt(row.energy_j_mean, 3),
            tag(row.provenance),
            cell(&row.rating_basis)
        );
    }
}

fn tasks(out: &mut String, report: &Report) {
    if report.tasks.is_empty() {
        return;
    }
    out.push_str("\n## Per task (all repetitions pooled)\n\n");
    out.push_str("| Task | Class | Models | Configurations | Repetitions | kWh / 1,000 (mean ± sd) | source |\n");
    out.push_str("|---|---|--:|--:|--:|--:|---|\n");
    for t in &report.tasks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} ± {}{} | {} |",
            cell(&t.task),
            cell(t.class.as_str()),
            t.models,
            t.configurations,
            t.repetitions,
            sig(t.kwh_per_1000_mean, 3),
            sig(t.kwh_per_1000_std, 2),
            tag(t.provenance),
            t.provenance
        );
    }
}

fn models(out: &mut String, report: &Report) {
    if report.models.is_empty() {
        return;
    }
    out.push_str("\n## Per model (mean over tasks of each task's mean)\n\n");
    out.push_str("| Model | Class | Parameters | Tasks | kWh / 1,000 | source |\n");
    out.push_str("|---|---|--:|---|--:|---|\n");
    for m in &report.models {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}{} | {} |",
            cell(&m.model),
            cell(m.class.as_str()),
            match (m.parameters, m.active_parameters) {
                (Some(p), Some(a)) => format!("{p} ({a} active)"),
                (Some(p), None) => p.to_string(),
                (None, Some(a)) => format!("– ({a} active)"),
                (None, None) => "–".to_string(),
            },
            cell(&m.tasks),
            sig(m.kwh_per_1000_mean, 3),
            tag(m.provenance),
            m.provenance
        );
    }
}

/// A figure with its label's note in italics (nothing when measured).
fn noted(figure: String, label: FigureLabel) -> String {
    figure + &tag(label)
}

fn beside_study(out: &mut String, report: &Report) {
    let Some(rows) = &report.beside_study else {
        return;
    };
    out.push_str("\n## Beside the study's figures\n\n");
    if rows.is_empty() {
        out.push_str(
            "No measured model has a study figure yet (see `reference.csv`: no configuration \
             with a valid repetition is matched to one).\n",
        );
        return;
    }
    let labels: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.reference_label.as_str()).collect();
    let _ = writeln!(
        out,
        "The study's figures: **{}** (kept in `reference.csv` from the run's start).\n",
        cell(&labels.into_iter().collect::<Vec<_>>().join("; "))
    );
    out.push_str(
        "| Model | Task | Class | measured datasets | measured kWh / 1,000 [95% CI] | source | \
         study model | study datasets | study kWh / 1,000 (± sd, runs) | study source | \
         measured / study |\n",
    );
    out.push_str("|---|---|---|---|--:|---|---|---|--:|---|--:|\n");
    for r in rows {
        let measured = noted(
            format!(
                "{} [{} – {}]",
                sig(r.kwh_per_1000, 3),
                sig(r.kwh_per_1000_ci95_low, 3),
                sig(r.kwh_per_1000_ci95_high, 3)
            ),
            r.provenance,
        );
        let study = noted(
            format!(
                "{} ± {} ({} runs)",
                sig(r.reference_kwh_per_1000, 3),
                sig(r.reference_kwh_per_1000_std, 2),
                r.reference_runs
            ),
            r.reference_provenance,
        );
        let ratio = noted(sig(r.ratio, 3), r.ratio_provenance);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {measured} | {} | {} | {} | {study} | {} | {ratio} |",
            cell(&r.model),
            cell(&r.task),
            cell(r.class.as_str()),
            cell(&r.measured_datasets),
            r.provenance,
            cell(&r.reference_model),
            cell(&r.reference_datasets),
            r.reference_provenance,
        );
    }
    out.push_str(
        "\nMeasured figures are gross (idle included): each model's repetitions pooled over \
         its measured datasets, the datasets of the task that have a study figure (its other \
         datasets enter neither side). A ratio is as estimated as the more estimated of its \
         two figures.\n",
    );
    let notes: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|r| {
            r.reference_note
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|n| !n.is_empty())
        .collect();
    if notes.is_empty() {
        out.push_str(
            "\nThe study's setup may differ from this run's; see its documentation before \
             reading a ratio as a difference between models.\n",
        );
    }
    for note in notes {
        let _ = writeln!(out, "\n{note}");
    }
}
