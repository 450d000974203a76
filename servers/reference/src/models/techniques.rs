//! What a served model's layout does to save work, as `/v1/models` reports it: its mixture of
//! experts, the blocks removed by pruning and why those, its Mixture-of-Depths routing, and
//! the teacher of a distilled preset.

use serde::Serialize;

use super::moe::MoeSpec;

/// The efficiency techniques in a served model (all absent for a plain dense one).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Techniques {
    /// The sparse mixture of experts in place of each MLP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixture_of_experts: Option<MoeSpec>,
    /// Blocks removed since loading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_layers: Option<RemovedLayers>,
    /// How the removed blocks were chosen, when by layer pruning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_pruning: Option<PruningChoice>,
    /// Mixture-of-Depths routing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixture_of_depths: Option<DepthsInfo>,
    /// The model a distilled preset was distilled from (its public name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distilled_from: Option<String>,
}

impl Techniques {
    /// The names of the techniques present (the suite's `technique` names).
    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.mixture_of_experts.is_some() {
            out.push("moe");
        }
        if self.removed_layers.is_some() {
            out.push("layer-pruning");
        }
        if self.mixture_of_depths.is_some() {
            out.push("mixture-of-depths");
        }
        if self.distilled_from.is_some() {
            out.push("distillation");
        }
        out
    }
}

/// Blocks removed from a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedLayers {
    /// Blocks when loaded.
    pub loaded: usize,
    /// Indices (as loaded) of the blocks removed.
    pub removed: Vec<usize>,
}

/// How layer pruning chose its block (Gromov et al. 2024).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruningChoice {
    /// Angular distance (arccos of the cosine similarity, over π) between the residual
    /// stream entering the first removed block and leaving the last, averaged over the
    /// calibration prompts' last tokens.
    pub angular_distance: f64,
    /// The next-best block's distance, for how clear the choice was.
    pub runner_up_distance: Option<f64>,
    /// What the prompts were.
    pub calibration: String,
    /// How many calibration prompts.
    pub prompts: usize,
}

/// Mixture-of-Depths routing and what it has routed so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepthsInfo {
    /// Share of tokens a routed block takes.
    pub capacity: f64,
    /// Indices (as loaded) of the routed blocks.
    pub routed_blocks: Vec<usize>,
    /// Whether every routed block's generation threshold was calibrated.
    pub calibrated: bool,
    /// Prompt tokens offered to the routed blocks since launch (calibration not counted).
    pub prompt_tokens_offered: u64,
    /// Prompt tokens the routed blocks took (the capacity's share, by construction).
    pub prompt_tokens_routed: u64,
    /// Generated tokens offered to the routed blocks since launch.
    pub generated_tokens_offered: u64,
    /// Generated tokens the routed blocks took: the share routed during generation.
    pub generated_tokens_routed: u64,
}
