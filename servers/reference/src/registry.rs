//! Which models are served: parsing model specs, building models from presets or folders.

use crate::builtin_tokenizer::BuiltinTokenizer;
use crate::error::{ModelError, Result};
use crate::init::SeededInit;
use crate::models::decoder::{Decoder, GeneratorConfig};
use crate::models::encoder::{EncoderConfig, EncoderModel, EncoderTask};
use crate::models::presets;
use crate::tokenizer::TextTokenizer;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a served model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Sequence classification (an encoder with a classification head).
    Classification,
    /// Extractive question answering (an encoder with a span head).
    QuestionAnswering,
    /// Text generation (a decoder-only language model).
    Generation,
}

impl Task {
    /// The Hugging Face pipeline name of the task.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "text-classification",
            Task::QuestionAnswering => "question-answering",
            Task::Generation => "text-generation",
        }
    }

    /// The prefix of default model names (`classifier-tiny`, `qa-small`, `generator-base`).
    pub fn short(self) -> &'static str {
        match self {
            Task::Classification => "classifier",
            Task::QuestionAnswering => "qa",
            Task::Generation => "generator",
        }
    }
}

/// Where a model's parameters come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A size preset, parameters from the seed.
    Preset(String),
    /// A Hugging Face folder: config.json, *.safetensors, optionally tokenizer.json.
    Folder(PathBuf),
}

/// One model to serve: its name in requests, its task, its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name requests use (`model` field, KServe path).
    pub name: String,
    /// What it does.
    pub task: Task,
    /// Where its parameters come from.
    pub source: Source,
}

impl ModelSpec {
    /// Parses `[NAME=]PRESET` or `[NAME=]FOLDER` (a value with a `/` or an existing folder).
    pub fn parse(task: Task, text: &str) -> Result<Self> {
        let (name, what) = match text.split_once('=') {
            Some((n, w)) if !n.is_empty() && !n.contains('/') => (Some(n.to_string()), w),
            _ => (None, text),
        };
        let bad = |message: String| ModelError::Spec {
            spec: text.to_string(),
            message,
        };
        if what.is_empty() {
            return Err(bad("empty preset or folder".into()));
        }
        let path = Path::new(what);
        let source = if what.contains('/') || path.is_dir() {
            Source::Folder(path.to_path_buf())
        } else {
            let known = match task {
                Task::Generation => presets::GENERATOR_PRESETS,
                _ => presets::ENCODER_PRESETS,
            };
            if !known.iter().any(|(n, _)| *n == what) {
                let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
                return Err(bad(format!(
                    "no preset `{what}` (presets: {}; or give a folder path)",
                    names.join(", ")
                )));
            }
            Source::Preset(what.to_string())
        };
        let name = name.unwrap_or_else(|| match &source {
            Source::Preset(p) => format!("{}-{p}", task.short()),
            Source::Folder(f) => f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| task.short().to_string()),
        });
        Ok(Self { name, task, source })
    }
}

/// Settings that apply to every model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Seed of parameters for presets.
    pub seed: u64,
    /// Cap on input tokens (the model's own limit applies anyway).
    pub max_input_tokens: Option<usize>,
    /// Labels of preset classifiers.
    pub labels: Vec<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            max_input_tokens: None,
            labels: vec!["NEGATIVE".into(), "POSITIVE".into()],
        }
    }
}

/// The network of a served model.
#[derive(Debug)]
pub enum Network {
    /// An encoder with a classification or span head.
    Encoder(EncoderModel),
    /// A decoder-only generator.
    Generator(Decoder),
}

/// A loaded model with everything needed to answer requests.
#[derive(Debug)]
pub struct ServedModel {
    /// Name in requests.
    pub name: String,
    /// What it does.
    pub task: Task,
    /// The network.
    pub network: Network,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
    /// Number of parameters.
    pub parameters: usize,
    /// Architecture, e.g. `BertForSequenceClassification`.
    pub architecture: &'static str,
    /// Where it came from (`preset small (BERT-Small), seed 0` or the folder).
    pub source: String,
    /// Longest accepted input in tokens (prompt plus new tokens, for generators).
    pub max_input_tokens: usize,
    /// End-of-sequence token of a generator.
    pub eos: Option<u32>,
}

impl ServedModel {
    /// Builds a model from its spec.
    pub fn load(spec: &ModelSpec, options: &LoadOptions) -> Result<Self> {
        match &spec.source {
            Source::Preset(p) => Self::from_preset(spec, p, options),
            Source::Folder(f) => Self::from_folder(spec, f, options),
        }
    }

