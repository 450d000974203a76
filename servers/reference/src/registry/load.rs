//! Building served models: from a preset (parameters from the seed) or from a Hugging Face
//! folder (config.json, *.safetensors, optionally tokenizer.json).

use super::architectures;
use super::calibration::Calibration;
use super::served::{Network, ServedModel};
use super::spec::{LoadOptions, ModelSpec, Source, Task};
use crate::builtin_tokenizer::BuiltinTokenizer;
use crate::error::{ModelError, Result};
use crate::init::SeededInit;
use crate::models::encoder::{EncoderConfig, EncoderLayout, EncoderModel, EncoderTask};
use crate::models::generator::HfGeneratorConfig;
use crate::models::llama::LlamaConfig;
use crate::models::presets;
use crate::models::pruning;
use crate::models::techniques::PruningChoice;
use crate::quant::WeightsInfo;
use crate::tokenizer::TextTokenizer;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

impl ServedModel {
    /// Builds a model from its spec.
    pub fn load(spec: &ModelSpec, options: &LoadOptions) -> Result<Self> {
        match &spec.source {
            Source::Preset(p) => Self::from_preset(spec, p, options),
            Source::Folder(f) => Self::from_folder(spec, f, options),
            Source::Gguf(f) => Self::from_gguf(spec, f, options),
        }
    }

