//! The gate as a JUnit XML report for CI (`compare --junit FILE`): one `<testsuite>`, a
//! `<testcase>` per configuration (name = its id, classname = `joulebench.<task>`), a
//! `<failure>` per regression (energy, quality), an `<error>` for what could not be tested
//! (the gate cannot pass, exit 2) and `<skipped>` for a configuration only the candidate
//! has (not gated). The suite's counts are of test cases, each counted once by its worst
//! outcome: failure, then error, then skipped.

use super::quality::QualityComparison;
use super::{CompareResult, Comparison, Verdict};
use crate::ReportError;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use records::number::sig;

/// What the JUnit report says beside the comparison: when and what was compared.
#[derive(Clone, Debug)]
pub struct JunitRun {
    /// When the comparison ran (ISO 8601, e.g. `2026-01-31T02:00:00`).
    pub timestamp: String,
    /// The baseline run's folder, as given.
    pub baseline: String,
    /// The candidate run's folder, as given.
    pub candidate: String,
}

/// One element inside a test case: `failure`, `error` or `skipped`, its type and message.
struct Outcome {
    element: &'static str,
    kind: &'static str,
    message: String,
}

/// What the gate judged.
#[derive(Clone, Copy)]
enum Gated {
    Energy,
    Quality,
}

impl Outcome {
    /// The failure (a regression) or error (not tested) of a verdict on `gated`, with the
    /// comparison's line; none when the gate passes it.
    fn of(verdict: Verdict, gated: Gated, line: impl FnOnce() -> String) -> Option<Self> {
        let (element, kind, label) = match (verdict, gated) {
            (Verdict::Regression, Gated::Energy) => {
                ("failure", "energy-regression", "energy REGRESSION")
            }
            (Verdict::Regression, Gated::Quality) => {
                ("failure", "quality-regression", "QUALITY REGRESSION")
            }
            (Verdict::NotTested, Gated::Energy) => {
                ("error", "energy-not-tested", "energy NOT TESTED")
            }
            (Verdict::NotTested, Gated::Quality) => {
                ("error", "quality-not-tested", "quality NOT TESTED")
            }
            _ => return None,
        };
        Some(Self {
            element,
            kind,
            message: format!("{label}: {}", line()),
        })
    }
}

/// One test case: a configuration and what the gate found.
struct Case {
    name: String,
    classname: String,
    outcomes: Vec<Outcome>,
    out: Vec<String>,
}

impl Case {
    /// The element that decides how the case is counted: failure, error, skipped or none.
    fn worst(&self) -> Option<&'static str> {
        ["failure", "error", "skipped"]
            .into_iter()
            .find(|e| self.outcomes.iter().any(|o| o.element == *e))
    }
}

