//! Carbon over time: each repetition's intensity from the run folder's hourly series
//! (apportioned across hours), the out-of-coverage flag, the what-ifs (cleanest window,
//! other zones), `slurm --forecast`, and suite errors about the series.

use crate::common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{
    GOOD_SUITE, csv_rows, dry_run_at, joulebench, manifest, one_model_suite, openai_server,
    run_in_ok, suite_dir,
};
use records::carbon::Basis;
use records::manifest::{CarbonSeriesInfo, RunManifest};
use report::synthetic::Synthetic;
use std::collections::BTreeMap;
use std::path::Path;

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn hour(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A plain series: `zone` from `start`, one value per hour.
fn series(zones: &[(&str, DateTime<Utc>, Vec<f64>)]) -> String {
    let mut out = String::from("datetime,zone,intensity\n");
    for (zone, start, values) in zones {
        for (i, v) in values.iter().enumerate() {
            out.push_str(&format!(
                "{},{zone},{v}\n",
                hour(*start + Duration::hours(i as i64))
            ));
        }
    }
    out
}

/// The synthetic small run in `dir` with its clock zero at `epoch`, the hourly `csv` as
/// its series (run in `zone`), the constant intensity `constant`; rendered.
fn run_with_series(dir: &Path, epoch: DateTime<Utc>, csv: &str, zone: &str, constant: Option<f64>) {
    Synthetic::small().write(dir).expect("write run");
    let mut m = RunManifest::load(dir).expect("run.json");
    m.clock_epoch_utc = epoch.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    m.carbon_intensity_g_per_kwh = constant.unwrap_or(f64::NAN);
    m.carbon_series = Some(CarbonSeriesInfo {
        zone: zone.to_string(),
        basis: Basis::Lca,
        sources: vec!["test series".into()],
        zones: vec![zone.to_string()],
    });
    m.save(dir).expect("save run.json");
    std::fs::write(dir.join("carbon_intensity.csv"), csv).expect("series");
    let o = joulebench()
        .arg("report")
        .arg(dir)
        .arg("--no-plots")
        .output()
        .expect("joulebench report");
    assert!(o.status.success(), "{}", text(&o));
}

/// One repetition's window (ns, run clock), counted energy (J) and requests.
#[derive(Debug, Default)]
struct Rep {
    start: u64,
    end: u64,
    energy_j: f64,
    requests: f64,
}

/// Every repetition of `repetitions.csv`, by (config, number).
fn reps(dir: &Path) -> BTreeMap<(String, String), Rep> {
    let mut out: BTreeMap<(String, String), Rep> = BTreeMap::new();
    for r in csv_rows(&dir.join("repetitions.csv")) {
        let e = out
            .entry((r["config"].clone(), r["repetition"].clone()))
            .or_insert(Rep {
                start: u64::MAX,
                ..Rep::default()
            });
        let n = |k: &str| r[k].parse::<f64>().expect(k);
        e.start = e.start.min(r["t_start_ns"].parse().expect("start"));
        e.end = e.end.max(r["t_end_ns"].parse().expect("end"));
        if r["counts_in_total"] == "true" {
            e.energy_j += n("energy_j");
        }
        e.requests = n("requests");
    }
    out
}

fn number(row: &BTreeMap<String, String>, key: &str) -> f64 {
    row[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key} = {:?}", row[key]))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .expect("time")
}

#[test]
fn the_cleanest_window_is_the_known_valley_and_other_zones_scale() {
    // Zone A: 100 g/kWh for 48 h but hours 30 and 31 at 50; zone B: 200 throughout. The
    // run (minutes long) starts in hour 5.
    let a: Vec<f64> = (0..48)
        .map(|h| if h == 30 || h == 31 { 50.0 } else { 100.0 })
        .collect();
    let csv = series(&[("A", t0(), a), ("B", t0(), vec![200.0; 48])]);
    let dir = tempfile::tempdir().expect("temp dir");
    run_with_series(dir.path(), t0() + Duration::hours(5), &csv, "A", None);
    let rows = csv_rows(&dir.path().join("summary.csv"));
    assert_eq!(rows.len(), 3);
    for row in &rows {
        let actual = number(row, "gco2e_per_1000");
        assert_eq!(
            row["whatif_cleanest_start_utc"], "2030-01-02T06:00:00Z",
            "{row:?}"
        );
        let whatif = number(row, "whatif_cleanest_gco2e_per_1000");
        assert!((whatif / actual - 0.5).abs() < 1e-9, "{whatif} vs {actual}");
        assert!((number(row, "whatif_cleanest_saving_pct") - 50.0).abs() < 1e-6);
        let b: f64 = row["whatif_other_zones_gco2e_per_1000"]
            .strip_prefix("B=")
            .and_then(|v| v.parse().ok())
            .expect("B=value");
        assert!((b / actual - 2.0).abs() < 1e-9, "{b} vs {actual}");
        assert!(
            !row["flags"].contains("carbon-outside-series"),
            "{}",
            row["flags"]
        );
        assert!(!row["flags"].contains("gco2-unknown"), "{}", row["flags"]);
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("summary.json")).expect("json"),
    )
    .expect("JSON");
    let c = &json["carbon_over_time"];
    let run_g = c["run_gco2e"].as_f64().expect("run gCO2eq");
    assert_eq!(c["whatif_cleanest"]["start_utc"], "2030-01-02T06:00:00Z");
    assert!((c["whatif_cleanest"]["saving_pct"].as_f64().expect("saving") - 50.0).abs() < 1e-6);
    assert_eq!(c["whatif_zones"][0]["zone"], "B");
    let b = c["whatif_zones"][0]["run_gco2e"].as_f64().expect("B");
    assert!((b / run_g - 2.0).abs() < 1e-9);
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("md");
    assert!(md.contains("## Carbon over time (what-if)"), "{md}");
    assert!(md.contains("what-if, the cleanest"), "{md}");
    assert!(md.contains("| B "), "other zone B in the table: {md}");
    assert!(md.contains("saving 50.0%"), "{md}");
    // emissions.csv prices each configuration's energy with the series, as summary.csv.
    let emissions = csv_rows(&dir.path().join("emissions.csv"));
    for (e, row) in emissions.iter().zip(&rows) {
        let inferences = number(row, "inferences");
        let g_per_1000 = number(e, "emissions") * 1e6 / inferences;
        let want = number(row, "gco2e_per_1000");
        assert!(
            (g_per_1000 / want - 1.0).abs() < 1e-9,
            "{g_per_1000} vs {want}"
        );
    }
}

