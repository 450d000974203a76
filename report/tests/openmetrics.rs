//! The OpenMetrics exposition, read back by a real parser (`openmetrics-parser`).

use joulebench_report as report;

use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use report::export::Exporter;
use report::export::openmetrics::OpenMetrics;
use report::synthetic::Synthetic;

type Exposition = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

fn exposition(report: &report::Report) -> String {
    String::from_utf8(OpenMetrics.serialize(report).expect("serialise")).expect("utf-8")
}

fn parse(text: &str) -> Exposition {
    parse_openmetrics(text).unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{text}"))
}

/// Each sample of a family: its labels (name, value) and its value.
fn samples(exp: &Exposition, family: &str) -> Vec<(Vec<(String, String)>, f64)> {
    let f = exp
        .families
        .get(family)
        .unwrap_or_else(|| panic!("no family {family}"));
    f.iter_samples()
        .map(|s| {
            let labels = s
                .get_labelset()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let value = match &s.value {
                OpenMetricsValue::Gauge(n) => n.as_f64(),
                other => panic!("{family} is not a gauge: {other:?}"),
            };
            (labels, value)
        })
        .collect()
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no label {name} in {labels:?}"))
}

#[test]
fn the_summary_reads_back_with_its_labels_units_and_provenance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut run = Synthetic::small();
    run.cpu_estimated = true;
    run.write(dir.path()).expect("write run");
    let rendered = crate::render_without_plots(dir.path()).expect("render");
    let text = exposition(&rendered);
    assert!(text.ends_with("# EOF\n"), "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().expect("a value");
        assert!(
            value.parse::<f64>().is_ok_and(f64::is_finite),
            "{line} in\n{text}"
        );
    }
    let exp = parse(&text);

    let energy = exp
        .families
        .get("joulebench_energy_per_inference_joules")
        .expect("energy family");
    assert_eq!(energy.unit, "joules");
    assert_eq!(energy.family_type, OpenMetricsType::Gauge);
    assert!(!energy.help.is_empty());
    let got = samples(&exp, "joulebench_energy_per_inference_joules");
    assert_eq!(got.len(), rendered.summary.len());
    for row in rendered.rows() {
        let (labels, value) = got
            .iter()
            .find(|(l, _)| label(l, "config") == row.config)
            .unwrap_or_else(|| panic!("no sample for {}", row.config));
        assert_eq!(Some(*value), row.energy_j_mean, "{}", row.config);
        assert_eq!(label(labels, "model"), row.model);
        assert_eq!(label(labels, "dataset"), row.dataset);
        assert_eq!(label(labels, "task"), row.task);
        assert_eq!(label(labels, "class"), row.class.as_str());
        // An estimated CPU beside a measured GPU: the figure is labelled so.
        assert_eq!(label(labels, "source"), "mixed");
    }
    for (family, pick) in [
        (
            "joulebench_energy_per_inference_ci95_low_joules",
            (|r: &report::SummaryRow| r.energy_j_ci95_low) as fn(&report::SummaryRow) -> _,
        ),
        ("joulebench_energy_per_inference_ci95_high_joules", |r| {
            r.energy_j_ci95_high
        }),
        ("joulebench_energy_per_1000_inferences_kwh", |r| {
            r.kwh_per_1000
        }),
        ("joulebench_throughput_inferences_per_second", |r| {
            r.throughput_per_s
        }),
    ] {
        let got = samples(&exp, family);
        assert_eq!(got.len(), rendered.summary.len(), "{family}");
        for row in rendered.rows() {
            let (_, v) = got
                .iter()
                .find(|(l, _)| label(l, "config") == row.config)
                .unwrap_or_else(|| panic!("{family}: no sample for {}", row.config));
            assert_eq!(Some(*v), pick(row), "{family} {}", row.config);
        }
    }
    // Stars where the run rates (the two sst2 classifiers), none for the lone summariser,
    // labelled with the source of the energy they rank.
    let stars = samples(&exp, "joulebench_rating_stars");
    let rated: Vec<_> = rendered
        .rows()
        .filter(|r| r.rating_stars.is_some())
        .collect();
    assert_eq!(rated.len(), 2);
    assert_eq!(stars.len(), rated.len());
    for row in rated {
        let (labels, v) = stars
            .iter()
            .find(|(l, _)| label(l, "config") == row.config)
            .unwrap_or_else(|| panic!("no stars for {}", row.config));
        assert_eq!(Some(*v), row.rating_stars.map(f64::from));
        assert_eq!(label(labels, "source"), "mixed");
    }
    // Latency in seconds, one sample per percentile, no `quantile` label on a gauge.
    let latency = samples(&exp, "joulebench_latency_seconds");
    assert_eq!(latency.len(), 4 * rendered.summary.len());
    let row = rendered.rows().next().expect("a row");
    let p95 = latency
        .iter()
        .find(|(l, _)| label(l, "config") == row.config && label(l, "percentile") == "95")
        .expect("p95");
    let want = row.latency_ms_p95.expect("p95 known") / 1000.0;
    assert!((p95.1 - want).abs() <= 1e-12 * want, "{} vs {want}", p95.1);
    // Only the generator reports tokens: one J per output token sample.
    let per_token = samples(&exp, "joulebench_energy_per_output_token_joules");
    let generators = rendered
        .rows()
        .filter(|r| r.energy_j_per_output_token.is_some())
        .count();
    assert_eq!(per_token.len(), generators);
    assert!(generators > 0 && generators < rendered.summary.len());
    let started = samples(&exp, "joulebench_run_start_timestamp_seconds");
    assert_eq!(started.len(), 1);
    assert!(started[0].1 > 0.0, "{text}");
    assert_eq!(label(&started[0].0, "suite"), rendered.manifest.suite.name);
    // Unscored answers: no quality family at all (no sample standing for unknown).
    assert!(
        !exp.families.contains_key("joulebench_quality_ratio"),
        "{text}"
    );
}

