//! The `report`, `compare`, `trend` and `import codecarbon` subcommands, driven through
//! the built binary on synthetic run folders.

use crate::common;

use common::SUMMARY_COLUMNS;
use records::raw::RepetitionRecord;
use report::synthetic::Synthetic;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the built binary with `args`.
pub(crate) fn joulebench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_joulebench"))
        .args(args)
        .output()
        .expect("run joulebench")
}

/// Marks every request of the repetitions of `repetitions.csv` that `which` picks as
/// failed, so the report's policy leaves them out (above `max_failure_share`).
fn fail_requests(reps: &Path, which: impl Fn(&RepetitionRecord) -> bool) {
    let rows: Vec<RepetitionRecord> = csv::Reader::from_path(reps)
        .expect("open repetitions.csv")
        .deserialize()
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut w = csv::Writer::from_path(reps).expect("rewrite repetitions.csv");
    for mut row in rows {
        if which(&row) {
            row.failures = row.requests;
        }
        w.serialize(row).expect("row");
    }
    w.flush().expect("flush");
}

/// Its stdout and stderr together.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A temporary path as an argument.
pub(crate) fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn report_rebuilds_every_file_from_raw_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(dir.path()).expect("write run");
    let o = joulebench(&["report", path(dir.path()), "--bootstrap", "1000"]);
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "summary.csv",
        "domains.csv",
        "tasks.csv",
        "models.csv",
        "request_energy.csv",
        "summary.md",
        "summary.tex",
        "summary.json",
        "emissions.csv",
        "plots/energy_per_1000.svg",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).expect("summary");
    let header = csv.lines().next().unwrap_or("");
    for &column in SUMMARY_COLUMNS.iter().chain(&["energy_j_boot_low"]) {
        assert!(header.split(',').any(|c| c == column), "no column {column}");
    }
    assert_eq!(csv.lines().count(), 4);
}

#[test]
fn a_run_with_no_valid_repetition_still_gets_headers() {
    let dir = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(dir.path()).expect("write run");
    fail_requests(&dir.path().join("repetitions.csv"), |_| true);
    let o = joulebench(&["report", path(dir.path())]);
    // Nothing usable at all: exit 3, as `run` does (README's exit codes).
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("no valid repetition: none of the 3 configuration(s)"));
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).expect("summary");
    // Every configuration keeps its row (with empty figures: see run_failures).
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.starts_with("config,model,task,dataset,class,"));
}

/// Sets one cell of a CSV file: data row `row` (0-based; file line `row + 2`), `column`.
fn set_cell(file: &Path, row: usize, column: &str, value: &str) {
    let mut reader = csv::Reader::from_path(file).expect("open");
    let header = reader.headers().expect("header").clone();
    let i = header.iter().position(|h| h == column).expect(column);
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect();
    rows[row][i] = value.to_string();
    let mut w = csv::Writer::from_path(file).expect("rewrite");
    w.write_record(&header).expect("header");
    for r in rows {
        w.write_record(&r).expect("row");
    }
    w.flush().expect("flush");
}

