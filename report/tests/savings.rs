//! The savings of variants against their baseline: `savings.csv` ratios and Fieller CIs
//! checked against values computed here, the unbounded case, the estimated label and the
//! plot.

use super::report;
use records::labels::{ClassLabel, Provenance};
use records::manifest::RunManifest;
use records::models::{ModelInfo, Technique};
use records::raw::RepetitionRecord;
use report::synthetic::{SynthConfig, Synthetic};
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::HashMap;
use std::path::Path;

/// Known energy per inference (J) of each repetition, by model.
const ENERGIES: [(&str, [f64; 5]); 5] = [
    ("base", [10.0, 12.0, 11.0, 9.0, 13.0]),
    ("q8", [7.0, 7.5, 6.5, 7.2, 6.8]),
    ("q4", [5.0, 6.0, 5.5, 4.5, 6.5]),
    // A baseline whose mean cannot be told from 0: its variant's CI is unbounded.
    ("noisy", [0.1, 5.0, 0.1, 0.1, 0.1]),
    ("noisy-v", [1.0, 1.1, 0.9, 1.0, 1.0]),
];

fn config(model: &str, ticks: u64, tokens: Option<u64>) -> SynthConfig {
    SynthConfig {
        model: model.into(),
        task: "text-generation".into(),
        dataset: "chat".into(),
        class: ClassLabel::GeneralPurpose,
        parameters: Some(135_000_000),
        gpu_active_w: 100.0,
        request_ticks: ticks,
        output_tokens: tokens,
    }
}

/// A synthetic run of the five models, its energies replaced by [`ENERGIES`] (all
/// estimated), its manifest declaring the variants, and a server's `/v1/models` facts.
fn write_run(dir: &Path) {
    let mut synth = Synthetic::small();
    synth.configs = vec![
        config("base", 40, Some(16)),
        config("q8", 30, Some(16)),
        config("q4", 20, Some(16)),
        config("noisy", 20, None),
        config("noisy-v", 20, None),
    ];
    synth.write(dir).expect("synthetic run");
    let path = dir.join(records::files::REPETITIONS_CSV);
    let mut rows: Vec<RepetitionRecord> = records::table_io::read_csv(&path)
        .expect("repetitions")
        .collect::<Result<_, _>>()
        .expect("rows");
    let known: HashMap<&str, [f64; 5]> = ENERGIES.into_iter().collect();
    let mut first_domain: HashMap<(String, u32), String> = HashMap::new();
    for r in &mut rows {
        r.provenance = Provenance::Estimated;
        let first = first_domain
            .entry((r.config.clone(), r.repetition))
            .or_insert_with(|| r.domain.clone());
        r.energy_j = if *first == r.domain && r.counts_in_total {
            known[r.model.as_str()][r.repetition as usize - 1] * f64::from(r.requests)
        } else {
            0.0
        };
    }
    records::table_io::write_csv(&path, &rows).expect("rewrite");
    let mut manifest = RunManifest::load(dir).expect("run.json");
    for p in &mut manifest.probes {
        p.provenance = Provenance::Estimated;
    }
    let model = |name: &str, of: Option<&str>, bytes: Option<u64>| ModelInfo {
        name: name.into(),
        served_name: name.into(),
        server: "ref".into(),
        variant_of: of.map(str::to_string),
        techniques: of.map_or_else(Vec::new, |_| vec![Technique::Quantization]),
        parameters: Some(135_000_000),
        active_parameters: None,
        weight_bytes: bytes,
    };
    manifest.models = Some(vec![
        model("base", None, Some(540_000_000)),
        model("q8", Some("base"), Some(143_000_000)),
        model("q4", Some("base"), None),
        model("noisy", None, None),
        model("noisy-v", Some("noisy"), None),
    ]);
    manifest.save(dir).expect("save run.json");
    let servers = dir.join(records::files::SERVER_LOGS_DIR);
    std::fs::create_dir_all(&servers).expect("servers");
    std::fs::write(
        servers.join("ref.models.json"),
        r#"{"server":"ref","url":"http://h/v1/models","models":[
          {"model":"q4","served_name":"q4","parameters":1,"weights":{"format":"q4_0","bytes":76000000,"bits_per_weight":4.5,"fallbacks":[]},"entry":{}},
          {"model":"base","served_name":"base","weights":{"format":"f32","bytes":1},"entry":{}}]}"#,
    )
    .expect("server facts");
}

/// Fieller's ratio and bounds of `variant` over `baseline`, computed here from the formula.
fn fieller(baseline: &[f64], variant: &[f64]) -> (f64, Option<(f64, f64)>) {
    let stats = |v: &[f64]| {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let s2 = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, s2 / n, n)
    };
    let (mx, vx, nx) = stats(baseline);
    let (my, vy, ny) = stats(variant);
    let r = my / mx;
    let df = (vy + r * r * vx).powi(2) / (vy * vy / (ny - 1.0) + r.powi(4) * vx * vx / (nx - 1.0));
    let t = StudentsT::new(0.0, 1.0, df).expect("t").inverse_cdf(0.975);
    let a = mx * mx - t * t * vx;
    if a <= 0.0 {
        return (r, None);
    }
    let b = -2.0 * mx * my;
    let c = my * my - t * t * vy;
    let d = (b * b - 4.0 * a * c).sqrt();
    (r, Some(((-b - d) / (2.0 * a), (-b + d) / (2.0 * a))))
}

/// `savings.csv` as rows of column → cell, by variant model.
fn savings(dir: &Path) -> HashMap<String, HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join("savings.csv")).expect("savings.csv");
    let headers = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            let row: HashMap<String, String> = headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            (row["model"].clone(), row)
        })
        .collect()
}

