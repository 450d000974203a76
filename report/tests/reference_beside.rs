//! A run folder with `reference.csv` shows the study's figures beside the measured ones
//! (summary.md, reference_comparison.csv, the central plot); without it nothing changes.

use joulebench_report as report;
use records::labels::FigureLabel;
use report::export::format::sig;
use report::plot::central::EnergyPerModel;
use report::plot::rows::Row;
use report::reference::ReferenceRow;
use report::synthetic::Synthetic;
use std::path::Path;

/// A summary figure that must be there.
fn fig(v: Option<f64>) -> f64 {
    v.expect("a figure")
}

const LABEL: &str = "PHP 2023 (8×A100 node, CodeCarbon)";

fn reference_row(config: &str, model: &str, task: &str, dataset: &str) -> ReferenceRow {
    ReferenceRow {
        config: config.into(),
        model: model.into(),
        task: task.into(),
        dataset: dataset.into(),
        reference_model: String::new(),
        reference_dataset: String::new(),
        kwh_per_1000_mean: 0.0,
        kwh_per_1000_std: 0.0,
        runs: 0,
        provenance: FigureLabel::Mixed,
        label: LABEL.into(),
        note: String::new(),
        ..ReferenceRow::default()
    }
}

const NOTE: &str = "The study's setup differs from this run's: its GPU energy is summed over all 8 \
                    GPUs of its node; see docs/reproducing-php.md.";

/// The `## Beside the study's figures` section of a run's `summary.md`.
fn section(dir: &Path) -> String {
    let md = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    md.split("## Beside the study's figures")
        .nth(1)
        .unwrap_or_else(|| panic!("no section in {md}"))
        .to_string()
}

/// The synthetic small run, with study figures (and the suite's note) for its two
/// text-classification models (one of them far above the measured range) and none for the
/// summarizer.
fn run_with_reference(dir: &Path) -> Vec<ReferenceRow> {
    Synthetic::small().write(dir).expect("write run");
    let reference_row = |config: &str, model: &str, task: &str, dataset: &str| ReferenceRow {
        note: NOTE.into(),
        ..reference_row(config, model, task, dataset)
    };
    let rows = vec![
        ReferenceRow {
            reference_model: "google/flan-t5-base".into(),
            reference_dataset: "sst2".into(),
            kwh_per_1000_mean: 2.5,
            kwh_per_1000_std: 0.05,
            runs: 10,
            ..reference_row(
                "flan-t5-base@sst2",
                "flan-t5-base",
                "text-classification",
                "sst2",
            )
        },
        ReferenceRow {
            reference_model: "distilbert-base-uncased-finetuned-sst-2-english".into(),
            reference_dataset: "mean of imdb, rotten_tomatoes, sst2".into(),
            kwh_per_1000_mean: 0.9,
            kwh_per_1000_std: 0.01,
            runs: 30,
            ..reference_row(
                "distilbert-sst2@sst2",
                "distilbert-sst2",
                "text-classification",
                "sst2",
            )
        },
        // A configuration the run does not have is ignored.
        ReferenceRow {
            reference_model: "x".into(),
            reference_dataset: "imdb".into(),
            kwh_per_1000_mean: 1.0,
            kwh_per_1000_std: 0.0,
            runs: 10,
            ..reference_row("absent@imdb", "absent", "text-classification", "imdb")
        },
    ];
    report::reference::write(dir, &rows).expect("write reference.csv");
    rows
}

