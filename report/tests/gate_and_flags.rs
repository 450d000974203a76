//! The regression gate's untested configurations, and the quality flags that keep a
//! figure from silently covering part of a run: unknown request energies, repetitions
//! missing a domain, provenance of per-request energies, and source changes in a trend.

use joulebench_report as report;
use report::compare::{CompareOptions, Verdict, compare};
use report::synthetic::Synthetic;
use std::path::Path;

/// Rewrites a CSV file of a run folder, row by row (`None` drops the row).
fn rewrite(
    path: &Path,
    mut f: impl FnMut(&csv::StringRecord, &csv::StringRecord) -> Option<Vec<String>>,
) {
    let mut reader = csv::Reader::from_path(path).expect("open");
    let header = reader.headers().expect("header").clone();
    let mut rows = Vec::new();
    for r in reader.records() {
        let r = r.expect("row");
        if let Some(new) = f(&header, &r) {
            rows.push(new);
        }
    }
    let mut w = csv::Writer::from_path(path).expect("write");
    w.write_record(&header).expect("header");
    for r in rows {
        w.write_record(&r).expect("row");
    }
    w.flush().expect("flush");
}

fn col(header: &csv::StringRecord, name: &str) -> usize {
    header.iter().position(|h| h == name).expect(name)
}

/// Makes invalid (every request failed) the repetitions of `config` for which
/// `which(rep)` is true.
fn invalidate(dir: &Path, config: &str, which: impl Fn(u32) -> bool) {
    rewrite(&dir.join("repetitions.csv"), |h, r| {
        let mut v: Vec<String> = r.iter().map(str::to_string).collect();
        let rep: u32 = v[col(h, "repetition")].parse().expect("rep");
        if v[col(h, "config")] == config && which(rep) {
            v[col(h, "failures")] = v[col(h, "requests")].clone();
        }
        Some(v)
    });
}

fn two_runs(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf, Synthetic) {
    let run = Synthetic::small();
    let (base, cand) = (tmp.join("base"), tmp.join("cand"));
    run.write(&base).expect("base");
    let mut again = run.clone();
    again.seed = 2;
    again.write(&cand).expect("cand");
    (base, cand, run)
}

#[test]
fn a_candidate_configuration_with_no_valid_repetition_is_not_tested_and_fails_with_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (base, cand, run) = two_runs(tmp.path());
    let id = run.id(1);
    invalidate(&cand, &id, |_| true);
    let result = compare(&base, &cand, &CompareOptions::default()).expect("compare");
    let row = result
        .rows
        .iter()
        .find(|r| r.config == id)
        .expect("the empty configuration is listed");
    assert_eq!(row.verdict, Verdict::NotTested);
    assert!(
        row.reason
            .as_deref()
            .is_some_and(|r| r.contains("candidate 0")),
        "{row:?}"
    );
    assert!(result.regressions().is_empty());
    assert_eq!(result.exit_code(), 2);
    let table = report::compare::table(&result);
    assert!(!table.contains("PASS"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains(&id) && l.contains("NOT TESTED")),
        "{table}"
    );
}

#[test]
fn one_valid_repetition_is_not_tested_and_fails_with_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (base, cand, run) = two_runs(tmp.path());
    let id = run.id(0);
    invalidate(&cand, &id, |rep| rep > 1);
    let result = compare(&base, &cand, &CompareOptions::default()).expect("compare");
    let row = result.rows.iter().find(|r| r.config == id).expect("listed");
    assert_eq!(row.verdict, Verdict::NotTested);
    assert_eq!(row.candidate_n, 1);
    assert!(
        row.reason
            .as_deref()
            .is_some_and(|r| r.contains("fewer than 2")),
        "{row:?}"
    );
    assert_eq!(result.exit_code(), 2);
    // The same on the baseline side.
    let (base2, cand2) = (tmp.path().join("b2"), tmp.path().join("c2"));
    run.write(&base2).expect("b2");
    run.write(&cand2).expect("c2");
    invalidate(&base2, &id, |rep| rep > 1);
    let result = compare(&base2, &cand2, &CompareOptions::default()).expect("compare");
    assert_eq!(result.exit_code(), 2);
}

