//! Model architectures (candle), their size presets and their arithmetic cost.

pub mod attention;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod bloom;
pub mod causal_lm;
pub mod depths;
pub mod dims;
pub mod encoder;
pub mod flops;
pub mod fused_attention;
pub mod generator;
pub mod gpt2;
pub mod kv_cache;
pub mod linear;
pub mod llama;
pub mod llama_gguf;
pub mod moe;
pub mod packed_linear;
pub mod presets;
pub mod pruning;
pub mod softmax;
pub mod t5;
pub mod techniques;
