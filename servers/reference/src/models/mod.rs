//! Model architectures (candle), their size presets and their arithmetic cost.

pub mod attention;
pub mod bloom;
pub mod decoder;
pub mod encoder;
pub mod flops;
pub mod gpt2;
pub mod presets;
pub mod t5;
