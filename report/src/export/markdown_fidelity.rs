//! `summary.md`'s fidelity sections: the validity checklist per configuration, the
//! repetitions a claim needs, whose energy the figures are, and the window states.

use super::format::{sig, sig_opt};
use super::markdown::{cell, tag};
use crate::fidelity::attribution::{CPU_METHOD, GPU_METHOD};
use crate::fidelity::checklist::CHECKS;
use crate::fidelity::{Attributed, Status};
use crate::model::Report;
use std::fmt::Write as _;

/// Writes the fidelity sections of `report`.
pub(super) fn render(out: &mut String, report: &Report) {
    if report.fidelity.is_empty() {
        return;
    }
    checklist(out, report);
    repetitions_needed(out, report);
    attribution(out, report);
    states(out, report);
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "**FAIL**",
        Status::NotApplicable => "n/a",
    }
}

fn checklist(out: &mut String, report: &Report) {
    let _ = writeln!(out, "\n## Validity checklist\n");
    let _ = write!(out, "| Configuration |");
    for (name, _) in CHECKS {
        let _ = write!(out, " {name} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in CHECKS {
        out.push_str("---|");
    }
    out.push('\n');
    for f in &report.fidelity {
        let _ = write!(out, "| {} |", cell(&f.config));
        for c in &f.checklist {
            let _ = write!(out, " {} |", mark(c.status));
        }
        out.push('\n');
    }
    out.push('\n');
    for (name, asks) in CHECKS {
        let _ = writeln!(out, "- `{name}`: {asks}.");
    }
    let details: Vec<String> = report
        .fidelity
        .iter()
        .flat_map(|f| {
            f.checklist
                .iter()
                .filter(|c| c.status != Status::Pass)
                .map(move |c| {
                    format!(
                        "- {} `{}` ({}): {}",
                        cell(&f.config),
                        c.name,
                        mark(c.status),
                        cell(&c.detail)
                    )
                })
        })
        .collect();
    if !details.is_empty() {
        let _ = writeln!(out, "\nWhy:\n\n{}", details.join("\n"));
    }
    let failing = report.fidelity.iter().filter(|f| f.fails()).count();
    let _ = writeln!(
        out,
        "\n{failing} of {} configurations fail a check; `joulebench report --strict` (and `run --strict`) exits 4 when any does.",
        report.fidelity.len()
    );
}

fn repetitions_needed(out: &mut String, report: &Report) {
    let rows: Vec<String> = report
        .fidelity
        .iter()
        .filter_map(|f| {
            let r = f.repetitions_needed.as_ref()?;
            let n = |v: &[crate::stats::power::Needed]| {
                v.iter()
                    .map(crate::stats::power::Needed::count)
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            Some(format!(
                "| {} | {} | {:.1}% | {} | {} |",
                cell(&f.config),
                r.observed,
                r.cv * 100.0,
                n(&r.ci_half_width),
                n(&r.detect_difference)
            ))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Repetitions needed\n\nFrom each configuration's observed spread: repetitions for a 95% CI (Student's t) of ±1%, ±2% and ±5% of the mean, and repetitions per run for `compare` (Welch, two-sided α = 0.05, power 0.8) to detect a 1%, 2% or 5% difference between two runs of this spread.\n"
    );
    let _ = writeln!(
        out,
        "| Configuration | reps | CV | CI ±1% | CI ±2% | CI ±5% | detect 1% | detect 2% | detect 5% |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    let _ = writeln!(out, "{}", rows.join("\n"));
}

fn part(a: Option<&Attributed>) -> String {
    a.map_or_else(
        || "–".to_string(),
        |a| {
            format!(
                "{:.1}% · {} J{}",
                a.share * 100.0,
                sig(a.energy_j, 4),
                tag(a.label)
            )
        },
    )
}

fn attribution(out: &mut String, report: &Report) {
    let any = report.fidelity.iter().any(|f| {
        let a = &f.attribution;
        a.server_cpu.is_some() || a.client_cpu.is_some() || !a.gpu.is_empty()
    });
    if !any {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Whose energy\n\nServer: {CPU_METHOD}. Client: joulebench's own process (its sampler included), by the same share. GPU: {GPU_METHOD}. Each cell: share · J per inference.\n"
    );
    let _ = writeln!(
        out,
        "| Configuration | server processes | CPU package J / inference | machine busy | server CPU | client CPU | GPU (server, apportioned) |\n|---|---|--:|--:|--:|--:|---|"
    );
    for f in &report.fidelity {
        let a = &f.attribution;
        let gpu: Vec<String> = a
            .gpu
            .iter()
            .map(|(d, g)| format!("{d}: {}", part(Some(g))))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell(&f.config),
            cell(if a.server_scope.is_empty() {
                "unknown"
            } else {
                &a.server_scope
            }),
            sig_opt(a.package_energy_j, 4),
            a.machine_busy_share
                .map_or_else(|| "–".to_string(), |b| format!("{:.1}%", b * 100.0)),
            part(a.server_cpu.as_ref()),
            part(a.client_cpu.as_ref()),
            if gpu.is_empty() {
                "–".to_string()
            } else {
                cell(&gpu.join("; "))
            },
        );
    }
    let missing: Vec<String> = report
        .fidelity
        .iter()
        .flat_map(|f| {
            f.attribution
                .missing
                .iter()
                .map(move |m| format!("- {}: {}", cell(&f.config), cell(m)))
        })
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "\n{}", missing.join("\n"));
    }
}

fn states(out: &mut String, report: &Report) {
    let rows: Vec<String> = report
        .fidelity
        .iter()
        .flat_map(|f| {
            f.state.rows.iter().map(move |r| {
                format!(
                    "| {} | {} | {} | {} | {} | {} |",
                    cell(&f.config),
                    cell(&r.domain),
                    cell(&r.key),
                    cell(&r.first),
                    cell(&r.last),
                    r.distinct.len()
                )
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let host = &report.manifest.host;
    let versions = match (&host.nvidia_driver, &host.nvml_version) {
        (None, None) => String::new(),
        (driver, nvml) => format!(
            " NVIDIA driver {}, NVML {}.",
            driver.as_deref().unwrap_or("unknown"),
            nvml.as_deref().unwrap_or("unknown")
        ),
    };
    let _ = writeln!(
        out,
        "\n## Window state\n\nRead at each repetition window's start and end (`window_state.csv`).{versions}\n\n| Configuration | domain | state | first (rep start) | last (rep end) | distinct values |\n|---|---|---|---|---|--:|\n{}",
        rows.join("\n")
    );
}
