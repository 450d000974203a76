//! Shared helpers: a server on a loopback port with the tiny presets, and a JSON client.

#![allow(dead_code)]

use joulebench_reference as reference;

use reference::batch::BatchSettings;
use reference::{LoadOptions, ModelSpec, RunningServer, Task};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// Where a test server listens.
#[derive(Debug, Clone, Copy)]
pub struct TestServer {
    addr: SocketAddr,
}

impl TestServer {
    /// A server already listening at `addr`.
    pub fn at(addr: SocketAddr) -> Self {
        Self { addr }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Starts a server on its own thread and runtime (it lives as long as the test binary).
pub fn spawn_server(specs: Vec<ModelSpec>, options: LoadOptions) -> TestServer {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let server = RunningServer::start("127.0.0.1:0", 1, &specs, &options)
                .await
                .unwrap();
            tx.send(server.addr()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    TestServer {
        addr: rx.recv().unwrap(),
    }
}

/// A server with `specs`, batching up to `max_batch` requests that arrive within `wait`.
pub fn batching_server(specs: Vec<ModelSpec>, max_batch: usize, wait: Duration) -> TestServer {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let server = RunningServer::bind("127.0.0.1:0", 1).await.unwrap();
            server.batch(BatchSettings { max_batch, wait }).unwrap();
            server.load(&specs, &LoadOptions::default()).await.unwrap();
            tx.send(server.addr()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    TestServer::at(rx.recv().unwrap())
}

/// POSTs JSON expecting 200; the body and the `x-batch-size` header (0 when absent).
pub async fn post_batched(server: &TestServer, path: &str, body: Value) -> (Value, usize) {
    let resp = post_response(server, path, body).await;
    assert_eq!(resp.status().as_u16(), 200);
    let batch = resp
        .headers()
        .get("x-batch-size")
        .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
    (resp.json().await.unwrap(), batch)
}

/// The shared server with `classifier-tiny`, `qa-tiny` and `generator-tiny`.
pub fn tiny_server() -> TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    *SERVER.get_or_init(|| {
        let specs = vec![
            ModelSpec::parse(Task::Classification, "tiny").unwrap(),
            ModelSpec::parse(Task::QuestionAnswering, "tiny").unwrap(),
            ModelSpec::parse(Task::Generation, "tiny").unwrap(),
        ];
        spawn_server(specs, LoadOptions::default())
    })
}

/// The URL of a path on the server.
pub fn url(server: &TestServer, path: &str) -> String {
    format!("http://{}{path}", server.addr())
}

/// POSTs JSON and returns the whole response.
pub async fn post_response(server: &TestServer, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url(server, path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// POSTs JSON and returns (status, JSON body).
pub async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let resp = post_response(server, path, body).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// GETs and returns (status, body text).
pub async fn get(server: &TestServer, path: &str) -> (u16, String) {
    let resp = reqwest::get(url(server, path)).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// POSTs JSON and returns (status, content type, the `data:` payloads of the SSE body).
pub async fn post_sse(server: &TestServer, path: &str, body: Value) -> (u16, String, Vec<String>) {
    let resp = reqwest::Client::new()
        .post(url(server, path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.unwrap();
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim_start().to_string())
        .collect();
    (status, ctype, data)
}
