//! Labels in files are typed: a text outside the allowed ones is an error that names the
//! file, line, the label expected and the allowed texts, never a silent default.

use joulebench_report as report;

use records::files::REPETITIONS_CSV;
use report::synthetic::Synthetic;

/// A synthetic run whose `repetitions.csv` has `from` replaced by `to` on its first row.
fn run_with_first_row_edited(from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(dir.path()).expect("write run");
    let path = dir.path().join(REPETITIONS_CSV);
    let text = std::fs::read_to_string(&path).expect("repetitions.csv");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(lines[1].contains(from), "{}", lines[1]);
    lines[1] = lines[1].replacen(from, to, 1);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    dir
}

#[test]
fn an_unknown_provenance_names_the_file_line_field_and_allowed_texts() {
    let dir = run_with_first_row_edited(",measured,", ",guessed,");
    let err = report::render(dir.path()).expect_err("unknown provenance");
    let text = err.to_string();
    assert!(text.contains(REPETITIONS_CSV), "{text}");
    assert!(text.contains("line 2: "), "{text}");
    assert!(
        text.contains("\"guessed\" is not a provenance: expected one of measured, estimated"),
        "{text}"
    );
}

#[test]
fn an_unknown_class_names_the_allowed_texts_unknown_included() {
    let dir = run_with_first_row_edited(",task-specific,", ",fine-tuned,");
    let text = report::render(dir.path())
        .expect_err("unknown class")
        .to_string();
    assert!(text.contains("line 2: "), "{text}");
    assert!(
        text.contains("\"fine-tuned\" is not a model class"),
        "{text}"
    );
    assert!(
        text.contains("expected one of general-purpose, task-specific, unknown"),
        "{text}"
    );
}

#[test]
fn an_imported_class_may_be_unknown() {
    let dir = run_with_first_row_edited(",task-specific,", ",unknown,");
    let rows = report::render(dir.path()).expect("unknown is a class");
    assert!(
        rows.iter().any(|r| r.class.as_str() == "unknown"),
        "{rows:?}"
    );
}
