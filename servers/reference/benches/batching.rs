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
use joulebench_reference::{LoadOptions, ModelRegistry, ModelSpec, RunningServer, Task};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The bundled sentences (`suites/data/sentiment-sample.jsonl`).
fn sentences() -> Vec<String> {
    let text = include_str!("../../../suites/data/sentiment-sample.jsonl");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["sentence"].as_str().map(str::to_string))
        .collect()
}

/// Starts a server with one classifier preset on its own runtime; returns its address.
fn server(preset: &str, batching: Option<BatchSettings>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let preset = preset.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let server = RunningServer::bind("127.0.0.1:0", 1).await.expect("bind");
            if let Some(settings) = batching {
                server.batch(settings).expect("batcher");
            }
            let spec = ModelSpec::parse(Task::Classification, &preset).expect("preset");
            server
                .load(&[spec], &LoadOptions::default())
                .await
                .expect("load");
            tx.send(server.addr()).expect("address");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("server started")
}

/// What one load point measured.
struct Point {
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    mean_batch: f64,
}

/// `clients` closed-loop clients for `secs` against `addr` (after a one-second warm-up).
fn load(addr: SocketAddr, clients: usize, secs: f64, texts: &[String]) -> Point {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/predict");
        let run = |until: Instant, offset: usize| {
            let (client, url) = (client.clone(), url.clone());
            let texts = texts.to_vec();
            async move {
                let mut out = Vec::new();
                let mut i = offset;
                while Instant::now() < until {
                    let t = Instant::now();
                    let resp = client
                        .post(&url)
                        .json(&serde_json::json!({"inputs": texts[i % texts.len()]}))
                        .send()
                        .await
                        .expect("request");
                    let batch: f64 = resp
                        .headers()
                        .get("x-batch-size")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1.0);
                    resp.bytes().await.expect("answer");
                    out.push((t.elapsed().as_secs_f64() * 1e3, batch));
                    i += clients;
                }
                out
            }
        };
        let warm = Instant::now() + Duration::from_secs(1);
        futures_util::future::join_all((0..clients).map(|c| run(warm, c))).await;
        let started = Instant::now();
        let until = started + Duration::from_secs_f64(secs);
        let all: Vec<(f64, f64)> =
            futures_util::future::join_all((0..clients).map(|c| run(until, c)))
                .await
                .into_iter()
                .flatten()
                .collect();
        let elapsed = started.elapsed().as_secs_f64();
        let mut ms: Vec<f64> = all.iter().map(|r| r.0).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        Point {
            per_s: all.len() as f64 / elapsed,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            mean_batch: all.iter().map(|r| r.1).sum::<f64>() / all.len() as f64,
        }
    })
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
    let alone = server(preset, None);
    let floor = load(alone, 1, secs, &texts);
    println!("| concurrency | batching | req/s | × c=1 | p50 ms | p99 ms | mean batch |");
    println!("|--:|---|--:|--:|--:|--:|--:|");
    let row = |c: usize, how: &str, p: &Point| {
        println!(
            "| {c} | {how} | {:.1} | {:.2} | {:.1} | {:.1} | {:.2} |",
            p.per_s,
            p.per_s / floor.per_s,
            p.p50_ms,
            p.p99_ms,
            p.mean_batch
        );
    };
    row(1, "off", &floor);
    for c in [2, 4, 8, 16] {
        row(c, "off", &load(alone, c, secs, &texts));
        let batched = server(
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
