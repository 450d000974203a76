//! Which models to serve: the task, the source and the name of each, parsed from the
//! command line's `[NAME=]PRESET|FOLDER`.

use crate::error::{ModelError, Result};
use crate::models::depths::{DEFAULT_CAPACITY, DepthsSpec};
use crate::models::presets;
use crate::models::pruning::PruneAmount;
use crate::quant::{WEIGHT_FORMATS, WeightFormat};
use std::path::{Path, PathBuf};

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
    /// A GGUF file of the Llama layout (`*.gguf`), weights as stored in it.
    Gguf(PathBuf),
}

/// One model to serve: its name in requests, its task, its source.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// The name requests use (`model` field, KServe path).
    pub name: String,
    /// What it does.
    pub task: Task,
    /// Where its parameters come from.
    pub source: Source,
    /// How its linear layers' weights are stored (`:q4_0` after the preset or folder).
    pub format: WeightFormat,
    /// Techniques applied at launch (`+prune=…`, `+mod=…`).
    pub techniques: LaunchTechniques,
}

/// Techniques a generator gets at launch, after its preset or folder.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LaunchTechniques {
    /// `+prune=N|P%|F`: remove blocks chosen by angular distance.
    pub prune: Option<PruneAmount>,
    /// `+mod[=CAPACITY]`: Mixture-of-Depths routers on every second block.
    pub depths: Option<DepthsSpec>,
}

impl LaunchTechniques {
    /// Parses the `+…` modifiers (without the leading `+`, split on `+`).
    fn parse(parts: &[&str]) -> std::result::Result<Self, String> {
        let mut out = Self::default();
        for part in parts {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (*part, None),
            };
            match (key, value) {
                ("prune", Some(v)) if out.prune.is_none() => {
                    out.prune = Some(PruneAmount::parse(v)?)
                }
                ("mod", v) if out.depths.is_none() => {
                    let capacity = match v {
                        None => DEFAULT_CAPACITY,
                        Some(v) => v.parse::<f64>().map_err(|_| {
                            format!(
                                "`+mod={v}`: the capacity is a share in (0, 1], e.g. `+mod=0.125`"
                            )
                        })?,
                    };
                    let spec = DepthsSpec { capacity };
                    spec.validate()?;
                    out.depths = Some(spec);
                }
                ("prune" | "mod", _) => {
                    return Err(format!(
                        "`+{part}`: give each of +prune=AMOUNT and +mod[=CAPACITY] at most once, prune with a value"
                    ));
                }
                _ => {
                    return Err(format!(
                        "no technique `+{part}` (techniques: +prune=N|P%|F, +mod[=CAPACITY])"
                    ));
                }
            }
        }
        Ok(out)
    }
}

impl ModelSpec {
    /// Parses `[NAME=]PRESET[:FORMAT]`, `[NAME=]FOLDER[:FORMAT]` (a value with a `/` or an
    /// existing folder) or `[NAME=]FILE.gguf`; FORMAT is `f32`, `q8_0`, `q4_0`, `q4_k` or
    /// `ternary`; generators may end in `+prune=N|P%|F` and `+mod[=CAPACITY]`.
    pub fn parse(task: Task, text: &str) -> Result<Self> {
        let (name, what) = match text.split_once('=') {
            Some((n, w)) if !n.is_empty() && !n.contains(['/', '+']) => (Some(n.to_string()), w),
            _ => (None, text),
        };
        let bad = |message: String| ModelError::Spec {
            spec: text.to_string(),
            message,
        };
        // Modifiers follow the last `/`. A path whose last part holds a `+` followed by
        // anything but `prune=…`/`mod…` (or that exists as written) is a path.
        let cut = what.rfind('/').map_or(0, |i| i + 1);
        let looks_like_techniques = |tail: &str| {
            tail.split('+')
                .all(|p| p.starts_with("prune") || p == "mod" || p.starts_with("mod="))
        };
        let modifiers = what[cut..].find('+').filter(|&i| {
            let is_path = cut > 0 || Path::new(what).exists();
            !is_path || (looks_like_techniques(&what[cut + i + 1..]) && !Path::new(what).exists())
        });
        let (what, techniques) = match modifiers {
            Some(i) => {
                let parts: Vec<&str> = what[cut + i + 1..].split('+').collect();
                let t = LaunchTechniques::parse(&parts).map_err(&bad)?;
                if task != Task::Generation {
                    return Err(bad(
                        "+prune and +mod are implemented for generators only".into()
                    ));
                }
                (&what[..cut + i], t)
            }
            None => (what, LaunchTechniques::default()),
        };
        let (what, format) = match what.rsplit_once(':') {
            Some((w, f)) if !f.contains('/') => match WeightFormat::parse(f) {
                Some(format) => (w, format),
                None => {
                    let names: Vec<&str> = WEIGHT_FORMATS.iter().map(|f| f.as_str()).collect();
                    return Err(bad(format!(
                        "no weight format `{f}` (formats: {})",
                        names.join(", ")
                    )));
                }
            },
            _ => (what, WeightFormat::F32),
        };
        if what.is_empty() {
            return Err(bad("empty preset or folder".into()));
        }
        let path = Path::new(what);
        let source = if what.ends_with(".gguf") {
            if task != Task::Generation {
                return Err(bad("GGUF files are read for generators only".into()));
            }
            if format != WeightFormat::F32 {
                return Err(bad(
                    "a GGUF file is served with its weights as stored; give no :FORMAT".into(),
                ));
            }
            Source::Gguf(path.to_path_buf())
        } else if what.contains('/') || path.is_dir() {
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
            Source::Folder(f) | Source::Gguf(f) => f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| task.short().to_string()),
        });
        if format != WeightFormat::F32 && task != Task::Generation {
            return Err(bad(format!(
                "weight format {format} is implemented for generators only"
            )));
        }
        if techniques.depths.is_some() && !matches!(source, Source::Preset(_)) {
            return Err(bad(
                "+mod needs router weights, which only presets (seeded) have here; a folder or GGUF file would need a model trained with Mixture-of-Depths".into(),
            ));
        }
        Ok(Self {
            name,
            task,
            source,
            format,
            techniques,
        })
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
    /// Calibration prompts for layer pruning and Mixture-of-Depths thresholds, one per line
    /// (the bundled samples when `None`).
    pub calibration: Option<PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            max_input_tokens: None,
            labels: vec!["NEGATIVE".into(), "POSITIVE".into()],
            calibration: None,
        }
    }
}