#[test]
fn unknown_figures_have_no_sample_and_label_values_are_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(dir.path()).expect("write run");
    let mut rendered = crate::render_without_plots(dir.path()).expect("render");
    let awkward = "org/model \"v2\" \\ new\nline";
    rendered.summary[0].row.model = awkward.to_string();
    // Emissions unknown for one row (NaN in the summary), unknown for none of the others.
    rendered.summary[1].row.gco2e_per_1000 = Some(f64::NAN);
    rendered.summary[2].row.gco2e_per_1000 = None;
    rendered.summary[0].row.gco2e_per_1000 = Some(12.5);
    rendered.summary[0].row.quality_metric = "accuracy".to_string();
    rendered.summary[0].row.quality_mean = Some(0.875);
    let text = exposition(&rendered);
    let exp = parse(&text);
    let energy = samples(&exp, "joulebench_energy_per_inference_joules");
    let first = energy
        .iter()
        .find(|(l, _)| label(l, "config") == rendered.summary[0].row.config)
        .expect("first row");
    assert_eq!(label(&first.0, "model"), awkward);
    let emissions = samples(&exp, "joulebench_emissions_per_1000_inferences_grams");
    assert_eq!(emissions.len(), 1, "{text}");
    assert_eq!(emissions[0].1, 12.5);
    let quality = samples(&exp, "joulebench_quality_ratio");
    assert_eq!(quality.len(), 1, "{text}");
    assert_eq!(label(&quality[0].0, "metric"), "accuracy");
    assert_eq!(quality[0].1, 0.875);
    // A quality CI that is unknown leaves its families out, metadata included.
    assert!(
        !text.contains("joulebench_quality_ci95_low_ratio"),
        "{text}"
    );

    // No configuration at all: only the run's own families.
    rendered.summary.clear();
    let text = exposition(&rendered);
    let exp = parse(&text);
    let configurations = samples(&exp, "joulebench_configurations");
    assert_eq!(configurations.len(), 1);
    assert_eq!(configurations[0].1, 0.0);
    assert!(
        exp.families
            .keys()
            .all(|k| !k.starts_with("joulebench_energy")),
        "{text}"
    );
}
