//! The summary's figures as OpenMetrics text (which Prometheus's text parser also reads),
//! for a node-exporter textfile collector or a pushgateway: one gauge family per figure,
//! a sample per configuration whose figure is known, labelled with the configuration's
//! model, dataset, task, class and id, and energy figures with their `source`
//! (`measured`, `estimated` or `mixed`). An unknown figure has no sample (never a NaN or a
//! 0), and a family with no sample is left out, metadata included. Two run-level families
//! (configurations summarised, start time) carry the suite's name.

use super::Exporter;
use crate::ReportError;
use crate::model::{Report, SummaryRow};
use std::fmt::Write as _;

/// The OpenMetrics text exposition of a report's summary.
pub struct OpenMetrics;

/// Seconds per millisecond, for the latency figures (kept in ms in the summary).
const S_PER_MS: f64 = 1e-3;

/// Which labels a family's samples carry beside the configuration's.
#[derive(Clone, Copy, PartialEq)]
enum Extra {
    /// The configuration's labels only.
    None,
    /// And the figure's provenance, `source` (energy figures).
    Source,
    /// And the latency percentile, `percentile` (`quantile` is reserved for summaries).
    Percentile,
    /// And the quality metric, `metric`.
    Metric,
}

/// A row's samples of one family: each with its extra label's value, and the figure when
/// known.
type Samples = Vec<(String, Option<f64>)>;

/// One gauge family: its name (ending in the unit), unit, help and how to read each
/// row's value(s), with the extra label value of each.
struct Family {
    name: &'static str,
    unit: Option<&'static str>,
    help: &'static str,
    extra: Extra,
    values: fn(&SummaryRow) -> Samples,
}

fn one(v: Option<f64>) -> Samples {
    vec![(String::new(), v)]
}

fn ms(v: Option<f64>) -> Option<f64> {
    v.map(|x| x * S_PER_MS)
}

/// The families, in the order they are written.
const FAMILIES: &[Family] = &[
    Family {
        name: "joulebench_energy_per_inference_joules",
        unit: Some("joules"),
        help: "Mean energy per inference over valid repetitions, all counted domains (J)",
        extra: Extra::Source,
        values: |r| one(r.energy_j_mean),
    },
    Family {
        name: "joulebench_energy_per_inference_ci95_low_joules",
        unit: Some("joules"),
        help: "Lower bound of the 95% CI of the energy per inference, Student's t (J)",
        extra: Extra::Source,
        values: |r| one(r.energy_j_ci95_low),
    },
    Family {
        name: "joulebench_energy_per_inference_ci95_high_joules",
        unit: Some("joules"),
        help: "Upper bound of the 95% CI of the energy per inference, Student's t (J)",
        extra: Extra::Source,
        values: |r| one(r.energy_j_ci95_high),
    },
    Family {
        name: "joulebench_energy_per_1000_inferences_kwh",
        unit: Some("kwh"),
        help: "Mean energy per 1000 inferences (kWh), the AI energy studies' unit",
        extra: Extra::Source,
        values: |r| one(r.kwh_per_1000),
    },
    Family {
        name: "joulebench_emissions_per_1000_inferences_grams",
        unit: Some("grams"),
        help: "Emissions per 1000 inferences (gCO2eq): gross kWh x PUE x grid intensity; absent when the intensity is unknown",
        extra: Extra::Source,
        values: |r| one(r.gco2e_per_1000),
    },
    Family {
        name: "joulebench_energy_per_output_token_joules",
        unit: Some("joules"),
        help: "Mean energy per output token (J), for generators whose server counted tokens",
        extra: Extra::Source,
        values: |r| one(r.energy_j_per_output_token),
    },
    Family {
        name: "joulebench_latency_mean_seconds",
        unit: Some("seconds"),
        help: "Mean latency of successful measured requests (s)",
        extra: Extra::None,
        values: |r| one(ms(r.latency_ms_mean)),
    },
    Family {
        name: "joulebench_latency_seconds",
        unit: Some("seconds"),
        help: "Latency percentile of successful measured requests (s), linear interpolation",
        extra: Extra::Percentile,
        values: |r| {
            vec![
                ("50".to_string(), ms(r.latency_ms_p50)),
                ("90".to_string(), ms(r.latency_ms_p90)),
                ("95".to_string(), ms(r.latency_ms_p95)),
                ("99".to_string(), ms(r.latency_ms_p99)),
            ]
        },
    },
    Family {
        name: "joulebench_throughput_inferences_per_second",
        unit: None,
        help: "Inferences per second of measurement window, mean over repetitions",
        extra: Extra::None,
        values: |r| one(r.throughput_per_s),
    },
    Family {
        name: "joulebench_repetitions",
        unit: None,
        help: "Valid repetitions summarised",
        extra: Extra::None,
        values: |r| vec![(String::new(), Some(r.repetitions as f64))],
    },
    Family {
        name: "joulebench_inferences",
        unit: None,
        help: "Measured inferences across the valid repetitions",
        extra: Extra::None,
        values: |r| vec![(String::new(), Some(r.inferences as f64))],
    },
    Family {
        name: "joulebench_emissions_per_1000_inferences_cleanest_window_grams",
        unit: Some("grams"),
        help: "What-if: gCO2eq per 1,000 inferences of the same energy in the cleanest window of the run's intensity series",
        extra: Extra::Source,
        values: |r| one(r.whatif_cleanest_gco2e_per_1000),
    },
    Family {
        name: "joulebench_rating_stars",
        unit: None,
        help: "AI Energy Score-style stars (1-5) among the run's configurations of the same task, dataset and label",
        extra: Extra::Source,
        values: |r| one(r.rating_stars.map(f64::from)),
    },
    Family {
        name: "joulebench_quality_ratio",
        unit: Some("ratio"),
        help: "Mean of the headline quality metric over the dataset rows sent (0-1), where answers were scored",
        extra: Extra::Metric,
        values: |r| vec![(r.quality_metric.clone(), r.quality_mean)],
    },
    Family {
        name: "joulebench_quality_ci95_low_ratio",
        unit: Some("ratio"),
        help: "Lower bound of the 95% CI of the headline quality metric over rows (0-1)",
        extra: Extra::Metric,
        values: |r| vec![(r.quality_metric.clone(), r.quality_ci95_low)],
    },
    Family {
        name: "joulebench_quality_ci95_high_ratio",
        unit: Some("ratio"),
        help: "Upper bound of the 95% CI of the headline quality metric over rows (0-1)",
        extra: Extra::Metric,
        values: |r| vec![(r.quality_metric.clone(), r.quality_ci95_high)],
    },
];

