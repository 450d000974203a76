//! A Llama-layout model as a GGUF file, under llama.cpp's tensor names (`token_embd`,
//! `blk.N.attn_q`, ..., `output_norm`, `output`) and `llama.*` metadata, with the weights as
//! served (FP32 or block-quantized) and the built-in tokenizer's vocabulary as an SPM-style
//! token list; and such a file read back.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Result};

use super::generator::Generator;
use super::linear::Linear;
use super::llama::{Llama, LlamaBlock, LlamaConfig};
use super::moe::{Mlp, SwiGlu};
use crate::builtin_tokenizer::pseudo_word;

/// The GGUF `general.architecture` written and read.
pub const GGUF_ARCHITECTURE: &str = "llama";

fn io_err(path: &Path, e: std::io::Error) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {e}", path.display()))
}

/// The name a GGUF block type has as a weight format (`q4_k`) or in GGUF (`q5_0`).
pub fn block_type_name(t: GgmlDType) -> String {
    match t {
        GgmlDType::Q4K => "q4_k".into(),
        GgmlDType::Q5K => "q5_k".into(),
        GgmlDType::Q6K => "q6_k".into(),
        GgmlDType::Q8K => "q8_k".into(),
        GgmlDType::Q2K => "q2_k".into(),
        GgmlDType::Q3K => "q3_k".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

/// The token list of the built-in tokenizer for a vocabulary: `▁word` for word ids (SPM's
/// word-start mark, so llama.cpp detokenizes to the same spaced pseudo-words), named control
/// tokens for the special and reserved ids.
fn vocabulary(model: &Llama) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let c = model.config();
    let reserved = model.reserved_ids();
    let (mut tokens, mut scores, mut types) = (Vec::new(), Vec::new(), Vec::new());
    for id in 0..c.vocab_size as u32 {
        let (text, kind) = if id == c.bos_token_id && id == c.eos_token_id {
            ("<|endoftext|>".to_string(), 3)
        } else if id == c.bos_token_id {
            ("<s>".to_string(), 3)
        } else if id == c.eos_token_id {
            ("</s>".to_string(), 3)
        } else if id < reserved.first_word_id {
            (format!("<reserved_{id}>"), 3)
        } else {
            (format!("\u{2581}{}", pseudo_word(id)), 1)
        };
        tokens.push(Value::String(text));
        scores.push(Value::F32(0.0));
        types.push(Value::I32(kind));
    }
    (tokens, scores, types)
}

/// Writes `model`'s weights as stored to a GGUF file at `path`.
pub fn write(model: &Llama, path: &Path) -> Result<()> {
    let c = model.config();
    if c.moe.is_some() || c.mixture_of_depths.is_some() {
        candle_core::bail!(
            "{}: mixtures of experts and Mixture-of-Depths routers are not written as GGUF here (llama.cpp has no Mixture-of-Depths, and expert tensors are not stacked yet); serve a dense variant to write it",
            path.display()
        );
    }
    let u32v = |x: usize| Value::U32(x as u32);
    let (tokens, scores, types) = vocabulary(model);
    let metadata: Vec<(&str, Value)> = vec![
        (
            "general.architecture",
            Value::String(GGUF_ARCHITECTURE.into()),
        ),
        (
            "general.name",
            Value::String("joulebench seeded llama".into()),
        ),
        ("llama.vocab_size", u32v(c.vocab_size)),
        ("llama.context_length", u32v(c.max_position_embeddings)),
        ("llama.embedding_length", u32v(c.hidden_size)),
        ("llama.block_count", u32v(c.num_hidden_layers)),
        ("llama.feed_forward_length", u32v(c.intermediate_size)),
        ("llama.attention.head_count", u32v(c.num_attention_heads)),
        ("llama.attention.head_count_kv", u32v(c.num_key_value_heads)),
        ("llama.rope.dimension_count", u32v(c.head_dim())),
        ("llama.rope.freq_base", Value::F32(c.rope_theta as f32)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            Value::F32(c.rms_norm_eps as f32),
        ),
        ("tokenizer.ggml.model", Value::String("llama".into())),
        ("tokenizer.ggml.tokens", Value::Array(tokens)),
        ("tokenizer.ggml.scores", Value::Array(scores)),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.bos_token_id", Value::U32(c.bos_token_id)),
        ("tokenizer.ggml.eos_token_id", Value::U32(c.eos_token_id)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(false)),
        ("tokenizer.ggml.add_eos_token", Value::Bool(false)),
    ];
    let f32q = |t: &candle_core::Tensor| QTensor::quantize(t, GgmlDType::F32);
    let mut tensors: Vec<(String, std::sync::Arc<QTensor>)> = Vec::new();
    let mut push_linear = |name: String, l: &Linear| -> Result<()> {
        tensors.push((format!("{name}.weight"), l.weight_qtensor()?));
        if let Some(b) = l.bias() {
            tensors.push((format!("{name}.bias"), std::sync::Arc::new(f32q(b)?)));
        }
        Ok(())
    };
    push_linear("token_embd".into(), model.embedding())?;
    for (n, b) in model.blocks().iter().enumerate() {
        for (name, l) in b.linears() {
            push_linear(format!("blk.{n}.{name}"), l)?;
        }
    }
    if let Some(head) = model.lm_head() {
        push_linear("output".into(), head)?;
    }
    for (n, b) in model.blocks().iter().enumerate() {
        tensors.push((
            format!("blk.{n}.attn_norm.weight"),
            std::sync::Arc::new(f32q(&b.input_norm)?),
        ));
        tensors.push((
            format!("blk.{n}.ffn_norm.weight"),
            std::sync::Arc::new(f32q(&b.post_norm)?),
        ));
    }
    tensors.push((
        "output_norm.weight".into(),
        std::sync::Arc::new(f32q(model.final_norm())?),
    ));
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_ref()))
        .collect();
    let file = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    let mut out = std::io::BufWriter::new(file);
    gguf_file::write(&mut out, &md, &ts)?;
    use std::io::Write;
    out.flush().map_err(|e| io_err(path, e))
}

