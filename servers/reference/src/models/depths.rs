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

    /// How many of a prompt's `seq` tokens a routed block takes: ⌈capacity × seq⌉, at least
    /// one (a product a rounding error above a whole number counts as that number).
    pub fn prompt_tokens(&self, seq: usize) -> usize {
        ((self.capacity * seq as f64 - 1e-9).ceil() as usize).clamp(1, seq.max(1))
    }
}

/// Tokens offered to a routed block and taken by it.
#[derive(Debug, Default)]
struct Counter {
    offered: AtomicU64,
    routed: AtomicU64,
}

impl Counter {
    fn add(&self, offered: usize, routed: usize) {
        self.offered.fetch_add(offered as u64, Ordering::Relaxed);
        self.routed.fetch_add(routed as u64, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, u64) {
        (
            self.offered.load(Ordering::Relaxed),
            self.routed.load(Ordering::Relaxed),
        )
    }

    fn reset(&self) {
        self.offered.store(0, Ordering::Relaxed);
        self.routed.store(0, Ordering::Relaxed);
    }
}

/// The router of one routed block, with what it has routed so far (prompts and generated
/// tokens apart).
#[derive(Debug)]
pub struct DepthRouter {
    /// Router weights `[hidden]`: a token's score is `w · x`.
    pub weight: Tensor,
    /// A generated token goes through the block when its score exceeds this.
    threshold: f32,
    /// Whether the threshold was calibrated (until then it is +∞: no generated token
    /// passes).
    calibrated: bool,
    prompts: Counter,
    generated: Counter,
}

impl Clone for DepthRouter {
    fn clone(&self) -> Self {
        let copy = |c: &Counter| {
            let (o, r) = c.get();
            Counter {
                offered: AtomicU64::new(o),
                routed: AtomicU64::new(r),
            }
        };
        Self {
            weight: self.weight.clone(),
            threshold: self.threshold,
            calibrated: self.calibrated,
            prompts: copy(&self.prompts),
            generated: copy(&self.generated),
        }
    }
}

impl DepthRouter {
    /// A router over `weight` `[hidden]`, not yet calibrated.
    pub fn new(weight: Tensor) -> Self {
        Self {
            weight,
            threshold: f32::INFINITY,
            calibrated: false,
            prompts: Counter::default(),
            generated: Counter::default(),
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
        let counter = if decoding {
            &self.generated
        } else {
            &self.prompts
        };
        counter.add(scores.len(), picked.len());
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
            None => f32::NEG_INFINITY,
        };
        self.calibrated = true;
    }

    /// The threshold, when calibrated.
    pub fn threshold(&self) -> Option<f32> {
        self.calibrated.then_some(self.threshold)
    }

    /// Prompt tokens offered to and taken by this block since the counts were reset.
    pub fn prompt_counts(&self) -> (u64, u64) {
        self.prompts.get()
    }

    /// Generated tokens offered to and taken by this block since the counts were reset.
    pub fn generated_counts(&self) -> (u64, u64) {
        self.generated.get()
    }

    /// Forgets what was routed so far (after calibration and pruning, which run prompts).
    pub fn reset_counts(&self) {
        self.prompts.reset();
        self.generated.reset();
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn router() -> DepthRouter {
        DepthRouter::new(Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap())
    }

    #[test]
    fn calibration_passes_the_capacity_share_of_its_own_scores() {
        let spec = DepthsSpec { capacity: 0.25 };
        let scores: Vec<f32> = (0..40)
            .map(|i| ((i * 17) % 40) as f32 * 0.5 - 3.0)
            .collect();
        let mut r = router();
        assert_eq!(r.threshold(), None);
        r.calibrate(&mut scores.clone(), &spec);
        let t = r.threshold().unwrap();
        let pass = scores.iter().filter(|&&s| s > t).count();
        assert_eq!(pass, spec.prompt_tokens(40));
        assert_eq!(pass, 10);
        // Each score decided alone as a generated token: the same ten pass.
        let one_by_one: usize = scores
            .iter()
            .map(|s| r.select(std::slice::from_ref(s), &spec, true).len())
            .sum();
        assert_eq!(one_by_one, 10);
        assert_eq!(r.generated_counts(), (40, 10));
        assert_eq!(r.prompt_counts(), (0, 0));
        r.reset_counts();
        assert_eq!(r.generated_counts(), (0, 0));
    }

    #[test]
    fn full_capacity_passes_every_generated_token() {
        let spec = DepthsSpec { capacity: 1.0 };
        let mut r = router();
        r.calibrate(&mut [1e30, 2e30, -5.0], &spec);
        assert_eq!(r.select(&[-1e38], &spec, true), vec![0]);
        // Uncalibrated, nothing passes.
        assert!(router().select(&[1e30], &spec, true).is_empty());
    }

    #[test]
    fn prompts_take_the_ceiling_of_the_capacity_share() {
        let c = |capacity: f64, seq: usize| DepthsSpec { capacity }.prompt_tokens(seq);
        assert_eq!(c(0.07, 100), 7);
        assert_eq!(c(0.125, 12), 2);
        assert_eq!(c(0.125, 1), 1);
        assert_eq!(c(1.0, 5), 5);
        let r = router();
        let picked = r.select(&[0.1, 3.0, -2.0, 2.0], &DepthsSpec { capacity: 0.5 }, false);
        assert_eq!(picked, vec![1, 3]);
        assert_eq!(r.prompt_counts(), (4, 2));
    }
}