impl Exporter for OpenMetrics {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        let mut out = run_families(report);
        for family in FAMILIES {
            let mut samples = String::new();
            for row in report.rows() {
                for (extra, value) in (family.values)(row) {
                    let Some(v) = value.filter(|v| v.is_finite()) else {
                        continue;
                    };
                    // A quality figure without its metric's name is not a figure.
                    if family.extra == Extra::Metric && extra.is_empty() {
                        continue;
                    }
                    let _ = writeln!(
                        samples,
                        "{}{{{}}} {}",
                        family.name,
                        labels(row, family.extra, &extra),
                        number(v)
                    );
                }
            }
            if samples.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# TYPE {} gauge", family.name);
            if let Some(unit) = family.unit {
                let _ = writeln!(out, "# UNIT {} {unit}", family.name);
            }
            let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
            out.push_str(&samples);
        }
        out.push_str("# EOF\n");
        Ok(out.into_bytes())
    }
}

/// The run's own families, labelled with the suite's name: how many configurations it
/// summarised (always known, so an exposition is never empty) and when it started (for a
/// dashboard's "last nightly" age; left out when `run.json`'s start cannot be read).
fn run_families(report: &Report) -> String {
    let suite = format!("suite=\"{}\"", escape(&report.manifest.suite.name));
    let mut out = String::new();
    let name = "joulebench_configurations";
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "# HELP {name} Configurations the report summarised");
    let _ = writeln!(out, "{name}{{{suite}}} {}", report.summary.len());
    let started = chrono::DateTime::parse_from_rfc3339(&report.manifest.started_utc)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0);
    if let Some(t) = started {
        let name = "joulebench_run_start_timestamp_seconds";
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "# UNIT {name} seconds");
        let _ = writeln!(out, "# HELP {name} When the run started (Unix time)");
        let _ = writeln!(out, "{name}{{{suite}}} {}", number(t));
    }
    out
}

/// The label set of one sample: the configuration's labels, then the family's own.
fn labels(row: &SummaryRow, extra: Extra, value: &str) -> String {
    let mut pairs = vec![
        ("model", row.model.as_str()),
        ("dataset", row.dataset.as_str()),
        ("task", row.task.as_str()),
        ("class", row.class.as_str()),
        ("config", row.config.as_str()),
    ];
    match extra {
        Extra::None => {}
        Extra::Source => pairs.push(("source", row.provenance.as_str())),
        Extra::Percentile => pairs.push(("percentile", value)),
        Extra::Metric => pairs.push(("metric", value)),
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A label value escaped as OpenMetrics and Prometheus's text format both require:
/// backslash, double quote and line feed.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A finite number as both formats read it (Rust's shortest round-trip form).
fn number(v: f64) -> String {
    format!("{v:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape("plain/model@x"), "plain/model@x");
    }

    #[test]
    fn numbers_round_trip() {
        for v in [0.0, 1.5, 1e-7, 123456789.125, 2.5e20] {
            assert_eq!(number(v).parse::<f64>().ok(), Some(v));
        }
    }
}