#[test]
fn a_repetition_across_an_hour_boundary_takes_each_hour_by_its_time() {
    let probe = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(probe.path()).expect("write run");
    let all = reps(probe.path());
    let (key, first) = all.iter().next().expect("a repetition");
    let boundary = t0() + Duration::hours(10);
    // The clock zero puts the hour boundary in the middle of this repetition.
    let mid = (first.start + first.end) / 2;
    let epoch = boundary - Duration::nanoseconds(mid as i64);
    let values: Vec<f64> = (0..20)
        .map(|h| if h < 10 { 100.0 } else { 300.0 })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    run_with_series(
        dir.path(),
        epoch,
        &series(&[("A", t0(), values)]),
        "A",
        None,
    );
    let pue = 1.2;
    let mid_ns = mid as f64;
    let intensity = |r: &Rep| {
        let (s, e) = (r.start as f64, r.end as f64);
        if e <= mid_ns {
            100.0
        } else if s >= mid_ns {
            300.0
        } else {
            (100.0 * (mid_ns - s) + 300.0 * (e - mid_ns)) / (e - s)
        }
    };
    assert!((intensity(first) - 200.0).abs() < 1e-6, "half in each hour");
    let rows = csv_rows(&dir.path().join("summary.csv"));
    let row = rows.iter().find(|r| r["config"] == key.0).expect("row");
    let mine: Vec<&Rep> = all
        .iter()
        .filter(|(k, _)| k.0 == key.0)
        .map(|(_, r)| r)
        .collect();
    let expected = mine
        .iter()
        .map(|r| r.energy_j / r.requests * 1000.0 / 3.6e6 * pue * intensity(r))
        .sum::<f64>()
        / mine.len() as f64;
    let got = number(row, "gco2e_per_1000");
    assert!((got / expected - 1.0).abs() < 1e-9, "{got} vs {expected}");
}

