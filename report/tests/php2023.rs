//! The released logs of *Power Hungry Processing* (Luccioni et al. 2023), imported from
//! CodeCarbon and reported, reproduce the paper's Table 2 (text tasks) and Table 3; and
//! the reference table kept in `suites/php/reference/php2023.csv` is exactly what that
//! import and report give.
//!
//! The logs are read from the extract committed in `tests/data/php-2023` (see its
//! README.md; made by `bench/extract_php2023.py`): for each file of the study's
//! `data/emissions/complete`, `query_model/<stem>.csv` holds the `query model` rows of
//! the base files of its runs, one CodeCarbon task-mode file with many runs, which the
//! importer reads as it is. A few base files kept byte for byte check the extract
//! against the originals through the same importer.
//!
//! The paper's rounding is not uniform (0.02652 is printed 0.026 but 0.08273 is printed
//! 0.083), so a printed figure must equal the computed one rounded *or* truncated to the
//! printed number of decimals. The README's four-decimal figures are matched to ±0.00005.

use joulebench_report as report;
use records::manifest::RunManifest;
use records::raw::RepetitionRecord;
use report::export::study_table as table;
use report::import::codecarbon::{ImportSettings, ImportSummary, import};
use report::import::labels::{Labels, Mapping};
use report::reference::{StudyFigure, StudyTable};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const PHP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/php-2023");

/// Task, class and dataset of a file of `data/emissions/complete`, for the text tasks.
fn classify(stem: &str) -> Option<(&'static str, &'static str, String)> {
    let tasks = [
        ("text_classif_", "text classification", "task-specific"),
        ("qa_", "extractive QA", "task-specific"),
        ("fillmask_", "masked language modeling", "task-specific"),
        ("token_classif_", "token classification", "task-specific"),
        ("textgen_", "text generation", "task-specific"),
        ("summarize_", "summarization", "task-specific"),
        (
            "zeroshot_sentiment_",
            "text classification",
            "general-purpose",
        ),
        ("zeroshot_qa_", "extractive QA", "general-purpose"),
        ("zeroshot_summarize_", "summarization", "general-purpose"),
    ];
    let (prefix, task, class) = tasks.iter().find(|(p, _, _)| stem.starts_with(p))?;
    let dataset = stem[prefix.len()..]
        .trim_end_matches("_bloomz")
        .trim_end_matches("_15")
        .to_string();
    Some((task, class, dataset))
}

/// Task, class and dataset of a file of `data/emissions/complete`, named as the suites
/// name them, for the three tasks the PHP suites cover (as `derive.sh` labels them).
fn canonical(stem: &str) -> Option<(&'static str, &'static str, String)> {
    let (task, class, dataset) = classify(stem)?;
    let task = match task {
        "text classification" => "text-classification",
        "extractive QA" => "extractive-qa",
        "summarization" => "summarization",
        _ => return None,
    };
    let dataset = match dataset.as_str() {
        "tomatoes" => "rotten_tomatoes",
        "squadv2" | "squad2" => "squad_v2",
        "cnn" => "cnn_dailymail",
        other => other,
    };
    Some((task, class, dataset.to_string()))
}

