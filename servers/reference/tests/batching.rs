//! Dynamic batching of encoder requests: concurrent requests share one padded forward pass
//! and get the answers they would get alone.

use crate::common;

use common::{TestServer, tiny_server};
use futures_util::future::join_all;
use joulebench_reference as reference;
use reference::{ModelSpec, Task};
use serde_json::{Value, json};
use std::time::Duration;

/// A server with the tiny classifier and QA model batching up to `max_batch` requests.
fn batching_server(max_batch: usize, wait: Duration) -> TestServer {
    let specs = vec![
        ModelSpec::parse(Task::Classification, "tiny").unwrap(),
        ModelSpec::parse(Task::QuestionAnswering, "tiny").unwrap(),
    ];
    common::batching_server(specs, max_batch, wait)
}

fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-4 * (1.0 + y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

#[tokio::test]
async fn concurrent_requests_share_a_batch_and_get_their_own_answers() {
    // A full batch closes at once; the 30 s window only bounds a batch that never fills,
    // so the four requests below cannot miss each other.
    let batched = batching_server(4, Duration::from_secs(30));
    let alone = tiny_server();
    let texts = [
        "good",
        "a wonderful, moving film with a great cast",
        "bad",
        "the plot made no sense at all and it went on far too long",
    ];
    let answers = join_all(texts.iter().map(|t| {
        let b = batched;
        async move { common::post_batched(&b, "/predict", json!({ "inputs": t })).await }
    }))
    .await;
    for (text, (body, batch)) in texts.iter().zip(&answers) {
        assert_eq!(*batch, 4, "{text}: ran in the batch of four");
        let (_, single) = common::post(&alone, "/predict", json!({ "inputs": text })).await;
        assert!(close(body, &single), "{text}: {body} vs alone {single}");
    }
    // One request with several inputs forms its own batch: QA spans, each answer its own.
    let items = json!([
        {"question": "Who wrote it?", "context": "It was written by Ada in 1843."},
        {"question": "Where?", "context": "In London, near the river, on a grey morning."},
        {"question": "When?", "context": "1843."},
        {"question": "Why?", "context": "Because the engine could compute."}
    ]);
    let (body, batch) =
        common::post_batched(&batched, "/predict", json!({ "inputs": items })).await;
    assert_eq!(batch, 4);
    let (_, single) = common::post(&alone, "/predict", json!({ "inputs": items })).await;
    assert!(close(&body, &single), "{body} vs alone {single}");
}

#[tokio::test]
async fn a_request_alone_waits_at_most_the_window() {
    let batched = batching_server(8, Duration::from_millis(20));
    let started = std::time::Instant::now();
    let (_, batch) = common::post_batched(&batched, "/predict", json!({"inputs": "fine"})).await;
    assert_eq!(batch, 1, "nobody joined");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a lone request is not held beyond its window"
    );
}
