//! The formats for other tools: `report --openmetrics`, `compare --junit` and the
//! CodeCarbon `emissions.csv` every report writes, read back by real parsers.

use crate::report_cli::{joulebench, path, text};
use report::compare::junit::{JunitRun, junit};
use report::compare::quality::QualityComparison;
use report::compare::{CompareResult, Comparison, Verdict};
use report::synthetic::Synthetic;
use std::collections::BTreeMap;

/// One element of an XML document: its name, attributes (unescaped) and its parent's
/// index.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    parent: Option<usize>,
}

/// Every element of a document, in document order, read by quick-xml.
fn elements(xml: &str) -> Vec<Element> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not XML: {e}\n{xml}"));
        let (start, empty) = match &event {
            Event::Start(s) => (s.clone(), false),
            Event::Empty(s) => (s.clone(), true),
            Event::End(_) => {
                open.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let attrs = start
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                (
                    String::from_utf8(a.key.as_ref().to_vec()).expect("utf-8 name"),
                    a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                        .expect("value")
                        .into_owned(),
                )
            })
            .collect();
        out.push(Element {
            name: String::from_utf8(start.name().as_ref().to_vec()).expect("utf-8 name"),
            attrs,
            parent: open.last().copied(),
        });
        if !empty {
            open.push(out.len() - 1);
        }
    }
    assert!(open.is_empty(), "unclosed elements in\n{xml}");
    out
}

/// The children of element `i` named `name`.
fn children<'a>(all: &'a [Element], i: usize, name: &'a str) -> Vec<&'a Element> {
    all.iter()
        .filter(|e| e.parent == Some(i) && e.name == name)
        .collect()
}

fn attr<'a>(e: &'a Element, name: &str) -> &'a str {
    e.attrs
        .get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("{} has no {name}: {e:?}", e.name))
}