/// The comparison as JUnit XML (UTF-8).
pub fn junit(result: &CompareResult, run: &JunitRun) -> Result<Vec<u8>, ReportError> {
    let cases = cases(result);
    let count = |e: &str| cases.iter().filter(|c| c.worst() == Some(e)).count();
    let (failures, errors, skipped) = (count("failure"), count("error"), count("skipped"));
    let tests = cases.len().to_string();
    let fail = |e: std::io::Error| ReportError::Serialize {
        format: "JUnit XML",
        message: e.to_string(),
    };
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(fail)?;
    let suite_name = "joulebench compare";
    w.create_element("testsuites")
        .with_attributes([
            ("name", suite_name),
            ("tests", tests.as_str()),
            ("failures", failures.to_string().as_str()),
            ("errors", errors.to_string().as_str()),
        ])
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attributes([
                    ("name", suite_name),
                    ("tests", tests.as_str()),
                    ("failures", failures.to_string().as_str()),
                    ("errors", errors.to_string().as_str()),
                    ("skipped", skipped.to_string().as_str()),
                    ("timestamp", clean(&run.timestamp).as_str()),
                ])
                .write_inner_content(|w| {
                    properties(w, result, run)?;
                    for case in &cases {
                        write_case(w, case)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })
        .map_err(fail)?;
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}

/// The settings and runs compared, as `<properties>`.
fn properties(
    w: &mut Writer<Vec<u8>>,
    result: &CompareResult,
    run: &JunitRun,
) -> std::io::Result<()> {
    let props = [
        ("baseline", clean(&run.baseline)),
        ("candidate", clean(&run.candidate)),
        ("threshold_pct", result.threshold_pct.to_string()),
        (
            "quality_threshold_points",
            result.quality_threshold_points.to_string(),
        ),
        ("alpha", result.alpha.to_string()),
    ];
    w.create_element("properties").write_inner_content(|w| {
        for (name, value) in &props {
            w.create_element("property")
                .with_attributes([("name", *name), ("value", value.as_str())])
                .write_empty()?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_case(w: &mut Writer<Vec<u8>>, case: &Case) -> std::io::Result<()> {
    let name = clean(&case.name);
    let classname = clean(&case.classname);
    w.create_element("testcase")
        .with_attributes([("name", name.as_str()), ("classname", classname.as_str())])
        .write_inner_content(|w| {
            for o in &case.outcomes {
                let message = clean(&o.message);
                w.create_element(o.element)
                    .with_attributes([("type", o.kind), ("message", message.as_str())])
                    .write_text_content(BytesText::new(&message))?;
            }
            if !case.out.is_empty() {
                w.create_element("system-out")
                    .write_text_content(BytesText::new(&clean(&case.out.join("\n"))))?;
            }
            Ok(())
        })?;
    Ok(())
}

/// One test case per configuration of the baseline, then one per configuration only the
/// candidate has.
fn cases(result: &CompareResult) -> Vec<Case> {
    let classname = |config: &str| {
        let task = result.tasks.get(config).map_or("unknown", String::as_str);
        format!("joulebench.{task}")
    };
    let mut out = Vec::new();
    for r in &result.rows {
        let mut case = Case {
            name: r.config.clone(),
            classname: classname(&r.config),
            outcomes: Vec::new(),
            out: vec![format!("energy: {}", energy_line(r, result))],
        };
        case.outcomes
            .extend(Outcome::of(r.verdict, Gated::Energy, || {
                energy_line(r, result)
            }));
        for q in result.quality.iter().filter(|q| q.config == r.config) {
            case.out
                .push(format!("quality: {}", quality_line(q, result)));
            case.outcomes
                .extend(Outcome::of(q.verdict, Gated::Quality, || {
                    quality_line(q, result)
                }));
        }
        if result.quality_added.contains(&r.config) {
            case.out
                .push("quality: scored in the candidate only (not gated)".to_string());
        }
        out.push(case);
    }
    for a in &result.added {
        out.push(Case {
            name: a.clone(),
            classname: classname(a),
            outcomes: vec![Outcome {
                element: "skipped",
                kind: "new",
                message: "only in the candidate run: nothing to compare with (not gated)"
                    .to_string(),
            }],
            out: Vec::new(),
        });
    }
    out
}

/// A number for a message, `–` when unknown.
fn num(v: f64, digits: usize) -> String {
    if v.is_finite() {
        sig(v, digits)
    } else {
        "–".to_string()
    }
}

/// A signed change for a message, `–` when unknown.
fn signed(v: f64, unit: &str) -> String {
    if v.is_finite() {
        format!("{v:+.2}{unit}")
    } else {
        "–".to_string()
    }
}

/// The energy comparison in words, with the verdict.
fn energy_line(r: &Comparison, result: &CompareResult) -> String {
    let note = r
        .provenance
        .note()
        .map_or_else(String::new, |n| format!(" ({n})"));
    let verdict = r.verdict.with_reason(r.reason.as_deref());
    format!(
        "{} J/inference{note} (n={}) in the baseline, {} J/inference (n={}) in the candidate: change {} (95% CI [{}, {}]), p = {} (Welch); fails when significantly worse (p < {}) by more than {}%; verdict: {verdict}",
        num(r.baseline_j, 4),
        r.baseline_n,
        num(r.candidate_j, 4),
        r.candidate_n,
        signed(r.change_pct, "%"),
        signed(r.change_ci95_low_pct, "%"),
        signed(r.change_ci95_high_pct, "%"),
        r.p_value
            .map_or_else(|| "–".to_string(), |p| format!("{p:.3}")),
        result.alpha,
        result.threshold_pct,
    )
}

/// The quality comparison in words, with the verdict.
fn quality_line(q: &QualityComparison, result: &CompareResult) -> String {
    let verdict = q.verdict.with_reason(q.reason.as_deref());
    let pct = |v: f64| {
        if v.is_finite() {
            format!("{:.1}%", v * 100.0)
        } else {
            "–".to_string()
        }
    };
    format!(
        "{} {} in the baseline, {} in the candidate over {} rows scored in both: change {} points (95% CI [{}, {}]), p = {} (Welch); fails when significantly lower (p < {}) by more than {} points; verdict: {verdict}",
        q.metric,
        pct(q.baseline),
        pct(q.candidate),
        q.rows_compared,
        signed(q.change_points, ""),
        signed(q.change_ci95_low_points, ""),
        signed(q.change_ci95_high_points, ""),
        q.p_value
            .map_or_else(|| "–".to_string(), |p| format!("{p:.3}")),
        result.alpha,
        result.quality_threshold_points,
    )
}

/// Text with the characters XML 1.0 cannot hold (control characters other than tab, line
/// feed and carriage return) replaced by U+FFFD; escaping is quick-xml's.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(clean("a\u{1}b\tc\n"), "a\u{FFFD}b\tc\n");
    }
}
