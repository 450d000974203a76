//! What a run knows of each model beyond its records: the suite's declarations in
//! `run.json` (`models`), and what its server said of it in `servers/NAME.models.json`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An efficiency technique that makes a variant of a baseline model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Technique {
    /// Weights stored in fewer bits (GGUF Q8_0, Q4_0, ...).
    Quantization,
    /// Ternary weights (BitNet b1.58).
    Ternary,
    /// A mixture of experts: a router picks a few experts per token.
    Moe,
    /// Whole layers removed.
    LayerPruning,
    /// Tokens skip routed blocks (Mixture-of-Depths).
    MixtureOfDepths,
    /// A smaller model trained on a larger one's outputs.
    Distillation,
}

impl Technique {
    /// Every technique, in the order suites and errors list them.
    pub const ALL: [Technique; 6] = [
        Self::Quantization,
        Self::Ternary,
        Self::Moe,
        Self::LayerPruning,
        Self::MixtureOfDepths,
        Self::Distillation,
    ];

    /// The name suites and records use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quantization => "quantization",
            Self::Ternary => "ternary",
            Self::Moe => "moe",
            Self::LayerPruning => "layer-pruning",
            Self::MixtureOfDepths => "mixture-of-depths",
            Self::Distillation => "distillation",
        }
    }

    /// Every allowed name, quoted and comma-separated, for error messages.
    pub fn allowed() -> String {
        Self::ALL
            .iter()
            .map(|t| format!("\"{}\"", t.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Techniques joined with `+` (`layer-pruning+quantization`), as tables show them.
    pub fn join(techniques: &[Technique]) -> String {
        techniques
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join("+")
    }
}

impl fmt::Display for Technique {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Technique {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown technique {s:?}; expected one of {}",
                    Self::allowed()
                )
            })
    }
}

/// One model of a run as the suite declared it (`run.json` `models`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model name, as in the records.
    pub name: String,
    /// Name sent to the server.
    pub served_name: String,
    /// Server key.
    pub server: String,
    /// The baseline this model is a variant of, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_of: Option<String>,
    /// What makes it a variant (empty for a baseline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<Technique>,
    /// Total parameters, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
    /// Parameters used per token, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_parameters: Option<u64>,
    /// Bytes of the weights as served, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_bytes: Option<u64>,
}

/// The file a launched or reached server's `/v1/models` facts go to, in the folder of
/// server logs: `servers/NAME.models.json`.
pub fn server_models_file(server: &str) -> String {
    format!("{server}.{SERVER_MODELS_EXT}")
}

/// The ending of [`server_models_file`]s.
pub const SERVER_MODELS_EXT: &str = "models.json";

/// `servers/NAME.models.json`: what a server's `GET /v1/models` said of the suite's models.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerModels {
    /// Server key.
    pub server: String,
    /// The URL asked.
    pub url: String,
    /// One entry per suite model the answer listed.
    pub models: Vec<ServerModel>,
}

/// What a server said of one model: its `data[]` entry, and the facts read from it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerModel {
    /// The suite's model name.
    pub model: String,
    /// The served name (`data[].id`).
    pub served_name: String,
    /// Total parameters (`parameters`), when said.
    #[serde(default)]
    pub parameters: Option<u64>,
    /// Parameters used per token (`active_parameters`), when said.
    #[serde(default)]
    pub active_parameters: Option<u64>,
    /// The weights as served (`weights`), when said.
    #[serde(default)]
    pub weights: Option<WeightsFacts>,
    /// Architecture (`architecture`), when said.
    #[serde(default)]
    pub architecture: Option<String>,
    /// Techniques (`techniques`), a free-form object, when said.
    #[serde(default)]
    pub techniques: Option<serde_json::Value>,
    /// The whole `data[]` entry as answered.
    #[serde(default)]
    pub entry: serde_json::Value,
}

/// `weights` of a `/v1/models` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightsFacts {
    /// Format (`f32`, `q8_0`, `q4_0`, ...).
    #[serde(default)]
    pub format: Option<String>,
    /// Bytes of all weights as stored.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Average bits per parameter.
    #[serde(default)]
    pub bits_per_weight: Option<f64>,
    /// Matrices stored in another type than the format's.
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

impl ServerModel {
    /// The facts of `entry`, a `data[]` entry of `/v1/models`, for suite model `model`;
    /// keys of the wrong type are left out rather than refused.
    pub fn of(model: &str, entry: &serde_json::Value) -> Self {
        let get = |k: &str| entry.get(k);
        Self {
            model: model.to_string(),
            served_name: get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            parameters: get("parameters").and_then(serde_json::Value::as_u64),
            active_parameters: get("active_parameters").and_then(serde_json::Value::as_u64),
            weights: get("weights")
                .filter(|w| w.is_object())
                .and_then(|w| serde_json::from_value(w.clone()).ok()),
            architecture: get("architecture")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            techniques: get("techniques").filter(|t| t.is_object()).cloned(),
            entry: entry.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn techniques_read_their_names_and_refuse_others() {
        assert_eq!("layer-pruning".parse(), Ok(Technique::LayerPruning));
        let err = "pruning".parse::<Technique>().expect_err("unknown");
        assert!(err.contains("\"mixture-of-depths\""), "{err}");
        assert_eq!(
            Technique::join(&[Technique::LayerPruning, Technique::Quantization]),
            "layer-pruning+quantization"
        );
    }

    #[test]
    fn a_models_entry_gives_its_facts_and_skips_wrong_types() {
        let entry = serde_json::json!({"id": "q4", "parameters": 135, "active_parameters": "x",
            "weights": {"format": "q4_0", "bytes": 90, "bits_per_weight": 4.5, "fallbacks": ["f32 × 2"]},
            "architecture": "LlamaForCausalLM", "techniques": {"quantization": "q4_0"}});
        let m = ServerModel::of("m", &entry);
        assert_eq!(m.served_name, "q4");
        assert_eq!(m.parameters, Some(135));
        assert_eq!(m.active_parameters, None);
        let w = m.weights.expect("weights");
        assert_eq!((w.bytes, w.format.as_deref()), (Some(90), Some("q4_0")));
        assert_eq!(w.fallbacks, vec!["f32 × 2".to_string()]);
        assert_eq!(m.architecture.as_deref(), Some("LlamaForCausalLM"));
        assert!(m.techniques.is_some());
    }
}
