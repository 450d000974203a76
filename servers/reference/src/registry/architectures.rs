//! The generator architectures a model folder's `config.json` may name: adding one is a new
//! file in `models/` implementing `Generator` and `HfGeneratorConfig`, and one line here.

use crate::models::bloom::BloomConfig;
use crate::models::generator::{GeneratorConfig, HfGeneratorConfig};
use crate::models::gpt2::Gpt2Config;
use crate::models::llama::{LlamaConfig, MixtralConfig};
use crate::models::t5::T5Config;

/// The `model_type` a `config.json` without one is read as.
pub const DEFAULT_GENERATOR_TYPE: &str = "gpt2";

/// Every generator architecture, by Hugging Face `model_type`.
pub const GENERATORS: &[Architecture] = &[
    Architecture::of::<Gpt2Config>(),
    Architecture::of::<BloomConfig>(),
    Architecture::of::<T5Config>(),
    Architecture::of::<LlamaConfig>(),
    Architecture::of::<MixtralConfig>(),
];

/// Reads a `config.json` into a generator config; the message says what is wrong.
pub type ReadConfig = fn(&serde_json::Value) -> Result<Box<dyn GeneratorConfig>, String>;

/// One generator architecture a folder can hold.
#[derive(Debug, Clone, Copy)]
pub struct Architecture {
    /// Its Hugging Face `model_type`.
    pub model_type: &'static str,
    /// Reads its `config.json`.
    pub read_config: ReadConfig,
}

impl Architecture {
    /// The architecture whose configs `C` reads.
    pub const fn of<C: HfGeneratorConfig>() -> Self {
        Self {
            model_type: C::MODEL_TYPE,
            read_config: read_boxed::<C>,
        }
    }
}

fn read_boxed<C: HfGeneratorConfig>(
    v: &serde_json::Value,
) -> Result<Box<dyn GeneratorConfig>, String> {
    Ok(Box::new(C::from_hf_json(v)?))
}

/// Reads a Hugging Face `config.json` of any known generator `model_type`.
pub fn read_generator_config(v: &serde_json::Value) -> Result<Box<dyn GeneratorConfig>, String> {
    let model_type = v
        .get("model_type")
        .and_then(|t| t.as_str())
        .unwrap_or(DEFAULT_GENERATOR_TYPE);
    match GENERATORS.iter().find(|a| a.model_type == model_type) {
        Some(a) => (a.read_config)(v),
        None => {
            let known: Vec<&str> = GENERATORS.iter().map(|a| a.model_type).collect();
            Err(format!(
                "model_type `{model_type}` is not a generator this server knows ({})",
                known.join(", ")
            ))
        }
    }
}