#[test]
fn a_regression_still_exits_1_and_lists_the_untested() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let run = Synthetic::small();
    let (base, cand) = (tmp.path().join("base"), tmp.path().join("cand"));
    run.write(&base).expect("base");
    let mut worse = run.clone();
    worse.seed = 3;
    worse.configs[1].gpu_active_w +=
        0.10 * (run.gpu_idle_w + run.configs[1].gpu_active_w + run.cpu_w);
    // And the third configuration missing from the candidate.
    worse.configs.truncate(2);
    worse.write(&cand).expect("cand");
    let result = compare(&base, &cand, &CompareOptions::default()).expect("compare");
    assert_eq!(result.exit_code(), 1);
    let missing = result
        .rows
        .iter()
        .find(|r| r.config == run.id(2))
        .expect("missing configuration listed");
    assert_eq!(missing.verdict, Verdict::NotTested);
    assert!(
        missing
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("absent"))
    );
    let table = report::compare::table(&result);
    assert!(table.contains("FAIL: 1"), "{table}");
    assert!(table.contains("Also not tested"), "{table}");
}

#[test]
fn a_counter_going_back_without_power_makes_request_energy_unknown_and_flagged() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let run = Synthetic::small();
    run.write(dir).expect("run");
    // Drop `power_w` (optional) and send the GPU counter back once, mid-run.
    let mut gpu_rows = 0;
    let mut reset_at = None;
    let total_gpu = run.sample_count() / 2;
    let samples = dir.join("samples.csv");
    let mut reader = csv::Reader::from_path(&samples).expect("open");
    let header = reader.headers().expect("header").clone();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| &header[i] != "power_w")
        .collect();
    let mut out = csv::Writer::from_path(dir.join("samples.new")).expect("write");
    out.write_record(keep.iter().map(|&i| &header[i]))
        .expect("header");
    for r in reader.records() {
        let r = r.expect("row");
        let mut v: Vec<String> = keep.iter().map(|&i| r[i].to_string()).collect();
        if r[col(&header, "domain")] == *"gpu0" {
            gpu_rows += 1;
            if gpu_rows > total_gpu / 2 {
                let e: f64 = v[col(&header, "energy_j")].parse().expect("energy");
                let base = *reset_at.get_or_insert(e);
                v[col(&header, "energy_j")] = (e - base).to_string();
            }
        }
        out.write_record(&v).expect("row");
    }
    out.flush().expect("flush");
    drop(out);
    std::fs::rename(dir.join("samples.new"), &samples).expect("rename");

    let report = crate::render_without_plots(dir).expect("render");
    let unknown: u64 = report.rows().map(|r| r.requests_energy_unknown).sum();
    assert!(unknown >= 1, "a request spans the reset");
    let flagged: Vec<_> = report
        .rows()
        .filter(|r| r.requests_energy_unknown > 0)
        .collect();
    for row in &flagged {
        let text = format!(
            "request-energy-unknown({} of {})",
            row.requests_energy_unknown,
            u64::from(run.requests) * u64::from(run.repetitions)
        );
        assert!(row.flags.contains(&text), "{}", row.flags);
    }
    let json = std::fs::read_to_string(dir.join("summary.json")).expect("json");
    assert!(
        json.contains("\"flag\": \"request-energy-unknown\""),
        "{json}"
    );
    // The request's energy is empty, not 0 J.
    let energy = std::fs::read_to_string(dir.join("request_energy.csv")).expect("energy");
    let mut reader = csv::Reader::from_reader(energy.as_bytes());
    let h = reader.headers().expect("header").clone();
    let empty = reader
        .records()
        .map(|r| r.expect("row"))
        .filter(|r| r[col(&h, "energy_j")].is_empty())
        .count() as u64;
    assert_eq!(empty, unknown);
}