/// Reads a GGUF file of the `llama` architecture: the model, its weights as stored.
pub fn load(path: &Path) -> Result<Llama> {
    let mut file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let content = gguf_file::Content::read(&mut file)?;
    let md = &content.metadata;
    let arch = md
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if arch != GGUF_ARCHITECTURE {
        candle_core::bail!(
            "{}: GGUF architecture `{arch}`, only `{GGUF_ARCHITECTURE}` is read",
            path.display()
        );
    }
    let config = config_of(md, &content, path)?;
    let mut tensor = |name: &str| content.tensor(&mut file, name, &Device::Cpu);
    let linear = |name: &str, tensor: &mut dyn FnMut(&str) -> Result<QTensor>| -> Result<Linear> {
        let bias_name = format!("{name}.bias");
        let bias = if content.tensor_infos.contains_key(&bias_name) {
            Some(tensor(&bias_name)?.dequantize(&Device::Cpu)?)
        } else {
            None
        };
        Linear::from_qtensor(tensor(&format!("{name}.weight"))?, bias)
    };
    let embed = linear("token_embd", &mut tensor)?;
    let mut blocks = Vec::with_capacity(config.num_hidden_layers);
    for n in 0..config.num_hidden_layers {
        let p = format!("blk.{n}");
        blocks.push(LlamaBlock {
            input_norm: tensor(&format!("{p}.attn_norm.weight"))?.dequantize(&Device::Cpu)?,
            q: linear(&format!("{p}.attn_q"), &mut tensor)?,
            k: linear(&format!("{p}.attn_k"), &mut tensor)?,
            v: linear(&format!("{p}.attn_v"), &mut tensor)?,
            o: linear(&format!("{p}.attn_output"), &mut tensor)?,
            post_norm: tensor(&format!("{p}.ffn_norm.weight"))?.dequantize(&Device::Cpu)?,
            mlp: Mlp::Dense(SwiGlu {
                gate: linear(&format!("{p}.ffn_gate"), &mut tensor)?,
                up: linear(&format!("{p}.ffn_up"), &mut tensor)?,
                down: linear(&format!("{p}.ffn_down"), &mut tensor)?,
            }),
            router: None,
        });
    }
    let lm_head = if config.tie_word_embeddings {
        None
    } else {
        Some(linear("output", &mut tensor)?)
    };
    let norm = tensor("output_norm.weight")?.dequantize(&Device::Cpu)?;
    let format = blocks
        .first()
        .map_or("f32".to_string(), |b| b.q.storage_name());
    Ok(Llama::from_parts(
        config, format, embed, blocks, norm, lm_head,
    ))
}

/// The dimensions from `llama.*` metadata (the vocabulary from the token list when
/// `llama.vocab_size` is absent, as llama.cpp does).
fn config_of(
    md: &HashMap<String, Value>,
    content: &gguf_file::Content,
    path: &Path,
) -> Result<LlamaConfig> {
    let missing = |k: &str| {
        candle_core::Error::Msg(format!("{}: no `{k}` in the GGUF metadata", path.display()))
    };
    let int = |k: &str| -> Result<usize> {
        md.get(k)
            .ok_or_else(|| missing(k))?
            .to_u32()
            .map(|x| x as usize)
    };
    // GGUF stores these as f32; read back through the shortest decimal form, so 1e-5 written
    // comes back as the f64 1e-5 rather than 9.99999974e-6.
    let float = |k: &str, default: f64| {
        md.get(k)
            .and_then(|v| v.to_f32().ok())
            .and_then(|x| x.to_string().parse::<f64>().ok())
            .unwrap_or(default)
    };
    if int("llama.expert_count").is_ok_and(|e| e > 0) {
        candle_core::bail!(
            "{}: a mixture of experts in GGUF (llama.expert_count) is not read here; load its Hugging Face folder instead",
            path.display()
        );
    }
    let heads = int("llama.attention.head_count")?;
    let vocab = match int("llama.vocab_size") {
        Ok(v) => v,
        Err(_) => md
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.to_vec().ok())
            .map(Vec::len)
            .ok_or_else(|| missing("llama.vocab_size"))?,
    };
    let token = |k: &str, default: u32| md.get(k).and_then(|v| v.to_u32().ok()).unwrap_or(default);
    let config = LlamaConfig {
        vocab_size: vocab,
        hidden_size: int("llama.embedding_length")?,
        intermediate_size: int("llama.feed_forward_length")?,
        num_hidden_layers: int("llama.block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: int("llama.attention.head_count_kv").unwrap_or(heads),
        rms_norm_eps: float("llama.attention.layer_norm_rms_epsilon", 1e-5),
        rope_theta: float("llama.rope.freq_base", 10_000.0),
        max_position_embeddings: int("llama.context_length")?,
        tie_word_embeddings: !content.tensor_infos.contains_key("output.weight"),
        attention_bias: content.tensor_infos.contains_key("blk.0.attn_q.bias"),
        bos_token_id: token("tokenizer.ggml.bos_token_id", 1),
        eos_token_id: token("tokenizer.ggml.eos_token_id", 2),
        moe: None,
        mixture_of_depths: None,
    };
    config
        .validate()
        .map_err(|m| candle_core::Error::Msg(format!("{}: {m}", path.display())))?;
    if config.rope_theta.is_nan() || config.rope_theta <= 0.0 {
        candle_core::bail!("{}: rope base must be positive", path.display());
    }
    Ok(config)
}
