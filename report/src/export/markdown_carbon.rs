//! The "Carbon over time" section of `summary.md`: the run's hourly series and the
//! what-ifs it implies, labelled as such.

use super::format::{sig, sig_opt};
use super::markdown::cell;
use crate::model::Report;
use std::fmt::Write as _;

/// Appends the section when the run has an hourly intensity series.
pub(super) fn render(out: &mut String, report: &Report) {
    let Some(c) = &report.carbon else {
        return;
    };
    out.push_str("\n## Carbon over time (what-if)\n\n");
    let coverage: Vec<String> = c
        .coverage
        .iter()
        .map(|z| format!("{} {} to {}", z.zone, z.from_utc, z.to_utc))
        .collect();
    let _ = writeln!(
        out,
        "Series: {} (column basis `{}`, kept in `carbon_intensity.csv`); the run's zone **{}**; hours: {}.\n",
        cell(&c.sources.join(", ")),
        c.basis.as_str(),
        cell(&c.zone),
        cell(&coverage.join("; "))
    );
    out.push_str(
        "Each repetition's intensity is the mean of the hours its window overlaps, weighted by the time in each. \
         The **what-if** figures below place the same measured energy, laid out the same way in time, elsewhere in \
         the series: they are computed from the series, not measured.\n\n",
    );
    let _ = writeln!(
        out,
        "- as run, in {}: {} gCO2eq",
        cell(&c.zone),
        c.run_gco2e.map_or_else(
            || "– (a repetition has no intensity: see `carbon-outside-series`)".to_string(),
            |g| sig(g, 4)
        )
    );
    match &c.cleanest {
        Ok(w) => {
            let _ = writeln!(
                out,
                "- what-if, the cleanest {} s window of {}: start {}, {} gCO2eq at {} gCO2eq/kWh, saving {}",
                sig(w.span_s, 4),
                cell(&c.zone),
                w.start_utc,
                sig(w.run_gco2e, 4),
                sig(w.intensity_g_per_kwh, 4),
                w.saving_pct.map_or_else(
                    || "– (a repetition was outside the series)".to_string(),
                    |p| format!("{p:.1}%")
                )
            );
        }
        Err(why) => {
            let _ = writeln!(out, "- what-if, cleanest window: none ({})", cell(why));
        }
    }
    for z in &c.zones {
        let figure = match &z.run_gco2e {
            Ok(g) => format!("{} gCO2eq", sig(*g, 4)),
            Err(why) => format!("– ({})", cell(why)),
        };
        let _ = writeln!(out, "- what-if, same hours in {}: {figure}", cell(&z.zone));
    }
    out.push_str("\n| Model | Dataset | gCO2eq / 1,000 | what-if cleanest | saving | what-if other zones |\n");
    out.push_str("|---|---|--:|--:|--:|---|\n");
    for s in &report.summary {
        let r = &s.row;
        if r.repetitions == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&r.model),
            cell(&r.dataset),
            sig_opt(r.gco2e_per_1000.filter(|g| g.is_finite()), 4),
            sig_opt(r.whatif_cleanest_gco2e_per_1000, 4),
            r.whatif_cleanest_saving_pct
                .map_or_else(|| "–".to_string(), |p| format!("{p:.1}%")),
            cell(&zones(&r.whatif_other_zones_gco2e_per_1000))
        );
    }
}

/// `ZONE=value;…` with each value to 4 significant figures, `; `-joined.
fn zones(joined: &str) -> String {
    joined
        .split(';')
        .filter(|z| !z.is_empty())
        .map(|z| match z.split_once('=') {
            Some((zone, v)) => match v.parse::<f64>() {
                Ok(g) => format!("{zone} {}", sig(g, 4)),
                Err(_) => format!("{zone} {v}"),
            },
            None => z.to_string(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