fn number(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column}: {:?}", row[column]))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn variants_are_reported_as_ratios_to_their_baseline_with_fieller_intervals() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_run(dir.path());
    report::render(dir.path()).expect("render");
    let rows = savings(dir.path());
    assert_eq!(rows.len(), 3, "one row per variant configuration: {rows:?}");
    let known: HashMap<&str, [f64; 5]> = ENERGIES.into_iter().collect();
    for variant in ["q8", "q4"] {
        let row = &rows[variant];
        assert_eq!(row["baseline"], "base");
        assert_eq!(row["baseline_config"], "base@chat");
        assert_eq!(row["techniques"], "quantization");
        let (ratio, ci) = fieller(&known["base"], &known[variant]);
        let (low, high) = ci.expect("bounded");
        assert!(close(number(row, "energy_ratio"), ratio), "{row:?}");
        assert!(close(number(row, "energy_ratio_ci95_low"), low), "{row:?}");
        assert!(
            close(number(row, "energy_ratio_ci95_high"), high),
            "{row:?}"
        );
        assert!(
            low < ratio && ratio < high && high < 1.0,
            "the variant saves"
        );
        // Same tokens per request: the per-token ratio is the energy ratio.
        assert!(close(number(row, "j_per_token_ratio"), ratio), "{row:?}");
        assert!(
            close(number(row, "j_per_token_ratio_ci95_low"), low),
            "{row:?}"
        );
        assert_eq!(
            row["source"], "estimated",
            "estimated energy, estimated ratio"
        );
    }
    // Latency: constant request times of 30 and 20 ticks against 40.
    assert!(
        close(number(&rows["q8"], "latency_ratio"), 0.75),
        "{:?}",
        rows["q8"]
    );
    assert!(
        close(number(&rows["q4"], "latency_ratio"), 0.5),
        "{:?}",
        rows["q4"]
    );
    // Sizes: the suite's bytes win; the server's fill what the suite left out.
    assert_eq!(rows["q8"]["weight_bytes"], "143000000");
    assert!(close(
        number(&rows["q8"], "weight_bytes_ratio"),
        143.0 / 540.0
    ));
    assert_eq!(rows["q8"]["weight_bytes_source"], "suite/suite");
    assert_eq!(rows["q4"]["weight_bytes"], "76000000");
    assert_eq!(rows["q4"]["weight_bytes_source"], "server/suite");
    assert_eq!(
        rows["q4"]["parameters"], "135000000",
        "the suite's count wins"
    );
    assert_eq!(rows["q4"]["parameters_source"], "suite/suite");
    // The unbounded case: a ratio, no bounds, and the reason.
    let noisy = &rows["noisy-v"];
    let (ratio, ci) = fieller(&known["noisy"], &known["noisy-v"]);
    assert!(
        ci.is_none(),
        "the test's own formula agrees it is unbounded"
    );
    assert!(close(number(noisy, "energy_ratio"), ratio), "{noisy:?}");
    assert_eq!(noisy["energy_ratio_ci95_low"], "");
    assert_eq!(noisy["energy_ratio_ci95_high"], "");
    assert!(
        noisy["energy_ratio_note"].contains("unbounded"),
        "{noisy:?}"
    );
    assert_eq!(noisy["j_per_token_ratio"], "");
    assert!(
        noisy["j_per_token_ratio_note"].contains("no output token counts"),
        "{noisy:?}"
    );
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    let section = &md[md
        .find("## What the techniques save")
        .expect("a savings section")..];
    assert!(section.contains("*estimated*"), "{section}");
    assert!(section.contains("CI unbounded"), "{section}");
    assert!(!section.contains("NaN"), "{section}");
    let tex = std::fs::read_to_string(dir.path().join("summary.tex")).expect("summary.tex");
    assert!(
        tex.contains("[unbounded]") && tex.contains("$^\\dagger$"),
        "{tex}"
    );
    let json = std::fs::read_to_string(dir.path().join("summary.json")).expect("summary.json");
    assert!(
        json.contains("\"savings\"") && json.contains("\"baseline_config\""),
        "{json}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html");
    assert!(html.contains("What the techniques save"));
    let plot = dir.path().join("plots/savings_text-generation_chat.svg");
    let svg = std::fs::read_to_string(&plot).expect("the savings plot");
    for name in [
        "q8 (quantization) vs base",
        "q4 (quantization) vs base",
        "noisy-v",
    ] {
        assert!(svg.contains(name), "{name} in the plot");
    }
    assert!(
        svg.contains("estimated"),
        "the plot says the energy is estimated"
    );
    assert!(
        dir.path()
            .join("plots/savings_text-generation_chat.png")
            .exists()
    );
}

#[test]
fn a_merged_run_keeps_what_each_shards_servers_said() {
    // `joulebench merge` copies shard I's server files to `servers/shard-I/`.
    let dir = tempfile::tempdir().expect("temp dir");
    write_run(dir.path());
    let servers = dir.path().join(records::files::SERVER_LOGS_DIR);
    std::fs::create_dir_all(servers.join("shard-2")).expect("shard folder");
    std::fs::rename(
        servers.join("ref.models.json"),
        servers.join("shard-2").join("ref.models.json"),
    )
    .expect("move");
    report::render(dir.path()).expect("render");
    let rows = savings(dir.path());
    assert_eq!(rows["q4"]["weight_bytes"], "76000000", "{:?}", rows["q4"]);
    assert_eq!(rows["q4"]["weight_bytes_source"], "server/suite");
}

#[test]
fn a_run_without_variants_has_no_savings() {
    let dir = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(dir.path()).expect("synthetic run");
    let report = super::render_without_plots(dir.path()).expect("render");
    assert!(report.savings.is_empty());
    assert!(!dir.path().join("savings.csv").exists());
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    assert!(!md.contains("What the techniques save"));
}
