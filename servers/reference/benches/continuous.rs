//! Throughput of a reference generator under concurrent load with continuous batching of
//! decode steps: for each concurrency N in 1, 2, 4, 8, 16, N closed-loop clients on loopback
//! send greedy `/v1/completions` requests (`ignore_eos`, a fixed number of new tokens) for a
//! fixed time to a server batching up to 16 sequences; the floor is concurrency 1 with
//! batching off (the one-at-a-time path), measured in the same run. Prints generated
//! tokens/s, each level's gain over the floor, latency p50/p99 and the mean decode batch
//! (`x-batch-size-mean`); first, the forward-only ceiling: one batched decode step of B
//! sequences, no HTTP, no sampling.
//!
//! `cargo bench -p joulebench-reference --bench continuous [-- PRESET SECONDS NEW_TOKENS]`
//! (defaults: `small`, 5 s per point, 32 new tokens). Thread counts: the server's runtime
//! has 2 workers, the clients 1; matrix products use `RAYON_NUM_THREADS` threads.

use joulebench_reference::batch::BatchSettings;
use joulebench_reference::registry::Network;
use joulebench_reference::{LoadOptions, ModelRegistry, ModelSpec, Task};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod common;
use common::{Point, Requests, closed_loop};

/// The prompts, of a few lengths.
const PROMPTS: &[&str] = &[
    "summarize the following text: the committee met on tuesday to discuss the budget",
    "The movie was",
    "write a short story about a lighthouse keeper who finds a message in a bottle",
    "translate to french: where is the train station",
    "question: what is the capital of france? answer:",
];

/// `clients` closed-loop clients for `secs` against `addr` (after a two-second warm-up),
/// sending greedy `/v1/completions` requests for `new_tokens` tokens.
fn load(addr: SocketAddr, clients: usize, secs: f64, new_tokens: usize) -> Point {
    let body = |i: usize| {
        serde_json::json!({"prompt": PROMPTS[i % PROMPTS.len()],
            "max_tokens": new_tokens, "ignore_eos": true, "temperature": 0})
    };
    let tokens = |b: &serde_json::Value| b["usage"]["completion_tokens"].as_u64().unwrap_or(0);
    let requests = Requests {
        path: "/v1/completions",
        body: &body,
        batch_header: "x-batch-size-mean",
        tokens: &tokens,
        warm_up: Duration::from_secs(2),
    };
    closed_loop(addr, clients, secs, &requests)
}

/// The forward pass alone: milliseconds of one decode step of `batch` sequences, each at a
/// context of `context` tokens (best of `runs`).
fn step_ms(preset: &str, batch: usize, context: usize, runs: usize) -> f64 {
    let spec = ModelSpec::parse(Task::Generation, preset).expect("preset");
    let registry = ModelRegistry::load(&[spec], &LoadOptions::default()).expect("load");
    let model = registry.first(Task::Generation).expect("a generator");
    let Network::Generator(g) = &model.network else {
        panic!("not a generator")
    };
    let net = g.batched().expect("a batchable generator");
    let prompt: Vec<u32> = (0..context as u32).map(|i| 100 + i).collect();
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let mut caches: Vec<_> = (0..batch)
            .map(|_| {
                let mut c = net.new_cache();
                net.forward(&prompt, &mut c).expect("prompt");
                c
            })
            .collect();
        let mut refs: Vec<_> = caches.iter_mut().collect();
        let ids = vec![7u32; batch];
        let started = Instant::now();
        net.forward_batch(&ids, 1, &mut refs).expect("step");
        best = best.min(started.elapsed().as_secs_f64() * 1e3);
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
    let new_tokens: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let levels = [1, 2, 4, 8, 16];
    println!(
        "generator `{preset}`, {new_tokens} new tokens per request (greedy, ignore_eos), \
         {secs} s per point, rayon threads {}",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into())
    );
    println!(
        "\nforward pass alone (one decode step, context 32, no HTTP, no sampling), best of 5:"
    );
    println!("| batch | ms / step | tokens/s | × batch 1 |");
    println!("|--:|--:|--:|--:|");
    let one = step_ms(preset, 1, 32, 5);
    for b in levels {
        let ms = if b == 1 {
            one
        } else {
            step_ms(preset, b, 32, 5)
        };
        println!(
            "| {b} | {ms:.1} | {:.0} | {:.2} |",
            b as f64 * 1e3 / ms,
            b as f64 * one / ms
        );
    }
    println!("\nover HTTP on loopback, closed-loop clients, /v1/completions:");
    let alone = common::server(Task::Generation, preset, None);
    let floor = load(alone, 1, secs, new_tokens);
    let batched = common::server(
        Task::Generation,
        preset,
        Some(BatchSettings {
            max_batch: 16,
            wait: Duration::from_millis(5),
        }),
    );
    println!(
        "| concurrency | batching | tokens/s | × c=1 | req/s | p50 ms | p99 ms | mean decode batch |"
    );
    println!("|--:|---|--:|--:|--:|--:|--:|--:|");
    let row = |c: usize, how: &str, p: &Point| {
        println!(
            "| {c} | {how} | {:.1} | {:.2} | {:.2} | {:.0} | {:.0} | {:.2} |",
            p.tokens_per_s,
            p.tokens_per_s / floor.tokens_per_s,
            p.requests_per_s,
            p.p50_ms,
            p.p99_ms,
            p.mean_batch
        );
    };
    row(1, "off", &floor);
    for c in levels {
        row(c, "max 16, 5 ms", &load(batched, c, secs, new_tokens));
    }
}
