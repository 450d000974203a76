//! Integration tests of the reference server: its models, weights and wire formats.
//!
//! One test binary with a module per area (as ripgrep does), so the workspace is linked
//! once for these tests rather than once per file.

mod batching;
mod common;
mod continuous;
mod kserve;
mod llama;
mod models;
mod openai;
mod techniques;
mod tei;
mod ternary;
mod tgi;
mod weights;