#[test]
fn request_energy_csv_says_where_its_figures_come_from() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (name, estimated, want) in [("m", false, "measured"), ("e", true, "mixed")] {
        let dir = tmp.path().join(name);
        let mut run = Synthetic::small();
        run.cpu_estimated = estimated;
        run.write(&dir).expect("run");
        crate::render_without_plots(&dir).expect("render");
        let mut reader = csv::Reader::from_path(dir.join("request_energy.csv")).expect("open");
        let h = reader.headers().expect("header").clone();
        let c = col(&h, "source");
        let mut n = 0;
        for r in reader.records() {
            assert_eq!(&r.expect("row")[c], want);
            n += 1;
        }
        assert!(n > 0);
    }
}

#[test]
fn a_repetition_missing_a_counted_domain_is_flagged_and_excluded() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let run = Synthetic::small();
    run.write(dir).expect("run");
    let id = run.id(0);
    // Repetition 5 of the first configuration was resumed without the CPU probe.
    rewrite(&dir.join("repetitions.csv"), |h, r| {
        let drop = r[col(h, "config")] == *id
            && r[col(h, "repetition")] == *"5"
            && r[col(h, "source")] == *"rapl";
        (!drop).then(|| r.iter().map(str::to_string).collect())
    });
    let report = crate::render_without_plots(dir).expect("render");
    let row = report.rows().find(|r| r.config == id).expect("summarised");
    assert_eq!(row.repetitions, 4, "repetition 5 is excluded");
    assert!(
        row.flags
            .contains("domains-differ(rep 5 lack rapl/package-0; excluded)"),
        "{}",
        row.flags
    );
    assert!(!row.flags.contains("invalid("), "{}", row.flags);
}

#[test]
fn a_trend_across_a_change_of_source_computes_no_change_and_says_so() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    Synthetic::small().write(&a).expect("a");
    let mut est = Synthetic::small();
    est.cpu_estimated = true;
    est.seed = 2;
    est.write(&b).expect("b");
    let out = tmp.path().join("trend");
    let rows = report::render::trend(&[a, b], &out, None).expect("trend");
    let second: Vec<_> = rows.iter().filter(|r| r.run == 1).collect();
    assert!(!second.is_empty());
    for r in second {
        assert_eq!(r.provenance.as_str(), "mixed");
        assert_eq!(r.change_from_first_pct, None, "{r:?}");
        assert!(
            r.note.contains("source changed from measured to mixed"),
            "{r:?}"
        );
    }
    for r in rows.iter().filter(|r| r.run == 0) {
        assert_eq!(r.change_from_first_pct, Some(0.0));
        assert_eq!(r.provenance.as_str(), "measured");
    }
    let svg = std::fs::read_to_string(out.join("trend.svg")).expect("svg");
    assert!(svg.contains("[source changes: measured → mixed]"), "legend");
    let md = std::fs::read_to_string(out.join("trend.md")).expect("md");
    assert!(md.contains("no change computed"), "{md}");
}

/// The window (t_start_ns, t_end_ns) of one repetition of a configuration.
fn window(dir: &Path, config: &str, repetition: &str) -> (u64, u64) {
    let mut reader = csv::Reader::from_path(dir.join("repetitions.csv")).expect("open");
    let h = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| r.expect("row"))
        .find(|r| r[col(&h, "config")] == *config && r[col(&h, "repetition")] == *repetition)
        .map(|r| {
            (
                r[col(&h, "t_start_ns")].parse().expect("start"),
                r[col(&h, "t_end_ns")].parse().expect("end"),
            )
        })
        .expect("the repetition")
}

