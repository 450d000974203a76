//! Real weights: a folder in Hugging Face layout written with candle is served with the same
//! logits (and greedy tokens) as the model built in-process.

use joulebench_reference as reference;

use crate::common;

use candle_core::Tensor;
use common::{post, spawn_server};
use reference::builtin_tokenizer::pseudo_word;
use reference::tokenizer::TextTokenizer;
use reference::{
    EncoderConfig, EncoderLayout, EncoderModel, EncoderTask, GenerationParams, Gpt2, Gpt2Config,
    LoadOptions, ModelSpec, SeededInit, Task,
};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;

fn save(dir: &Path, tensors: HashMap<String, Tensor>, config: serde_json::Value) {
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
}

/// A word-level tokenizer.json with BERT's [CLS] … [SEP] post-processing.
fn write_tokenizer(dir: &Path) {
    let words = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "movie", "was", "great", "awful",
    ];
    let vocab: serde_json::Map<String, serde_json::Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = words[..4]
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"id": i, "content": w, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    let tok = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
}

#[tokio::test]
async fn classifier_folder_gives_the_in_process_logits() {
    let dir = tempfile::tempdir().unwrap();
    let config = EncoderConfig {
        layout: EncoderLayout::Bert,
        vocab_size: 64,
        hidden_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 48,
        max_position_embeddings: 40,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
    };
    let labels = vec![
        "negative".to_string(),
        "positive".to_string(),
        "neutral".to_string(),
    ];
    let init = SeededInit::new(7);
    let model = EncoderModel::load(
        &config,
        EncoderTask::Classification(labels),
        init.var_builder(),
    )
    .unwrap();
    save(
        dir.path(),
        init.tensors(),
        json!({"model_type": "bert", "architectures": ["BertForSequenceClassification"],
               "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
               "intermediate_size": 48, "max_position_embeddings": 40, "type_vocab_size": 2,
               "layer_norm_eps": 1e-12, "id2label": {"0": "negative", "1": "positive", "2": "neutral"}}),
    );
    write_tokenizer(dir.path());

    let tok = TextTokenizer::from_file(&dir.path().join("tokenizer.json")).unwrap();
    let enc = tok.encode("The movie was great").unwrap();
    assert_eq!(enc.ids, vec![2, 4, 5, 6, 7, 3]);
    let expected = model.classify(&enc.ids, &enc.type_ids).unwrap();

    let spec = ModelSpec::parse(Task::Classification, &format!("sst=dir/{}", "x")).unwrap();
    let spec = ModelSpec {
        source: reference::Source::Folder(dir.path().to_path_buf()),
        ..spec
    };
    let s = spawn_server(vec![spec], LoadOptions::default());
    let (status, body) = post(
        &s,
        "/v2/models/sst/infer",
        json!({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["The movie was great"]}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let logits = body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "logits")
        .unwrap();
    let got: Vec<f32> = logits["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(got.len(), 3);
    for (g, e) in got.iter().zip(&expected) {
        assert!(
            (g - e).abs() < 1e-5,
            "served {got:?}, in-process {expected:?}"
        );
    }
    let (_, raw) = post(
        &s,
        "/predict",
        json!({"inputs": "The movie was great", "raw_scores": true}),
    )
    .await;
    let labels: Vec<&str> = raw
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 3);
    assert!(labels.contains(&"neutral"));

    let (_, models) = common::get(&s, "/v1/models").await;
    let models: serde_json::Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["data"][0]["builtin_tokenizer"], false);
    let count: usize = init.tensors().values().map(|t| t.elem_count()).sum();
    assert_eq!(models["data"][0]["parameters"], count);
}

