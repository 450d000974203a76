//! OpenAI completions, chat (plain and streamed) and the model list, over loopback.

use joulebench_reference as reference;

use crate::common;

use common::{get, post, post_sse, tiny_server};
use serde_json::{Value, json};

#[tokio::test]
async fn completion_with_ignore_eos_returns_exactly_max_tokens() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/v1/completions",
        json!({"model": "generator-tiny", "prompt": "The movie was", "max_tokens": 16,
               "ignore_eos": true, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["model"], "generator-tiny");
    assert_eq!(body["usage"]["completion_tokens"], 16);
    assert_eq!(body["usage"]["prompt_tokens"], 3);
    assert_eq!(body["usage"]["total_tokens"], 19);
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert!(body["choices"][0]["text"].as_str().unwrap().len() > 16);
}

#[tokio::test]
async fn min_tokens_and_sampling_are_accepted() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/v1/completions",
        json!({"prompt": ["one two"], "max_tokens": 5, "min_tokens": 5, "temperature": 0.8, "seed": 3}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usage"]["completion_tokens"], 5);
}

#[tokio::test]
async fn chat_completion_reports_usage() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/v1/chat/completions",
        json!({"model": "generator-tiny", "messages": [{"role": "user", "content": "hello there"}],
               "max_completion_tokens": 4, "ignore_eos": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert!(body["choices"][0]["message"]["content"].is_string());
    assert_eq!(body["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn streamed_completion_sends_one_chunk_per_token_then_usage_and_done() {
    let s = tiny_server();
    let (status, ctype, data) = post_sse(
        &s,
        "/v1/completions",
        json!({"prompt": "hi", "max_tokens": 16, "ignore_eos": true, "stream": true,
               "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let token_chunks: Vec<&Value> = chunks
        .iter()
        .filter(|c| c["choices"].as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    assert_eq!(token_chunks.len(), 16);
    assert_eq!(token_chunks[15]["choices"][0]["finish_reason"], "length");
    assert!(token_chunks[0]["choices"][0]["finish_reason"].is_null());
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 16);
}

#[tokio::test]
async fn streamed_chat_starts_with_the_role() {
    let s = tiny_server();
    let (status, _, data) = post_sse(
        &s,
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "ignore_eos": true, "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    let first: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(data.len(), 1 + 3 + 1);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn model_list_reports_parameters_and_tokenizer() {
    let s = tiny_server();
    let (status, text) = get(&s, "/v1/models").await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["object"], "list");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let gen_model = data.iter().find(|m| m["id"] == "generator-tiny").unwrap();
    assert_eq!(
        gen_model["parameters"],
        reference::models::presets::generator("tiny")
            .unwrap()
            .parameter_count()
    );
    assert_eq!(gen_model["builtin_tokenizer"], true);
    assert_eq!(gen_model["task"], "text-generation");
}

#[tokio::test]
async fn bad_requests_get_openai_style_errors() {
    let s = tiny_server();
    let (status, body) = post(
        &s,
        "/v1/completions",
        json!({"model": "nope", "prompt": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"));

    let (status, body) = post(
        &s,
        "/v1/completions",
        json!({"prompt": "x", "max_tokens": -1}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let (status, _) = post(
        &s,
        "/v1/completions",
        json!({"prompt": "x", "max_tokens": 2, "min_tokens": 3}),
    )
    .await;
    assert_eq!(status, 400);

    let long = "word ".repeat(1100);
    let (status, body) = post(&s, "/v1/completions", json!({"prompt": long})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "context_length_exceeded");

    let (status, _) = post(
        &s,
        "/v1/completions",
        json!({"model": "classifier-tiny", "prompt": "x"}),
    )
    .await;
    assert_eq!(status, 400);

    let resp = reqwest::Client::new()
        .post(common::url(&s, "/v1/completions"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("JSON"));
}

#[tokio::test]
async fn concurrent_requests_wait_their_turn_and_all_complete() {
    let s = tiny_server();
    let calls = (0..4).map(|i| {
        post(
            &s,
            if i % 2 == 0 {
                "/v1/completions"
            } else {
                "/generate"
            },
            if i % 2 == 0 {
                json!({"prompt": "a b", "max_tokens": 8, "ignore_eos": true})
            } else {
                json!({"inputs": "a b", "parameters": {"max_new_tokens": 8, "ignore_eos": true}})
            },
        )
    });
    for (status, body) in futures_join(calls).await {
        assert_eq!(status, 200, "{body}");
    }
}

/// Runs futures concurrently on the current task.
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.map(|f| Box::pin(f)).collect();
    let mut out = Vec::new();
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for slot in pending.iter_mut() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out.push(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out
}
