//! `[reference]` and the `reference` keys: checked at load with errors that say what to
//! fix; a run keeps the matched study figures in `reference.csv`, which is all `joulebench
//! report` needs to show them beside the measured ones.

use crate::common;

use common::{
    assert_ok, csv_rows, dry_run_at, joulebench, one_model_suite, openai_server, resume_ok,
    run_in_ok, suite_dir,
};
use std::path::{Path, PathBuf};

const TABLE: &str = "\
model,task,dataset,class,parameters,runs,kwh_per_1000_mean,kwh_per_1000_std,kwh_per_1000_ci95_low,kwh_per_1000_ci95_high,source
google/flan-t5-base,sentiment,imdb,general-purpose,222903552,10,0.0098,0.0003,0.0096,0.0100,mixed
google/flan-t5-base,sentiment,sst2,general-purpose,222903552,10,0.0092,0.0001,0.0091,0.0093,mixed
distilbert-base-uncased-finetuned-sst-2-english,sentiment,sst2,task-specific,66362880,10,0.00166,0.00001,0.00165,0.00167,mixed
";

const LABEL: &str = "PHP 2023 (8×A100 node, CodeCarbon)";

const NOTE: &str = "Its GPU energy is summed over all 8 GPUs of its node.";

/// `suite` with `[reference] note = value` (a TOML value) after its label.
fn with_note(suite: &str, value: &str) -> String {
    let label = format!("label = \"{LABEL}\"\n");
    assert!(suite.contains(&label));
    suite.replacen(&label, &format!("{label}note = {value}\n"), 1)
}

/// The one-model suite against `url`, standing for flan-t5-base (on `dataset_ref` when
/// given), with the study table in `reference/study.csv`.
fn suite(url: &str, dataset_ref: Option<&str>) -> String {
    let mut text = one_model_suite(
        "openai-completions",
        url,
        "general-purpose",
        "inferences = 4\nrepetitions = 2\nwarmup = 1",
        &format!("[reference]\nfile = \"reference/study.csv\"\nlabel = \"{LABEL}\"\n"),
    )
    .replacen(
        "server = \"local\"\n",
        "server = \"local\"\nreference = \"google/flan-t5-base\"\n",
        1,
    );
    if let Some(d) = dataset_ref {
        text = text.replacen(
            "path = \"data.jsonl\"\n",
            &format!("path = \"data.jsonl\"\nreference = \"{d}\"\n"),
            1,
        );
    }
    text
}

/// Writes the study table beside the suite.
fn with_table(dir: &Path, table: &str) {
    std::fs::create_dir_all(dir.join("reference")).expect("mkdir");
    std::fs::write(dir.join("reference/study.csv"), table).expect("write table");
}

/// `joulebench run --dry-run` on `suite` (with `table`): exit code, stdout, stderr.
fn dry_run(suite: &str, table: Option<&str>) -> (i32, String, String) {
    let (dir, path) = suite_dir(suite, 3);
    if let Some(t) = table {
        with_table(dir.path(), t);
    }
    dry_run_at(&path)
}

/// Writes `suite` and the study table, runs it and asserts it succeeded: the temp folder,
/// the suite's path and the results folder.
fn run_with_table(suite: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, path) = suite_dir(suite, 3);
    with_table(dir.path(), TABLE);
    let out = run_in_ok(dir.path(), &path);
    (dir, path, out)
}

/// The line and column (1-based) where `needle` starts in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("needle in text");
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

#[test]
fn a_dry_run_names_the_study_figure_of_each_configuration() {
    let (code, out, err) = dry_run(&suite("http://127.0.0.1:9", Some("sst2")), Some(TABLE));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("study figures ({LABEL}")), "{out}");
    assert!(
        out.contains("m1@sample")
            && out.contains("google/flan-t5-base on sst2: 0.00920 (10 runs, mixed)"),
        "{out}"
    );
    let (code, out, err) = dry_run(&suite("http://127.0.0.1:9", None), Some(TABLE));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("google/flan-t5-base on mean of imdb, sst2: 0.00950 (20 runs, mixed)"),
        "{out}"
    );
}

