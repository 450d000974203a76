//! What every text generator implements, whatever its architecture: the [`Generator`] a
//! server holds, the [`Decoding`] state of one generation, and the [`GeneratorConfig`] that
//! builds a generator. A new architecture is one file implementing these three traits and
//! one line in `registry/architectures.rs`.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::depths::DepthsSpec;
use super::dims::DecoderDims;
use super::kv_cache::CachedForward;
use super::techniques::Techniques;
use crate::quant::{WeightFormat, WeightsInfo};

/// Ids the built-in tokenizer keeps out of words for a generator's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedIds {
    /// The first id a word may get.
    pub first_word_id: u32,
    /// Special ids no word gets (end of sequence among them).
    pub specials: Vec<u32>,
}

/// One generation in progress: the model's state after the prompt and the tokens so far.
pub trait Decoding {
    /// Appends `token` and returns the next-token logits `[vocab]`.
    fn step(&mut self, token: u32) -> Result<Tensor>;
}

/// The first state of a generation and the next-token logits `[vocab]` after the prompt.
pub type Started<'a> = (Box<dyn Decoding + 'a>, Tensor);

/// A loaded text generator.
pub trait Generator: std::fmt::Debug + Send + Sync {
    /// The `transformers` class it matches, e.g. `GPT2LMHeadModel`.
    fn architecture(&self) -> &'static str;

    /// Longest context (prompt plus generated tokens).
    fn max_context(&self) -> usize;

    /// End-of-sequence token.
    fn eos(&self) -> u32;

    /// The sizes that set a step's cost.
    fn dims(&self) -> DecoderDims;

    /// Parameters (tied LM head counted once).
    fn parameter_count(&self) -> usize;

    /// Parameters one token goes through (fewer than all in a mixture of experts).
    fn active_parameter_count(&self) -> usize {
        self.parameter_count()
    }

    /// FLOPs (a multiply-add counted as 2) of one generated token after `context` cached
    /// tokens; by default the GPT-2-shaped model of [`super::flops::decoder_token`].
    fn flops_per_token(&self, context: usize) -> f64 {
        super::flops::decoder_token(&self.dims(), context) as f64
    }

    /// What the layout does to save work.
    fn techniques(&self) -> Techniques {
        Techniques::default()
    }

    /// The residual stream `[seq, hidden]` of a prompt run alone, entering each block and
    /// leaving the last, where the layout exposes it (layer pruning needs it).
    fn hidden_states(&self, _ids: &[u32]) -> Result<Vec<Tensor>> {
        Err(candle_core::Error::Msg(format!(
            "{}: layer pruning is implemented for the Llama, GPT-2 and BLOOM layouts",
            self.architecture()
        )))
    }

    /// Removes `count` blocks from block `first`.
    fn remove_layers(&mut self, _first: usize, _count: usize) -> Result<()> {
        Err(candle_core::Error::Msg(format!(
            "{}: layer pruning is implemented for the Llama, GPT-2 and BLOOM layouts",
            self.architecture()
        )))
    }

    /// Fits what the model decides from data (Mixture-of-Depths thresholds) on calibration
    /// prompts; nothing for most layouts.
    fn calibrate(&mut self, _prompts: &[Vec<u32>]) -> Result<()> {
        Ok(())
    }

    /// The ids the built-in tokenizer must not give to words.
    fn reserved_ids(&self) -> ReservedIds;

    /// Runs the prompt (at least one token) and starts a generation.
    fn start(&self, prompt: &[u32]) -> Result<Started<'_>>;

    /// The forward pass over a batch of sequences with their own caches, when this
    /// generator's decode steps can run batched (continuous batching); `None` otherwise.
    fn batched(&self) -> Option<&dyn CachedForward> {
        None
    }

    /// The format and bytes of the weights as stored (FP32 unless the model says otherwise).
    fn weights(&self) -> WeightsInfo {
        WeightsInfo::f32(self.parameter_count())
    }

    /// Writes the weights as served to a GGUF file llama.cpp can read, where the layout has
    /// a GGUF form.
    fn write_gguf(&self, path: &std::path::Path) -> Result<()> {
        Err(candle_core::Error::Msg(format!(
            "{}: writing GGUF is implemented for the Llama layout only ({})",
            self.architecture(),
            path.display()
        )))
    }
}

/// The dimensions of a generator, which can build it.
pub trait GeneratorConfig: std::fmt::Debug + Send + Sync {
    /// The sizes that set a step's cost.
    fn dims(&self) -> DecoderDims;

    /// Parameters (tied LM head counted once).
    fn parameter_count(&self) -> usize;

    /// Parameters one token goes through (fewer than all in a mixture of experts).
    fn active_parameter_count(&self) -> usize {
        self.parameter_count()
    }

    /// The same model with Mixture-of-Depths routers on every second block, where the layout
    /// has that variant; the message says why not.
    fn with_mixture_of_depths(
        &self,
        _spec: DepthsSpec,
    ) -> std::result::Result<Box<dyn GeneratorConfig>, String> {
        Err("Mixture-of-Depths is built for the Llama layout only".into())
    }

    /// Builds the model under Hugging Face names.
    fn load(&self, vb: VarBuilder) -> Result<Box<dyn Generator>>;

    /// Builds the model with its linear layers stored as `format`; layouts without quantized
    /// layers accept only FP32.
    fn load_as(&self, vb: VarBuilder, format: WeightFormat) -> Result<Box<dyn Generator>> {
        if format == WeightFormat::F32 {
            self.load(vb)
        } else {
            Err(candle_core::Error::Msg(format!(
                "weight format {format} is implemented for the GPT-2, BLOOM and Llama layouts only"
            )))
        }
    }
}

/// A generator config read from a Hugging Face `config.json`.
pub trait HfGeneratorConfig: GeneratorConfig + Sized + 'static {
    /// The `model_type` of the configs it reads.
    const MODEL_TYPE: &'static str;

    /// Reads a `config.json` of this model type; the message says what is missing.
    fn from_hf_json(v: &serde_json::Value) -> std::result::Result<Self, String>;
}
