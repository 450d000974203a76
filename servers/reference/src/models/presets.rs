//! Size presets with the dimensions of public checkpoints.

use super::bloom::BloomConfig;
use super::encoder::{EncoderConfig, EncoderLayout};
use super::generator::GeneratorConfig;
use super::gpt2::Gpt2Config;
use super::llama::LlamaConfig;
use super::moe::MoeSpec;
use super::t5::{T5Config, flan_t5};

/// Encoder presets: name, what it matches.
pub const ENCODER_PRESETS: &[(&str, &str)] = &[
    ("tiny", "google/bert_uncased_L-2_H-128_A-2 (BERT-Tiny)"),
    ("mini", "google/bert_uncased_L-4_H-256_A-4 (BERT-Mini)"),
    ("small", "google/bert_uncased_L-4_H-512_A-8 (BERT-Small)"),
    ("distilbert", "distilbert-base-uncased"),
    ("base", "bert-base-uncased"),
];

/// Generator presets: name, what it matches.
pub const GENERATOR_PRESETS: &[(&str, &str)] = &[
    ("tiny", "GPT-2 layout, 2 layers, 128 wide (test size)"),
    ("small", "distilgpt2"),
    ("base", "gpt2 (124M)"),
    ("medium", "gpt2-medium"),
    ("large", "gpt2-large"),
    ("bloom-tiny", "BLOOM layout, 2 layers, 64 wide (test size)"),
    ("bloom-560m", "bigscience/bloomz-560m"),
    ("bloom-1b1", "bigscience/bloomz-1b1"),
    ("bloom-1b7", "bigscience/bloomz-1b7"),
    ("t5-tiny", "Flan-T5 layout, 2 layers, 64 wide (test size)"),
    ("flan-t5-small", "google/flan-t5-small"),
    ("flan-t5-base", "google/flan-t5-base"),
    ("flan-t5-large", "google/flan-t5-large"),
    (
        "llama-test",
        "Llama layout, 2 layers, 256 wide, GQA 4/2 (test size)",
    ),
    ("smollm2-135m", "HuggingFaceTB/SmolLM2-135M (Llama layout)"),
    (
        "qwen2.5-0.5b",
        "Qwen/Qwen2.5-0.5B (Llama layout with q/k/v biases)",
    ),
    (
        "llama-3.2-1b",
        "meta-llama/Llama-3.2-1B (RoPE scaling left out)",
    ),
    ("tinyllama-1.1b", "TinyLlama/TinyLlama-1.1B (untied head)"),
    (
        "moe-test",
        "Mixtral layout on llama-test: 8 experts, 2 per token (test size)",
    ),
    (
        "moe-test-dense-active",
        "llama-test with one MLP as wide as moe-test's 2 active experts",
    ),
    (
        "moe-test-dense-total",
        "llama-test with one MLP as wide as moe-test's 8 experts",
    ),
    (
        "smollm2-moe-8x2",
        "Mixtral layout on SmolLM2-135M: 8 experts of its MLP, 2 per token",
    ),
    (
        "smollm2-moe-8x2-dense-active",
        "SmolLM2-135M with an MLP of 2 × 1536: smollm2-moe-8x2's active parameters, dense",
    ),
    (
        "smollm2-moe-8x2-dense-total",
        "SmolLM2-135M with an MLP of 8 × 1536: smollm2-moe-8x2's total parameters, dense",
    ),
];

/// Presets distilled from another, as released: (task, student preset, teacher preset, what).
pub const DISTILLED: &[(&str, &str, &str, &str)] = &[
    (
        "generator",
        "small",
        "base",
        "distilgpt2, distilled from gpt2 (Sanh et al. 2019)",
    ),
    (
        "encoder",
        "distilbert",
        "base",
        "distilbert-base-uncased, distilled from bert-base-uncased (Sanh et al. 2019)",
    ),
];

/// The teacher preset of a distilled one and what the pair is (`generator` or `encoder`).
pub fn distilled_from(kind: &str, preset: &str) -> Option<(&'static str, &'static str)> {
    DISTILLED
        .iter()
        .find(|(k, s, _, _)| *k == kind && *s == preset)
        .map(|(_, _, t, about)| (*t, *about))
}

fn bert(layers: usize, hidden: usize, heads: usize) -> EncoderConfig {
    EncoderConfig {
        layout: EncoderLayout::Bert,
        vocab_size: 30522,
        hidden_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        intermediate_size: 4 * hidden,
        max_position_embeddings: 512,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
    }
}

/// The encoder dimensions of a preset.
pub fn encoder(name: &str) -> Option<EncoderConfig> {
    Some(match name {
        "tiny" => bert(2, 128, 2),
        "mini" => bert(4, 256, 4),
        "small" => bert(4, 512, 8),
        "base" => bert(12, 768, 12),
        "distilbert" => EncoderConfig {
            layout: EncoderLayout::DistilBert,
            type_vocab_size: 0,
            ..bert(6, 768, 12)
        },
        _ => return None,
    })
}

