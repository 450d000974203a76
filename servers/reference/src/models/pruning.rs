//! Layer pruning by angular distance (Gromov et al. 2024, "The Unreasonable Ineffectiveness
//! of the Deeper Layers"): to remove `n` blocks, run calibration prompts, measure for every
//! start `l` the angular distance between the residual stream entering block `l` and the one
//! leaving block `l + n − 1` at each prompt's last token, average over the prompts, and
//! remove the `n` contiguous blocks with the smallest distance (the blocks that change the
//! representation least). The paper then heals the model with QLoRA; a served model here is
//! pruned without healing.

use candle_core::{Result, Tensor};

use super::generator::Generator;
use super::techniques::{PruningChoice, RemovedLayers, Techniques};

/// How much to remove: a number of blocks, or a share of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PruneAmount {
    /// This many blocks.
    Layers(usize),
    /// This share of the blocks (rounded to the nearest block), in (0, 1).
    Share(f64),
}

impl PruneAmount {
    /// Parses `N` (blocks), `P%` or a fraction `0.F`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "`prune={text}`: give a number of blocks (`prune=8`), a percentage (`prune=50%`) or a fraction (`prune=0.5`)"
            )
        };
        if let Some(p) = text.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            return Self::share(p / 100.0, text);
        }
        if let Ok(n) = text.parse::<usize>() {
            return if n == 0 {
                Err(format!("`prune={text}`: remove at least one block"))
            } else {
                Ok(Self::Layers(n))
            };
        }
        let f: f64 = text.parse().map_err(|_| bad())?;
        Self::share(f, text)
    }

    fn share(f: f64, text: &str) -> std::result::Result<Self, String> {
        if f > 0.0 && f < 1.0 {
            Ok(Self::Share(f))
        } else {
            Err(format!(
                "`prune={text}`: the share must lie strictly between 0 and 100%"
            ))
        }
    }

    /// Blocks to remove out of `total`; at least one, and one must stay.
    pub fn blocks(self, total: usize) -> std::result::Result<usize, String> {
        let n = match self {
            Self::Layers(n) => n,
            Self::Share(f) => ((f * total as f64).round() as usize).max(1),
        };
        if n >= total {
            return Err(format!(
                "cannot remove {n} of {total} blocks: at least one must stay"
            ));
        }
        Ok(n)
    }
}

/// The angular distance `arccos(cos(a, b)) / π` of two vectors, in [0, 1].
pub fn angular_distance(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    let norm = (aa * bb).sqrt();
    if norm == 0.0 {
        return 0.0;
    }
    (ab / norm).clamp(-1.0, 1.0).acos() / std::f64::consts::PI
}

/// For every start `l`, the mean over `prompts` of the angular distance between the last
/// token's state entering block `l` and leaving block `l + n − 1`.
pub fn block_distances(g: &dyn Generator, n: usize, prompts: &[Vec<u32>]) -> Result<Vec<f64>> {
    let mut sums: Vec<f64> = Vec::new();
    let mut used = 0usize;
    for ids in prompts.iter().filter(|p| !p.is_empty()) {
        let states = g.hidden_states(ids)?;
        let last: Vec<Vec<f32>> = states
            .iter()
            .map(|s: &Tensor| s.get(ids.len() - 1)?.to_vec1::<f32>())
            .collect::<Result<_>>()?;
        let starts = last.len().saturating_sub(n);
        sums.resize(starts, 0.0);
        for (l, sum) in sums.iter_mut().enumerate() {
            *sum += angular_distance(&last[l], &last[l + n]);
        }
        used += 1;
    }
    if used == 0 {
        candle_core::bail!("layer pruning needs at least one non-empty calibration prompt");
    }
    Ok(sums.into_iter().map(|s| s / used as f64).collect())
}

/// The pruning decided and done: the first block removed (as numbered before), how many, and
/// why those.
#[derive(Debug, Clone, PartialEq)]
pub struct Pruned {
    /// The first block removed.
    pub first: usize,
    /// Blocks removed.
    pub count: usize,
    /// The distances behind the choice.
    pub choice: PruningChoice,
}

/// Removes from `g` the `amount` of contiguous blocks with the smallest angular distance over
/// `prompts` (described as `calibration`).
pub fn prune(
    g: &mut dyn Generator,
    amount: PruneAmount,
    prompts: &[Vec<u32>],
    calibration: &str,
) -> Result<Pruned> {
    let total = g.dims().layers;
    let count = amount.blocks(total).map_err(candle_core::Error::Msg)?;
    let distances = block_distances(g, count, prompts)?;
    let mut order: Vec<usize> = (0..distances.len()).collect();
    order.sort_by(|&a, &b| distances[a].total_cmp(&distances[b]).then(a.cmp(&b)));
    let Some(&first) = order.first() else {
        candle_core::bail!("no block of {count} to remove among {total}");
    };
    g.remove_layers(first, count)?;
    Ok(Pruned {
        first,
        count,
        choice: PruningChoice {
            angular_distance: distances[first],
            runner_up_distance: order.get(1).map(|&l| distances[l]),
            calibration: calibration.to_string(),
            prompts: prompts.iter().filter(|p| !p.is_empty()).count(),
        },
    })
}

/// Which blocks, as loaded, a model still has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptLayers {
    origin: Vec<usize>,
    loaded: usize,
}

impl KeptLayers {
    /// All `loaded` blocks.
    pub fn all(loaded: usize) -> Self {
        Self {
            origin: (0..loaded).collect(),
            loaded,
        }
    }

    /// The loaded index of each block kept.
    pub fn origin(&self) -> &[usize] {
        &self.origin
    }

    /// Checks and records removing `count` blocks from (current) block `first`.
    pub fn remove(&mut self, first: usize, count: usize) -> Result<()> {
        let total = self.origin.len();
        if count == 0 || count >= total || first + count > total {
            candle_core::bail!(
                "cannot remove {count} blocks from block {first} of {total}: at least one must stay"
            );
        }
        self.origin.drain(first..first + count);
        Ok(())
    }

    /// Checks and records removing `count` of `blocks` from block `first`, and drops them;
    /// the number of blocks left.
    pub fn remove_from<B>(
        &mut self,
        blocks: &mut Vec<B>,
        first: usize,
        count: usize,
    ) -> Result<usize> {
        self.remove(first, count)?;
        blocks.drain(first..first + count);
        Ok(blocks.len())
    }

    /// The techniques of a model whose only one is the pruning recorded here.
    pub fn techniques(&self) -> Techniques {
        Techniques {
            removed_layers: self.removed(),
            ..Techniques::default()
        }
    }

    /// The blocks removed, if any.
    pub fn removed(&self) -> Option<RemovedLayers> {
        let removed: Vec<usize> = (0..self.loaded)
            .filter(|l| !self.origin.contains(l))
            .collect();
        (!removed.is_empty()).then_some(RemovedLayers {
            loaded: self.loaded,
            removed,
        })
    }
}