#[test]
fn sampler_gaps_are_flagged_and_an_unseen_wrap_excludes_the_repetition() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let run = Synthetic::small();
    run.write(dir).expect("run");
    let id = run.id(0);
    let (s2, e2) = window(dir, &id, "2");
    let (s3, e3) = window(dir, &id, "3");
    let mut gaps = csv::Writer::from_path(dir.join("sampler_gaps.csv")).expect("gaps");
    for (start, end, missed) in [
        (s2 + (e2 - s2) / 4, s2 + (e2 - s2) / 2, true),
        (s3 + (e3 - s3) / 3, s3 + (e3 - s3) / 2, false),
    ] {
        gaps.serialize(records::raw::SamplerGapRecord {
            source: "rapl".into(),
            t_start_ns: start,
            t_end_ns: end,
            errors: 12,
            error: "EIO".into(),
            open: false,
            keep_alive_missed: missed,
        })
        .expect("row");
    }
    gaps.flush().expect("flush");
    let report = crate::render_without_plots(dir).expect("render");
    let row = report.rows().find(|r| r.config == id).expect("summarised");
    assert_eq!(row.repetitions, 4, "repetition 2 is excluded");
    assert!(
        row.flags.contains("wrap-unseen(rep 2: rapl; excluded)"),
        "{}",
        row.flags
    );
    assert!(
        row.flags.contains("sampler-gap(rep 2,3: rapl)"),
        "{}",
        row.flags
    );
    let other = report
        .rows()
        .find(|r| r.config == run.id(1))
        .expect("summarised");
    assert!(!other.flags.contains("sampler-gap"), "{}", other.flags);
}

/// Sets one cell of a CSV file of a run folder: data row `row` (0-based, file line
/// `row + 2`), `column`.
fn set_cell(path: &Path, row: usize, column: &str, value: &str) {
    let mut i = 0;
    rewrite(path, |h, r| {
        let mut v: Vec<String> = r.iter().map(str::to_string).collect();
        if i == row {
            v[col(h, column)] = value.to_string();
        }
        i += 1;
        Some(v)
    });
}

#[test]
fn a_corrupted_figure_in_any_raw_file_is_refused_naming_file_line_and_column() {
    let cases = [
        ("repetitions.csv", "energy_j", "NaN", "NaN is not a number"),
        ("repetitions.csv", "duration_s", "-1", "-1 is negative"),
        ("baselines.csv", "power_w", "inf", "inf is infinite"),
        ("baselines.csv", "energy_j", "-0.5", "-0.5 is negative"),
        ("requests.csv", "latency_ms", "-inf", "-inf is infinite"),
        ("samples.csv", "energy_j", "NaN", "NaN is not a number"),
        ("samples.csv", "power_w", "-2", "-2 is negative"),
    ];
    for (file, column, value, why) in cases {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        Synthetic::small().write(dir).expect("run");
        set_cell(&dir.join(file), 3, column, value);
        let err = crate::render_without_plots(dir).expect_err(file);
        let text = err.to_string();
        let place = format!("{file}, line 5, field `{column}`: {why}");
        assert!(text.contains(&place), "{file} {column} {value}: {text}");
        assert!(
            text.contains("corrupted") && text.contains("--resume"),
            "{text}"
        );
    }
}

#[test]
fn the_gate_refuses_a_non_finite_energy_instead_of_passing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (base, cand, _) = two_runs(tmp.path());
    set_cell(&cand.join("repetitions.csv"), 0, "energy_j", "inf");
    let err = compare(&base, &cand, &CompareOptions::default()).expect_err("no verdict");
    assert!(
        err.to_string()
            .contains("repetitions.csv, line 2, field `energy_j`: inf is infinite"),
        "{err}"
    );
}

#[test]
fn a_negative_net_energy_is_a_figure_not_a_corruption() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    Synthetic::small().write(dir).expect("run");
    // An idle baseline above the load makes the net energy negative: kept, not refused.
    rewrite(&dir.join("baselines.csv"), |h, r| {
        let mut v: Vec<String> = r.iter().map(str::to_string).collect();
        v[col(h, "power_w")] = "1000000".to_string();
        Some(v)
    });
    let report = crate::render_without_plots(dir).expect("render");
    assert!(
        report
            .configs
            .iter()
            .flat_map(|c| c.repetitions.values())
            .flat_map(|r| r.domains.values())
            .any(|w| w.net_energy_j.is_some_and(|n| n < 0.0)),
        "a negative net energy is kept"
    );
}
