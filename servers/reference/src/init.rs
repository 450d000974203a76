//! Deterministic parameter initialisation from a fixed seed (a candle `VarBuilder` backend).

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::{Init, VarBuilder, var_builder::SimpleBackend};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Standard deviation of weights, as Hugging Face's `initializer_range` default.
const INIT_STDEV: f64 = 0.02;

/// A `VarBuilder` backend that makes every tensor from (seed, name): the same seed gives the
/// same model whatever order the tensors are asked for in. It remembers what it made.
///
/// Each tensor's values come from `Pcg64Mcg` (rand_pcg, a stream documented never to
/// change) seeded with the seed XOR the FNV-1a hash of the tensor's name.
#[derive(Debug, Clone, Default)]
pub struct SeededInit {
    seed: u64,
    made: Arc<Mutex<HashMap<String, Tensor>>>,
}

impl SeededInit {
    /// A backend for the given seed.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            made: Arc::default(),
        }
    }

    /// A `VarBuilder` (f32, CPU) over this backend.
    pub fn var_builder(&self) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), DType::F32, Device::Cpu)
    }

    /// Every tensor made so far, by full name (e.g. to save them as safetensors).
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.made.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// FNV-1a hash of a string, to derive per-tensor seeds and word ids.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SimpleBackend for SeededInit {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let n = s.elem_count();
        // Norm scales are 1 and biases 0 whatever the hint; other weights are random even when
        // a loader passes no hint (candle's default hint is the constant 0).
        let lower = name.to_ascii_lowercase();
        let is_norm = lower.contains("norm") || lower.contains("ln_");
        let values: Vec<f32> = match h {
            _ if name.ends_with("bias") || name.ends_with("beta") => vec![0.0; n],
            _ if is_norm => vec![1.0; n],
            Init::Const(c) if c != 0.0 => vec![c as f32; n],
            _ => {
                // Uniform with the standard deviation of Hugging Face's normal init: as cheap as
                // one random word per value, so big presets start fast even in debug builds.
                let mut rng = Pcg64Mcg::seed_from_u64(self.seed ^ fnv1a(name));
                let scale = (INIT_STDEV * 3f64.sqrt() * 2.0 / (1u64 << 32) as f64) as f32;
                let half = (1u64 << 31) as f32;
                let mut values = Vec::with_capacity(n);
                while values.len() < n {
                    let r = rng.next_u64();
                    values.push(((r >> 32) as f32 - half) * scale);
                    if values.len() < n {
                        values.push(((r & 0xFFFF_FFFF) as f32 - half) * scale);
                    }
                }
                values
            }
        };
        let t = Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?;
        if let Ok(mut made) = self.made.lock() {
            made.insert(name.to_string(), t.clone());
        }
        Ok(t)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        Err(candle_core::Error::CannotFindTensor {
            path: name.to_string(),
        })
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        false
    }
}