#[test]
fn the_study_figures_stand_beside_the_measured_ones() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let refs = run_with_reference(tmp.path());
    let report =
        report::render_with(tmp.path(), &report::ReportOptions::default()).expect("render");

    // The comparison: one row per model with a study figure, numbers from both sides.
    let beside = report
        .beside_study
        .as_ref()
        .expect("reference.csv is there");
    assert_eq!(beside.len(), 2, "{beside:?}");
    for (config, reference) in [
        ("flan-t5-base@sst2", &refs[0]),
        ("distilbert-sst2@sst2", &refs[1]),
    ] {
        let measured = report
            .rows()
            .find(|s| s.config == config)
            .expect("summary row");
        let row = beside
            .iter()
            .find(|r| r.model == measured.model)
            .expect("comparison row");
        // One dataset per model: the pooled figure is the configuration's own.
        assert!(
            (row.kwh_per_1000 - fig(measured.kwh_per_1000)).abs()
                <= 1e-12 * fig(measured.kwh_per_1000)
        );
        assert!((row.kwh_per_1000_ci95_low - fig(measured.kwh_per_1000_ci95_low)).abs() <= 1e-12);
        assert_eq!(row.repetitions, measured.repetitions);
        assert_eq!(row.provenance.as_str(), "measured");
        assert_eq!(row.reference_model, reference.reference_model);
        assert_eq!(row.reference_datasets, reference.reference_dataset);
        assert_eq!(row.reference_kwh_per_1000, reference.kwh_per_1000_mean);
        assert_eq!(row.reference_kwh_per_1000_std, reference.kwh_per_1000_std);
        assert_eq!(row.reference_runs, reference.runs);
        assert_eq!(
            (
                row.reference_provenance.as_str(),
                row.reference_label.as_str()
            ),
            ("mixed", LABEL)
        );
        assert!(
            (row.ratio - fig(measured.kwh_per_1000) / reference.kwh_per_1000_mean).abs() < 1e-12
        );

        // summary.md: measured [CI], the study's figure ± sd (runs), and the ratio.
        let section = section(tmp.path());
        let line = section
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", measured.model)))
            .unwrap_or_else(|| panic!("no line for {}: {section}", measured.model));
        for expected in [
            format!(
                "{} [{} – {}]",
                sig(fig(measured.kwh_per_1000), 3),
                sig(fig(measured.kwh_per_1000_ci95_low), 3),
                sig(fig(measured.kwh_per_1000_ci95_high), 3)
            ),
            format!(
                "{} ± {} ({} runs) *partly estimated*",
                sig(reference.kwh_per_1000_mean, 3),
                sig(reference.kwh_per_1000_std, 2),
                reference.runs
            ),
            // Measured ÷ partly estimated: the ratio is partly estimated, and says so.
            format!("| {} *partly estimated* |", sig(row.ratio, 3)),
            // The datasets behind each side.
            format!("| {} | {} |", measured.class, measured.dataset),
            reference.reference_dataset.clone(),
        ] {
            assert!(line.contains(&expected), "{expected:?} not in {line}");
        }
        assert_eq!(row.ratio_provenance.as_str(), "mixed");
        assert_eq!(row.measured_datasets, measured.dataset);
        // The suite's note stands under the table, and the generic sentence does not.
        assert!(section.contains(NOTE), "{section}");
        assert!(!section.contains("may differ from this run's"), "{section}");
        assert!(
            section.contains(&format!("The study's figures: **{LABEL}**")),
            "{section}"
        );
        assert!(section.contains("docs/reproducing-php.md"), "{section}");
    }
    assert!(!beside.iter().any(|r| r.model == "bart-cnn"));

    // reference_comparison.csv holds the same rows.
    let mut csv = csv::Reader::from_path(tmp.path().join("reference_comparison.csv")).expect("csv");
    let rows: Vec<report::reference::ComparisonRow> =
        csv.deserialize().collect::<Result<_, _>>().expect("rows");
    assert_eq!(&rows, beside);

    // The central plot's data: the study's figure on the measured model's row.
    let central = EnergyPerModel::beside(&report.configs, Some(beside));
    let points: Vec<(&str, Option<f64>)> = central
        .rows()
        .iter()
        .filter_map(|r| match r {
            Row::Item { label, value } => Some((label.as_str(), value.reference)),
            Row::Heading(_) => None,
        })
        .collect();
    assert_eq!(points.len(), 3);
    assert!(points.contains(&("flan-t5-base", Some(2.5))), "{points:?}");
    assert!(
        points.contains(&("distilbert-sst2", Some(0.9))),
        "{points:?}"
    );
    assert!(points.contains(&("bart-cnn", None)), "{points:?}");
    assert_eq!(
        central.reference_label(),
        Some(format!("{LABEL} [partly estimated]").as_str())
    );
    // The study's figures lie far above the measured ones; the log axis covers both.
    let range = central.x_range();
    let lowest = report
        .rows()
        .map(|s| fig(s.kwh_per_1000_ci95_low))
        .fold(f64::INFINITY, f64::min);
    assert!(range.start <= lowest && range.end >= 2.5, "{range:?}");
    assert!(
        report.rows().all(|s| fig(s.kwh_per_1000_ci95_high) < 0.1),
        "the test needs the study above the run"
    );

    // And it renders, with the study's marker named in the legend.
    let plots = tmp.path().join("plots");
    let png = std::fs::read(plots.join("energy_per_1000.png")).expect("png");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5000);
    let svg = std::fs::read_to_string(plots.join("energy_per_1000.svg")).expect("svg");
    assert!(
        svg.contains(&format!("{LABEL} [partly estimated]")),
        "the legend names the study's figures and says they are partly estimated"
    );
}