    fn from_gguf(spec: &ModelSpec, path: &Path, options: &LoadOptions) -> Result<Self> {
        let model = crate::models::llama_gguf::load(path).map_err(|e| ModelError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut network = Network::Generator(Box::new(model));
        let tokenizer = builtin_tokenizer(&network);
        let pruning = launch_techniques(&mut network, &tokenizer, spec, options)?;
        let source = format!("GGUF {}", path.display());
        let mut served = Self::assemble(spec, network, tokenizer, source, options);
        served.pruning = pruning;
        Ok(served)
    }

    fn from_preset(spec: &ModelSpec, preset: &str, options: &LoadOptions) -> Result<Self> {
        let init = SeededInit::new(options.seed);
        let vb = init.var_builder();
        let unknown = || ModelError::Spec {
            spec: preset.to_string(),
            message: "unknown preset".into(),
        };
        let (mut network, about) = match spec.task {
            Task::Generation => {
                let mut c = presets::generator(preset).ok_or_else(unknown)?;
                if let Some(depths) = spec.techniques.depths {
                    c = c
                        .with_mixture_of_depths(depths)
                        .map_err(|message| ModelError::Spec {
                            spec: preset.to_string(),
                            message,
                        })?;
                }
                let about = preset_about(presets::GENERATOR_PRESETS, preset);
                (Network::Generator(c.load_as(vb, spec.format)?), about)
            }
            task => {
                let c = presets::encoder(preset).ok_or_else(unknown)?;
                let about = preset_about(presets::ENCODER_PRESETS, preset);
                let head = encoder_task(task, options.labels.clone());
                (
                    Network::Encoder(Box::new(EncoderModel::load(&c, head, vb)?)),
                    about,
                )
            }
        };
        let tokenizer = builtin_tokenizer(&network);
        let pruning = launch_techniques(&mut network, &tokenizer, spec, options)?;
        let source = format!("preset {preset} ({about}), seed {}", options.seed);
        let mut served = Self::assemble(spec, network, tokenizer, source, options);
        served.pruning = pruning;
        let kind = match spec.task {
            Task::Generation => "generator",
            _ => "encoder",
        };
        served.distilled_from =
            presets::distilled_from(kind, preset).map(|(_, about)| about.to_string());
        Ok(served)
    }

    fn from_folder(spec: &ModelSpec, dir: &Path, options: &LoadOptions) -> Result<Self> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|source| ModelError::Io {
            path: config_path.clone(),
            cause: source,
        })?;
        let bad = |message: String| ModelError::Config {
            path: config_path.clone(),
            message,
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let mut tensors = read_safetensors(dir)?;
        if spec.task == Task::Generation
            && matches!(
                json.get("model_type").and_then(|t| t.as_str()),
                Some("llama" | "mixtral")
            )
        {
            let c = LlamaConfig::from_hf_json(&json).map_err(bad)?;
            interleave_rotary_rows(&mut tensors, &c)?;
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let mut network = match spec.task {
            Task::Generation => {
                let c = architectures::read_generator_config(&json).map_err(bad)?;
                Network::Generator(c.load_as(vb, spec.format)?)
            }
            task => {
                let c = EncoderConfig::from_hf_json(&json).map_err(bad)?;
                let head = encoder_task(task, labels_of(&json));
                Network::Encoder(Box::new(EncoderModel::load(&c, head, vb)?))
            }
        };
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = if tok_path.is_file() {
            TextTokenizer::from_file(&tok_path)?
        } else {
            builtin_tokenizer(&network)
        };
        let pruning = launch_techniques(&mut network, &tokenizer, spec, options)?;
        let source = dir.display().to_string();
        let mut served = Self::assemble(spec, network, tokenizer, source, options);
        served.pruning = pruning;
        Ok(served)
    }

    fn assemble(
        spec: &ModelSpec,
        network: Network,
        tokenizer: TextTokenizer,
        source: String,
        options: &LoadOptions,
    ) -> Self {
        let weights = match &network {
            Network::Encoder(m) => WeightsInfo::f32(m.config().parameter_count(m.task())),
            Network::Generator(g) => g.weights(),
        };
        let (parameters, architecture, limit, eos) = match &network {
            Network::Encoder(m) => {
                let c = m.config();
                let arch = match (spec.task, c.layout) {
                    (Task::QuestionAnswering, EncoderLayout::Bert) => "BertForQuestionAnswering",
                    (Task::QuestionAnswering, _) => "DistilBertForQuestionAnswering",
                    (_, EncoderLayout::Bert) => "BertForSequenceClassification",
                    _ => "DistilBertForSequenceClassification",
                };
                (
                    c.parameter_count(m.task()),
                    arch,
                    c.max_position_embeddings,
                    None,
                )
            }
            Network::Generator(g) => (
                g.parameter_count(),
                g.architecture(),
                g.max_context(),
                Some(g.eos()),
            ),
        };
        let active_parameters = match &network {
            Network::Generator(g) => g.active_parameter_count(),
            Network::Encoder(_) => parameters,
        };
        Self {
            name: spec.name.clone(),
            task: spec.task,
            network,
            tokenizer,
            parameters,
            active_parameters,
            weights,
            architecture,
            source,
            max_input_tokens: options.max_input_tokens.map_or(limit, |m| m.min(limit)),
            eos,
            pruning: None,
            distilled_from: None,
        }
    }
}

/// Applies a generator's launch techniques: prunes its blocks and calibrates its routers on
/// the calibration prompts; what the pruning chose, if it pruned.
fn launch_techniques(
    network: &mut Network,
    tokenizer: &TextTokenizer,
    spec: &ModelSpec,
    options: &LoadOptions,
) -> Result<Option<PruningChoice>> {
    let Network::Generator(g) = network else {
        return Ok(None);
    };
    let t = spec.techniques;
    let routed = g.techniques().mixture_of_depths.is_some();
    if t.prune.is_none() && !routed {
        return Ok(None);
    }
    let calibration = match &options.calibration {
        Some(path) => Calibration::from_file(path)?,
        None => Calibration::bundled(),
    };
    let prompts = calibration.token_ids(tokenizer, g.max_context())?;
    let choice =
        match t.prune {
            Some(amount) => {
                let done = pruning::prune(g.as_mut(), amount, &prompts, &calibration.source)
                    .map_err(|e| ModelError::Spec {
                        spec: spec.name.clone(),
                        message: format!("layer pruning: {e}"),
                    })?;
                tracing::info!(
                    model = %spec.name,
                    removed = ?(done.first..done.first + done.count),
                    distance = done.choice.angular_distance,
                    "layer pruning removed {} blocks (as loaded: {:?})",
                    done.count,
                    g.techniques().removed_layers.map(|r| r.removed).unwrap_or_default()
                );
                Some(done.choice)
            }
            None => None,
        };
    g.calibrate(&prompts)?;
    Ok(choice)
}

fn preset_about(list: &[(&str, &'static str)], name: &str) -> &'static str {
    list.iter().find(|(n, _)| *n == name).map_or("", |(_, a)| a)
}

fn encoder_task(task: Task, labels: Vec<String>) -> EncoderTask {
    match task {
        Task::QuestionAnswering => EncoderTask::QuestionAnswering,
        _ => EncoderTask::Classification(labels),
    }
}

/// Labels from `id2label` (by numeric id), else `LABEL_i` for `num_labels` (default 2).
fn labels_of(json: &serde_json::Value) -> Vec<String> {
    if let Some(map) = json.get("id2label").and_then(|m| m.as_object()) {
        let mut pairs: Vec<(u64, String)> = map
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_string())))
            .collect();
        pairs.sort();
        if !pairs.is_empty() {
            return pairs.into_iter().map(|(_, l)| l).collect();
        }
    }
    let n = json.get("num_labels").and_then(|n| n.as_u64()).unwrap_or(2);
    (0..n).map(|i| format!("LABEL_{i}")).collect()
}

/// The built-in tokenizer fitted to a network's vocabulary (BERT ids for [CLS]/[SEP]).
fn builtin_tokenizer(network: &Network) -> TextTokenizer {
    match network {
        Network::Encoder(m) => {
            let vocab = m.config().vocab_size as u32;
            let (cls, sep, first) = if vocab > 2000 {
                (101, 102, 1000)
            } else {
                (1, 2, 4)
            };
            let inner = BuiltinTokenizer::new(vocab, first, vec![0, cls, sep]);
            TextTokenizer::builtin(inner, Some(cls), Some(sep))
        }
        Network::Generator(g) => {
            let vocab = g.dims().vocab as u32;
            let reserved = g.reserved_ids();
            let inner = BuiltinTokenizer::new(vocab, reserved.first_word_id, reserved.specials);
            TextTokenizer::builtin(inner, None, None)
        }
    }
}

/// Every tensor of every `*.safetensors` file in a folder.
fn read_safetensors(dir: &Path) -> Result<HashMap<String, Tensor>> {
    let entries = std::fs::read_dir(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        cause: source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ModelError::Config {
            path: dir.to_path_buf(),
            message: "no *.safetensors file (PyTorch .bin checkpoints are not read; convert them)"
                .into(),
        });
    }
    let mut all = HashMap::new();
    for f in files {
        all.extend(candle_core::safetensors::load(&f, &Device::Cpu)?);
    }
    Ok(all)
}

/// Hugging Face Llama checkpoints rotate the two halves of each head; this server (like
/// GGUF) rotates adjacent pairs. Permutes the query and key rows (and biases) of every layer
/// so the checkpoint computes the same function here: row `h·d + 2j + s` takes row
/// `h·d + s·d/2 + j` (llama.cpp's conversion).
fn interleave_rotary_rows(tensors: &mut HashMap<String, Tensor>, c: &LlamaConfig) -> Result<()> {
    let d = c.head_dim();
    for layer in 0..c.num_hidden_layers {
        for (proj, heads) in [
            ("q_proj", c.num_attention_heads),
            ("k_proj", c.num_key_value_heads),
        ] {
            for part in ["weight", "bias"] {
                let name = format!("model.layers.{layer}.self_attn.{proj}.{part}");
                if let Some(t) = tensors.remove(&name) {
                    let dims = t.dims().to_vec();
                    let rest: usize = dims.iter().skip(1).product();
                    let t = t
                        .reshape((heads, 2, d / 2, rest))?
                        .transpose(1, 2)?
                        .contiguous()?
                        .reshape(dims)?;
                    tensors.insert(name, t);
                }
            }
        }
    }
    Ok(())
}
