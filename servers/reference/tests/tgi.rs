//! TGI `/generate` and `/generate_stream` over loopback.

use crate::common;

use common::{post, post_sse, tiny_server};
use serde_json::{Value, json};

#[tokio::test]
async fn generate_returns_text_and_details() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/generate",
        json!({"inputs": "summarize the following text: a b c", "parameters": {"max_new_tokens": 15, "details": true}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["generated_text"].is_string());
    let details = &body["details"];
    assert!(["length", "eos_token"].contains(&details["finish_reason"].as_str().unwrap()));
    let n = details["generated_tokens"].as_u64().unwrap();
    assert!((1..=15).contains(&n));
    if details["finish_reason"] == "length" {
        assert_eq!(n, 15);
    }
}

#[tokio::test]
async fn generate_without_details_has_only_text() {
    let s = tiny_server();
    let (status, body) = post(&s, "/generate", json!({"inputs": "hello"})).await;
    assert_eq!(status, 200);
    assert!(body["generated_text"].is_string());
    assert!(body.get("details").is_none());
}

#[tokio::test]
async fn generate_stream_ends_with_generated_text() {
    let s = tiny_server();
    let (status, ctype, data) = post_sse(
        &s,
        "/generate_stream",
        json!({"inputs": "hello", "parameters": {"max_new_tokens": 4, "details": true, "ignore_eos": true}}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/event-stream"));
    let events: Vec<Value> = data
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.len(), 4);
    assert!(events[0]["token"]["id"].is_u64());
    assert!(events[0]["generated_text"].is_null());
    assert!(events[3]["generated_text"].is_string());
    assert_eq!(events[3]["details"]["generated_tokens"], 4);
}

#[tokio::test]
async fn validation_errors_are_422_with_tgi_shape() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/generate",
        json!({"inputs": "x", "parameters": {"max_new_tokens": 0}}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["error"].is_string());
    assert!(body["error_type"].is_string());
    let (status, body) = post(&s, "/generate", json!({"inputs": "w ".repeat(1030)})).await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().contains("tokens"));
    let (status, _) = post(&s, "/generate", json!({"parameters": {}})).await;
    assert_eq!(status, 422);
}