    fn from_preset(spec: &ModelSpec, preset: &str, options: &LoadOptions) -> Result<Self> {
        let init = SeededInit::new(options.seed);
        let vb = init.var_builder();
        let unknown = || ModelError::Spec {
            spec: preset.to_string(),
            message: "unknown preset".into(),
        };
        let (network, about) = match spec.task {
            Task::Generation => {
                let c = presets::generator(preset).ok_or_else(unknown)?;
                let about = preset_about(presets::GENERATOR_PRESETS, preset);
                (Network::Generator(c.load(vb)?), about)
            }
            task => {
                let c = presets::encoder(preset).ok_or_else(unknown)?;
                let about = preset_about(presets::ENCODER_PRESETS, preset);
                let head = encoder_task(task, options.labels.clone());
                (Network::Encoder(EncoderModel::load(&c, head, vb)?), about)
            }
        };
        let tokenizer = builtin_tokenizer(&network);
        let source = format!("preset {preset} ({about}), seed {}", options.seed);
        Ok(Self::assemble(spec, network, tokenizer, source, options))
    }

    fn from_folder(spec: &ModelSpec, dir: &Path, options: &LoadOptions) -> Result<Self> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|source| ModelError::Io {
            path: config_path.clone(),
            source,
        })?;
        let bad = |message: String| ModelError::Config {
            path: config_path.clone(),
            message,
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let vb = VarBuilder::from_tensors(read_safetensors(dir)?, DType::F32, &Device::Cpu);
        let network = match spec.task {
            Task::Generation => {
                let c = GeneratorConfig::from_hf_json(&json).map_err(bad)?;
                Network::Generator(c.load(vb)?)
            }
            task => {
                let c = EncoderConfig::from_hf_json(&json).map_err(bad)?;
                let head = encoder_task(task, labels_of(&json));
                Network::Encoder(EncoderModel::load(&c, head, vb)?)
            }
        };
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = if tok_path.is_file() {
            TextTokenizer::from_file(&tok_path)?
        } else {
            builtin_tokenizer(&network)
        };
        let source = dir.display().to_string();
        Ok(Self::assemble(spec, network, tokenizer, source, options))
    }

    fn assemble(
        spec: &ModelSpec,
        network: Network,
        tokenizer: TextTokenizer,
        source: String,
        options: &LoadOptions,
    ) -> Self {
        let (parameters, architecture, limit, eos) = match &network {
            Network::Encoder(m) => {
                let c = m.config();
                let arch = match (spec.task, c.layout) {
                    (Task::QuestionAnswering, crate::EncoderLayout::Bert) => {
                        "BertForQuestionAnswering"
                    }
                    (Task::QuestionAnswering, _) => "DistilBertForQuestionAnswering",
                    (_, crate::EncoderLayout::Bert) => "BertForSequenceClassification",
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
        Self {
            name: spec.name.clone(),
            task: spec.task,
            network,
            tokenizer,
            parameters,
            architecture,
            source,
            max_input_tokens: options.max_input_tokens.map_or(limit, |m| m.min(limit)),
            eos,
        }
    }

    /// Labels of a classifier (empty for other models).
    pub fn labels(&self) -> &[String] {
        match &self.network {
            Network::Encoder(m) => match m.task() {
                EncoderTask::Classification(l) => l,
                EncoderTask::QuestionAnswering => &[],
            },
            Network::Generator(_) => &[],
        }
    }
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
            // BLOOM keeps ids 0-3 for pad, bos, eos and unk, T5 0-2 for pad, eos and unk;
            // GPT-2 has only its last id.
            let (first, specials) = match g {
                Decoder::Bloom(_) => (4, vec![0, 1, 2, 3, g.eos()]),
                Decoder::T5(_) => (3, vec![0, 1, 2, g.eos()]),
                Decoder::Gpt2(_) => (0, vec![g.eos()]),
            };
            let inner = BuiltinTokenizer::new(vocab, first, specials);
            TextTokenizer::builtin(inner, None, None)
        }
    }
}

/// Every tensor of every `*.safetensors` file in a folder.
fn read_safetensors(dir: &Path) -> Result<HashMap<String, Tensor>> {
    let entries = std::fs::read_dir(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
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

/// The loaded models, in the order given.
#[derive(Debug, Default)]
pub struct ModelRegistry {
    models: Vec<Arc<ServedModel>>,
}

impl ModelRegistry {
    /// Loads every spec; names must be unique.
    pub fn load(specs: &[ModelSpec], options: &LoadOptions) -> Result<Self> {
        let mut models: Vec<Arc<ServedModel>> = Vec::new();
        for spec in specs {
            if models.iter().any(|m| m.name == spec.name) {
                return Err(ModelError::Spec {
                    spec: spec.name.clone(),
                    message: "two models have this name; give one `NAME=...`".into(),
                });
            }
            models.push(Arc::new(ServedModel::load(spec, options)?));
        }
        Ok(Self { models })
    }

    /// A registry of already loaded models.
    pub fn from_models(models: Vec<ServedModel>) -> Self {
        Self {
            models: models.into_iter().map(Arc::new).collect(),
        }
    }

    /// All models.
    pub fn models(&self) -> &[Arc<ServedModel>] {
        &self.models
    }

    /// The model of this name.
    pub fn get(&self, name: &str) -> Option<Arc<ServedModel>> {
        self.models.iter().find(|m| m.name == name).cloned()
    }

    /// The first model for a task.
    pub fn first(&self, task: Task) -> Option<Arc<ServedModel>> {
        self.models.iter().find(|m| m.task == task).cloned()
    }
}