/// Writes the mapping (run_id → task, dataset, class; model → parameters) and returns
/// the extract's files (`query_model/<stem>.csv`, one per complete file) of the mapped runs.
fn mapping(
    dir: &Path,
    classify: impl Fn(&str) -> Option<(&'static str, &'static str, String)>,
) -> (PathBuf, Vec<PathBuf>) {
    let root = Path::new(PHP);
    let mut out = String::from("run_id,project_name,task,dataset,class,parameters\n");
    let mut files = Vec::new();
    let mut complete: Vec<PathBuf> = std::fs::read_dir(root.join("query_model"))
        .expect("query_model folder of the extract")
        .map(|e| e.expect("entry").path())
        .collect();
    complete.sort();
    assert_eq!(complete.len(), 56, "one extract file per complete file");
    for path in complete {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let Some((task, class, dataset)) = classify(&stem) else {
            continue;
        };
        let mut reader = csv::Reader::from_path(&path).expect("extract csv");
        let header = reader.headers().expect("header").clone();
        let run_col = header.iter().position(|h| h == "run_id").expect("run_id");
        for record in reader.records() {
            let record = record.expect("row");
            let run_id = &record[run_col];
            out.push_str(&format!("{run_id},,{task},{dataset},{class},\n"));
        }
        files.push(path);
    }
    let mut params =
        csv::Reader::from_path(root.join("data/model_parameters.csv")).expect("params");
    for record in params.records() {
        let record = record.expect("row");
        out.push_str(&format!(",{},,,,{}\n", &record[0], &record[1]));
    }
    let map = dir.join("map.csv");
    std::fs::write(&map, out).expect("write map");
    (map, files)
}

/// Whether `printed` (with `decimals` decimals) is `value` rounded or truncated.
fn agrees(value: f64, printed: f64, decimals: i32) -> bool {
    let scale = 10f64.powi(decimals);
    let rounded = (value * scale).round() / scale;
    let truncated = (value * scale).trunc() / scale;
    (rounded - printed).abs() < 1e-12 || (truncated - printed).abs() < 1e-12
}

/// Imports the `query model` rows of the runs `classify` labels into `dir/php`, as
/// `joulebench import codecarbon --task-name "query model" --map MAP` does.
fn import_php(
    dir: &Path,
    classify: impl Fn(&str) -> Option<(&'static str, &'static str, String)>,
) -> (PathBuf, ImportSummary) {
    let (map, files) = mapping(dir, classify);
    let out = dir.join("php");
    let summary = import(
        &ImportSettings {
            files,
            task_name: Some("query model".to_string()),
            inferences: 1000,
            labels: Labels::default(),
            mapping: Some(Mapping::load(&map).expect("mapping")),
            intensity_g_per_kwh: None,
            cpu_measured: false,
        },
        &out,
    )
    .expect("import");
    (out, summary)
}

#[test]
fn php_2023_logs_reproduce_tables_2_and_3() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (out, summary) = import_php(tmp.path(), classify);
    assert_eq!(
        summary.rows, 2510,
        "text-task runs (240 per task-specific task, the rest zero-shot)"
    );
    assert_eq!(summary.rows_unmapped, 0);
    assert!((summary.carbon_intensity_g_per_kwh - 138.7).abs() < 0.1);
    assert!(summary.domains["cpu"].starts_with("estimated"));
    assert!(summary.domains["ram"].starts_with("estimated"));
    assert!(summary.domains["gpu"].starts_with("measured"));

    let report = report::render_with(&out, &report::ReportOptions::default()).expect("render");

    // Table 2, task-specific models: (task, paper mean, decimals, paper sd, decimals, README mean, README sd).
    let table2 = [
        ("text classification", 0.002, 3, 0.001, 3, 0.0023, 0.0009),
        ("extractive QA", 0.003, 3, 0.001, 3, 0.0033, 0.0015),
        (
            "masked language modeling",
            0.003,
            3,
            0.001,
            3,
            0.0034,
            0.0011,
        ),
        ("token classification", 0.004, 3, 0.002, 3, 0.0036, 0.0018),
        ("text generation", 0.047, 3, 0.03, 2, 0.0469, 0.0266),
        ("summarization", 0.049, 3, 0.01, 2, 0.0492, 0.0154),
    ];
    for (task, mean, md, sd, sdd, mean4, sd4) in table2 {
        let row = report
            .tasks
            .iter()
            .find(|t| t.task == task && t.class.as_str() == "task-specific")
            .unwrap_or_else(|| panic!("no row for {task}"));
        assert_eq!((row.models, row.repetitions), (8, 240), "{row:?}");
        assert!(
            agrees(row.kwh_per_1000_mean, mean, md),
            "{task} mean {row:?}"
        );
        assert!(agrees(row.kwh_per_1000_std, sd, sdd), "{task} sd {row:?}");
        assert!((row.kwh_per_1000_mean - mean4).abs() <= 0.00005, "{row:?}");
        assert!((row.kwh_per_1000_std - sd4).abs() <= 0.00005, "{row:?}");
        assert_eq!(row.provenance.as_str(), "mixed");
    }

    // Table 3: general-purpose models, mean over the three zero-shot tasks of each task's mean.
    let table3: HashMap<&str, f64> = [
        ("google/flan-t5-base", 0.026),
        ("google/flan-t5-large", 0.055),
        ("google/flan-t5-xl", 0.058),
        ("google/flan-t5-xxl", 0.083),
        ("bigscience/bloomz-560m", 0.054),
        ("bigscience/bloomz-1b7", 0.062),
        ("bigscience/bloomz-3b", 0.073),
        ("bigscience/bloomz-7b1", 0.104),
    ]
    .into_iter()
    .collect();
    for (model, paper) in &table3 {
        let row = report
            .models
            .iter()
            .find(|m| m.model == *model && m.class.as_str() == "general-purpose")
            .unwrap_or_else(|| panic!("no row for {model}"));
        assert_eq!(row.tasks.split(';').count(), 3, "{row:?}");
        assert!(agrees(row.kwh_per_1000_mean, *paper, 3), "{model}: {row:?}");
        assert!(row.parameters.is_some(), "{row:?}");
    }

    // Estimated domains are labelled in every output.
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(md.contains("partly estimated"));
    let svg = std::fs::read_to_string(out.join("plots/energy_per_1000.svg")).expect("svg");
    assert!(svg.contains("google/flan-t5-xxl [partly estimated]"));
    let tex = std::fs::read_to_string(out.join("summary.tex")).expect("tex");
    assert!(tex.contains("partly estimated"));
}

const TABLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../suites/php/reference/php2023.csv"
);

/// Whether two figures agree to 1e-9 relative (both NaN counts as agreeing).
fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[test]
fn php_2023_reference_table_is_what_import_and_report_give() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (out, summary) = import_php(tmp.path(), canonical);
    assert_eq!(
        summary.rows, 1790,
        "the query-model runs of the three tasks"
    );
    assert_eq!(summary.rows_unmapped, 0);
    let derived = table::from_summary(crate::render_without_plots(&out).expect("render").rows());
    let committed = StudyTable::load(Path::new(TABLE))
        .unwrap_or_else(|e| panic!("{e}: regenerate it with suites/php/reference/derive.sh"));
    let key = |f: &StudyFigure| (f.model.clone(), f.task.clone(), f.dataset.clone());
    let derived_keys: Vec<_> = derived.iter().map(key).collect();
    let committed_keys: Vec<_> = committed.rows.iter().map(key).collect();
    assert_eq!(
        committed_keys, derived_keys,
        "{TABLE} has other rows than the import gives: regenerate it with suites/php/reference/derive.sh"
    );
    for (c, d) in committed.rows.iter().zip(&derived) {
        assert_eq!(
            (&c.class, c.parameters, c.runs, &c.provenance),
            (&d.class, d.parameters, d.runs, &d.provenance),
            "{c:?}"
        );
        for (name, a, b) in [
            ("mean", c.kwh_per_1000_mean, d.kwh_per_1000_mean),
            ("std", c.kwh_per_1000_std, d.kwh_per_1000_std),
            ("ci95_low", c.kwh_per_1000_ci95_low, d.kwh_per_1000_ci95_low),
            (
                "ci95_high",
                c.kwh_per_1000_ci95_high,
                d.kwh_per_1000_ci95_high,
            ),
        ] {
            assert!(
                same(a, b),
                "{} {} {}: {name} {a} committed, {b} derived",
                c.model,
                c.task,
                c.dataset
            );
        }
    }
    assert_eq!(committed.rows.len(), 179);
    assert!(
        committed
            .rows
            .iter()
            .all(|r| r.provenance.as_str() == "mixed" && r.runs == 10)
    );

    // Table 3: each general-purpose model's mean over the three tasks of the mean over
    // the study's datasets (what a suite model without a dataset `reference` is shown beside).
    let tasks = ["text-classification", "extractive-qa", "summarization"];
    for (model, paper) in [
        ("google/flan-t5-base", 0.026),
        ("google/flan-t5-xxl", 0.083),
        ("bigscience/bloomz-560m", 0.054),
        ("bigscience/bloomz-7b1", 0.104),
    ] {
        let per_task: Vec<f64> = tasks
            .iter()
            .map(|t| committed.figure(model, t, None).expect("figure").mean)
            .collect();
        let mean = per_task.iter().sum::<f64>() / 3.0;
        assert!(
            agrees(mean, paper, 3),
            "{model}: {mean} against the paper's {paper}"
        );
    }
    // Table 2 (the README's four decimals): task-specific rows pooled per task.
    for (task, readme) in [
        ("text-classification", 0.0023),
        ("extractive-qa", 0.0033),
        ("summarization", 0.0492),
    ] {
        let rows: Vec<&StudyFigure> = committed
            .rows
            .iter()
            .filter(|r| r.task == task && r.class.as_str() == "task-specific")
            .collect();
        let runs: u64 = rows.iter().map(|r| r.runs).sum();
        assert_eq!(runs, 240, "{task}");
        let mean = rows
            .iter()
            .map(|r| r.kwh_per_1000_mean * r.runs as f64)
            .sum::<f64>()
            / runs as f64;
        assert!((mean - readme).abs() <= 0.00005, "{task}: {mean}");
    }
    // One dataset's figure, as a suite's dataset `reference` picks it.
    let imdb = committed
        .figure("google/flan-t5-base", "text-classification", Some("imdb"))
        .expect("flan-t5-base on imdb");
    assert_eq!((imdb.runs, imdb.dataset_label()), (10, "imdb".to_string()));
    let mean = committed
        .figure("google/flan-t5-base", "text-classification", None)
        .expect("flan-t5-base mean");
    assert_eq!(mean.dataset_label(), "mean of imdb, rotten_tomatoes, sst2");
    assert_eq!(mean.runs, 30);
}

