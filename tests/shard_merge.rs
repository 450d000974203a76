//! End-to-end: a suite run in three shards (`run --shard`) and merged (`report --merge`)
//! gives the configurations and request counts of the unsharded run; merges of shards that
//! do not belong together are refused, missing shards are named, a shard resumes as a shard.

use crate::common;

use common::{
    csv_rows, joulebench, manifest, measured, openai_server, schedule_and_probes,
    slow_openai_server, suite_dir,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const INFERENCES: usize = 3;
const REPETITIONS: usize = 2;
const SHARDS: u32 = 3;

/// Four models of different sizes (one with no parameter count) on two datasets: eight
/// configurations. `name` and `comment` let tests make a different suite.
fn suite(url: &str, name: &str, comment: &str) -> String {
    let models: String = [
        ("m-small", "parameters = 10_000_000"),
        ("m-mid", "parameters = 300_000_000"),
        ("m-big", "parameters = 2_000_000_000"),
        ("m-unknown", ""),
    ]
    .iter()
    .map(|(m, p)| {
        format!(
            "[[models]]\nname = \"{m}\"\ntask = \"sentiment\"\nclass = \"general-purpose\"\nserver = \"local\"\n{p}\n\n"
        )
    })
    .collect();
    format!(
        r#"# {comment}
[suite]
name = "{name}"

[servers.local]
protocol = "openai-completions"
url = "{url}"

{models}
[[datasets]]
name = "d1"
task = "sentiment"
path = "data.jsonl"
fields = {{ text = "sentence" }}

[[datasets]]
name = "d2"
task = "sentiment"
path = "data.jsonl"
fields = {{ text = "sentence" }}

[tasks.sentiment]
prompt = "sentiment? {{text}}"
max_tokens = 3

{tail}"#,
        tail = schedule_and_probes(INFERENCES, REPETITIONS, 1)
    )
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `joulebench run --quiet --out OUT SUITE ARGS...` with extra environment variables.
fn run(suite: &Path, out: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = joulebench();
    cmd.args(["run", "--quiet", "--out"])
        .arg(out)
        .arg(suite)
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("run joulebench");
    assert!(!text(&output).contains("panicked"), "{}", text(&output));
    output
}

/// `joulebench report --no-plots --merge DIRS... --out OUT`.
fn merge(dirs: &[&Path], out: &Path) -> Output {
    let output = joulebench()
        .args(["report", "--no-plots", "--merge"])
        .args(dirs)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run joulebench report --merge");
    assert!(!text(&output).contains("panicked"), "{}", text(&output));
    output
}

/// Measured requests per configuration.
fn measured_per_config(dir: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in measured(dir) {
        *counts.entry(r["config"].clone()).or_default() += 1;
    }
    counts
}

/// (config, inferences, repetitions) of each summary.csv row.
fn summary(dir: &Path) -> BTreeSet<(String, String, String)> {
    csv_rows(&dir.join("summary.csv"))
        .into_iter()
        .map(|r| {
            (
                r["config"].clone(),
                r["inferences"].clone(),
                r["repetitions"].clone(),
            )
        })
        .collect()
}

/// Runs the three shards of `suite_path` into `root/shard-I`: shard 0 by flag, shard 1 as
/// a Slurm array task, shard 2 as a Kubernetes Indexed Job pod.
fn run_shards(suite_path: &Path, root: &Path) -> Vec<PathBuf> {
    let ways: [(&str, &[(&str, &str)]); 3] = [
        ("0/3", &[]),
        ("auto/3", &[("SLURM_ARRAY_TASK_ID", "1")]),
        ("auto/3", &[("JOB_COMPLETION_INDEX", "2")]),
    ];
    ways.iter()
        .enumerate()
        .map(|(i, (spec, env))| {
            let dir = root.join(format!("shard-{i}"));
            let o = run(suite_path, &dir, &["--shard", spec], env);
            assert!(o.status.success(), "shard {i}: {}", text(&o));
            dir
        })
        .collect()
}

#[test]
fn three_shards_merged_match_the_unsharded_run() {
    // Each request lasts 30 ms, longer than the 20 ms between samples at 50 Hz, so that
    // every request's own energy is known (a number) in the shards and in the merge.
    let server = slow_openai_server(Duration::from_millis(30));
    let (dir, suite_path) = suite_dir(&suite(&server.url, "shards", ""), 6);
    let whole = dir.path().join("whole");
    let o = run(&suite_path, &whole, &[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let posts_whole = server.count("POST", "/v1/completions");

    let shards = run_shards(&suite_path, dir.path());
    // The shards together sent exactly what the whole run sent.
    assert_eq!(
        server.count("POST", "/v1/completions") - posts_whole,
        posts_whole
    );
    let expected_from = ["flag", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];
    let mut union = BTreeSet::new();
    for (i, shard) in shards.iter().enumerate() {
        let m = manifest(shard);
        assert_eq!(m["shard"]["index"], i as u64);
        assert_eq!(m["shard"]["count"], SHARDS);
        assert_eq!(m["shard"]["index_from"], expected_from[i]);
        let listed: BTreeSet<String> = m["shard"]["configurations"]
            .as_array()
            .expect("configurations")
            .iter()
            .map(|c| c.as_str().expect("id").to_string())
            .collect();
        assert!(!listed.is_empty(), "8 configurations fill 3 shards");
        let recorded: BTreeSet<String> = measured_per_config(shard).into_keys().collect();
        assert_eq!(recorded, listed, "shard {i} ran exactly its configurations");
        assert!(union.is_disjoint(&listed), "shard {i} overlaps another");
        union.extend(listed);
    }
    // An unsharded run.json has no shard key at all (old readers see what they always saw).
    assert!(manifest(&whole).get("shard").is_none());

    let merged = dir.path().join("merged");
    let refs: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    let o = merge(&refs, &merged);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("merged 3 of 3 shards"), "{}", text(&o));

    assert_eq!(measured_per_config(&merged), measured_per_config(&whole));
    assert_eq!(
        measured_per_config(&merged)
            .into_values()
            .collect::<Vec<_>>(),
        vec![INFERENCES * REPETITIONS; 8]
    );
    assert_eq!(summary(&merged), summary(&whole));
    assert_eq!(union, measured_per_config(&whole).into_keys().collect());

    let m = manifest(&merged);
    assert_eq!(m["status"], "complete");
    assert!(m.get("shard").is_none());
    assert_eq!(m["merged"]["count"], SHARDS);
    assert_eq!(m["merged"]["missing"], serde_json::json!([]));
    assert_eq!(m["merged"]["shards"].as_array().map(Vec::len), Some(3));
    assert_eq!(m["suite"]["sha256"], manifest(&whole)["suite"]["sha256"]);

    // hosts.csv: one row per configuration, naming its shard.
    let hosts = csv_rows(&merged.join("hosts.csv"));
    assert_eq!(hosts.len(), 8);
    for h in &hosts {
        let shard: usize = h["shard"].parse().expect("shard index");
        let listed = &manifest(&shards[shard])["shard"]["configurations"];
        assert!(
            listed
                .as_array()
                .is_some_and(|l| l.iter().any(|c| c == h["config"].as_str())),
            "{h:?}"
        );
    }
    // One host: summary.csv keeps its usual columns.
    let header = std::fs::read_to_string(merged.join("summary.csv")).expect("summary");
    assert!(!header.lines().next().unwrap_or("").contains("host"));
    let md = std::fs::read_to_string(merged.join("summary.md")).expect("summary.md");
    assert!(!md.contains("## Hosts"), "no host table for one node");

    // Shards are laid end to end: each one's requests come after the previous one's.
    let offsets: Vec<u64> = m["merged"]["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|s| s["t_offset_ns"].as_u64().expect("offset"))
        .collect();
    assert_eq!(offsets[0], 0);
    let shard_of: BTreeMap<String, usize> = hosts
        .iter()
        .map(|h| (h["config"].clone(), h["shard"].parse().expect("shard")))
        .collect();
    let mut span = vec![(u64::MAX, 0u64); 3];
    for r in csv_rows(&merged.join("requests.csv")) {
        let s = shard_of[&r["config"]];
        let t0: u64 = r["t_start_ns"].parse().expect("t");
        let t1: u64 = r["t_end_ns"].parse().expect("t");
        span[s] = (span[s].0.min(t0), span[s].1.max(t1));
    }
    for s in 1..3 {
        assert!(span[s].0 > span[s - 1].1, "{span:?}");
        assert!(offsets[s] > span[s - 1].1, "{offsets:?} {span:?}");
    }
    // Every shard's answers, none twice; the merged manifest knows every shard's datasets.
    let lines = |d: &Path| {
        std::fs::read_to_string(d.join("answers.jsonl"))
            .map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut from_shards: Vec<String> = shards.iter().flat_map(|d| lines(d)).collect();
    let mut in_merge = lines(&merged);
    from_shards.sort();
    in_merge.sort();
    assert!(!in_merge.is_empty());
    assert_eq!(
        in_merge, from_shards,
        "answers.jsonl is the shards' answers"
    );
    let datasets = manifest(&merged)["datasets"].as_array().map_or(0, Vec::len);
    assert_eq!(
        datasets,
        manifest(&whole)["datasets"].as_array().map_or(0, Vec::len)
    );
    // The per-window records (states, attribution) are merged too, on the same timeline:
    // every shard's rows, each window within its shard's span.
    for file in ["window_state.csv", "attribution.csv"] {
        let merged_rows = csv_rows(&merged.join(file));
        let shard_rows: usize = shards.iter().map(|d| csv_rows(&d.join(file)).len()).sum();
        assert_eq!(merged_rows.len(), shard_rows, "{file}");
        assert!(!merged_rows.is_empty(), "{file}");
        for r in merged_rows.iter().filter(|r| r["window"] == "repetition") {
            let s = shard_of[&r["config"]];
            let t: u64 = r
                .get("t_ns")
                .or_else(|| r.get("t_end_ns"))
                .expect("a time")
                .parse()
                .expect("t");
            assert!(
                t >= offsets[s],
                "{file} {r:?} before its shard's offset {offsets:?}"
            );
        }
    }
    // Each configuration's figures are its shard's own: repetition energies as recorded,
    // and per-request energies integrated over that shard's samples only.
    let by_config = |dir: &Path| -> BTreeMap<String, (f64, f64)> {
        csv_rows(&dir.join("summary.csv"))
            .into_iter()
            .map(|r| {
                let num = |k: &str| r[k].parse::<f64>().unwrap_or(f64::NAN);
                (
                    r["config"].clone(),
                    (num("energy_j_mean"), num("request_energy_j_mean")),
                )
            })
            .collect()
    };
    let merged_figures = by_config(&merged);
    for shard in &shards {
        for (config, (energy, per_request)) in by_config(shard) {
            let (e, p) = merged_figures[&config];
            // Numbers on both sides (every request spans samples), and equal: a NaN, or an
            // empty cell, fails here.
            assert!(
                energy.is_finite() && e.is_finite(),
                "{config}: {e} vs {energy}"
            );
            assert!(
                per_request.is_finite() && p.is_finite(),
                "{config}: {p} vs {per_request}"
            );
            assert_eq!(e, energy, "{config}");
            assert!(
                (p - per_request).abs() <= 1e-9 * per_request.abs(),
                "{config}: {p} vs {per_request}"
            );
        }
    }
    // The merged folder reports again as any folder does.
    let again = joulebench()
        .args(["report", "--no-plots"])
        .arg(&merged)
        .output()
        .expect("report");
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(summary(&merged), summary(&whole));
}

/// Copies a folder (files and one level of sub-folders).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// Edits a folder's run.json.
fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut m = manifest(dir);
    edit(&mut m);
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_string_pretty(&m).expect("json"),
    )
    .expect("write run.json");
}

#[test]
fn merges_that_do_not_belong_together_are_refused_and_missing_shards_named() {
    let server = openai_server();
    let (dir, suite_path) = suite_dir(&suite(&server.url, "shards", ""), 6);
    let root = dir.path();
    let shards = run_shards(&suite_path, root);
    let [s0, s1, s2] = [&shards[0], &shards[1], &shards[2]].map(PathBuf::as_path);
    let attempts = std::cell::Cell::new(0);
    let refused = |dirs: &[&Path], needles: &[&str]| {
        attempts.set(attempts.get() + 1);
        let out = root.join(format!("refused-{}", attempts.get()));
        let o = merge(dirs, &out);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = text(&o);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        for n in needles {
            assert!(err.contains(n), "{n:?} not in {err}");
        }
        assert!(!out.join("run.json").exists(), "nothing merged: {err}");
    };

    // A shard of another suite (same name, different bytes), then one of another name.
    std::fs::write(
        root.join("other.toml"),
        suite(&server.url, "shards", "edited"),
    )
    .expect("suite");
    let other = root.join("other-1");
    let o = run(&root.join("other.toml"), &other, &["--shard", "1/3"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let other_sha = manifest(&other)["suite"]["sha256"]
        .as_str()
        .expect("sha")
        .to_string();
    refused(
        &[s0, &other, s2],
        &[
            "suite.sha256",
            &other_sha,
            s0.to_str().expect("utf-8"),
            "other-1",
        ],
    );
    let renamed = root.join("renamed-1");
    copy_dir(s1, &renamed);
    edit_manifest(&renamed, |m| m["suite"]["name"] = "elsewhere".into());
    refused(&[s0, &renamed, s2], &["suite.name", "shards vs elsewhere"]);

    // Another joulebench version.
    let old = root.join("old-2");
    copy_dir(s2, &old);
    edit_manifest(&old, |m| m["joulebench_version"] = "0.0.1".into());
    refused(
        &[s0, s1, &old],
        &["joulebench_version", "vs 0.0.1", "old-2"],
    );

    // The same shard twice; a configuration in two shards; another split; not a shard.
    let twin = root.join("twin-0");
    copy_dir(s0, &twin);
    refused(&[s0, s1, &twin], &["both shard 0 of 3", "twin-0"]);
    let greedy = root.join("greedy-2");
    copy_dir(s2, &greedy);
    let stolen = manifest(s0)["shard"]["configurations"][0].clone();
    edit_manifest(&greedy, |m| {
        if let Some(list) = m["shard"]["configurations"].as_array_mut() {
            list.push(stolen.clone());
        }
    });
    refused(
        &[s0, s1, &greedy],
        &[stolen.as_str().expect("id"), "in both"],
    );
    let split = root.join("split-1");
    copy_dir(s1, &split);
    edit_manifest(&split, |m| m["shard"]["count"] = 4.into());
    refused(&[s0, &split], &["shard.count", "3 vs 4"]);
    let whole = root.join("whole");
    assert!(run(&suite_path, &whole, &[], &[]).status.success());
    refused(&[s0, &whole], &["not one shard", "--shard I/N"]);

    // A study table that differs between shards (it is not in the suite's SHA-256), or
    // that one shard has and another lacks.
    let [ref0, ref1] = [("ref-0", s0, "a,1"), ("ref-1", s1, "a,2")].map(|(name, from, row)| {
        let to = root.join(name);
        copy_dir(from, &to);
        std::fs::write(to.join("reference.csv"), format!("config,x\n{row}\n")).expect("write");
        to
    });
    refused(
        &[&ref0, &ref1, s2],
        &[
            "reference.csv",
            "ref-0",
            "ref-1",
            r#"line 2: "a,1" vs line 2: "a,2""#,
        ],
    );
    refused(&[s0, &ref1, s2], &["reference.csv", "absent vs present"]);
    // Nothing refused left a half-written folder beside its --out.
    let partial_left: Vec<_> = std::fs::read_dir(root)
        .expect("read_dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(partial_left.is_empty(), "{partial_left:?}");

    // A missing shard: merged anyway, named, marked interrupted, exit 1 -- on a host that
    // does not have the suite's datasets (the suite is read for its plan only).
    let data = suite_path.with_file_name("data.jsonl");
    let away = suite_path.with_file_name("data.jsonl.away");
    std::fs::rename(&data, &away).expect("hide the dataset");
    let partial = root.join("partial");
    let o = merge(&[s0, s2], &partial);
    std::fs::rename(&away, &data).expect("restore the dataset");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let all = text(&o);
    assert!(all.contains("merged 2 of 3 shards"), "{all}");
    assert!(all.contains("missing shard(s) 1 of 3"), "{all}");
    // ... with the configurations it would have held, from the suite.
    for id in manifest(s1)["shard"]["configurations"]
        .as_array()
        .expect("ids")
    {
        assert!(all.contains(id.as_str().expect("id")), "{id} in {all}");
    }
    let m = manifest(&partial);
    assert_eq!(m["status"], "interrupted");
    assert_eq!(m["merged"]["missing"], serde_json::json!([1]));
    assert!(
        m["status_reason"]
            .as_str()
            .is_some_and(|r| r.contains("missing shard")),
        "{m}"
    );
    let expected: BTreeSet<String> = [s0, s2]
        .iter()
        .flat_map(|s| measured_per_config(s).into_keys())
        .collect();
    assert_eq!(
        measured_per_config(&partial)
            .into_keys()
            .collect::<BTreeSet<_>>(),
        expected
    );
    // The merged folder is no shard and cannot be resumed as a run.
    let o = joulebench()
        .args(["run", "--resume"])
        .arg(&partial)
        .output()
        .expect("resume");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("merged from shards"), "{}", text(&o));

    // Different hosts: summary.csv gains a host column naming each configuration's node.
    let node_b = root.join("node-b-1");
    copy_dir(s1, &node_b);
    edit_manifest(&node_b, |m| {
        m["host"]["hostname"] = "node-b".into();
        m["missing_probes"] = serde_json::json!([{"probe": "nvml", "reason": "no driver"}]);
    });
    let two_hosts = root.join("two-hosts");
    let o = merge(&[s0, &node_b, s2], &two_hosts);
    assert!(o.status.success(), "{}", text(&o));
    let on_b: BTreeSet<String> = measured_per_config(s1).into_keys().collect();
    let rows = csv_rows(&two_hosts.join("summary.csv"));
    assert_eq!(rows.len(), 8);
    for r in rows {
        let host = r.get("host").expect("host column when hosts differ");
        assert_eq!(host == "node-b", on_b.contains(&r["config"]), "{r:?}");
    }
    assert_eq!(
        manifest(&two_hosts)["merged"]["hosts"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let m = manifest(&two_hosts);
    // The header names no single host, and a probe missing on one shard only is said to be.
    assert_eq!(m["host"]["hostname"], "2 hosts (see hosts.csv)");
    let missing = m["missing_probes"].as_array().expect("missing_probes");
    let nvml: Vec<_> = missing.iter().filter(|p| p["probe"] == "nvml").collect();
    assert_eq!(nvml.len(), 1, "{missing:?}");
    assert!(
        nvml[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("missing on shard(s) 1 (node-b) only: no driver")),
        "{nvml:?}"
    );
    let md = std::fs::read_to_string(two_hosts.join("summary.md")).expect("summary.md");
    let started = md
        .lines()
        .find(|l| l.starts_with("Status "))
        .expect("status line");
    assert!(started.contains(" on 2 hosts (see hosts.csv)"), "{started}");
    let first_host = manifest(s0)["host"]["hostname"]
        .as_str()
        .expect("hostname")
        .to_string();
    assert!(!started.contains(&first_host), "{started}");
    assert!(
        !md.contains("not available: `nvml`: no driver"),
        "nvml is not said to be missing everywhere: {md}"
    );
    assert!(md.contains("## Hosts"), "{md}");
    assert_eq!(
        md.matches(" | node-b |").count(),
        on_b.len(),
        "summary.md names node-b for each of its configurations: {md}"
    );
}

#[test]
fn bad_shard_flags_are_one_line_errors() {
    let server = openai_server();
    let (dir, suite_path) = suite_dir(&suite(&server.url, "shards", ""), 6);
    let out = dir.path().join("never");
    for (args, env, needle) in [
        (
            &["--shard", "3/3"][..],
            &[][..],
            "0-based and must be below 3",
        ),
        (&["--shard", "x"][..], &[][..], "expected I/N"),
        (
            &["--shard", "0/4000000000"][..],
            &[][..],
            "at most 1000 shards",
        ),
        (
            &["--shard", "auto/3"][..],
            &[][..],
            "neither SLURM_ARRAY_TASK_ID",
        ),
        (
            &["--shard", "auto/3"][..],
            &[("SLURM_ARRAY_TASK_ID", "3")][..],
            "--array=0-2",
        ),
        (
            &["--shard", "0/3", "--resume", "x"][..],
            &[][..],
            "cannot be used with",
        ),
    ] {
        let o = run(&suite_path, &out, args, env);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
        assert!(!out.exists(), "{args:?} wrote a folder");
    }
    assert_eq!(server.count("POST", "/v1/completions"), 0);
    // The dry run prints the shard's slice and sends nothing.
    let o = run(&suite_path, &out, &["--shard", "2/3", "--dry-run"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("shard 2/3 (index from flag)"), "{t}");
    assert!(t.contains("of 8 configurations"), "{t}");
    assert_eq!(server.count("POST", "/v1/completions"), 0);
}

#[test]
fn an_empty_shard_records_an_empty_complete_run_that_merges() {
    let server = openai_server();
    // Sampling at 1 Hz: the empty run ends before its first sample (an empty samples.csv).
    let text_of_suite = suite(&server.url, "shards", "").replace("sample_hz = 50", "sample_hz = 1");
    let (dir, suite_path) = suite_dir(&text_of_suite, 6);
    let empty = dir.path().join("shard-9");
    let o = run(&suite_path, &empty, &["--shard", "9/10"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no configurations"), "{}", text(&o));
    let m = manifest(&empty);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["shard"]["configurations"], serde_json::json!([]));
    assert!(measured(&empty).is_empty());
    assert_eq!(server.count("POST", "/v1/completions"), 0);
    // Whether the sampler wrote a row before the empty run ended is a race: an empty
    // samples.csv must report as well as one with rows.
    std::fs::write(empty.join("samples.csv"), "").expect("truncate samples.csv");
    let o = joulebench()
        .args(["report", "--no-plots"])
        .arg(&empty)
        .output()
        .expect("report");
    assert!(o.status.success(), "{}", text(&o));
    let full = dir.path().join("shard-0");
    assert!(
        run(&suite_path, &full, &["--shard", "0/10"], &[])
            .status
            .success()
    );
    let merged = dir.path().join("merged");
    let o = merge(&[&full, &empty], &merged);
    assert_eq!(
        o.status.code(),
        Some(1),
        "8 of 10 shards missing: {}",
        text(&o)
    );
    assert_eq!(
        manifest(&merged)["merged"]["missing"]
            .as_array()
            .map(Vec::len),
        Some(8)
    );
    assert_eq!(measured_per_config(&merged), measured_per_config(&full));
}

#[test]
fn an_interrupted_shard_resumes_as_the_same_shard() {
    let server = openai_server();
    let (dir, suite_path) = suite_dir(&suite(&server.url, "shards", ""), 6);
    let out = dir.path().join("shard-1");
    // Hold the shard's third measured request, then stop it with SIGINT.
    let held = 4;
    server.gate.hold_from(held);
    let mut child = joulebench()
        .args(["run", "--quiet", "--shard", "1/3", "--out"])
        .arg(&out)
        .arg(&suite_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start joulebench");
    assert!(
        server.wait_for_posts(held + 1, Duration::from_secs(30)),
        "request {held} never came"
    );
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    server.gate.open();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the shard did not stop");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(manifest(&out)["status"], "interrupted");

    let o = joulebench()
        .args(["run", "--quiet", "--resume"])
        .arg(&out)
        .output()
        .expect("resume");
    assert!(o.status.success(), "{}", text(&o));
    let m = manifest(&out);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["shard"]["index"], 1);
    let listed: BTreeSet<String> = m["shard"]["configurations"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|c| c.as_str().expect("id").to_string())
        .collect();
    let counts = measured_per_config(&out);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), listed);
    // Every repetition of the shard's configurations, whole, once each.
    let reps: BTreeSet<(String, String)> = csv_rows(&out.join("repetitions.csv"))
        .into_iter()
        .map(|r| (r["config"].clone(), r["repetition"].clone()))
        .collect();
    assert_eq!(reps.len(), listed.len() * REPETITIONS);
}

/// Rewrites the first measured row's `t_end_ns` in `requests.csv` to something that is
/// not a time, so that a merge fails midway (after the checks, while concatenating).
fn tear_a_time(dir: &Path) {
    let path = dir.join("requests.csv");
    let text = std::fs::read_to_string(&path).expect("requests.csv");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let col = lines[0]
        .split(',')
        .position(|h| h == "t_end_ns")
        .expect("t_end_ns column");
    let mut fields: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    fields[col] = "soon".into();
    lines[1] = fields.join(",");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write requests.csv");
}

#[test]
fn a_merge_that_fails_midway_leaves_no_out_and_a_retry_works() {
    let server = openai_server();
    let (dir, suite_path) = suite_dir(&suite(&server.url, "shards", ""), 6);
    let root = dir.path();
    let shards = run_shards(&suite_path, root);
    let torn = root.join("torn-2");
    copy_dir(&shards[2], &torn);
    let good = std::fs::read(torn.join("requests.csv")).expect("requests.csv");
    tear_a_time(&torn);
    let out = root.join("merged");
    let o = merge(&[&shards[0], &shards[1], &torn], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("requests.csv") && err.contains("t_end_ns"),
        "{err}"
    );
    assert!(!out.exists(), "a failed merge left {}", out.display());
    let left: Vec<String> = std::fs::read_dir(root)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("merged"))
        .collect();
    assert!(left.is_empty(), "nothing beside --out either: {left:?}");

    // Fixed, the same command succeeds into the same --out (here made beforehand, empty).
    std::fs::write(torn.join("requests.csv"), good).expect("repair");
    std::fs::create_dir(&out).expect("an empty --out");
    let o = merge(&[&shards[0], &shards[1], &torn], &out);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(manifest(&out)["status"], "complete");
    assert!(out.join("summary.csv").is_file());
    assert_eq!(measured(&out).len(), 8 * INFERENCES * REPETITIONS);
}
