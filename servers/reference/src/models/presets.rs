//! Size presets with the dimensions of public checkpoints.

use super::encoder::{EncoderConfig, EncoderLayout};
use super::gpt2::Gpt2Config;

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
];

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

/// The generator dimensions of a preset.
pub fn generator(name: &str) -> Option<Gpt2Config> {
    Some(match name {
        "tiny" => gpt2(2, 128, 2),
        "small" => gpt2(6, 768, 12),
        "base" => gpt2(12, 768, 12),
        "medium" => gpt2(24, 1024, 16),
        "large" => gpt2(36, 1280, 20),
        _ => return None,
    })
}
