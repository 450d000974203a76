//! A bad suite gets one clear line naming file:line:column and the key; never a panic.

use crate::common;

use common::{GOOD_SUITE as GOOD, dry_run_at, joulebench, suite_dir};

/// Runs `joulebench run --dry-run` on `suite` and returns (exit code, stderr).
fn fails_with(suite: &str) -> (i32, String) {
    let (_dir, path) = suite_dir(suite, 3);
    let (code, _, stderr) = dry_run_at(&path);
    assert!(!stderr.contains("backtrace"), "{stderr}");
    (code, stderr)
}

#[test]
fn the_good_suite_passes() {
    let (_dir, path) = suite_dir(GOOD, 3);
    let (code, _, stderr) = dry_run_at(&path);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn bad_type_names_line_column_and_key() {
    let (code, err) = fails_with(&GOOD.replace("inferences = 10", "inferences = \"ten\""));
    assert_ne!(code, 0);
    assert!(
        err.contains("suite.toml:20:14: key `schedule.inferences`"),
        "{err}"
    );
    assert!(err.contains("expected"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn unknown_key_is_an_error() {
    let (code, err) =
        fails_with(&GOOD.replace("inferences = 10", "inferences = 10\nrepetitons = 3"));
    assert_ne!(code, 0);
    assert!(
        err.contains("suite.toml:21:1: key `schedule.repetitons`"),
        "{err}"
    );
    assert!(err.contains("unknown field"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn missing_dataset_file_names_the_path_key() {
    // A dry run lists missing dataset files (tests/dry_run_missing.rs); a run refuses them.
    let (dir, path) = suite_dir(&GOOD.replace("data.jsonl", "nope.jsonl"), 3);
    let output = joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("results"))
        .arg(&path)
        .output()
        .expect("run joulebench");
    let (code, err) = (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).to_string(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("suite.toml:17:8: key `datasets.path`"),
        "{err}"
    );
    assert!(err.contains("nope.jsonl not found"), "{err}");
}

#[test]
fn unknown_server_and_enum_values_are_explained() {
    let (_, err) = fails_with(&GOOD.replace("server = \"local\"", "server = \"remote\""));
    assert!(err.contains("key `models.server`"), "{err}");
    assert!(err.contains("expected one of: local"), "{err}");
    let (_, err) = fails_with(&GOOD.replace("task-specific", "specific"));
    assert!(err.contains("suite.toml:11:9: key `models.class`"), "{err}");
    assert!(err.contains("task-specific"), "{err}");
}

#[test]
fn missing_suite_file_is_one_line() {
    let output = joulebench()
        .args(["run", "--dry-run", "/nonexistent/suite.toml"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0));
    assert!(
        err.contains("/nonexistent/suite.toml: cannot read suite"),
        "{err}"
    );
}

#[test]
fn json_template_errors_name_the_template_key() {
    let template = GOOD.replace("openai-completions", "json-template");
    let (code, err) = fails_with(&template);
    assert_ne!(code, 0);
    assert!(
        err.contains("key `models.server`") && err.contains("[servers.local.json_template]"),
        "{err}"
    );
    let bad_body = format!(
        "{template}\n[servers.local.json_template]\npath = \"/p\"\nbody = '{{prompt}}'\noutput = \"/o\"\n"
    )
    .replace("[schedule]\ninferences = 10\n", "");
    let bad_body = format!("{bad_body}\n[schedule]\ninferences = 10\n");
    let (code, err) = fails_with(&bad_body);
    assert_ne!(code, 0);
    assert!(
        err.contains("suite.toml:22:8: key `servers.local.json_template.body`"),
        "{err}"
    );
    assert!(err.contains("not JSON"), "{err}");
}

#[test]
fn parquet_is_a_known_extension() {
    for (name, accepted) in [("data.parquet", true), ("data.txt", false)] {
        let (dir, path) = suite_dir(&GOOD.replace("data.jsonl", name), 3);
        std::fs::copy(dir.path().join("data.jsonl"), dir.path().join(name)).expect("copy");
        let output = joulebench()
            .args(["run", "--dry-run"])
            .arg(&path)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.success(), accepted, "{name}: {err}");
        if !accepted {
            assert!(
                err.contains("key `datasets.path`") && err.contains(".parquet"),
                "{err}"
            );
        }
    }
}

#[test]
fn server_process_keys_are_checked_with_their_range_and_fix() {
    let url = "url = \"http://127.0.0.1:9\"";
    let cases = [
        (
            format!("{url}\npid = 0"),
            "key `servers.local.pid`",
            "expected 1 to 4194304",
        ),
        (
            format!("{url}\npid = 4242\nprocess_name = \"vllm\""),
            "key `servers.local.process_name`",
            "not both `pid` and `process_name`",
        ),
        (
            format!("{url}\nprocess_name = \"a-very-long-command-name\""),
            "key `servers.local.process_name`",
            "1 to 15 bytes",
        ),
        (
            "launch = [\"server\"]\npid_file = \"server.pid\"".to_string(),
            "key `servers.local.pid_file`",
            "launched server is attributed by its own process group",
        ),
    ];
    for (server, key, why) in cases {
        let (code, err) = fails_with(&GOOD.replace(url, &server));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(key) && err.contains(why), "{server}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let (_dir, path) = suite_dir(
        &GOOD.replace(url, &format!("{url}\npid_file = \"server.pid\"")),
        3,
    );
    let (code, _, stderr) = dry_run_at(&path);
    assert_eq!(
        code, 0,
        "a pid file is read at each window, not at load: {stderr}"
    );
}

/// GOOD with `keys` added to its dataset.
fn with_dataset_keys(keys: &str) -> String {
    GOOD.replace(
        "path = \"data.jsonl\"\n",
        &format!("path = \"data.jsonl\"\n{keys}\n"),
    )
}

#[test]
fn scoring_keys_are_checked_with_the_fix_named() {
    for (keys, want) in [
        (
            "scorer = \"squad\"",
            "key `datasets.scorer`: `scorer` scores answers against reference answers, but dataset \"d\" maps none: add `expected = \"COLUMN\"`",
        ),
        (
            "fields = { expected = \"label\" }\nscorer = \"bleu\"",
            "key `datasets.scorer`: unknown scorer \"bleu\": expected \"accuracy\", \"squad\", \"rouge\", \"exact\" or \"regex\"",
        ),
        (
            "fields = { expected = \"label\" }\nscorer = \"squad\"\nlabels = { \"1\" = [\"positive\"] }",
            "key `datasets.labels`: `labels` is a setting of scorer = \"accuracy\", but this dataset's scorer is \"squad\"",
        ),
        (
            "fields = { expected = \"label\" }\nscorer = \"regex\"\npattern = \"(unclosed\"",
            "key `datasets.pattern`: not a regular expression",
        ),
        (
            "fields = { expected = \"label\" }\nscorer = \"regex\"",
            "key `datasets.pattern`: scorer = \"regex\" needs `pattern`",
        ),
        (
            "fields = { expected = \"label\" }\nlabels = { \"1\" = [\"good\"], \"0\" = [\"Good\"] }",
            "the word \"good\" names both label \"0\" and label \"1\"",
        ),
        (
            "fields = { expected = \"label\" }\nlabels = { \"1\" = [] }",
            "label \"1\" needs one or more non-empty words",
        ),
    ] {
        let (code, err) = fails_with(&with_dataset_keys(keys));
        assert_ne!(code, 0, "{keys}");
        assert!(err.contains("suite.toml:"), "{err}");
        assert!(err.contains(want), "{keys}\n{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // A task with no default scorer must name one.
    let (code, err) = fails_with(
        &with_dataset_keys("fields = { expected = \"label\" }")
            .replace("task = \"sentiment\"", "task = \"translation\""),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("task \"translation\" has no default scorer: set `scorer`"),
        "{err}"
    );
}

#[test]
fn a_missing_reference_field_names_the_file_line_and_the_fix() {
    let (dir, path) = suite_dir(
        &with_dataset_keys("fields = { expected = \"answers.text\" }"),
        3,
    );
    let (output, _) = common::run_in(dir.path(), &path);
    let err = String::from_utf8_lossy(&output.stderr).to_string();
    assert_ne!(output.status.code(), Some(0));
    assert!(err.contains("data.jsonl:1: the reference answers (fields.expected = \"answers.text\"): the row has no field `answers`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
