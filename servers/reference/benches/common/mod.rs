//! What the load benches share: a server on its own runtime, and closed-loop clients that
//! report throughput, latency and the batch each answer ran in.

// Each bench is its own crate and reads only some of these fields.
#![allow(dead_code)]

use joulebench_reference::batch::BatchSettings;
use joulebench_reference::{LoadOptions, ModelSpec, RunningServer, Task};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Starts a server with one `task` preset on its own 2-worker runtime; returns its address.
pub fn server(task: Task, preset: &str, batching: Option<BatchSettings>) -> SocketAddr {
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
            let spec = ModelSpec::parse(task, &preset).expect("preset");
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

/// The requests of a load point: where they go, what each carries, what is read back.
pub struct Requests<'a> {
    /// Path on the server, e.g. `/predict`.
    pub path: &'a str,
    /// The body of request `i`.
    pub body: &'a (dyn Fn(usize) -> serde_json::Value + Sync),
    /// The response header holding the batch the request ran in.
    pub batch_header: &'a str,
    /// Output tokens in an answer (0 when it has none).
    pub tokens: &'a (dyn Fn(&serde_json::Value) -> u64 + Sync),
    /// Warm-up before measuring.
    pub warm_up: Duration,
}

/// What one load point measured.
pub struct Point {
    /// Answers per second.
    pub requests_per_s: f64,
    /// Output tokens per second.
    pub tokens_per_s: f64,
    /// Median latency (ms).
    pub p50_ms: f64,
    /// 99th percentile latency (ms).
    pub p99_ms: f64,
    /// Mean batch the answers ran in.
    pub mean_batch: f64,
}

/// `clients` closed-loop clients for `secs` against `addr` (after the warm-up), each
/// sending its next request when its answer has come.
pub fn closed_loop(addr: SocketAddr, clients: usize, secs: f64, requests: &Requests<'_>) -> Point {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}{}", requests.path);
        let run = |until: Instant, offset: usize| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let mut out = Vec::new();
                let mut i = offset;
                while Instant::now() < until {
                    let t = Instant::now();
                    let resp = client
                        .post(&url)
                        .json(&(requests.body)(i))
                        .send()
                        .await
                        .expect("request");
                    let batch: f64 = resp
                        .headers()
                        .get(requests.batch_header)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1.0);
                    let body: serde_json::Value = resp.json().await.expect("answer");
                    out.push((
                        t.elapsed().as_secs_f64() * 1e3,
                        batch,
                        (requests.tokens)(&body),
                    ));
                    i += clients;
                }
                out
            }
        };
        let warm = Instant::now() + requests.warm_up;
        futures_util::future::join_all((0..clients).map(|c| run(warm, c))).await;
        let started = Instant::now();
        let until = started + Duration::from_secs_f64(secs);
        let all: Vec<(f64, f64, u64)> =
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
            requests_per_s: all.len() as f64 / elapsed,
            tokens_per_s: all.iter().map(|r| r.2).sum::<u64>() as f64 / elapsed,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            mean_batch: all.iter().map(|r| r.1).sum::<f64>() / all.len() as f64,
        }
    })
}