#[test]
fn report_writes_openmetrics_on_request_and_emissions_csv_always() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("run");
    Synthetic::small().write(&run).expect("write run");
    let metrics = dir.path().join("joulebench.prom");
    let o = joulebench(&[
        "report",
        path(&run),
        "--no-plots",
        "--openmetrics",
        path(&metrics),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let exposition = std::fs::read_to_string(&metrics).expect("OpenMetrics file");
    let parsed = openmetrics_parser::openmetrics::parse_openmetrics(&exposition)
        .unwrap_or_else(|e| panic!("{e:?}\n{exposition}"));
    let energy = parsed
        .families
        .get("joulebench_energy_per_inference_joules")
        .expect("energy family");
    assert_eq!(energy.iter_samples().count(), 3, "{exposition}");
    let emissions = std::fs::read_to_string(run.join("emissions.csv")).expect("emissions.csv");
    assert!(
        emissions.starts_with("task_name,timestamp,project_name,run_id,duration,"),
        "{emissions}"
    );
    assert_eq!(emissions.lines().count(), 1 + 3);

    // A folder it cannot write to: a clear error naming the file, no panic.
    let o = joulebench(&[
        "report",
        path(&run),
        "--no-plots",
        "--openmetrics",
        path(&dir.path().join("no/such/dir/x.prom")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("x.prom"), "{}", text(&o));
}

#[test]
fn compare_writes_a_junit_case_per_configuration() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (base, cand) = (tmp.path().join("base"), tmp.path().join("cand"));
    let run = Synthetic::small();
    run.write(&base).expect("base");
    let mut worse = run.clone();
    worse.seed = 3;
    // Configuration 1: 10% more energy per inference. Configuration 2: not in the
    // candidate (not tested). A new model only the candidate has (not gated).
    let c = &mut worse.configs[1];
    c.gpu_active_w += 0.10 * (run.gpu_idle_w + c.gpu_active_w + run.cpu_w);
    worse.configs.truncate(2);
    let mut new = worse.configs[0].clone();
    new.model = "new-model \"<&>\"".to_string();
    worse.configs.push(new);
    worse.write(&cand).expect("cand");
    let new_id = worse.id(2);

    let xml_path = tmp.path().join("gate.xml");
    let o = joulebench(&[
        "compare",
        path(&base),
        path(&cand),
        "--junit",
        path(&xml_path),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let xml = std::fs::read_to_string(&xml_path).expect("JUnit file");
    let all = elements(&xml);
    assert_eq!(all[0].name, "testsuites");
    let suites = children(&all, 0, "testsuite");
    assert_eq!(suites.len(), 1, "{xml}");
    let suite_index = all
        .iter()
        .position(|e| e.name == "testsuite")
        .expect("suite");
    let suite = &all[suite_index];
    assert_eq!(attr(suite, "tests"), "4", "{xml}");
    assert_eq!(attr(suite, "failures"), "1", "{xml}");
    assert_eq!(attr(suite, "errors"), "1", "{xml}");
    assert_eq!(attr(suite, "skipped"), "1", "{xml}");
    assert_eq!(attr(suite, "timestamp").len(), "2026-01-01T00:00:00".len());
    let cases: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name == "testcase")
        .map(|(i, _)| i)
        .collect();
    let case = |id: &str| {
        *cases
            .iter()
            .find(|&&i| attr(&all[i], "name") == id)
            .unwrap_or_else(|| panic!("no test case {id} in\n{xml}"))
    };
    // The regression: one failure with the numbers and the verdict.
    let regressed = case(&run.id(1));
    assert_eq!(
        attr(&all[regressed], "classname"),
        "joulebench.text-classification"
    );
    let failures = children(&all, regressed, "failure");
    assert_eq!(failures.len(), 1, "{xml}");
    assert_eq!(attr(failures[0], "type"), "energy-regression");
    let message = attr(failures[0], "message");
    assert!(message.contains("REGRESSION"), "{message}");
    assert!(
        message.contains("J/inference") && message.contains("+"),
        "{message}"
    );
    // Unchanged: no failure, error or skip.
    let same = case(&run.id(0));
    for kind in ["failure", "error", "skipped"] {
        assert!(children(&all, same, kind).is_empty(), "{kind} in\n{xml}");
    }
    // Absent from the candidate: an error saying so.
    let absent = case(&run.id(2));
    assert_eq!(attr(&all[absent], "classname"), "joulebench.summarization");
    let errors = children(&all, absent, "error");
    assert_eq!(errors.len(), 1, "{xml}");
    assert!(
        attr(errors[0], "message").contains("absent from the candidate"),
        "{xml}"
    );
    // Only in the candidate: skipped; its awkward name comes back unescaped.
    let added = case(&new_id);
    assert_eq!(children(&all, added, "skipped").len(), 1, "{xml}");
}

fn comparison(config: &str, verdict: Verdict) -> Comparison {
    Comparison {
        config: config.to_string(),
        baseline_n: 5,
        baseline_j: 10.0,
        candidate_n: 5,
        candidate_j: 11.0,
        change_pct: 10.0,
        change_ci95_low_pct: 8.0,
        change_ci95_high_pct: 12.0,
        p_value: Some(0.001),
        provenance: records::labels::FigureLabel::Estimated,
        verdict,
        reason: None,
    }
}

fn quality(config: &str, verdict: Verdict, reason: Option<&str>) -> QualityComparison {
    QualityComparison {
        config: config.to_string(),
        metric: "accuracy".to_string(),
        baseline_items: 200,
        candidate_items: 200,
        rows_compared: 200,
        baseline: 0.9,
        candidate: 0.8,
        change_points: -10.0,
        change_ci95_low_points: -14.0,
        change_ci95_high_points: -6.0,
        p_value: Some(0.0001),
        verdict,
        reason: reason.map(str::to_string),
    }
}

#[test]
fn junit_has_a_failure_per_regression_energy_and_quality() {
    let result = CompareResult {
        rows: vec![
            comparison("both@d", Verdict::Regression),
            comparison("quality@d", Verdict::NoChange),
            comparison("ok@d", Verdict::Improvement),
        ],
        added: Vec::new(),
        quality: vec![
            quality("both@d", Verdict::Regression, None),
            quality("quality@d", Verdict::NotTested, Some("scored differently")),
        ],
        quality_added: Vec::new(),
        threshold_pct: 5.0,
        quality_threshold_points: 1.0,
        alpha: 0.05,
        tasks: [("both@d", "qa"), ("quality@d", "qa"), ("ok@d", "qa")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    };
    let run = JunitRun {
        timestamp: "2026-01-31T02:00:00".to_string(),
        baseline: "nightly/base".to_string(),
        candidate: "nightly/cand".to_string(),
    };
    let xml = String::from_utf8(junit(&result, &run).expect("junit")).expect("utf-8");
    let all = elements(&xml);
    let suite = all
        .iter()
        .position(|e| e.name == "testsuite")
        .expect("suite");
    assert_eq!(attr(&all[suite], "tests"), "3");
    assert_eq!(attr(&all[suite], "failures"), "1");
    assert_eq!(attr(&all[suite], "errors"), "1");
    assert_eq!(attr(&all[suite], "skipped"), "0");
    assert_eq!(attr(&all[suite], "timestamp"), "2026-01-31T02:00:00");
    let case = |id: &str| {
        all.iter()
            .position(|e| {
                e.name == "testcase" && e.attrs.get("name").map(String::as_str) == Some(id)
            })
            .unwrap_or_else(|| panic!("no {id} in\n{xml}"))
    };
    let both = children(&all, case("both@d"), "failure");
    let kinds: Vec<&str> = both.iter().map(|f| attr(f, "type")).collect();
    assert_eq!(kinds, ["energy-regression", "quality-regression"], "{xml}");
    assert!(attr(both[0], "message").contains("(estimated)"), "{xml}");
    assert!(attr(both[1], "message").contains("-10.00 points"), "{xml}");
    let untested = children(&all, case("quality@d"), "error");
    assert_eq!(untested.len(), 1);
    assert!(attr(untested[0], "message").contains("scored differently"));
    assert!(children(&all, case("ok@d"), "failure").is_empty());
    let props = all.iter().filter(|e| e.name == "property").count();
    assert_eq!(props, 5, "{xml}");
}