#[test]
fn a_repetition_outside_the_series_is_flagged_with_the_figure_used() {
    // The series ends at hour 6; the run starts 10 minutes before it and lasts minutes.
    let csv = series(&[("A", t0(), vec![100.0; 6])]);
    let epoch = t0() + Duration::hours(6) - Duration::minutes(1);
    let none = tempfile::tempdir().expect("temp dir");
    run_with_series(none.path(), epoch, &csv, "A", None);
    let rows = csv_rows(&none.path().join("summary.csv"));
    let flagged: Vec<_> = rows
        .iter()
        .filter(|r| r["flags"].contains("carbon-outside-series(rep"))
        .collect();
    assert!(!flagged.is_empty(), "{rows:?}");
    for r in &flagged {
        assert!(
            r["flags"].contains("outside the A series; no intensity: gCO2eq not computed"),
            "{}",
            r["flags"]
        );
        assert_eq!(
            r["gco2e_per_1000"], "NaN",
            "not computed, as for gco2-unknown; no silent fallback"
        );
        assert_eq!(
            r["whatif_cleanest_saving_pct"], "",
            "no saving against a figure not from the series"
        );
    }
    let with = tempfile::tempdir().expect("temp dir");
    run_with_series(with.path(), epoch, &csv, "A", Some(400.0));
    let rows = csv_rows(&with.path().join("summary.csv"));
    let flagged: Vec<_> = rows
        .iter()
        .filter(|r| r["flags"].contains("carbon-outside-series(rep"))
        .collect();
    assert!(!flagged.is_empty());
    for r in &flagged {
        assert!(
            r["flags"].contains("constant 400 g/kWh used"),
            "{}",
            r["flags"]
        );
        assert!(number(r, "gco2e_per_1000") > 0.0);
    }
    // The run's total took the constant for some repetitions: no run-level saving either.
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(with.path().join("summary.json")).expect("json"),
    )
    .expect("JSON");
    let cleanest = &json["carbon_over_time"]["whatif_cleanest"];
    assert!(
        cleanest["saving_pct"].is_null(),
        "no saving against a total partly from the constant: {cleanest}"
    );
}

#[test]
fn the_bundled_sample_gives_a_what_if() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/carbon/synthetic-week.csv");
    let csv = std::fs::read_to_string(&sample).expect("bundled sample");
    let dir = tempfile::tempdir().expect("temp dir");
    // As if the run had started 2030-01-09 19:00 UTC (evening, no sun) in the solar zone.
    let epoch = Utc
        .with_ymd_and_hms(2030, 1, 9, 19, 0, 0)
        .single()
        .expect("time");
    run_with_series(dir.path(), epoch, &csv, "SYN-SOLAR", None);
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("md");
    let section = &md[md.find("## Carbon over time").expect("section")..];
    println!("{section}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("summary.json")).expect("json"),
    )
    .expect("JSON");
    let c = &json["carbon_over_time"];
    let start = c["whatif_cleanest"]["start_utc"].as_str().expect("start");
    // The cleanest hour of a solar grid is around midday.
    let hour: u32 = start
        .get(11..13)
        .and_then(|h| h.parse().ok())
        .expect("an hour");
    assert!(
        start.starts_with("2030-01-") && (10..=16).contains(&hour),
        "{start}"
    );
    let saving = c["whatif_cleanest"]["saving_pct"].as_f64().expect("saving");
    assert!(saving > 0.0 && saving < 100.0, "{saving}");
    let zones: Vec<&str> = c["whatif_zones"]
        .as_array()
        .expect("zones")
        .iter()
        .filter_map(|z| z["zone"].as_str())
        .collect();
    assert_eq!(zones, ["SYN-FOSSIL", "SYN-WIND"]);
}