#[test]
fn without_reference_csv_nothing_changes_and_the_contract_keeps_its_shape() {
    let plain = tempfile::tempdir().expect("temp dir");
    let with = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(plain.path()).expect("write run");
    run_with_reference(with.path());
    let options = report::ReportOptions::default();
    let a = report::render_with(plain.path(), &options).expect("render");
    report::render_with(with.path(), &options).expect("render");

    assert!(a.beside_study.is_none());
    assert!(!plain.path().join("reference_comparison.csv").exists());
    let md = std::fs::read_to_string(plain.path().join("summary.md")).expect("md");
    assert!(!md.contains("study's figures"), "{md}");
    let svg = std::fs::read_to_string(plain.path().join("plots/energy_per_1000.svg")).expect("svg");
    assert!(!svg.contains("PHP 2023"));
    let central = EnergyPerModel::new(&a.configs);
    assert!(central.reference_label().is_none());

    // summary.csv and summary.json are the same bytes with or without the study's figures.
    for file in ["summary.csv", "summary.json", "tasks.csv", "models.csv"] {
        let x = std::fs::read(plain.path().join(file)).expect(file);
        let y = std::fs::read(with.path().join(file)).expect(file);
        assert!(x == y, "{file} differs when reference.csv is there");
    }
}

#[test]
fn a_bad_reference_csv_names_its_line_and_field() {
    let tmp = tempfile::tempdir().expect("temp dir");
    run_with_reference(tmp.path());
    let path = tmp.path().join("reference.csv");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replacen("0.9,", "-1,", 1)).expect("write");
    let err = report::render_with(tmp.path(), &report::ReportOptions::default())
        .expect_err("a negative study figure is refused")
        .to_string();
    assert!(
        err.contains("reference.csv, line 3, field `kwh_per_1000_mean`"),
        "{err}"
    );
}

