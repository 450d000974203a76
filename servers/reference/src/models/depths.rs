//! Mixture-of-Depths (Raposo et al. 2024) for the Llama layout: every second block has a
//! router that scores each token; only the best-scoring share of tokens (the capacity,
//! 12.5% by default) goes through the block, the others pass around it on the residual
//! stream. A prompt is routed by top-k over its tokens (the paper's training-time rule);
//! a generated token, which cannot see the tokens after it, goes through when its score
//! passes a threshold calibrated so that the capacity's share of calibration tokens would
//! (the paper's auxiliary-loss route to causal sampling, with the threshold measured rather
//! than trained).

use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// Capacity of a Mixture-of-Depths model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DepthsSpec {
    /// Share of tokens each routed block processes, in (0, 1].
    pub capacity: f64,
}

/// The capacity of the paper's best configuration.
pub const DEFAULT_CAPACITY: f64 = 0.125;

impl DepthsSpec {
    /// Checks the capacity.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(self.capacity > 0.0 && self.capacity <= 1.0) {
            return Err(format!(
                "Mixture-of-Depths capacity {} is outside (0, 1]",
                self.capacity
            ));
        }
        Ok(())
    }

    /// Whether block `index` (0-based, as loaded) is routed: every second one, from the
    /// second.
    pub fn routes(index: usize) -> bool {
        index % 2 == 1
    }

    /// How many of a prompt's `seq` tokens a routed block takes (at least one).
    pub fn prompt_tokens(&self, seq: usize) -> usize {
        ((self.capacity * seq as f64).ceil() as usize).clamp(1, seq.max(1))
    }
}

/// The router of one routed block, with what it has routed so far.
#[derive(Debug)]
pub struct DepthRouter {
    /// Router weights `[hidden]`: a token's score is `w · x`.
    pub weight: Tensor,
    /// A generated token goes through the block when its score exceeds this.
    threshold: f32,
    /// Whether the threshold was calibrated (else it is 0: half of all tokens).
    calibrated: bool,
    offered: AtomicU64,
    routed: AtomicU64,
}

impl Clone for DepthRouter {
    fn clone(&self) -> Self {
        Self {
            weight: self.weight.clone(),
            threshold: self.threshold,
            calibrated: self.calibrated,
            offered: AtomicU64::new(self.offered.load(Ordering::Relaxed)),
            routed: AtomicU64::new(self.routed.load(Ordering::Relaxed)),
        }
    }
}

impl DepthRouter {
    /// A router over `weight` `[hidden]`, not yet calibrated.
    pub fn new(weight: Tensor) -> Self {
        Self {
            weight,
            threshold: 0.0,
            calibrated: false,
            offered: AtomicU64::new(0),
            routed: AtomicU64::new(0),
        }
    }

    /// Scores `[seq]` of the tokens `x` `[1, seq, hidden]`.
    pub fn scores(&self, x: &Tensor) -> Result<Vec<f32>> {
        x.squeeze(0)?
            .matmul(&self.weight.unsqueeze(1)?)?
            .squeeze(1)?
            .to_vec1::<f32>()
    }

    /// The tokens (ascending) a block takes: the prompt's top `spec.prompt_tokens`, or a
    /// generated token (`decoding`, one token) when its score passes the threshold.
    pub fn select(&self, scores: &[f32], spec: &DepthsSpec, decoding: bool) -> Vec<u32> {
        let picked: Vec<u32> = if decoding {
            (0..scores.len() as u32)
                .filter(|&i| scores[i as usize] > self.threshold)
                .collect()
        } else {
            let mut order: Vec<u32> = (0..scores.len() as u32).collect();
            order.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
            order.truncate(spec.prompt_tokens(scores.len()));
            order.sort_unstable();
            order
        };
        self.offered
            .fetch_add(scores.len() as u64, Ordering::Relaxed);
        self.routed
            .fetch_add(picked.len() as u64, Ordering::Relaxed);
        picked
    }

    /// Sets the threshold to the `1 − capacity` quantile of calibration scores.
    pub fn calibrate(&mut self, scores: &mut [f32], spec: &DepthsSpec) {
        if scores.is_empty() {
            return;
        }
        scores.sort_by(f32::total_cmp);
        let pass = spec.prompt_tokens(scores.len());
        // The highest score that does not pass (`pass` scores lie above it), or below the
        // lowest when all pass.
        self.threshold = match scores.len().checked_sub(pass + 1) {
            Some(i) => scores[i],
            None => scores[0] - 1.0,
        };
        self.calibrated = true;
    }

    /// The threshold, when calibrated.
    pub fn threshold(&self) -> Option<f32> {
        self.calibrated.then_some(self.threshold)
    }

    /// Tokens offered to and taken by this block so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.offered.load(Ordering::Relaxed),
            self.routed.load(Ordering::Relaxed),
        )
    }
}

/// The multiplier of a routed token's block output: the sigmoid of its score, which keeps the
/// router on the gradient path in training (the paper multiplies by the raw score).
pub fn gate(scores: &[f32], selected: &[u32]) -> Vec<f32> {
    selected
        .iter()
        .map(|&i| 1.0 / (1.0 + (-scores[i as usize]).exp()))
        .collect()
}
