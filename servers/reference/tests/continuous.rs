//! Continuous batching of generator decode steps: sequences in one batched forward pass get
//! exactly the tokens they get alone, leave when they finish or are cancelled, and never
//! exceed the maximum batch.

use joulebench_reference as reference;

use reference::batch::BatchSettings;
use reference::continuous::{BatchStats, DecodeScheduler, Progress};
use reference::inference::complete;
use reference::{
    FinishReason, Generation, GenerationParams, LoadOptions, ModelRegistry, ModelSpec, ServedModel,
    Task,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

fn model(preset: &str) -> Arc<ServedModel> {
    let spec = ModelSpec::parse(Task::Generation, preset).unwrap();
    let registry = ModelRegistry::load(&[spec], &LoadOptions::default()).unwrap();
    registry.first(Task::Generation).unwrap()
}

fn scheduler(m: &Arc<ServedModel>, max_batch: usize, wait_ms: u64) -> DecodeScheduler {
    let settings = BatchSettings {
        max_batch,
        wait: Duration::from_millis(wait_ms),
    };
    DecodeScheduler::start(m.clone(), settings).unwrap()
}

/// Every event of one request: its tokens with their batch sizes, then how it ended.
async fn collect(mut rx: UnboundedReceiver<Progress>) -> (Vec<(u32, usize)>, Generation) {
    let mut tokens = Vec::new();
    while let Some(event) = rx.recv().await {
        match event {
            Progress::Token { id, batch } => tokens.push((id, batch)),
            Progress::Done(g) => return (tokens, g),
            Progress::Failed(e) => panic!("generation failed: {e}"),
        }
    }
    panic!("the scheduler dropped a request")
}

/// Reads tokens until `n` have arrived; returns them.
async fn tokens(rx: &mut UnboundedReceiver<Progress>, n: usize) -> Vec<(u32, usize)> {
    let mut out = Vec::new();
    while out.len() < n {
        match rx.recv().await {
            Some(Progress::Token { id, batch }) => out.push((id, batch)),
            other => panic!("expected a token, got {other:?}"),
        }
    }
    out
}

/// Request `i` of a mixed batch: prompts of different lengths, different lengths to
/// generate, greedy and sampled, with and without `ignore_eos` and `min_tokens`.
fn request(m: &ServedModel, i: usize) -> (Vec<u32>, GenerationParams) {
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"];
    let text: Vec<&str> = (0..=(i * 3) % 11).map(|w| words[(w + i) % 7]).collect();
    let prompt = m.tokenizer.encode(&text.join(" ")).unwrap().ids;
    let sampled = i % 3 == 2;
    let params = GenerationParams {
        // The first runs while the others join, one step apart; the others end apart.
        max_new_tokens: if i == 0 { 32 } else { 8 + (i * 5) % 9 },
        min_new_tokens: if i % 4 == 1 { 8 } else { 0 },
        ignore_eos: i.is_multiple_of(2),
        temperature: if sampled { 0.8 } else { 0.0 },
        top_p: if sampled { 0.9 } else { 1.0 },
        seed: i as u64,
    };
    (prompt, params)
}

/// For batch sizes 1 to 8: request `i` joins when the first has produced `i` tokens (so
/// sequences join at different steps and finish at different steps); each must produce
/// the tokens the unbatched path produces alone, and the full batch must have run.
async fn batched_equals_alone(preset: &str) {
    let m = model(preset);
    for n in 1..=8 {
        let s = scheduler(&m, n, 0);
        let requests: Vec<_> = (0..n).map(|i| request(&m, i)).collect();
        let mut first = s
            .submit(requests[0].0.clone(), requests[0].1.clone())
            .unwrap();
        let mut first_tokens = Vec::new();
        let mut others = Vec::new();
        for (i, (prompt, params)) in requests.iter().enumerate().skip(1) {
            first_tokens.extend(tokens(&mut first, 1).await);
            assert_eq!(first_tokens.len(), i);
            others.push(s.submit(prompt.clone(), params.clone()).unwrap());
        }
        let (rest, g0) = collect(first).await;
        first_tokens.extend(rest);
        let mut results = vec![(first_tokens, g0)];
        for rx in others {
            results.push(collect(rx).await);
        }
        let mut largest = 0;
        for (i, ((events, g), (prompt, params))) in results.iter().zip(&requests).enumerate() {
            let alone = complete(&m, prompt, params, |_| true).unwrap();
            let ids: Vec<u32> = events.iter().map(|e| e.0).collect();
            let what = format!("{preset} n={n} #{i} ({params:?})");
            assert_eq!(ids, g.tokens, "{what}: streamed = final");
            assert_eq!(events.first().map(|e| e.1), Some(1), "prompt pass alone");
            if params.temperature == 0.0 || n == 1 {
                assert_eq!(g, &alone, "{what}: batched = alone");
            } else {
                // Sampled: the same first token (same prompt pass), the same length rules;
                // later draws over near-flat distributions may differ (see the crate docs).
                assert_eq!(g.tokens.first(), alone.tokens.first(), "{what}");
                assert!(g.tokens.len() >= params.min_new_tokens, "{what}");
                assert!(g.tokens.len() <= params.max_new_tokens, "{what}");
                if params.ignore_eos {
                    assert_eq!(g.tokens.len(), params.max_new_tokens, "{what}");
                }
            }
            largest = largest.max(events.iter().map(|e| e.1).max().unwrap_or(0));
        }
        assert_eq!(largest, n, "{preset}: a step ran all {n} sequences at once");
        let lengths: Vec<usize> = results.iter().map(|r| r.1.tokens.len()).collect();
        if n > 2 {
            assert!(
                lengths.iter().any(|&l| l != lengths[0]),
                "sequences finish at different steps: {lengths:?}"
            );
        }
    }
}

#[tokio::test]
async fn gpt2_batched_decode_equals_alone_for_batches_of_1_to_8() {
    batched_equals_alone("tiny").await;
}

#[tokio::test]
async fn bloom_batched_decode_equals_alone_for_batches_of_1_to_8() {
    batched_equals_alone("bloom-tiny").await;
}

#[tokio::test]
async fn a_full_batch_makes_the_next_request_wait() {
    let m = model("tiny");
    // The window gathers the burst; it closes as soon as four are waiting.
    let s = scheduler(&m, 4, 2_000);
    let params = GenerationParams {
        max_new_tokens: 12,
        ignore_eos: true,
        ..GenerationParams::default()
    };
    let prompt = m.tokenizer.encode("one two three").unwrap().ids;
    let receivers: Vec<_> = (0..5)
        .map(|_| s.submit(prompt.clone(), params.clone()).unwrap())
        .collect();
    let mut results = Vec::new();
    for rx in receivers {
        results.push(collect(rx).await);
    }
    for (events, g) in &results[..4] {
        assert_eq!(g.tokens.len(), 12);
        let decode: Vec<usize> = events[1..].iter().map(|e| e.1).collect();
        assert_eq!(BatchStats::of(&decode).max, 4, "{decode:?}");
    }
    // The fifth waited for a slot: by then the four (same length) had all left.
    let (events, g) = &results[4];
    assert_eq!(g.tokens.len(), 12);
    assert!(events.iter().all(|e| e.1 == 1), "{events:?}");
}

#[tokio::test]
async fn a_cancelled_request_frees_its_slot_at_once() {
    let m = model("tiny");
    let s = scheduler(&m, 2, 0);
    let long = |n| GenerationParams {
        max_new_tokens: n,
        ignore_eos: true,
        ..GenerationParams::default()
    };
    let prompt = m.tokenizer.encode("hello there").unwrap().ids;
    let mut a = s.submit(prompt.clone(), long(900)).unwrap();
    let mut b = s.submit(prompt.clone(), long(300)).unwrap();
    tokens(&mut a, 2).await;
    tokens(&mut b, 2).await;
    drop(a);
    // With a's slot free, c joins b and ends long before b's 300 tokens.
    let c = s.submit(prompt.clone(), long(4)).unwrap();
    let (c_events, g) = collect(c).await;
    assert_eq!(g.tokens.len(), 4);
    assert!(c_events[1..].iter().all(|e| e.1 == 2), "{c_events:?}");
    let mut b_tokens = 2;
    while let Ok(event) = b.try_recv() {
        assert!(
            matches!(event, Progress::Token { .. }),
            "b ended before c: {event:?}"
        );
        b_tokens += 1;
    }
    assert!(b_tokens < 300, "b still running when c ended");
    let (rest, g) = collect(b).await;
    assert_eq!(g.tokens.len(), 300);
    assert_eq!(g.finish, FinishReason::Length);
    assert!(rest.last().is_some_and(|e| e.1 == 1), "b ended alone");
}

#[tokio::test]
async fn bad_requests_are_errors_not_panics() {
    let m = model("tiny");
    let s = scheduler(&m, 4, 0);
    let ok = GenerationParams {
        ignore_eos: true,
        ..GenerationParams::default()
    };
    let err = |r: reference::error::Result<UnboundedReceiver<Progress>>| match r {
        Ok(_) => panic!("accepted a bad request"),
        Err(e) => e.to_string(),
    };
    assert!(err(s.submit(Vec::new(), ok.clone())).contains("empty"));
    let too_long = GenerationParams {
        max_new_tokens: 1024,
        ..ok.clone()
    };
    assert!(err(s.submit(vec![1, 2, 3], too_long)).contains("tokens"));
    let zero = GenerationParams {
        max_new_tokens: 0,
        ..ok.clone()
    };
    assert!(err(s.submit(vec![1], zero)).contains("max_tokens"));
    assert!(err(s.submit(vec![u32::MAX], ok.clone())).contains("vocabulary"));
    // The scheduler still serves after refusing them.
    let (_, g) = collect(s.submit(vec![1, 2], ok.clone()).unwrap()).await;
    assert_eq!(g.tokens.len(), ok.max_new_tokens);
    // An encoder has no decode steps to batch.
    let spec = ModelSpec::parse(Task::Classification, "tiny").unwrap();
    let enc = ModelRegistry::load(&[spec], &LoadOptions::default())
        .unwrap()
        .first(Task::Classification)
        .unwrap();
    let settings = BatchSettings {
        max_batch: 2,
        wait: Duration::ZERO,
    };
    assert!(DecodeScheduler::start(enc, settings).is_err());
}

/// One batched decode step against each sequence's step alone: the same logits up to the
/// summation order of one-row and many-row matrix products, and the same greedy token.
#[test]
fn a_batched_step_gives_each_row_its_own_logits() {
    use reference::registry::Network;
    for preset in ["tiny", "bloom-tiny"] {
        let m = model(preset);
        let Network::Generator(g) = &m.network else {
            panic!("not a generator")
        };
        let net = g.batched().expect("batched decode");
        let prompts: [&[u32]; 4] = [&[5, 6, 7], &[9], &[11, 12, 13, 14, 15, 16], &[20, 21]];
        let mut caches: Vec<_> = prompts.iter().map(|_| net.new_cache()).collect();
        let mut alone: Vec<_> = prompts.iter().map(|_| net.new_cache()).collect();
        let mut next = Vec::new();
        for ((p, c), a) in prompts.iter().zip(&mut caches).zip(&mut alone) {
            let l = net.forward(p, c).unwrap();
            assert_eq!(
                l.to_vec1::<f32>().unwrap(),
                net.forward(p, a).unwrap().to_vec1::<f32>().unwrap()
            );
            next.push(l.argmax(0).unwrap().to_scalar::<u32>().unwrap());
        }
        let mut refs: Vec<_> = caches.iter_mut().collect();
        let batched = net.forward_batch(&next, 1, &mut refs).unwrap();
        assert_eq!(batched.dims(), &[4, g.dims().vocab]);
        let batched = batched.to_vec2::<f32>().unwrap();
        let mut worst = 0f32;
        for ((row, a), t) in batched.iter().zip(&mut alone).zip(&next) {
            let one = net.forward(&[*t], a).unwrap().to_vec1::<f32>().unwrap();
            for (x, y) in row.iter().zip(&one) {
                worst = worst.max((x - y).abs());
            }
            let argmax = |v: &[f32]| {
                v.iter()
                    .enumerate()
                    .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
                    .0
            };
            assert_eq!(argmax(row), argmax(&one), "{preset}");
        }
        assert!(worst < 1e-4, "{preset}: logits differ by {worst}");
        for (c, p) in caches.iter().zip(&prompts) {
            assert_eq!(c.len(), p.len() + 1);
        }
        eprintln!("{preset}: largest |batched - alone| logit difference {worst:e}");
    }
}

mod http {
    //! The same over HTTP: OpenAI and TGI routes with batching on.

    use crate::common::{self, TestServer, tiny_server};
    use futures_util::future::join_all;
    use joulebench_reference as reference;
    use reference::{ModelSpec, Task};
    use serde_json::{Value, json};
    use std::time::Duration;

    /// A server with the tiny GPT-2 and T5 generators, batching up to `max_batch`.
    fn batching_server(max_batch: usize, wait: Duration) -> TestServer {
        let specs = vec![
            ModelSpec::parse(Task::Generation, "tiny").unwrap(),
            ModelSpec::parse(Task::Generation, "t5-tiny").unwrap(),
        ];
        common::batching_server(specs, max_batch, wait)
    }

    #[tokio::test]
    async fn batched_routes_answer_as_alone() {
        // The window closes when four are waiting: the four below start together (the later
        // requests, alone, each wait out the window).
        let batched = batching_server(4, Duration::from_secs(2));
        let alone = tiny_server();
        let asks = [
            (
                "/v1/completions",
                json!({"model": "generator-tiny", "prompt": "The movie was", "max_tokens": 9, "temperature": 0}),
            ),
            (
                "/v1/chat/completions",
                json!({"model": "generator-tiny", "messages": [{"role": "user", "content": "hello there, how are you"}],
                       "max_tokens": 14, "temperature": 0, "ignore_eos": true}),
            ),
            (
                "/generate",
                json!({"model": "generator-tiny", "inputs": "summarize: a b c d e f", "parameters": {"max_new_tokens": 5, "details": true}}),
            ),
            (
                "/v1/completions",
                json!({"model": "generator-tiny", "prompt": "x", "max_tokens": 12, "min_tokens": 12, "temperature": 0}),
            ),
        ];
        let answers = join_all(asks.iter().map(|(path, body)| {
            let b = batched;
            async move { common::post_batched(&b, path, body.clone()).await }
        }))
        .await;
        for ((path, body), (got, batch)) in asks.iter().zip(&answers) {
            assert_eq!(*batch, 4, "{path}: decode steps ran four at once");
            let (status, want) = common::post(&alone, path, body.clone()).await;
            assert_eq!(status, 200);
            let strip = |v: &Value| {
                let mut v = v.clone();
                for k in ["id", "created"] {
                    v.as_object_mut().map(|o| o.remove(k));
                }
                v
            };
            assert_eq!(strip(got), strip(&want), "{path}");
        }
        // Streamed: the same tokens as alone; T5 (not batchable) still answers, unbatched.
        let stream = json!({"model": "generator-tiny", "prompt": "hi", "max_tokens": 6, "ignore_eos": true,
                            "temperature": 0, "stream": true});
        let (_, _, got) = common::post_sse(&batched, "/v1/completions", stream.clone()).await;
        let (_, _, want) = common::post_sse(&alone, "/v1/completions", stream).await;
        let texts = |d: &[String]| -> Vec<Value> {
            d.iter()
                .filter_map(|x| serde_json::from_str::<Value>(x).ok())
                .map(|c| c["choices"][0]["text"].clone())
                .collect()
        };
        assert_eq!(texts(&got).len(), 6);
        assert_eq!(texts(&got), texts(&want));
        let (t5, batch) = common::post_batched(
            &batched,
            "/v1/completions",
            json!({"model": "generator-t5-tiny", "prompt": "translate: a b", "max_tokens": 3, "ignore_eos": true}),
        )
        .await;
        assert_eq!(t5["usage"]["completion_tokens"], 3);
        assert_eq!(batch, 0, "T5 runs alone: no batch header");
    }

    #[tokio::test]
    async fn a_fifth_request_waits_for_a_slot() {
        let batched = batching_server(4, Duration::from_secs(30));
        let body = json!({"model": "generator-tiny", "prompt": "one two", "max_tokens": 10, "ignore_eos": true});
        let answers = join_all((0..5).map(|_| {
            let (b, body) = (batched, body.clone());
            async move { common::post_batched(&b, "/v1/completions", body).await }
        }))
        .await;
        let mut batches: Vec<usize> = answers.iter().map(|a| a.1).collect();
        batches.sort_unstable();
        assert_eq!(batches, [1, 4, 4, 4, 4]);
        for (a, _) in &answers {
            assert_eq!(a["usage"]["completion_tokens"], 10);
        }
    }

    /// Opens a completion stream and reads until its first token.
    async fn open_stream(server: &TestServer, max_tokens: usize) -> reqwest::Response {
        let body = json!({"model": "generator-tiny", "prompt": "go on", "max_tokens": max_tokens,
                          "ignore_eos": true, "stream": true});
        let mut resp = common::post_response(server, "/v1/completions", body).await;
        assert_eq!(resp.status().as_u16(), 200);
        let first = resp.chunk().await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&first).contains("data:"));
        resp
    }

    #[tokio::test]
    async fn a_client_that_goes_away_frees_its_slot() {
        let batched = batching_server(2, Duration::ZERO);
        drop(open_stream(&batched, 1000).await);
        // b keeps streaming; count its tokens as they come.
        let mut b = open_stream(&batched, 1000).await;
        let (count_tx, count_rx) = tokio::sync::watch::channel(1usize);
        let reader = tokio::spawn(async move {
            let mut n = 1;
            while let Ok(Some(chunk)) = b.chunk().await {
                n += String::from_utf8_lossy(&chunk).matches("data:").count();
                let _ = count_tx.send(n);
            }
        });
        // With the first stream's slot free, c joins b at once and ends long before b would.
        let body = json!({"model": "generator-tiny", "prompt": "short", "max_tokens": 4, "ignore_eos": true});
        let (c, batch) = common::post_batched(&batched, "/v1/completions", body).await;
        let b_tokens = *count_rx.borrow();
        reader.abort();
        assert_eq!(c["usage"]["completion_tokens"], 4);
        assert_eq!(batch, 2, "c ran beside b");
        assert!(
            b_tokens < 500,
            "c waited for a stream to end: b had {b_tokens} tokens"
        );
    }
}
