//! The Llama layout: parameter counts of public checkpoints, the cache and batching against
//! a full recompute, candle-transformers' independent implementation on the same weights,
//! quantized weights against FP32, GGUF and Hugging Face folder round trips.

use joulebench_reference as reference;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use reference::models::kv_cache::CachedForward;
use reference::models::llama::argmax;
use reference::models::{llama_gguf, presets};
use reference::{
    Generator, GeneratorConfig, Llama, LlamaConfig, ModelSpec, SeededInit, Source, Task,
    WeightFormat,
};
use std::collections::HashMap;

fn test_config() -> LlamaConfig {
    presets::llama_preset("llama-test").unwrap()
}

fn build(c: &LlamaConfig, format: WeightFormat, seed: u64) -> Llama {
    Llama::load(c, format, SeededInit::new(seed).var_builder()).unwrap()
}

pub(crate) fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

pub(crate) fn rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    max_abs(&(a - b).unwrap()) / max_abs(b)
}

const PROMPT: &[u32] = &[5, 17, 300, 42, 999, 8, 64];

#[test]
fn parameter_counts_match_public_checkpoints() {
    for (name, count) in [
        ("smollm2-135m", 134_515_008),
        ("qwen2.5-0.5b", 494_032_768),
        ("llama-3.2-1b", 1_235_814_400),
        ("tinyllama-1.1b", 1_100_048_384),
    ] {
        assert_eq!(
            presets::generator(name).unwrap().parameter_count(),
            count,
            "{name}"
        );
    }
}

#[test]
fn analytic_count_equals_the_built_tensors() {
    for tied in [false, true] {
        let c = LlamaConfig {
            tie_word_embeddings: tied,
            ..test_config()
        };
        let init = SeededInit::new(3);
        Llama::load(&c, WeightFormat::F32, init.var_builder()).unwrap();
        let built: usize = init.tensors().values().map(|t| t.elem_count()).sum();
        assert_eq!(built, c.parameter_count(), "tied {tied}");
    }
}

#[test]
fn cached_steps_and_batches_equal_a_full_recompute() {
    let m = build(&test_config(), WeightFormat::F32, 1);
    let full = m.forward(PROMPT, &mut m.new_cache()).unwrap();
    let mut cache = m.new_cache();
    m.forward(&PROMPT[..4], &mut cache).unwrap();
    m.forward(&PROMPT[4..6], &mut cache).unwrap();
    let stepped = m.forward(&PROMPT[6..], &mut cache).unwrap();
    assert!(
        rel_diff(&stepped, &full) < 1e-4,
        "{}",
        rel_diff(&stepped, &full)
    );
    // Two sequences of different lengths decoding one token each, batched.
    let (mut a, mut b) = (m.new_cache(), m.new_cache());
    m.forward(&PROMPT[..3], &mut a).unwrap();
    m.forward(&PROMPT[..6], &mut b).unwrap();
    let batched = m.forward_batch(&[7, 9], 1, &mut [&mut a, &mut b]).unwrap();
    let alone_a = m
        .forward(&[&PROMPT[..3], &[7]].concat(), &mut m.new_cache())
        .unwrap();
    let alone_b = m
        .forward(&[&PROMPT[..6], &[9]].concat(), &mut m.new_cache())
        .unwrap();
    assert!(rel_diff(&batched.get(0).unwrap(), &alone_a) < 1e-4);
    assert!(rel_diff(&batched.get(1).unwrap(), &alone_b) < 1e-4);
    // The position matters (RoPE): the same token after different prefixes differs.
    assert!(rel_diff(&alone_a, &alone_b) > 1e-3);
}

/// Our rows rotate adjacent pairs; Hugging Face's (and candle-transformers') rotate halves.
fn to_hf_rows(t: &Tensor, heads: usize, d: usize) -> Tensor {
    let dims = t.dims().to_vec();
    let rest: usize = dims.iter().skip(1).product();
    t.reshape((heads, d / 2, 2, rest))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape(dims)
        .unwrap()
}

