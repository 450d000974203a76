//! Every exporter serialises a report in memory; rendering writes exactly those bytes.

use joulebench_report as report;

use records::files::{SUMMARY_CSV, SUMMARY_JSON, SUMMARY_MD, SUMMARY_TEX, TASKS_CSV};
use report::export::Exporter;
use report::export::csv::CsvTable;
use report::export::json::Json;
use report::export::latex::Latex;
use report::export::markdown::Markdown;
use report::synthetic::Synthetic;

#[test]
fn exporters_serialise_in_memory_what_render_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut run = Synthetic::small();
    run.cpu_estimated = true;
    run.write(dir.path()).expect("write run");
    let rendered = crate::render_without_plots(dir.path()).expect("render");
    let exporters: [(&str, &dyn Exporter); 5] = [
        (SUMMARY_CSV, &CsvTable::Summary),
        (TASKS_CSV, &CsvTable::Tasks),
        (SUMMARY_MD, &Markdown),
        (SUMMARY_TEX, &Latex),
        (SUMMARY_JSON, &Json),
    ];
    for (file, exporter) in exporters {
        let bytes = exporter.serialize(&rendered).expect("serialise");
        let written = std::fs::read(dir.path().join(file)).expect("written");
        assert_eq!(bytes, written, "{file}");
    }
    // An estimated CPU beside a measured GPU: every figure is partly estimated.
    let md = String::from_utf8(Markdown.serialize(&rendered).expect("md")).expect("utf-8");
    assert!(md.contains("*partly estimated*"), "{md}");
    let tex = String::from_utf8(Latex.serialize(&rendered).expect("tex")).expect("utf-8");
    assert!(tex.contains("$^\\ddagger$"), "{tex}");
    let csv =
        String::from_utf8(CsvTable::Summary.serialize(&rendered).expect("csv")).expect("utf-8");
    assert!(csv.lines().next().expect("header").contains(",source,"));
    assert!(
        csv.lines().nth(1).expect("row").contains(",mixed,"),
        "{csv}"
    );
}

#[test]
fn a_table_without_rows_keeps_its_header() {
    let bytes = report::export::csv::table::<report::SummaryRow>(&[]).expect("header");
    let text = String::from_utf8(bytes).expect("utf-8");
    assert!(
        text.starts_with("config,model,task,dataset,class,"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
}