#[test]
fn reference_errors_say_where_and_what_to_do() {
    let good = suite("http://127.0.0.1:9", Some("sst2"));

    // A study model that is not in the table, with the close match.
    let typo = good.replace("\"google/flan-t5-base\"", "\"google/flan-t5-bse\"");
    let (code, _, err) = dry_run(&typo, Some(TABLE));
    let (line, col) = position(&typo, "\"google/flan-t5-bse\"");
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("suite.toml:{line}:{col}: key `models.reference`")),
        "{err}"
    );
    assert!(
        err.contains("did you mean \"google/flan-t5-base\"?"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A dataset the study did not run, with the close match.
    let (_, _, err) = dry_run(&good.replace("\"sst2\"", "\"sst-2\""), Some(TABLE));
    assert!(
        err.contains("key `datasets.reference`") && err.contains("did you mean \"sst2\"?"),
        "{err}"
    );

    // A model of another task only.
    let other_task = TABLE.replace(",sentiment,", ",classification,");
    let (_, _, err) = dry_run(&good, Some(&other_task));
    assert!(
        err.contains("no task \"sentiment\"") && err.contains("classification"),
        "{err}"
    );

    // `reference` keys without a [reference] table: the fix is in the message.
    let no_table = good.replace(
        &format!("[reference]\nfile = \"reference/study.csv\"\nlabel = \"{LABEL}\"\n"),
        "",
    );
    let (code, _, err) = dry_run(&no_table, None);
    assert_ne!(code, 0);
    assert!(
        err.contains("key `models.reference`") && err.contains("add [reference] with file ="),
        "{err}"
    );

    // A table that is not there.
    let (code, _, err) = dry_run(&good, None);
    let (line, col) = position(&good, "\"reference/study.csv\"");
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("suite.toml:{line}:{col}: key `reference.file`"))
            && err.contains("study.csv not found"),
        "{err}"
    );

    // A bad row of the table: the suite's key, the table file and its line.
    let bad_row = TABLE.replace(",0.0092,", ",-0.0092,");
    let (code, _, err) = dry_run(&good, Some(&bad_row));
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("suite.toml:{line}:{col}: key `reference.file`"))
            && err.contains("reference/study.csv, line 3, field `kwh_per_1000_mean`"),
        "{err}"
    );
    // A note that is not a string, or is empty: the key, where, and what to write.
    let number = with_note(&good, "3");
    let (line, col) = position(&number, "note = 3");
    let (code, _, err) = dry_run(&number, Some(TABLE));
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!(
            "suite.toml:{line}:{}: key `reference.note`",
            col + 7
        )) && err.contains("expected a string"),
        "{err}"
    );
    let empty = with_note(&good, "\"  \"");
    let (line, col) = position(&empty, "\"  \"");
    let (code, _, err) = dry_run(&empty, Some(TABLE));
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("suite.toml:{line}:{col}: key `reference.note`"))
            && err.contains("expected a non-empty note"),
        "{err}"
    );
    let (code, _, err) = dry_run(&with_note(&good, &format!("\"{NOTE}\"")), Some(TABLE));
    assert_eq!(code, 0, "{err}");

    let unparsable = TABLE.replace(",10,0.0098,", ",ten,0.0098,");
    let (_, _, err) = dry_run(&good, Some(&unparsable));
    assert!(
        err.contains("key `reference.file`") && err.contains("line: 2"),
        "{err}"
    );
}