#[test]
fn both_sides_cover_the_same_datasets_and_an_estimated_ratio_says_so() {
    // One model on imdb and sst2; the study ran it on imdb only, so reference.csv has
    // imdb's row alone. sst2 costs twice the power for twice the time: pooling it would
    // move the measured figure far from imdb's.
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut run = Synthetic::small();
    let template = run.configs[0].clone();
    run.configs = vec![
        report::synthetic::SynthConfig {
            model: "distilbert-imdb".into(),
            dataset: "imdb".into(),
            ..template.clone()
        },
        report::synthetic::SynthConfig {
            model: "distilbert-imdb".into(),
            dataset: "sst2".into(),
            gpu_active_w: 120.0,
            request_ticks: 40,
            ..template
        },
    ];
    run.cpu_estimated = true;
    run.write(tmp.path()).expect("write run");
    let study = ReferenceRow {
        reference_model: "lvwerra/distilbert-imdb".into(),
        reference_dataset: "imdb".into(),
        kwh_per_1000_mean: 0.5,
        kwh_per_1000_std: 0.01,
        runs: 10,
        provenance: FigureLabel::Estimated,
        ..reference_row(
            "distilbert-imdb@imdb",
            "distilbert-imdb",
            "text-classification",
            "imdb",
        )
    };
    report::reference::write(tmp.path(), &[study]).expect("write reference.csv");
    let report =
        report::render_with(tmp.path(), &report::ReportOptions::default()).expect("render");

    let summary = |config: &str| {
        report
            .rows()
            .find(|s| s.config == config)
            .unwrap_or_else(|| panic!("no summary row {config}"))
    };
    let (imdb, sst2) = (
        summary("distilbert-imdb@imdb"),
        summary("distilbert-imdb@sst2"),
    );
    assert!(
        fig(sst2.kwh_per_1000) > 2.0 * fig(imdb.kwh_per_1000),
        "the test needs the datasets apart"
    );
    assert_eq!(
        imdb.provenance.as_str(),
        "mixed",
        "an estimated CPU: partly estimated"
    );

    let beside = report
        .beside_study
        .as_ref()
        .expect("reference.csv is there");
    assert_eq!(beside.len(), 1, "{beside:?}");
    let row = &beside[0];
    // The measured side is imdb's alone, like the study's.
    assert_eq!(row.measured_datasets, "imdb");
    assert_eq!(row.reference_datasets, "imdb");
    assert_eq!(row.repetitions, imdb.repetitions);
    assert!((row.kwh_per_1000 - fig(imdb.kwh_per_1000)).abs() <= 1e-12 * fig(imdb.kwh_per_1000));
    assert!((row.kwh_per_1000_ci95_high - fig(imdb.kwh_per_1000_ci95_high)).abs() <= 1e-15);
    assert!((row.ratio - fig(imdb.kwh_per_1000) / 0.5).abs() <= 1e-12 * row.ratio);
    // Partly estimated ÷ estimated: estimated.
    assert_eq!(row.provenance.as_str(), "mixed");
    assert_eq!(row.ratio_provenance.as_str(), "estimated");

    // reference_comparison.csv says both.
    let mut csv = csv::Reader::from_path(tmp.path().join("reference_comparison.csv")).expect("csv");
    let headers = csv.headers().expect("header").clone();
    let record = csv.records().next().expect("a row").expect("record");
    let column = |name: &str| {
        let i = headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {headers:?}"));
        record[i].to_string()
    };
    assert_eq!(column("measured_datasets"), "imdb");
    assert_eq!(column("ratio_source"), "estimated");

    // summary.md: the measured datasets, and every figure labelled.
    let section = section(tmp.path());
    let line = section
        .lines()
        .find(|l| l.starts_with("| distilbert-imdb |"))
        .unwrap_or_else(|| panic!("no line: {section}"));
    for expected in [
        "| task-specific | imdb |".to_string(),
        format!(
            "{}] *partly estimated*",
            sig(fig(imdb.kwh_per_1000_ci95_high), 3)
        ),
        "(10 runs) *estimated*".to_string(),
        format!("| {} *estimated* |", sig(row.ratio, 3)),
    ] {
        assert!(line.contains(&expected), "{expected:?} not in {line}");
    }
    assert!(!line.contains("sst2"), "{line}");
}

#[test]
fn without_a_note_a_generic_sentence_and_an_old_reference_csv_still_reads() {
    let tmp = tempfile::tempdir().expect("temp dir");
    run_with_reference(tmp.path());
    // A reference.csv written before the `note` column existed: drop it and the study
    // quality columns after it.
    let path = tmp.path().join("reference.csv");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.starts_with("config,")
            && text.lines().next().expect("header").ends_with(
                ",note,reference_quality_metric,reference_quality,reference_quality_source"
            )
    );
    let old: String = text
        .lines()
        .map(|l| format!("{}\n", l.rsplitn(5, ',').last().expect("columns")))
        .collect();
    std::fs::write(&path, old).expect("write");
    let report =
        report::render_with(tmp.path(), &report::ReportOptions::default()).expect("render");
    let beside = report
        .beside_study
        .as_ref()
        .expect("reference.csv is there");
    assert_eq!(beside.len(), 2, "{beside:?}");
    assert!(beside.iter().all(|r| r.reference_note.is_empty()));

    let section = section(tmp.path());
    assert!(
        section.contains("The study's setup may differ from this run's; see its documentation"),
        "{section}"
    );
    assert!(!section.contains("8 GPUs"), "{section}");
    assert!(!section.contains("CodeCarbon's constants"), "{section}");
}