pub(crate) fn hf_tensors(c: &LlamaConfig, init: &SeededInit) -> HashMap<String, Tensor> {
    let d = c.head_dim();
    init.tensors()
        .into_iter()
        .map(|(name, t)| {
            let t = if name.contains("q_proj") {
                to_hf_rows(&t, c.num_attention_heads, d)
            } else if name.contains("k_proj") {
                to_hf_rows(&t, c.num_key_value_heads, d)
            } else {
                t
            };
            (name, t)
        })
        .collect()
}

#[test]
fn logits_equal_candle_transformers_llama_on_the_same_weights() {
    let c = LlamaConfig {
        attention_bias: false,
        ..test_config()
    };
    let init = SeededInit::new(4);
    let ours = Llama::load(&c, WeightFormat::F32, init.var_builder()).unwrap();
    let theirs_config: candle_transformers::models::llama::LlamaConfig =
        serde_json::from_value(serde_json::json!({
            "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size,
            "vocab_size": c.vocab_size,
            "num_hidden_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads,
            "num_key_value_heads": c.num_key_value_heads,
            "rms_norm_eps": c.rms_norm_eps,
            "rope_theta": c.rope_theta,
            "max_position_embeddings": c.max_position_embeddings,
            "tie_word_embeddings": false,
        }))
        .unwrap();
    let cfg = theirs_config.into_config(false);
    let vb = VarBuilder::from_tensors(hf_tensors(&c, &init), DType::F32, &Device::Cpu);
    let theirs = candle_transformers::models::llama::Llama::load(vb, &cfg).unwrap();
    let mut cache =
        candle_transformers::models::llama::Cache::new(true, DType::F32, &cfg, &Device::Cpu)
            .unwrap();
    let input = Tensor::new(PROMPT, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let want = theirs
        .forward(&input, 0, &mut cache)
        .unwrap()
        .squeeze(0)
        .unwrap();
    let got = ours.forward(PROMPT, &mut ours.new_cache()).unwrap();
    assert!(rel_diff(&got, &want) < 1e-4, "{}", rel_diff(&got, &want));
}

#[test]
fn quantized_logits_stay_close_to_fp32_and_generate() {
    let c = test_config();
    let exact = build(&c, WeightFormat::F32, 2);
    let want = exact.forward(PROMPT, &mut exact.new_cache()).unwrap();
    let f32_bytes = exact.weights_info().bytes;
    assert_eq!(f32_bytes, c.parameter_count() * 4);
    for (format, tol, max_bits) in [
        (WeightFormat::Q8_0, 0.02, 8.6),
        (WeightFormat::Q4_0, 0.25, 4.7),
        (WeightFormat::Q4K, 0.25, 4.7),
    ] {
        let q = build(&c, format, 2);
        let info = q.weights_info();
        assert_eq!(info.format, format.as_str());
        assert!(info.fallbacks.is_empty(), "{format}: {:?}", info.fallbacks);
        assert!(info.bits_per_weight < max_bits, "{format}: {info:?}");
        assert!(info.bytes * 3 < f32_bytes, "{format}: {info:?}");
        let got = q.forward(PROMPT, &mut q.new_cache()).unwrap();
        let err = rel_diff(&got, &want);
        assert!(err < tol, "{format}: relative logit error {err}");
        assert!(
            err > 0.0,
            "{format}: identical to FP32, so nothing was quantized"
        );
        // Greedy generation through the generator interface.
        let (mut decoding, mut logits) = q.start(PROMPT).unwrap();
        let mut out = Vec::new();
        for _ in 0..4 {
            let next = argmax(&logits).unwrap();
            assert!((next as usize) < c.vocab_size);
            out.push(next);
            logits = decoding.step(next).unwrap();
        }
        assert_eq!(out.len(), 4);
    }
}

#[test]
fn a_prompt_over_quantized_weights_agrees_with_its_tokens_fed_one_by_one() {
    // 24 tokens take the prompt path (weights dequantized for the FP32 GEMM); one token at
    // a time takes the quantized matrix-vector path (activations quantized to Q8_0). Both
    // compute the same model: the last logits differ by the activations' quantization only.
    let c = test_config();
    let prompt: Vec<u32> = (0..24).map(|i| 5 + i * 37).collect();
    for format in [WeightFormat::Q8_0, WeightFormat::Q4_0] {
        let q = build(&c, format, 3);
        let whole = q.forward(&prompt, &mut q.new_cache()).unwrap();
        let mut cache = q.new_cache();
        let mut last = None;
        for t in &prompt {
            last = Some(q.forward(&[*t], &mut cache).unwrap());
        }
        let stepped = last.unwrap();
        let err = rel_diff(&whole, &stepped);
        assert!(err < 0.02, "{format}: prompt vs steps relative error {err}");
    }
}

#[test]
fn smollm2_widths_fall_back_for_q4_k() {
    // 576 is not a multiple of Q4_K's 256: those matrices are stored Q5_0, as llama.cpp does.
    let c = LlamaConfig {
        num_hidden_layers: 1,
        vocab_size: 64,
        ..presets::llama_preset("smollm2-135m").unwrap()
    };
    let info = build(&c, WeightFormat::Q4K, 0).weights_info();
    assert_eq!(info.fallbacks, vec!["q5_0 × 7".to_string()], "{info:?}");
}

#[test]
fn gguf_round_trip_gives_the_same_logits() {
    let dir = tempfile::tempdir().unwrap();
    for (format, tied) in [(WeightFormat::F32, false), (WeightFormat::Q4_0, true)] {
        let c = LlamaConfig {
            tie_word_embeddings: tied,
            ..test_config()
        };
        let m = build(&c, format, 5);
        let path = dir.path().join(format!("m-{format}.gguf"));
        m.write_gguf(&path).unwrap();
        let back = llama_gguf::load(&path).unwrap();
        assert_eq!(back.config(), m.config());
        assert_eq!(back.weights_info(), m.weights_info());
        let a = m.forward(PROMPT, &mut m.new_cache()).unwrap();
        let b = back.forward(PROMPT, &mut back.new_cache()).unwrap();
        assert_eq!(max_abs(&(a - b).unwrap()), 0.0, "{format}");
        let file = candle_core::quantized::gguf_file::Content::read(
            &mut std::fs::File::open(&path).unwrap(),
        )
        .unwrap();
        let tokens = file.metadata["tokenizer.ggml.tokens"].to_vec().unwrap();
        assert_eq!(tokens.len(), c.vocab_size);
        assert!(file.tensor_infos.contains_key("blk.1.ffn_down.weight"));
        assert_eq!(file.tensor_infos.contains_key("output.weight"), !tied);
    }
}

#[test]
fn a_hugging_face_folder_serves_the_same_model() {
    let c = test_config();
    let init = SeededInit::new(6);
    let preset = Llama::load(&c, WeightFormat::F32, init.var_builder()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    candle_core::safetensors::save(&hf_tensors(&c, &init), dir.path().join("model.safetensors"))
        .unwrap();
    let mut json = serde_json::to_value(&c).unwrap();
    json["model_type"] = "llama".into();
    std::fs::write(dir.path().join("config.json"), json.to_string()).unwrap();
    let spec = ModelSpec {
        name: "l".into(),
        task: Task::Generation,
        source: Source::Folder(dir.path().to_path_buf()),
        format: WeightFormat::F32,
        techniques: Default::default(),
    };
    let served = reference::ServedModel::load(&spec, &Default::default()).unwrap();
    assert_eq!(served.architecture, "LlamaForCausalLM");
    assert_eq!(served.parameters, c.parameter_count());
    let reference::registry::Network::Generator(g) = &served.network else {
        panic!("not a generator");
    };
    let (_, got) = g.start(PROMPT).unwrap();
    let want = preset.forward(PROMPT, &mut preset.new_cache()).unwrap();
    assert!(rel_diff(&got, &want) < 1e-5, "{}", rel_diff(&got, &want));
}

#[test]
fn specs_take_a_weight_format_or_a_gguf_file() {
    let s = ModelSpec::parse(Task::Generation, "small=smollm2-135m:q4_0").unwrap();
    assert_eq!(s.name, "small");
    assert_eq!(s.format, WeightFormat::Q4_0);
    assert_eq!(s.source, Source::Preset("smollm2-135m".into()));
    let s = ModelSpec::parse(Task::Generation, "llama-test").unwrap();
    assert_eq!(s.format, WeightFormat::F32);
    assert!(ModelSpec::parse(Task::Generation, "llama-test:q3_k").is_err());
    assert!(ModelSpec::parse(Task::Classification, "tiny:q8_0").is_err());
    let s = ModelSpec::parse(Task::Generation, "g=out/model.gguf").unwrap();
    assert_eq!(s.source, Source::Gguf("out/model.gguf".into()));
    assert!(ModelSpec::parse(Task::Generation, "out/model.gguf:q4_0").is_err());
    // T5 has no quantized layers: the load says so rather than serving FP32.
    let spec = ModelSpec::parse(Task::Generation, "t5-tiny:q8_0").unwrap();
    let err = reference::ServedModel::load(&spec, &Default::default()).unwrap_err();
    assert!(err.to_string().contains("Llama layouts only"), "{err}");
}

#[test]
fn gpt2_and_bloom_blocks_quantize_too() {
    for preset in ["tiny", "bloom-tiny"] {
        let c = presets::generator(preset).unwrap();
        let exact = c.load(SeededInit::new(8).var_builder()).unwrap();
        assert_eq!(exact.weights().bytes, c.parameter_count() * 4);
        let (_, want) = exact.start(PROMPT).unwrap();
        for (format, tol) in [(WeightFormat::Q8_0, 0.02), (WeightFormat::Q4_0, 0.25)] {
            let q = c.load_as(SeededInit::new(8).var_builder(), format).unwrap();
            let info = q.weights();
            assert_eq!(info.format, format.as_str());
            // Embeddings and the tied head stay FP32, so fewer bytes but not 4x fewer.
            assert!(info.bytes < c.parameter_count() * 4, "{preset} {info:?}");
            let (mut d, got) = q.start(PROMPT).unwrap();
            let err = rel_diff(&got, &want);
            assert!(err > 0.0 && err < tol, "{preset} {format}: {err}");
            d.step(argmax(&got).unwrap()).unwrap();
        }
    }
}

#[test]
fn hidden_states_expose_every_block_boundary() {
    let m = build(&test_config(), WeightFormat::F32, 7);
    let h = m.hidden_states(PROMPT).unwrap();
    assert_eq!(h.len(), m.blocks().len() + 1);
    assert_eq!(h[0].dims(), &[PROMPT.len(), 256]);
    assert!(rel_diff(&h[1], &h[0]) > 1e-3);
}

#[test]
fn ternary_blocks_run_on_the_ternary_kernel_with_fp32_embeddings() {
    let c = test_config();
    let exact = build(&c, WeightFormat::F32, 2);
    let want = exact.forward(PROMPT, &mut exact.new_cache()).unwrap();
    let t = build(&c, WeightFormat::Ternary, 2);
    let info = t.weights_info();
    assert_eq!(info.format, "ternary");
    // Embedding table (and head when untied) stay FP32, as in BitNet b1.58.
    let fp32 = 1 + usize::from(!c.tie_word_embeddings);
    assert_eq!(info.fallbacks, vec![format!("f32 × {fp32}")], "{info:?}");
    // Every block linear at 2 bits (plus γ): the blocks weigh about 1/16 of FP32.
    let embed = c.vocab_size * c.hidden_size * fp32;
    let other_f32 = (c.parameter_count() - embed) * 4;
    assert!(
        info.bytes < embed * 4 + other_f32 / 10,
        "{info:?} against {} FP32 bytes of blocks",
        other_f32
    );
    let got = t.forward(PROMPT, &mut t.new_cache()).unwrap();
    let values = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(values.iter().all(|v| v.is_finite()));
    assert!(
        rel_diff(&got, &want) > 0.0,
        "identical to FP32: nothing ternary"
    );
    let (mut decoding, mut logits) = t.start(PROMPT).unwrap();
    for _ in 0..3 {
        let next = argmax(&logits).unwrap();
        assert!((next as usize) < c.vocab_size);
        logits = decoding.step(next).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let err = t
        .write_gguf(&dir.path().join("t.gguf"))
        .expect_err("no GGUF block type for ternary weights");
    assert!(
        err.to_string().contains("cannot be written as GGUF"),
        "{err}"
    );
}