#[test]
fn a_run_keeps_its_study_figures_and_the_report_needs_nothing_else() {
    let server = openai_server();
    let text = with_note(&suite(&server.url, Some("sst2")), &format!("\"{NOTE}\""));
    let (dir, path, out) = run_with_table(&text);

    let rows = csv_rows(&out.join("reference.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    for (column, value) in [
        ("config", "m1@sample"),
        ("model", "m1"),
        ("task", "sentiment"),
        ("dataset", "sample"),
        ("reference_model", "google/flan-t5-base"),
        ("reference_dataset", "sst2"),
        ("kwh_per_1000_mean", "0.0092"),
        ("kwh_per_1000_std", "0.0001"),
        ("runs", "10"),
        ("source", "mixed"),
        ("label", LABEL),
        ("note", NOTE),
    ] {
        assert_eq!(row[column], value, "{column}");
    }

    // The study table and the suite are gone: the report still shows the study's figure.
    std::fs::remove_dir_all(dir.path().join("reference")).expect("remove table");
    std::fs::remove_file(&path).expect("remove suite");
    let report = joulebench()
        .args(["report"])
        .arg(&out)
        .output()
        .expect("run joulebench");
    assert_ok(&report);
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    let section = md
        .split("## Beside the study's figures")
        .nth(1)
        .unwrap_or_else(|| panic!("no section in {md}"));
    assert!(
        section.contains("| m1 | sentiment | general-purpose |")
            && section.contains("0.00920 ± 0.00010 (10 runs) *partly estimated*")
            && section.contains(&format!("The study's figures: **{LABEL}**")),
        "{section}"
    );
    // The suite's note under the table, in place of the generic sentence; the ratio of an
    // estimated figure to a partly estimated one is estimated, and says so.
    assert!(
        section.contains(&format!("\n{NOTE}\n")) && !section.contains("may differ"),
        "{section}"
    );
    let line = section
        .lines()
        .find(|l| l.starts_with("| m1 |"))
        .unwrap_or_else(|| panic!("no row in {section}"));
    assert!(
        line.contains("| sample |") && line.ends_with(" *estimated* |"),
        "{line}"
    );
    let comparison = csv_rows(&out.join("reference_comparison.csv"));
    assert_eq!(comparison.len(), 1);
    assert_eq!(comparison[0]["source"], "estimated");
    assert_eq!(comparison[0]["ratio_source"], "estimated");
    assert_eq!(comparison[0]["measured_datasets"], "sample");
    assert_eq!(comparison[0]["reference_note"], NOTE);
    assert_eq!(comparison[0]["reference_kwh_per_1000"], "0.0092");
    let measured: f64 = comparison[0]["kwh_per_1000"].parse().expect("number");
    let ratio: f64 = comparison[0]["ratio"].parse().expect("number");
    assert!(
        (ratio - measured / 0.0092).abs() <= 1e-9 * ratio,
        "{comparison:?}"
    );
    let svg = std::fs::read_to_string(out.join("plots/energy_per_1000.svg")).expect("svg");
    assert!(
        svg.contains(LABEL),
        "the central plot names the study's marker"
    );
}

#[test]
fn a_resumed_run_resolves_its_table_and_keeps_the_figures_it_started_with() {
    let server = openai_server();
    let (_dir, _path, out) = run_with_table(&suite(&server.url, None));
    // Mark the run interrupted, and tell the kept figures apart from the table's.
    let run_json = out.join("run.json");
    let text = std::fs::read_to_string(&run_json).expect("run.json");
    std::fs::write(
        &run_json,
        text.replace("\"status\": \"complete\"", "\"status\": \"interrupted\""),
    )
    .expect("write run.json");
    assert!(common::manifest(&out)["status"] == "interrupted");
    let kept = std::fs::read_to_string(out.join("reference.csv"))
        .expect("reference.csv")
        .replace(LABEL, "as started");
    std::fs::write(out.join("reference.csv"), &kept).expect("write");

    // Resume from the run's own suite.toml: the table resolves beside the original suite.
    resume_ok(&out);
    assert_eq!(common::manifest(&out)["status"], "complete");
    assert_eq!(
        std::fs::read_to_string(out.join("reference.csv")).expect("reference.csv"),
        kept
    );
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(
        md.contains("The study's figures: **as started**")
            && md.contains("mean of imdb, sst2 | 0.00950 ± "),
        "{md}"
    );
    // No note in the suite: the generic sentence.
    assert!(
        md.contains("The study's setup may differ from this run's; see its documentation"),
        "{md}"
    );
}

#[test]
fn the_study_quality_stands_beside_the_measured_quality_with_its_source() {
    const QUALITY: &str = "model,task,dataset,metric,value,source\n\
        google/flan-t5-base,sentiment,sst2,accuracy,0.9232,eval/performance.csv: sst2 (acc)\n\
        google/flan-t5-base,sentiment,imdb,accuracy,0.9,eval/performance.csv: imdb (acc)\n";
    let server = openai_server();
    let text = suite(&server.url, Some("sst2"))
        .replacen(
            &format!("label = \"{LABEL}\"\n"),
            &format!("label = \"{LABEL}\"\nquality = \"reference/quality.csv\"\n"),
            1,
        )
        .replacen(
            "fields = { text = \"sentence\" }",
            "fields = { text = \"sentence\", expected = \"label\" }\nlabels = { \"0\" = [\"negative\"], \"1\" = [\"positive\"] }",
            1,
        );
    let (dir, path) = suite_dir(&text, 3);
    with_table(dir.path(), TABLE);
    std::fs::write(dir.path().join("reference/quality.csv"), QUALITY).expect("write");
    let out = run_in_ok(dir.path(), &path);
    let row = &csv_rows(&out.join("reference.csv"))[0];
    assert_eq!(row["reference_quality_metric"], "accuracy");
    assert_eq!(row["reference_quality"], "0.9232");
    assert_eq!(
        row["reference_quality_source"],
        "eval/performance.csv: sst2 (acc)"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    // The test server answers "word word word": no label, so 0% measured, beside 92.3%.
    assert!(
        md.contains("| m1@sample | accuracy 0.0 [0.0 – 56.1] | google/flan-t5-base | sst2 | accuracy 92.3 | eval/performance.csv: sst2 (acc) (PHP 2023"),
        "{md}"
    );
    // A missing quality table is a load error that names the key.
    std::fs::remove_file(dir.path().join("reference/quality.csv")).expect("remove");
    let (code, _, err) = dry_run_at(&path);
    assert_ne!(code, 0);
    assert!(
        err.contains("key `reference.quality`: study quality table") && err.contains("not found"),
        "{err}"
    );
}
