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

/// Runs `check` on rayon's threads, then in a pool of one (where the kernels work on the
/// calling thread).
#[cfg(test)]
pub(crate) fn on_rayon_and_one_thread(
    check: fn() -> candle_core::Result<()>,
) -> candle_core::Result<()> {
    check()?;
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(candle_core::Error::wrap)?;
    one.install(check)
}
