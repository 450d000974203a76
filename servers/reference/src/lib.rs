//! The embedded reference model server behind `joulebench serve`: candle transformer models
//! (BERT/DistilBERT classifiers and extractive QA, GPT-2, BLOOM, T5 and Llama-layout generators) over HTTP in the OpenAI,
//! TGI, TEI and KServe v2 wire formats.

#![warn(missing_docs)]

pub mod batch;
pub mod builtin_tokenizer;
pub mod continuous;
pub mod cpu_pool;
pub mod error;
pub mod generate;
pub mod heap;
pub mod http;
pub mod inference;
pub mod init;
pub mod models;
pub mod quant;
pub mod registry;
pub mod server;
pub mod ternary;
pub mod tokenizer;

pub use error::ModelError;
pub use generate::{FinishReason, Generation, GenerationParams, Sampler};
pub use init::SeededInit;
pub use models::bloom::{Bloom, BloomConfig};
pub use models::encoder::{EncoderConfig, EncoderLayout, EncoderModel, EncoderTask};
pub use models::generator::{Decoding, Generator, GeneratorConfig, HfGeneratorConfig};
pub use models::gpt2::{Gpt2, Gpt2Config};
pub use models::llama::{Llama, LlamaConfig};
pub use quant::{WeightFormat, WeightsInfo};
pub use registry::{LoadOptions, ModelRegistry, ModelSpec, ServedModel, Source, Task};
pub use server::{RunningServer, ServeError};