#[tokio::test]
async fn generator_folder_gives_the_in_process_greedy_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let config = Gpt2Config {
        vocab_size: 500,
        n_positions: 64,
        n_embd: 32,
        n_layer: 2,
        n_head: 2,
        n_inner: None,
        layer_norm_epsilon: 1e-5,
        eos_token_id: 499,
    };
    let init = SeededInit::new(11);
    let model = Gpt2::load(&config, init.var_builder()).unwrap();
    // The original gpt2 checkpoints have no `transformer.` prefix: check that layout loads.
    let tensors: HashMap<String, Tensor> = init
        .tensors()
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches("transformer.").to_string(), v))
        .collect();
    save(
        dir.path(),
        tensors,
        json!({"model_type": "gpt2", "vocab_size": 500, "n_positions": 64, "n_embd": 32, "n_layer": 2,
               "n_head": 2, "n_inner": null, "layer_norm_epsilon": 1e-5, "eos_token_id": 499, "bos_token_id": 499}),
    );
    let prompt = [5u32, 17, 42];
    let params = GenerationParams {
        max_new_tokens: 8,
        ignore_eos: true,
        ..Default::default()
    };
    let expected =
        reference::generate::generate(&model, &prompt, &params, Some(499), |_| true).unwrap();
    let text: Vec<String> = expected
        .tokens
        .iter()
        .filter(|&&t| t != 499)
        .map(|&t| pseudo_word(t))
        .collect();

    let spec = ModelSpec {
        name: "g".into(),
        task: Task::Generation,
        source: reference::Source::Folder(dir.path().to_path_buf()),
        format: reference::WeightFormat::F32,
        techniques: Default::default(),
    };
    let s = spawn_server(vec![spec], LoadOptions::default());
    let (status, body) = post(
        &s,
        "/v1/completions",
        json!({"model": "g", "prompt": prompt, "max_tokens": 8, "ignore_eos": true, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["text"], text.join(" "));
    assert_eq!(body["usage"]["prompt_tokens"], 3);
    assert_eq!(body["usage"]["completion_tokens"], 8);
}

#[tokio::test]
async fn bloom_folder_gives_the_in_process_greedy_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let config = reference::BloomConfig {
        vocab_size: 300,
        hidden_size: 48,
        n_layer: 2,
        n_head: 6,
        layer_norm_epsilon: 1e-5,
        eos_token_id: 2,
        max_context: 64,
    };
    let init = SeededInit::new(5);
    let model = reference::Bloom::load(&config, init.var_builder()).unwrap();
    save(
        dir.path(),
        init.tensors(),
        json!({"model_type": "bloom", "vocab_size": 300, "hidden_size": 48, "n_layer": 2, "n_head": 6,
               "layer_norm_epsilon": 1e-5, "eos_token_id": 2, "bos_token_id": 1, "seq_length": 64}),
    );
    let prompt = [5u32, 17, 42, 7];
    let params = GenerationParams {
        max_new_tokens: 6,
        ignore_eos: true,
        ..Default::default()
    };
    let expected =
        reference::generate::generate(&model, &prompt, &params, Some(2), |_| true).unwrap();
    let specials = [0, 1, 2, 3];
    let text: Vec<String> = expected
        .tokens
        .iter()
        .filter(|t| !specials.contains(*t))
        .map(|&t| pseudo_word(t))
        .collect();

    let spec = ModelSpec {
        name: "b".into(),
        task: Task::Generation,
        source: reference::Source::Folder(dir.path().to_path_buf()),
        format: reference::WeightFormat::F32,
        techniques: Default::default(),
    };
    let s = spawn_server(vec![spec], LoadOptions::default());
    let (status, body) = post(
        &s,
        "/generate",
        json!({"inputs": "", "parameters": {"max_new_tokens": 6, "details": true, "ignore_eos": true}}),
    )
    .await;
    assert_eq!(status, 422, "an empty prompt is refused: {body}");
    let (status, body) = post(
        &s,
        "/v1/completions",
        json!({"model": "b", "prompt": prompt, "max_tokens": 6, "ignore_eos": true, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["text"], text.join(" "));
    let (_, models) = common::get(&s, "/v1/models").await;
    let models: serde_json::Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["data"][0]["architecture"], "BloomForCausalLM");
    assert_eq!(models["data"][0]["max_model_len"], 64);
}