/// `joulebench slurm` on a small loopback-free suite with `args`, in a temp folder.
fn slurm(args: &[&str], forecast: &str) -> (tempfile::TempDir, std::process::Output) {
    let (dir, suite) = suite_dir(GOOD_SUITE, 5);
    let file = dir.path().join("forecast.csv");
    std::fs::write(&file, forecast).expect("forecast");
    let o = joulebench()
        .arg("slurm")
        .arg(&suite)
        .args(["--shards", "2", "--results"])
        .arg(dir.path().join("results"))
        .arg("--forecast")
        .arg(&file)
        .args(args)
        .output()
        .expect("joulebench slurm");
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    (dir, o)
}

#[test]
fn slurm_begins_at_the_cleanest_window_of_the_forecast() {
    let now = Utc::now();
    let first = now
        - Duration::nanoseconds(now.timestamp_subsec_nanos().into())
        - Duration::seconds(now.timestamp() % 3600)
        + Duration::hours(1);
    let values: Vec<f64> = (0..48)
        .map(|h| if h == 20 || h == 21 { 50.0 } else { 300.0 })
        .collect();
    let forecast = series(&[("Z", first, values)]);
    let want = (first + Duration::hours(20))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    for args in [&["--window-hours", "2"][..], &[][..]] {
        let (dir, o) = slurm(args, &forecast);
        assert!(o.status.success(), "{}", text(&o));
        let script =
            std::fs::read_to_string(dir.path().join("results/shards.sbatch")).expect("script");
        assert!(
            script.contains(&format!("#SBATCH --begin={want}\n")),
            "{script}"
        );
        assert!(text(&o).contains("cleanest"), "{}", text(&o));
        let submit = std::fs::read_to_string(dir.path().join("results/submit.sh")).expect("submit");
        assert!(submit.contains("TZ=UTC sbatch"), "{submit}");
    }
    let (_dir, o) = slurm(&["--window-hours", "100"], &forecast);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("holds no 100-hour window"),
        "{}",
        text(&o)
    );
}

/// `GOOD_SUITE` with a `[carbon]` table and `ci.csv` beside it; the dry run's result.
fn with_series(carbon: &str, csv: &str) -> (i32, String, String) {
    let suite = format!("{GOOD_SUITE}\n[carbon]\n{carbon}\n");
    let (dir, path) = suite_dir(&suite, 3);
    std::fs::write(dir.path().join("ci.csv"), csv).expect("series");
    dry_run_at(&path)
}

#[test]
fn bad_series_are_refused_naming_suite_key_file_line_and_fix() {
    let ok = "datetime,zone,intensity\n2030-01-01T00:00:00Z,A,100\n2030-01-01T01:00:00Z,A,90\n\
              2030-01-01T00:00:00Z,B,300\n2030-01-01T01:00:00Z,B,280\n";
    let (code, out, err) = with_series("series = \"ci.csv\"\nzone = \"A\"", ok);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("carbon: hourly series"), "{out}");
    assert!(out.contains("run in A"), "{out}");
    assert!(
        out.contains("a repetition outside the series: no intensity"),
        "{out}"
    );
    let cases = [
        (
            ok.replace("A,90", "A,-5"),
            "ci.csv:3:3: field `intensity`: expected a number of gCO2eq/kWh from 0 to 5000",
        ),
        (
            ok.replace("A,90", "A,n/a"),
            "ci.csv:3:3: field `intensity`: expected a number",
        ),
        (
            ok.replace("01T01:00:00Z,A", "01T02:00:00Z,A"),
            "gap in zone A: 1 hour(s) missing",
        ),
        (
            ok.replace("01T01:00:00Z,A", "01T00:00:00Z,A"),
            "duplicate hour 2030-01-01T00:00:00Z of zone A",
        ),
        (
            "datetime,zone,intensity\n2030-01-01T01:00:00Z,A,1\n2030-01-01T00:00:00Z,A,2\n"
                .to_string(),
            "are not in time order",
        ),
        (
            ok.replace("01T01:00:00Z,A", "01T01:30:00Z,A"),
            "expected the start of an hour",
        ),
        (
            "when,where,what\n".to_string(),
            "neither an Electricity Maps hourly export",
        ),
    ];
    for (csv, want) in cases {
        let (code, _, err) = with_series("series = \"ci.csv\"\nzone = \"A\"", &csv);
        assert_ne!(code, 0);
        assert!(err.contains("key `carbon.series`"), "{err}");
        assert!(err.contains(want), "want {want:?} in {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let (code, _, err) = with_series("series = \"ci.csv\"\nzone = \"a\"", ok);
    assert_ne!(code, 0);
    assert!(err.contains("key `carbon.zone`"), "{err}");
    assert!(
        err.contains("unknown zone \"a\": the series has A, B; did you mean \"A\"?"),
        "{err}"
    );
    let (code, _, err) = with_series("series = \"ci.csv\"", ok);
    assert_ne!(code, 0);
    assert!(err.contains("several zones (A, B)"), "{err}");
    let (code, _, err) = with_series("zone = \"A\"", ok);
    assert_ne!(code, 0);
    assert!(err.contains("[carbon] has no `series`"), "{err}");
}

