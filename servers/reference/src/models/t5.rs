//! A T5 encoder-decoder generator (the Flan-T5 layout) on candle-transformers' implementation.
//! Its key/value cache lives inside the model, so one generation holds it at a time.

use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::t5;
use std::sync::{Mutex, MutexGuard};

use super::dims::DecoderDims;
use super::generator::{
    Decoding, Generator, GeneratorConfig, HfGeneratorConfig, ReservedIds, Started,
};

/// Longest prompt plus generated tokens served by T5 models (relative positions: no table).
const T5_CONTEXT: usize = 1024;

/// Dimensions of a T5 model (Hugging Face `T5Config`).
pub type T5Config = t5::Config;

impl HfGeneratorConfig for T5Config {
    const MODEL_TYPE: &'static str = "t5";

    fn from_hf_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        serde_json::from_value(v.clone()).map_err(|e| e.to_string())
    }
}

/// Flan-T5 dimensions: layers, width, feed-forward size, heads.
pub fn flan_t5(layers: usize, d_model: usize, d_ff: usize, heads: usize) -> T5Config {
    T5Config {
        vocab_size: 32128,
        d_model,
        d_kv: 64,
        d_ff,
        num_layers: layers,
        num_decoder_layers: Some(layers),
        num_heads: heads,
        relative_attention_num_buckets: 32,
        relative_attention_max_distance: 128,
        dropout_rate: 0.0,
        layer_norm_epsilon: 1e-6,
        initializer_factor: 1.0,
        feed_forward_proj: t5::ActivationWithOptionalGating {
            gated: true,
            activation: candle_nn::Activation::NewGelu,
        },
        tie_word_embeddings: false,
        is_decoder: false,
        is_encoder_decoder: true,
        use_cache: true,
        pad_token_id: 0,
        eos_token_id: 1,
        decoder_start_token_id: Some(0),
    }
}

impl GeneratorConfig for T5Config {
    /// The decoder's per-token sizes: the gated feed-forward (3 d·d_ff) and cross-attention's
    /// query and output projections (2 d²) folded into an equivalent inner size.
    fn dims(&self) -> DecoderDims {
        let c = self;
        let ff = if c.feed_forward_proj.gated {
            3 * c.d_ff / 2
        } else {
            c.d_ff
        };
        DecoderDims {
            layers: c.num_decoder_layers.unwrap_or(c.num_layers),
            width: c.d_model,
            inner: ff + c.d_model,
            vocab: c.vocab_size,
        }
    }

    /// The same count as PyTorch's.
    fn parameter_count(&self) -> usize {
        let c = self;
        let (d, inner, ff) = (c.d_model, c.num_heads * c.d_kv, c.d_ff);
        let ff_params = if c.feed_forward_proj.gated {
            3 * d * ff
        } else {
            2 * d * ff
        };
        let bias = c.relative_attention_num_buckets * c.num_heads;
        let encoder = c.num_layers * (4 * d * inner + ff_params + 2 * d) + bias + d;
        let decoder_layers = c.num_decoder_layers.unwrap_or(c.num_layers);
        let decoder = decoder_layers * (8 * d * inner + ff_params + 3 * d) + bias + d;
        let head = if c.tie_word_embeddings {
            0
        } else {
            c.vocab_size * d
        };
        c.vocab_size * d + encoder + decoder + head
    }

    fn load(&self, vb: VarBuilder) -> Result<Box<dyn Generator>> {
        Ok(Box::new(T5Generator::load(self, vb)?))
    }
}

/// A loaded T5 model.
pub struct T5Generator {
    config: T5Config,
    model: Mutex<t5::T5ForConditionalGeneration>,
}

impl std::fmt::Debug for T5Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("T5Generator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One generation's hold on the model: the encoder output and the decoder's cache.
pub struct T5Session<'a> {
    model: MutexGuard<'a, t5::T5ForConditionalGeneration>,
    encoded: Tensor,
}

impl Decoding for T5Session<'_> {
    fn step(&mut self, token: u32) -> Result<Tensor> {
        let input = Tensor::new(&[token], &Device::Cpu)?.unsqueeze(0)?;
        self.model.decode(&input, &self.encoded)?.squeeze(0)
    }
}

impl Drop for T5Session<'_> {
    fn drop(&mut self) {
        self.model.clear_kv_cache();
    }
}

impl T5Generator {
    /// Builds the model under Hugging Face names (`shared`, `encoder.block.N…`, `lm_head`).
    pub fn load(config: &T5Config, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            config: config.clone(),
            model: Mutex::new(t5::T5ForConditionalGeneration::load(vb, config)?),
        })
    }

    /// The dimensions.
    pub fn config(&self) -> &T5Config {
        &self.config
    }

    /// Encodes a prompt and holds the model until the session is dropped.
    pub fn session(&self, prompt: &[u32]) -> Result<T5Session<'_>> {
        let mut model = self
            .model
            .lock()
            .map_err(|_| candle_core::Error::Msg("T5 model lock poisoned".into()))?;
        model.clear_kv_cache();
        let input = Tensor::new(prompt, &Device::Cpu)?.unsqueeze(0)?;
        let encoded = model.encode(&input)?;
        Ok(T5Session { model, encoded })
    }
}

impl Generator for T5Generator {
    fn architecture(&self) -> &'static str {
        "T5ForConditionalGeneration"
    }

    fn max_context(&self) -> usize {
        T5_CONTEXT
    }

    fn eos(&self) -> u32 {
        self.config.eos_token_id as u32
    }

    fn dims(&self) -> DecoderDims {
        self.config.dims()
    }

    fn parameter_count(&self) -> usize {
        self.config.parameter_count()
    }

    /// T5 keeps ids 0-2 for pad, eos and unk.
    fn reserved_ids(&self) -> ReservedIds {
        ReservedIds {
            first_word_id: 3,
            specials: vec![0, 1, 2, self.eos()],
        }
    }

    /// Encodes the prompt, then decodes the decoder start token.
    fn start(&self, prompt: &[u32]) -> Result<Started<'_>> {
        let mut session = self.session(prompt)?;
        let start = self
            .config
            .decoder_start_token_id
            .unwrap_or(self.config.pad_token_id) as u32;
        let logits = session.step(start)?;
        Ok((Box::new(session), logits))
    }
}
