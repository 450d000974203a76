//! Throughput of the reference encoder under concurrent load, batched against one request
//! at a time: for each concurrency N, N closed-loop clients on loopback send the bundled
//! sentiment sentences to TEI `/predict` for a fixed time, first with batching off
//! (requests queue for the one compute slot), then with `--max-batch N`. Prints requests/s,
//! latency p50/p99 and the mean batch, and each throughput as a ratio to concurrency 1
//! unbatched (the floor), measured in the same run.
//!
//! `cargo bench -p joulebench-reference --bench batching [-- PRESET SECONDS]`
//! (defaults: `small`, 5 s per point).

use joulebench_reference::batch::BatchSettings;
use joulebench_reference::{LoadOptions, ModelRegistry, ModelSpec, Task};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod common;
use common::{Point, Requests, closed_loop};

/// The bundled sentences (`suites/data/sentiment-sample.jsonl`).
fn sentences() -> Vec<String> {
    let text = include_str!("../../../suites/data/sentiment-sample.jsonl");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["sentence"].as_str().map(str::to_string))
        .collect()
}

/// `clients` closed-loop clients for `secs` against `addr` (after a one-second warm-up),
/// sending the bundled sentences to TEI `/predict`.
fn load(addr: SocketAddr, clients: usize, secs: f64, texts: &[String]) -> Point {
    let body = |i: usize| serde_json::json!({"inputs": texts[i % texts.len()]});
    let requests = Requests {
        path: "/predict",
        body: &body,
        batch_header: "x-batch-size",
        tokens: &|_| 0,
        warm_up: Duration::from_secs(1),
    };
    closed_loop(addr, clients, secs, &requests)
}

/// The forward pass alone, no HTTP: milliseconds per sentence when `batch` sentences run
/// together (best of `runs`), the ceiling batching can reach on this CPU.
fn forward_ms_per_sentence(preset: &str, texts: &[String], batch: usize, runs: usize) -> f64 {
    use joulebench_reference::batch::{EncoderWork, compute};
    use joulebench_reference::inference::encode_text;
    let spec = ModelSpec::parse(Task::Classification, preset).expect("preset");
    let registry = ModelRegistry::load(&[spec], &LoadOptions::default()).expect("load");
    let model = registry.first(Task::Classification).expect("a classifier");
    let encoded: Vec<_> = texts
        .iter()
        .take(batch.max(1) * 4)
        .map(|t| encode_text(&model, t, true).expect("tokenise"))
        .collect();
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let started = Instant::now();
        for chunk in encoded.chunks(batch.max(1)) {
            let inputs: Vec<(&[u32], &[u32])> = chunk
                .iter()
                .map(|e| (e.ids.as_slice(), e.type_ids.as_slice()))
                .collect();
            compute(&model, EncoderWork::Classify, &inputs).expect("forward");
        }
        best = best.min(started.elapsed().as_secs_f64() * 1e3 / encoded.len() as f64);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let preset = args.first().map_or("small", String::as_str);
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let texts = sentences();
    println!(
        "encoder `{preset}`, {} sentences, {secs} s per point, rayon threads {}",
        texts.len(),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into())
    );
    println!("\nforward pass alone (no HTTP), best of 5:");
    println!("| batch | ms / sentence | × batch 1 |");
    println!("|--:|--:|--:|");
    let one = forward_ms_per_sentence(preset, &texts, 1, 5);
    for b in [1, 2, 4, 8, 16] {
        let ms = if b == 1 {
            one
        } else {
            forward_ms_per_sentence(preset, &texts, b, 5)
        };
        println!("| {b} | {ms:.2} | {:.2} |", one / ms);
    }
    println!("\nover HTTP on loopback, closed-loop clients:");
    let alone = common::server(Task::Classification, preset, None);
    let floor = load(alone, 1, secs, &texts);
    println!("| concurrency | batching | req/s | × c=1 | p50 ms | p99 ms | mean batch |");
    println!("|--:|---|--:|--:|--:|--:|--:|");
    let row = |c: usize, how: &str, p: &Point| {
        println!(
            "| {c} | {how} | {:.1} | {:.2} | {:.1} | {:.1} | {:.2} |",
            p.requests_per_s,
            p.requests_per_s / floor.requests_per_s,
            p.p50_ms,
            p.p99_ms,
            p.mean_batch
        );
    };
    row(1, "off", &floor);
    for c in [2, 4, 8, 16] {
        row(c, "off", &load(alone, c, secs, &texts));
        let batched = common::server(
            Task::Classification,
            preset,
            Some(BatchSettings {
                max_batch: c,
                wait: Duration::from_millis(5),
            }),
        );
        row(
            c,
            &format!("max {c}, 5 ms"),
            &load(batched, c, secs, &texts),
        );
    }
}