fn gpt2(layers: usize, width: usize, heads: usize) -> Gpt2Config {
    Gpt2Config {
        vocab_size: 50257,
        n_positions: 1024,
        n_embd: width,
        n_layer: layers,
        n_head: heads,
        n_inner: None,
        layer_norm_epsilon: 1e-5,
        eos_token_id: 50256,
    }
}

fn bloom(layers: usize, width: usize, heads: usize) -> BloomConfig {
    BloomConfig {
        vocab_size: 250_880,
        hidden_size: width,
        n_layer: layers,
        n_head: heads,
        layer_norm_epsilon: 1e-5,
        eos_token_id: 2,
        max_context: 2048,
    }
}

/// A Llama-layout preset: `(hidden, layers, heads, kv heads, intermediate)`, vocabulary,
/// tied head, rope base, context, (bos, eos).
#[allow(clippy::too_many_arguments)]
fn llama(
    (hidden, layers, heads, kv_heads, inner): (usize, usize, usize, usize, usize),
    vocab: usize,
    tied: bool,
    theta: f64,
    context: usize,
    (bos, eos): (u32, u32),
    eps: f64,
    bias: bool,
) -> LlamaConfig {
    LlamaConfig {
        vocab_size: vocab,
        hidden_size: hidden,
        intermediate_size: inner,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        rms_norm_eps: eps,
        rope_theta: theta,
        max_position_embeddings: context,
        tie_word_embeddings: tied,
        attention_bias: bias,
        bos_token_id: bos,
        eos_token_id: eos,
        moe: None,
        mixture_of_depths: None,
    }
}

/// `base` with each MLP replaced by `experts` experts of the same size, `top_k` per token.
fn mixture(base: LlamaConfig, experts: usize, top_k: usize) -> LlamaConfig {
    LlamaConfig {
        moe: Some(MoeSpec { experts, top_k }),
        ..base
    }
}

/// `base` with an MLP `times` as wide: the dense model with a mixture's active (`times` =
/// experts per token) or total (`times` = experts) parameters.
fn widened(base: LlamaConfig, times: usize) -> LlamaConfig {
    LlamaConfig {
        intermediate_size: base.intermediate_size * times,
        ..base
    }
}

/// The Llama-layout dimensions of a preset (public config.json values).
pub fn llama_preset(name: &str) -> Option<LlamaConfig> {
    Some(match name {
        "llama-test" => llama(
            (256, 2, 4, 2, 512),
            1000,
            false,
            10_000.0,
            512,
            (1, 2),
            1e-5,
            true,
        ),
        "smollm2-135m" => llama(
            (576, 30, 9, 3, 1536),
            49_152,
            true,
            100_000.0,
            8192,
            (0, 0),
            1e-5,
            false,
        ),
        "qwen2.5-0.5b" => llama(
            (896, 24, 14, 2, 4864),
            151_936,
            true,
            1_000_000.0,
            32_768,
            (151_643, 151_643),
            1e-6,
            true,
        ),
        "llama-3.2-1b" => llama(
            (2048, 16, 32, 8, 8192),
            128_256,
            true,
            500_000.0,
            131_072,
            (128_000, 128_001),
            1e-5,
            false,
        ),
        "tinyllama-1.1b" => llama(
            (2048, 22, 32, 4, 5632),
            32_000,
            false,
            10_000.0,
            2048,
            (1, 2),
            1e-5,
            false,
        ),
        "moe-test" => mixture(llama_preset("llama-test")?, 8, 2),
        "moe-test-dense-active" => widened(llama_preset("llama-test")?, 2),
        "moe-test-dense-total" => widened(llama_preset("llama-test")?, 8),
        "smollm2-moe-8x2" => mixture(llama_preset("smollm2-135m")?, 8, 2),
        "smollm2-moe-8x2-dense-active" => widened(llama_preset("smollm2-135m")?, 2),
        "smollm2-moe-8x2-dense-total" => widened(llama_preset("smollm2-135m")?, 8),
        _ => return None,
    })
}

/// The generator dimensions of a preset.
pub fn generator(name: &str) -> Option<Box<dyn GeneratorConfig>> {
    let config: Box<dyn GeneratorConfig> = match name {
        "tiny" => Box::new(gpt2(2, 128, 2)),
        "small" => Box::new(gpt2(6, 768, 12)),
        "base" => Box::new(gpt2(12, 768, 12)),
        "medium" => Box::new(gpt2(24, 1024, 16)),
        "large" => Box::new(gpt2(36, 1280, 20)),
        "bloom-tiny" => Box::new(bloom(2, 64, 4)),
        "bloom-560m" => Box::new(bloom(24, 1024, 16)),
        "bloom-1b1" => Box::new(bloom(24, 1536, 16)),
        "bloom-1b7" => Box::new(bloom(24, 2048, 16)),
        "t5-tiny" => Box::new(T5Config {
            d_kv: 16,
            ..flan_t5(2, 64, 128, 4)
        }),
        "flan-t5-small" => Box::new(flan_t5(8, 512, 1024, 6)),
        "flan-t5-base" => Box::new(flan_t5(12, 768, 2048, 12)),
        "flan-t5-large" => Box::new(flan_t5(24, 1024, 2816, 16)),
        other => Box::new(llama_preset(other)?),
    };
    Some(config)
}