/// `joulebench run --quiet --shard I/2 --out OUT SUITE`, asserting success.
fn run_shard(suite: &Path, out: &Path, shard: &str) {
    let o = joulebench()
        .args(["run", "--quiet", "--shard", shard, "--out"])
        .arg(out)
        .arg(suite)
        .output()
        .expect("joulebench run");
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_run_keeps_its_series_and_merged_shards_must_agree_on_it() {
    let server = openai_server();
    let now = Utc::now();
    let start = now - Duration::seconds(now.timestamp() % 3600) - Duration::hours(2);
    let csv = series(&[("A", start, vec![100.0; 6]), ("B", start, vec![200.0; 6])]);
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        "inferences = 3\nrepetitions = 2\nwarmup = 1",
        "[carbon]\nseries = \"ci.csv\"\nzone = \"A\"\n",
    );
    let (dir, path) = suite_dir(&suite, 5);
    std::fs::write(dir.path().join("ci.csv"), &csv).expect("series");
    let out = run_in_ok(dir.path(), &path);
    // The folder alone re-renders: the series is there, run.json names the zone.
    let copy = records::carbon::read(&out.join("carbon_intensity.csv"), Basis::Lca).expect("copy");
    assert_eq!(copy.zone("B").map(|z| z.values.len()), Some(6));
    let m = manifest(&out);
    assert_eq!(m["carbon_series"]["zone"], "A");
    assert!(
        m["carbon_intensity_g_per_kwh"].is_null(),
        "no constant written: none"
    );
    let rows = csv_rows(&out.join("summary.csv"));
    let actual = number(&rows[0], "gco2e_per_1000");
    let b: f64 = rows[0]["whatif_other_zones_gco2e_per_1000"]
        .strip_prefix("B=")
        .and_then(|v| v.parse().ok())
        .expect("B=value");
    assert!(
        actual > 0.0 && (b / actual - 2.0).abs() < 1e-9,
        "{actual} {b}"
    );
    assert!(
        !rows[0]["flags"].contains("carbon-outside-series"),
        "{}",
        rows[0]["flags"]
    );

    let (s0, s1) = (dir.path().join("s0"), dir.path().join("s1"));
    run_shard(&path, &s0, "0/2");
    run_shard(&path, &s1, "1/2");
    let merge = |out: &str| {
        joulebench()
            .args(["report", "--merge"])
            .arg(&s0)
            .arg(&s1)
            .arg("--out")
            .arg(dir.path().join(out))
            .output()
            .expect("merge")
    };
    let o = merge("merged");
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.path().join("merged/carbon_intensity.csv").is_file());
    let merged = csv_rows(&dir.path().join("merged/summary.csv"));
    assert!(number(&merged[0], "gco2e_per_1000") > 0.0);
    let changed = std::fs::read_to_string(s1.join("carbon_intensity.csv"))
        .expect("shard copy")
        .replacen(",B,200", ",B,201", 1);
    std::fs::write(s1.join("carbon_intensity.csv"), changed).expect("rewrite");
    let o = merge("merged-bad");
    assert!(!o.status.success());
    assert!(
        text(&o).contains("the [carbon] series changed between shards"),
        "{}",
        text(&o)
    );
}