/// The extract's rows, by run_id: (column name → value) as the file has them.
fn extract_rows() -> HashMap<String, HashMap<String, String>> {
    let mut rows = HashMap::new();
    for entry in std::fs::read_dir(Path::new(PHP).join("query_model")).expect("extract") {
        let path = entry.expect("entry").path();
        let mut reader = csv::Reader::from_path(&path).expect("extract csv");
        let header = reader.headers().expect("header").clone();
        for record in reader.records() {
            let record = record.expect("row");
            let row: HashMap<String, String> = header
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            let previous = rows.insert(row["run_id"].clone(), row);
            assert!(previous.is_none(), "{}: a run twice", path.display());
        }
    }
    rows
}

#[test]
fn php_2023_untouched_base_files_import_as_the_extract_holds_them() {
    let base = Path::new(PHP).join("data/emissions/base");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&base)
        .expect("base files of the extract")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4);
    let extract = extract_rows();
    assert_eq!(extract.len(), 4170, "the runs of data/emissions/complete");

    // Each base file's `query model` row is its extract row, value for value.
    let mut by_model = HashMap::new();
    for path in &files {
        let mut reader = csv::Reader::from_path(path).expect("base csv");
        let header = reader.headers().expect("header").clone();
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        let query: Vec<&csv::StringRecord> =
            records.iter().filter(|r| &r[0] == "query model").collect();
        assert_eq!((&header[0], query.len()), ("task_name", 1), "{path:?}");
        let value = |name: &str| {
            let c = header.iter().position(|h| h == name).expect("column");
            query[0][c].to_string()
        };
        let run_id = value("run_id");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some(format!("emissions_base_{run_id}.csv").as_str())
        );
        let row = &extract[&run_id];
        assert_eq!(row.len(), 12, "{row:?}");
        for (name, v) in row {
            assert_eq!(*v, value(name), "{run_id}: {name}");
        }
        by_model.insert(value("project_name"), row);
    }
    assert_eq!(by_model.len(), 4);

    // The importer reads the files as they are, and its figures are the extract's.
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("base");
    let settings = ImportSettings {
        files: files.clone(),
        task_name: None,
        inferences: 1000,
        labels: Labels::default(),
        mapping: None,
        intensity_g_per_kwh: None,
        cpu_measured: false,
    };
    let err = import(&settings, &out).expect_err("task mode needs --task-name");
    assert!(err.to_string().contains("--task-name"), "{err}");
    let summary = import(
        &ImportSettings {
            task_name: Some("query model".to_string()),
            ..settings
        },
        &out,
    )
    .expect("import");
    assert_eq!(
        (summary.files, summary.rows, summary.rows_other_tasks),
        (4, 4, 5),
        "one query model row each; 4 load model rows and 1 transfer model to GPU"
    );
    assert_eq!(summary.codecarbon_versions, ["2.3.1"]);
    assert!((summary.carbon_intensity_g_per_kwh - 138.7).abs() < 0.1);
    assert!(summary.domains["cpu"].starts_with("estimated"));
    assert!(summary.domains["gpu"].starts_with("measured"));

    // The host columns the extract leaves out reach run.json.
    let manifest = RunManifest::load(&out).expect("run.json");
    assert_eq!(
        manifest.host.cpu_model,
        "Intel(R) Xeon(R) Platinum 8275CL CPU @ 3.00GHz"
    );
    assert_eq!(manifest.host.gpus[0].name, "8 x NVIDIA A100-SXM4-80GB");
    assert_eq!(
        (manifest.host.memory_gb, manifest.host.cpu_logical),
        (1148.738, 1)
    );
    assert!(manifest.host.os.starts_with("Linux-5.15.0-1023-aws"));

    let reps: Vec<RepetitionRecord> =
        records::table_io::read_csv(&out.join(records::files::REPETITIONS_CSV))
            .expect("repetitions.csv")
            .map(|r| r.expect("row"))
            .collect();
    assert_eq!(reps.len(), 12, "4 runs × cpu, gpu, ram");
    for r in &reps {
        let row = by_model[&r.model];
        let number = |name: &str| row[name].parse::<f64>().expect("number");
        assert_eq!(r.duration_s, number("duration"), "{r:?}");
        let kwh = number(&format!("{}_energy", r.domain));
        assert!(same(r.energy_j, kwh * 3.6e6), "{r:?} against {kwh} kWh");
    }
}

