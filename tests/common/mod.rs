//! A loopback HTTP/1.1 test server that answers like a model server and counts what it gets.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Body as JSON (Null when empty or not JSON).
    pub body: serde_json::Value,
}

/// A server on 127.0.0.1 answering every request with `answer(method, path, body)`.
pub struct TestServer {
    /// Base URL.
    pub url: String,
    /// Everything received, in order.
    pub received: Arc<Mutex<Vec<Received>>>,
}

/// Status and JSON body of an answer.
pub type Answer = (u16, String);

impl TestServer {
    /// Starts a server; it runs until the test process ends.
    pub fn start(answer: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || serve(stream, &log, answer.as_ref()));
            }
        });
        Self { url, received }
    }

    /// Requests received on `path` with `method`.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }
}

/// An OpenAI completions answer with usage.
pub fn openai_completion(max_tokens: u64) -> Answer {
    let body = serde_json::json!({
        "id": "cmpl-1", "object": "text_completion", "created": 0, "model": "m",
        "choices": [{"text": "word ".repeat(max_tokens as usize), "index": 0, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": max_tokens, "total_tokens": 7 + max_tokens}
    });
    (200, body.to_string())
}

/// Answers /health with 200 and POST /v1/completions like an OpenAI server.
pub fn openai_server() -> TestServer {
    TestServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/health") => (200, "{}".into()),
        ("POST", "/v1/completions") => {
            openai_completion(r.body["max_tokens"].as_u64().unwrap_or(16))
        }
        _ => (404, r#"{"error":"not found"}"#.into()),
    })
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Received>>, answer: &(dyn Fn(&Received) -> Answer + Send + Sync)) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let received = Received {
            method,
            path,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        };
        let (status, text) = answer(&received);
        log.lock().expect("lock").push(received);
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The built binary.
pub fn joulebench() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_joulebench"))
}

/// A temp folder holding `suite.toml` (from `suite`) and `data.jsonl` with `rows` rows.
pub fn suite_dir(suite: &str, rows: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data: String = (0..rows)
        .map(|i| format!("{{\"sentence\": \"sentence number {i}\", \"label\": {}}}\n", i % 2))
        .collect();
    std::fs::write(dir.path().join("data.jsonl"), data).expect("write data");
    let path = dir.path().join("suite.toml");
    std::fs::write(&path, suite).expect("write suite");
    (dir, path)
}
