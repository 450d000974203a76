//! The generation loop: prompt pass, then one cached step per token, honouring
//! `max_new_tokens`, `min_new_tokens` and `ignore_eos` exactly.

use crate::error::{ModelError, Result};
use crate::models::generator::Generator;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// How to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationParams {
    /// Stop after this many new tokens.
    pub max_new_tokens: usize,
    /// Never stop on end-of-sequence before this many new tokens (EOS is suppressed).
    pub min_new_tokens: usize,
    /// Keep going after end-of-sequence tokens (they count as generated tokens).
    pub ignore_eos: bool,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f64,
    /// Nucleus sampling mass (1 keeps every token).
    pub top_p: f64,
    /// Seed of the sampler.
    pub seed: u64,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 16,
            min_new_tokens: 0,
            ignore_eos: false,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl GenerationParams {
    /// Checks ranges; the message names the bad parameter.
    pub fn validate(&self) -> Result<()> {
        if self.max_new_tokens == 0 {
            return Err(ModelError::BadParameter(
                "max_tokens must be at least 1".into(),
            ));
        }
        if self.min_new_tokens > self.max_new_tokens {
            return Err(ModelError::BadParameter(format!(
                "min_tokens ({}) must not exceed max_tokens ({})",
                self.min_new_tokens, self.max_new_tokens
            )));
        }
        if !(0.0..=100.0).contains(&self.temperature) {
            return Err(ModelError::BadParameter(format!(
                "temperature must be between 0 and 100, not {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(ModelError::BadParameter(format!(
                "top_p must be in (0, 1], not {}",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// `max_new_tokens` reached.
    Length,
    /// The model produced its end-of-sequence token.
    EndOfSequence,
    /// The receiver of streamed tokens went away.
    Cancelled,
}

/// The result of one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// The generated token ids (an end-of-sequence token that stopped generation included).
    pub tokens: Vec<u32>,
    /// Why it stopped.
    pub finish: FinishReason,
}

/// Checks a request before generating: parameters in range, a prompt, room in the context.
pub fn check_request(prompt: &[u32], params: &GenerationParams, max_context: usize) -> Result<()> {
    params.validate()?;
    if prompt.is_empty() {
        return Err(ModelError::BadParameter("the prompt is empty".into()));
    }
    if prompt.len() + params.max_new_tokens > max_context {
        return Err(ModelError::InputTooLong {
            tokens: prompt.len() + params.max_new_tokens,
            limit: max_context,
        });
    }
    Ok(())
}

/// Generates after `prompt`; `on_token` sees each new token and returns false to stop.
pub fn generate(
    model: &dyn Generator,
    prompt: &[u32],
    params: &GenerationParams,
    eos: Option<u32>,
    mut on_token: impl FnMut(u32) -> bool,
) -> Result<Generation> {
    check_request(prompt, params, model.max_context())?;
    let (mut decoding, mut logits) = model.start(prompt)?;
    let mut sampler = Sampler::new(prompt.len(), params.clone(), eos);
    loop {
        let next = sampler.next(logits.to_vec1()?);
        if !on_token(next) {
            return Ok(sampler.generation(FinishReason::Cancelled));
        }
        if let Some(finish) = sampler.finish() {
            return Ok(sampler.generation(finish));
        }
        logits = decoding.step(next)?;
    }
}

/// One sequence's choice of tokens: its parameters, its own random stream and the tokens so
/// far. A generation alone and one in a batch pick through the same sampler, so the same
/// logits give the same tokens.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: GenerationParams,
    eos: Option<u32>,
    rng: Pcg64Mcg,
    tokens: Vec<u32>,
    prompt_tokens: usize,
}

impl Sampler {
    /// A sampler for a prompt of `prompt_tokens` tokens.
    pub fn new(prompt_tokens: usize, params: GenerationParams, eos: Option<u32>) -> Self {
        Self {
            rng: Pcg64Mcg::seed_from_u64(params.seed),
            tokens: Vec::with_capacity(params.max_new_tokens),
            params,
            eos,
            prompt_tokens,
        }
    }

    /// Picks the next token from next-token logits `[vocab]` (EOS masked out before
    /// `min_new_tokens`) and records it.
    pub fn next(&mut self, mut logits: Vec<f32>) -> u32 {
        if let Some(e) = self.eos
            && self.tokens.len() < self.params.min_new_tokens
            && let Some(v) = logits.get_mut(e as usize)
        {
            *v = f32::NEG_INFINITY;
        }
        let next = pick(&logits, &self.params, &mut self.rng);
        self.tokens.push(next);
        next
    }

    /// Why generation stops after the tokens so far (end of sequence, then length); `None`
    /// to go on.
    pub fn finish(&self) -> Option<FinishReason> {
        let last = self.tokens.last().copied();
        if last.is_some() && last == self.eos && !self.params.ignore_eos {
            Some(FinishReason::EndOfSequence)
        } else if self.tokens.len() >= self.params.max_new_tokens {
            Some(FinishReason::Length)
        } else {
            None
        }
    }

    /// The tokens so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The parameters.
    pub fn params(&self) -> &GenerationParams {
        &self.params
    }

    /// The generation so far, stopped for `finish`.
    pub fn generation(&self, finish: FinishReason) -> Generation {
        Generation {
            prompt_tokens: self.prompt_tokens,
            tokens: self.tokens.clone(),
            finish,
        }
    }
}

/// Picks the next token: argmax when greedy, else temperature and nucleus sampling.
fn pick(logits: &[f32], params: &GenerationParams, rng: &mut Pcg64Mcg) -> u32 {
    let argmax = logits
        .iter()
        .enumerate()
        .fold((0usize, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0;
    if params.temperature < 1e-5 {
        return argmax as u32;
    }
    let max = logits.get(argmax).copied().unwrap_or(0.0);
    let t = params.temperature as f32;
    let mut probs: Vec<(usize, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &v)| (i, ((v - max) / t).exp()))
        .filter(|(_, p)| *p > 0.0)
        .collect();
    let total: f32 = probs.iter().map(|(_, p)| p).sum();
    if params.top_p < 1.0 {
        probs.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut acc = 0.0;
        let keep = probs
            .iter()
            .position(|(_, p)| {
                acc += p / total;
                f64::from(acc) >= params.top_p
            })
            .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
    }
    let kept: f32 = probs.iter().map(|(_, p)| p).sum();
    let mut r = rng.random::<f64>() as f32 * kept;
    for (i, p) in &probs {
        r -= p;
        if r <= 0.0 {
            return *i as u32;
        }
    }
    probs.last().map_or(argmax as u32, |(i, _)| *i as u32)
}