/// The study quality table kept in `suites/php/reference/` is the extract's
/// `eval/performance.csv` as `records::study_quality` converts it, and loads as a suite
/// loads it (every score from 0 to 1).
#[test]
fn php_2023_quality_table_is_what_the_performance_file_gives() {
    let committed = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../suites/php/reference/php2023-quality.csv"
    ));
    let derived =
        records::study_quality::from_php_performance(&Path::new(PHP).join("eval/performance.csv"))
            .expect("converts");
    let loaded = records::study_quality::load(committed).expect("loads");
    assert_eq!(
        loaded, derived,
        "regenerate with suites/php/reference/derive.sh"
    );
    // Spot checks against the study's file as printed.
    let find = |model: &str, dataset: &str| {
        loaded
            .iter()
            .find(|r| r.model == model && r.dataset == dataset)
            .map(|r| (r.metric.as_str(), r.value))
    };
    assert_eq!(
        find("bigscience/bloomz-560m", "sst2"),
        Some(("accuracy", 0.9243))
    );
    assert_eq!(
        find("google/flan-t5-xxl", "cnn_dailymail").map(|f| f.0),
        Some("rouge")
    );
    assert!(
        loaded
            .iter()
            .all(|r| r.task != "sentiment" && r.task != "qa")
    );
}
