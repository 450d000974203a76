//! Model architectures (candle), their size presets and their arithmetic cost.

pub mod attention;
pub mod encoder;
pub mod flops;
pub mod gpt2;
pub mod presets;
