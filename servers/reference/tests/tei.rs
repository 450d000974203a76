//! TEI `/predict` (classification and extractive QA) and `/embed` over loopback.

use crate::common;

use common::{post, tiny_server};
use serde_json::json;

#[tokio::test]
async fn predict_returns_label_scores_summing_to_one() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/predict",
        json!({"inputs": "a wonderful, moving film"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let scores = body.as_array().unwrap();
    assert_eq!(scores.len(), 2);
    let labels: Vec<&str> = scores
        .iter()
        .map(|x| x["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"POSITIVE") && labels.contains(&"NEGATIVE"));
    let total: f64 = scores.iter().map(|x| x["score"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-4);
    assert!(scores[0]["score"].as_f64() >= scores[1]["score"].as_f64());
}

#[tokio::test]
async fn predict_batches_and_raw_scores() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/predict",
        json!({"inputs": ["good", "bad", "fine"], "raw_scores": true}),
    )
    .await;
    assert_eq!(status, 200);
    let batch = body.as_array().unwrap();
    assert_eq!(batch.len(), 3);
    assert_eq!(batch[0].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn predict_answers_questions_from_the_context() {
    let s = tiny_server();
    let context = "The Eiffel Tower is in Paris and was finished in 1889.";
    let (status, body) = post(
        &s,
        "/predict",
        json!({"inputs": {"question": "Where is the tower?", "context": context}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (start, end) = (
        body["start"].as_u64().unwrap() as usize,
        body["end"].as_u64().unwrap() as usize,
    );
    assert!(start < end && end <= context.len());
    assert_eq!(body["answer"].as_str().unwrap(), &context[start..end]);
    assert!(body["score"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn embed_returns_unit_vectors() {
    let s = tiny_server();
    let (status, body) = post(&s, "/embed", json!({"inputs": ["one", "two"]})).await;
    assert_eq!(status, 200);
    let vectors = body.as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    let v = vectors[0].as_array().unwrap();
    assert_eq!(v.len(), 128);
    let norm: f64 = v
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum::<f64>()
        .sqrt();
    assert!((norm - 1.0).abs() < 1e-3);
}

#[tokio::test]
async fn oversize_input_is_413_and_truncate_accepts_it() {
    let s = tiny_server();
    let long = "word ".repeat(600);
    let (status, body) = post(&s, "/predict", json!({"inputs": long})).await;
    assert_eq!(status, 413);
    assert!(body["error"].as_str().unwrap().contains("512"));
    let (status, _) = post(&s, "/predict", json!({"inputs": long, "truncate": true})).await;
    assert_eq!(status, 200);
    let (status, _) = post(&s, "/predict", json!({"inputs": 5})).await;
    assert_eq!(status, 422);
    let (status, _) = post(&s, "/predict", json!({"inputs": "x", "model": "missing"})).await;
    assert_eq!(status, 404);
}
