//! KServe v2 / Open Inference Protocol over loopback, and the health routes.

use joulebench_reference as reference;

use crate::common;

use common::{get, post, tiny_server};
use serde_json::json;

#[tokio::test]
async fn infer_classifier_returns_label_score_and_logits() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/v2/models/classifier-tiny/infer",
        json!({"id": "42", "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["good", "bad"]}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_name"], "classifier-tiny");
    assert_eq!(body["id"], "42");
    let outputs = body["outputs"].as_array().unwrap();
    let logits = outputs.iter().find(|o| o["name"] == "logits").unwrap();
    assert_eq!(logits["datatype"], "FP32");
    assert_eq!(logits["shape"], json!([2, 2]));
    assert_eq!(logits["data"].as_array().unwrap().len(), 4);
    let label = outputs.iter().find(|o| o["name"] == "label").unwrap();
    assert_eq!(label["datatype"], "BYTES");
}

#[tokio::test]
async fn infer_qa_takes_question_and_context() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/v2/models/qa-tiny/infer",
        json!({"inputs": [
            {"name": "question", "shape": [1], "datatype": "BYTES", "data": ["Who?"]},
            {"name": "context", "shape": [1], "datatype": "BYTES", "data": ["Ada wrote it."]}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer = body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "answer")
        .unwrap();
    assert!(!answer["data"][0].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn infer_generator_honours_max_tokens() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/v2/models/generator-tiny/infer",
        json!({"inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES", "data": ["hello"]}],
               "parameters": {"max_tokens": 7, "ignore_eos": true}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let n = body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "completion_tokens")
        .unwrap();
    assert_eq!(n["data"][0], 7);
}

#[tokio::test]
async fn metadata_readiness_and_errors() {
    let s = tiny_server();
    let (status, text) = get(&s, "/v2/models/qa-tiny").await;
    assert_eq!(status, 200);
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(meta["name"], "qa-tiny");
    assert_eq!(meta["inputs"][1]["name"], "context");
    assert_eq!(get(&s, "/v2/models/qa-tiny/ready").await.0, 200);
    assert_eq!(get(&s, "/v2/models/none/ready").await.0, 404);
    assert_eq!(get(&s, "/v2/health/ready").await.0, 200);
    assert_eq!(get(&s, "/v2/health/live").await.0, 200);
    assert_eq!(get(&s, "/health").await.0, 200);
    let (status, body) = post(&s, "/v2/models/none/infer", json!({"inputs": []})).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    let (status, body) = post(
        &s,
        "/v2/models/classifier-tiny/infer",
        json!({"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("BYTES"));
}

#[tokio::test]
async fn health_is_503_until_models_are_installed() {
    let server = reference::RunningServer::bind("127.0.0.1:0", 1)
        .await
        .unwrap();
    let url = format!("http://{}/health", server.addr());
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 503);
    let models = format!("http://{}/v1/models", server.addr());
    assert_eq!(reqwest::get(&models).await.unwrap().status().as_u16(), 503);
    server.install(reference::ModelRegistry::default()).unwrap();
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 200);
    server
        .stop(std::time::Duration::from_secs(1))
        .await
        .unwrap();
}