#[test]
fn report_and_compare_refuse_a_corrupted_energy_naming_file_line_and_column() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (base, bad) = (tmp.path().join("base"), tmp.path().join("bad"));
    Synthetic::small().write(&base).expect("base");
    for value in ["NaN", "inf", "-inf", "-3.5"] {
        Synthetic::small().write(&bad).expect("bad");
        set_cell(&bad.join("repetitions.csv"), 1, "energy_j", value);
        let o = joulebench(&["report", path(&bad), "--no-plots"]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{value}: {out}");
        assert!(
            out.contains("repetitions.csv, line 3, field `energy_j`:") && out.contains("corrupted"),
            "{value}: {out}"
        );
        // The gate never passes on such a figure.
        let o = joulebench(&["compare", path(&base), path(&bad)]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{value}: {out}");
        assert!(!out.contains("PASS"), "{value}: {out}");
        assert!(out.contains("field `energy_j`"), "{value}: {out}");
    }
}

#[test]
fn report_exits_3_before_the_first_repetition_and_2_on_a_zero_byte_repetitions_csv() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    Synthetic::small().write(dir).expect("run");
    let reps = dir.join("repetitions.csv");
    let header = std::fs::read_to_string(&reps).expect("read");
    let header = header.lines().next().expect("header line");
    std::fs::write(&reps, format!("{header}\n")).expect("header only");
    let o = joulebench(&["report", path(dir), "--no-plots"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("no valid repetition yet"), "{out}");
    assert!(out.contains("--resume"), "{out}");

    std::fs::write(&reps, "").expect("0 bytes");
    let o = joulebench(&["report", path(dir), "--no-plots"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("repetitions.csv is empty, without even its header line")
            && out.contains("corrupted"),
        "{out}"
    );
}

#[test]
fn compare_passes_a_run_against_itself_and_fails_a_regression() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (base, same, worse) = (
        tmp.path().join("base"),
        tmp.path().join("same"),
        tmp.path().join("worse"),
    );
    let run = Synthetic::small();
    run.write(&base).expect("base");
    // Same configurations, fresh noise.
    let mut again = run.clone();
    again.seed = 2;
    again.write(&same).expect("same");
    // One configuration 10% worse in total energy per inference, beyond the 1% noise.
    let mut regressed = run.clone();
    regressed.seed = 3;
    let c = &mut regressed.configs[1];
    c.gpu_active_w += 0.10 * (run.gpu_idle_w + c.gpu_active_w + run.cpu_w);
    regressed.write(&worse).expect("worse");

    let o = joulebench(&["compare", path(&base), path(&base)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("PASS"));

    let o = joulebench(&["compare", path(&base), path(&same), "--threshold", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = joulebench(&["compare", path(&base), path(&worse), "--threshold", "5"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    let id = run.id(1);
    assert!(out.contains("FAIL: 1 significantly worse"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(&id) && l.contains("REGRESSION")),
        "{out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.contains(&run.id(0)) && l.contains("REGRESSION")),
        "{out}"
    );

    // A threshold above the change passes the gate.
    let o = joulebench(&["compare", path(&base), path(&worse), "--threshold", "15"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn compare_exits_2_on_missing_or_mismatched_runs() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let base = tmp.path().join("base");
    Synthetic::small().write(&base).expect("base");
    let o = joulebench(&["compare", path(&base), path(&tmp.path().join("nope"))]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("not a joulebench results folder"),
        "{}",
        text(&o)
    );

    let fewer = tmp.path().join("fewer");
    let mut run = Synthetic::small();
    run.configs.truncate(2);
    run.write(&fewer).expect("fewer");
    let o = joulebench(&["compare", path(&base), path(&fewer)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bart-cnn@samsum"), "{}", text(&o));

    let estimated = tmp.path().join("estimated");
    let mut run = Synthetic::small();
    run.cpu_estimated = true;
    run.write(&estimated).expect("estimated");
    let o = joulebench(&["compare", path(&base), path(&estimated)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("estimate"), "{}", text(&o));
}

#[test]
fn trend_plots_a_history() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut dirs = Vec::new();
    for seed in 1..=3 {
        let d = tmp.path().join(format!("night{seed}"));
        let mut run = Synthetic::small();
        run.seed = seed;
        run.write(&d).expect("run");
        dirs.push(d);
    }
    let out = tmp.path().join("trend");
    let mut args = vec!["trend", "--out", path(&out)];
    args.extend(dirs.iter().map(|d| path(d)));
    let o = joulebench(&args);
    assert!(o.status.success(), "{}", text(&o));
    for f in ["trend.csv", "trend.md", "trend.png", "trend.svg"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(out.join("trend.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 3 * 3);
}

const PLAIN: &str = "timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,codecarbon_version,cpu_model,gpu_model
2024-01-01T00:00:10,bert,r1,10,0.0004,0.00004,42.5,300,6,0.000118,0.000833,0.0000167,0.0009677,2.3.1,Xeon,A100
2024-01-01T00:00:30,bert,r2,10,0.0004,0.00004,42.5,310,6,0.000118,0.000861,0.0000167,0.0009957,2.3.1,Xeon,A100
2024-01-01T00:00:50,bert,r3,10,0.0004,0.00004,42.5,290,6,0.000118,0.000806,0.0000167,0.0009407,2.3.1,Xeon,A100
";

const TASK_MODE: &str = "task_name,timestamp,project_name,run_id,duration,emissions,cpu_power,gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed
load model,2024-01-02T00:00:05,t5,a1,5,0.0001,42.5,200,6,0.000059,0.000278,0.0000083,0.000345
query model,2024-01-02T00:00:25,t5,a1,20,0.0008,42.5,400,6,0.000236,0.002222,0.0000333,0.002491
load model,2024-01-02T00:01:05,t5,a2,5,0.0001,42.5,200,6,0.000059,0.000278,0.0000083,0.000345
query model,2024-01-02T00:01:25,t5,a2,20,0.0008,42.5,410,6,0.000236,0.002278,0.0000333,0.002547
";

#[test]
fn import_codecarbon_plain_and_task_mode() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let plain = tmp.path().join("plain.csv");
    let task = tmp.path().join("task.csv");
    std::fs::write(&plain, PLAIN).expect("plain");
    std::fs::write(&task, TASK_MODE).expect("task");
    let map = tmp.path().join("map.csv");
    std::fs::write(
        &map,
        "project_name,model,class,parameters\nt5,google/flan-t5-base,general-purpose,247577856\n",
    )
    .expect("map");

    // Plain file, labelled on the command line, 100 inferences per row.
    let out = tmp.path().join("plain-run");
    let o = joulebench(&[
        "import",
        "codecarbon",
        path(&plain),
        "--out",
        path(&out),
        "--inferences",
        "100",
        "--label",
        "task=text-classification",
        "--label",
        "dataset=sst2",
        "--label",
        "class=task-specific",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(out.join("summary.csv")).expect("summary");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().expect("header").clone();
    let row = reader.records().next().expect("one row").expect("row");
    let get = |name: &str| {
        row.get(header.iter().position(|h| h == name).expect(name))
            .unwrap_or("")
    };
    assert_eq!(get("model"), "bert");
    assert_eq!(get("config"), "bert@sst2");
    assert_eq!(get("repetitions"), "3");
    assert_eq!(get("inferences"), "300");
    assert_eq!(get("source"), "mixed");
    // Mean of the three energy_consumed values (kWh per 100 inferences) × 10.
    let kwh: f64 = get("kwh_per_1000").parse().expect("number");
    let expected = (0.0009677 + 0.0009957 + 0.0009407) / 3.0 * 10.0;
    assert!(
        (kwh - expected).abs() < 1e-6 * expected,
        "{kwh} vs {expected}"
    );
    assert!(
        get("flags").contains("estimated(codecarbon/cpu,codecarbon/ram)"),
        "{}",
        get("flags")
    );

    // Task mode needs --task-name.
    let out2 = tmp.path().join("task-run");
    let o = joulebench(&["import", "codecarbon", path(&task), "--out", path(&out2)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--task-name"), "{}", text(&o));
    let o = joulebench(&[
        "import",
        "codecarbon",
        path(&task),
        "--out",
        path(&out2),
        "--task-name",
        "query model",
        "--map",
        path(&map),
        "--label",
        "task=summarization",
        "--label",
        "dataset=xsum",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(out2.join("summary.csv")).expect("summary");
    assert!(csv.contains("google/flan-t5-base@xsum,google/flan-t5-base,summarization,xsum,general-purpose,247577856,2,2000,"), "{csv}");
    let reps = std::fs::read_to_string(out2.join("repetitions.csv")).expect("reps");
    assert!(reps.contains(",codecarbon,gpu,measured,"), "{reps}");
    assert!(reps.contains(",codecarbon,ram,estimated,"), "{reps}");

    // A mapping file with a typo in a column name is refused, naming the column.
    std::fs::write(&map, "project_name,datset\nt5,xsum\n").expect("map");
    let o = joulebench(&[
        "import",
        "codecarbon",
        path(&plain),
        "--out",
        path(&out2),
        "--map",
        path(&map),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("datset"), "{}", text(&o));
}

#[test]
fn compare_exits_2_when_a_configuration_cannot_be_tested() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (base, cand) = (tmp.path().join("base"), tmp.path().join("cand"));
    let run = Synthetic::small();
    run.write(&base).expect("base");
    run.write(&cand).expect("cand");
    // The candidate's server failed on one model: every repetition of it is invalid.
    let id = run.id(2);
    fail_requests(&cand.join("repetitions.csv"), |r| r.config == id);
    let json = tmp.path().join("gate.json");
    let o = joulebench(&["compare", path(&base), path(&cand), "--json", path(&json)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(!out.contains("PASS"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(&id) && l.contains("NOT TESTED") && l.contains("candidate 0")),
        "{out}"
    );
    let json = std::fs::read_to_string(&json).expect("json");
    assert!(json.contains("\"not-tested\""), "{json}");
}

#[test]
fn import_without_emissions_leaves_gco2_unknown_not_zero() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("plain.csv");
    // The same rows with an empty `emissions` column.
    let body: String = PLAIN
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l}\n")
            } else {
                let mut f: Vec<&str> = l.split(',').collect();
                f[4] = "";
                format!("{}\n", f.join(","))
            }
        })
        .collect();
    std::fs::write(&file, body).expect("file");
    let out = tmp.path().join("run");
    let o = joulebench(&["import", "codecarbon", path(&file), "--out", path(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("--intensity"), "{}", text(&o));
    let csv = std::fs::read_to_string(out.join("summary.csv")).expect("summary");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().expect("header").clone();
    let row = reader.records().next().expect("one row").expect("row");
    let get = |name: &str| {
        row.get(header.iter().position(|h| h == name).expect(name))
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(get("gco2e_per_1000"), "NaN");
    assert!(get("flags").contains("gco2-unknown"), "{}", get("flags"));
    let md = std::fs::read_to_string(out.join("summary.md")).expect("md");
    assert!(md.contains("Grid intensity **unknown**"), "{md}");
    assert!(md.contains("gco2-unknown"), "{md}");
    let import = std::fs::read_to_string(out.join("import.json")).expect("import.json");
    assert!(import.contains("\"emissions_unknown\": true"), "{import}");
    assert!(
        import.contains("\"carbon_intensity_g_per_kwh\": null"),
        "{import}"
    );
    let run = std::fs::read_to_string(out.join("run.json")).expect("run.json");
    assert!(
        run.contains("\"carbon_intensity_g_per_kwh\": null"),
        "{run}"
    );
    // `report` reads such a run.json back.
    let o = joulebench(&["report", path(&out), "--no-plots"]);
    assert!(o.status.success(), "{}", text(&o));

    // With --intensity the figure is computed from it.
    let out2 = tmp.path().join("run2");
    let o = joulebench(&[
        "import",
        "codecarbon",
        path(&file),
        "--out",
        path(&out2),
        "--intensity",
        "400",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let s = report::summary::read_csv::<report::SummaryRow>(&out2.join("summary.csv"))
        .expect("read")
        .next()
        .expect("row")
        .expect("row");
    let (gco2e, kwh) = (
        s.gco2e_per_1000.expect("gCO2eq"),
        s.kwh_per_1000.expect("kWh"),
    );
    assert!((gco2e - kwh * 400.0).abs() < 1e-9 * gco2e);
    assert!(!s.flags.contains("gco2-unknown"), "{}", s.flags);
}

#[test]
fn import_labels_a_varying_codecarbon_cpu_estimated_unless_stated_measured() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("varying.csv");
    // CPU power varies from row to row (load × TDP in newer CodeCarbon, or RAPL).
    let body =
        PLAIN
            .replacen(",42.5,300,", ",30.1,300,", 1)
            .replacen(",42.5,310,", ",55.7,310,", 1);
    std::fs::write(&file, body).expect("file");
    let out = tmp.path().join("est");
    let o = joulebench(&["import", "codecarbon", path(&file), "--out", path(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    let reps = std::fs::read_to_string(out.join("repetitions.csv")).expect("reps");
    assert!(reps.contains(",codecarbon,cpu,estimated,"), "{reps}");
    let import = std::fs::read_to_string(out.join("import.json")).expect("import.json");
    assert!(import.contains("--cpu-measured"), "{import}");
    let out2 = tmp.path().join("meas");
    let o = joulebench(&[
        "import",
        "codecarbon",
        path(&file),
        "--out",
        path(&out2),
        "--cpu-measured",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let reps = std::fs::read_to_string(out2.join("repetitions.csv")).expect("reps");
    assert!(reps.contains(",codecarbon,cpu,measured,"), "{reps}");
    let import = std::fs::read_to_string(out2.join("import.json")).expect("import.json");
    assert!(import.contains("stated with --cpu-measured"), "{import}");
}
