//! Task-level inference on a served model (text in, answer out), apart from any protocol.

use crate::error::{ModelError, Result};
use crate::generate::{Generation, GenerationParams, generate};
use crate::models::encoder::EncoderModel;
use crate::registry::{Network, ServedModel};
use crate::tokenizer::Encoded;

/// Class scores of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// Label of each class.
    pub labels: Vec<String>,
    /// Raw logits, one per label.
    pub logits: Vec<f32>,
    /// Softmax of the logits.
    pub probabilities: Vec<f32>,
    /// Tokens of the input.
    pub tokens: usize,
}

/// An extractive answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer text, a slice of the context.
    pub answer: String,
    /// p(start) × p(end).
    pub score: f32,
    /// Start of the answer in the context, in characters.
    pub start: usize,
    /// End (exclusive) of the answer in the context, in characters.
    pub end: usize,
    /// Tokens of question and context.
    pub tokens: usize,
}

/// Longest answer considered, in tokens.
const MAX_ANSWER_TOKENS: usize = 30;

fn check_len(model: &ServedModel, ids: &mut Vec<u32>, truncate: bool) -> Result<()> {
    if ids.len() > model.max_input_tokens {
        if !truncate {
            return Err(ModelError::InputTooLong {
                tokens: ids.len(),
                limit: model.max_input_tokens,
            });
        }
        ids.truncate(model.max_input_tokens);
    }
    Ok(())
}

/// The encoder of a served model; an error for a generator.
pub fn encoder(model: &ServedModel) -> Result<&EncoderModel> {
    match &model.network {
        Network::Encoder(m) => Ok(m.as_ref()),
        Network::Generator(_) => Err(ModelError::BadParameter(format!(
            "model `{}` is a generator, not an encoder",
            model.name
        ))),
    }
}

/// Softmax of a vector.
pub fn softmax(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = v.iter().map(|x| (x - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

/// A text tokenised for an encoder and checked against its input limit (cut to it with
/// `truncate`, an error otherwise).
pub fn encode_text(model: &ServedModel, text: &str, truncate: bool) -> Result<Encoded> {
    encoder(model)?;
    let mut enc = model.tokenizer.encode(text)?;
    check_len(model, &mut enc.ids, truncate)?;
    enc.type_ids.truncate(enc.ids.len());
    Ok(enc)
}

/// A question and its context tokenised as a pair and checked against the input limit.
pub fn encode_question(model: &ServedModel, question: &str, context: &str) -> Result<Encoded> {
    encoder(model)?;
    let mut enc = model.tokenizer.encode_pair(question, context)?;
    check_len(model, &mut enc.ids, false)?;
    Ok(enc)
}

/// The classification of a text from its logits.
pub fn classification(model: &ServedModel, logits: Vec<f32>, tokens: usize) -> Classification {
    Classification {
        labels: model.labels().to_vec(),
        probabilities: softmax(&logits),
        logits,
        tokens,
    }
}

/// Classifies one text.
pub fn classify(model: &ServedModel, text: &str, truncate: bool) -> Result<Classification> {
    let enc = encode_text(model, text, truncate)?;
    let logits = encoder(model)?.classify(&enc.ids, &enc.type_ids)?;
    Ok(classification(model, logits, enc.ids.len()))
}

/// Embeds one text (mean pooling of the encoder's final hidden states).
pub fn embed(model: &ServedModel, text: &str, normalize: bool, truncate: bool) -> Result<Vec<f32>> {
    let enc = encode_text(model, text, truncate)?;
    Ok(encoder(model)?.embed(&enc.ids, &enc.type_ids, normalize)?)
}

/// Finds the best answer span of `question` in `context`.
pub fn answer(model: &ServedModel, question: &str, context: &str) -> Result<Answer> {
    let enc = encode_question(model, question, context)?;
    let (start, end) = encoder(model)?.span_logits(&enc.ids, &enc.type_ids)?;
    Ok(best_span(&enc, context, &start, &end))
}

/// The best answer span of a tokenised question-and-context pair, from its start and end
/// logits.
pub fn best_span(enc: &Encoded, context: &str, start_logits: &[f32], end_logits: &[f32]) -> Answer {
    let (ps, pe) = (softmax(start_logits), softmax(end_logits));
    let spans = &enc.second_spans;
    let candidates: Vec<(usize, f32, f32)> = spans
        .iter()
        .zip(ps.iter().zip(&pe))
        .enumerate()
        .filter_map(|(i, (span, (a, b)))| span.map(|_| (i, *a, *b)))
        .collect();
    let mut best: Option<(f32, usize, usize)> = None;
    for (k, &(s, p_start, _)) in candidates.iter().enumerate() {
        for &(e, _, p_end) in candidates[k..]
            .iter()
            .take_while(|c| c.0 < s + MAX_ANSWER_TOKENS)
        {
            let score = p_start * p_end;
            if best.is_none_or(|b| score > b.0) {
                best = Some((score, s, e));
            }
        }
    }
    let tokens = enc.ids.len();
    let Some((score, s, e)) = best else {
        return Answer {
            answer: String::new(),
            score: 0.0,
            start: 0,
            end: 0,
            tokens,
        };
    };
    let start_byte = spans.get(s).copied().flatten().map_or(0, |x| x.0);
    let end_byte = spans.get(e).copied().flatten().map_or(start_byte, |x| x.1);
    let answer = context
        .get(start_byte..end_byte)
        .unwrap_or_default()
        .to_string();
    let chars = |b: usize| context.get(..b).map_or(0, |p| p.chars().count());
    Answer {
        answer,
        score,
        start: chars(start_byte),
        end: chars(end_byte),
        tokens,
    }
}

/// Tokenizes a prompt for a generator and checks it fits with `max_new_tokens` more.
pub fn prompt_ids(model: &ServedModel, prompt: &str, max_new_tokens: usize) -> Result<Vec<u32>> {
    let ids = model.tokenizer.encode(prompt)?.ids;
    check_prompt(model, &ids, max_new_tokens)?;
    Ok(ids)
}

/// Checks that a tokenized prompt is usable with `max_new_tokens` more.
pub fn check_prompt(model: &ServedModel, ids: &[u32], max_new_tokens: usize) -> Result<()> {
    if ids.is_empty() {
        return Err(ModelError::BadParameter("the prompt is empty".into()));
    }
    if let Network::Generator(g) = &model.network
        && let Some(bad) = ids.iter().find(|&&i| i as usize >= g.dims().vocab)
    {
        return Err(ModelError::BadParameter(format!(
            "token id {bad} is out of the vocabulary"
        )));
    }
    if ids.len() + max_new_tokens > model.max_input_tokens {
        return Err(ModelError::InputTooLong {
            tokens: ids.len() + max_new_tokens,
            limit: model.max_input_tokens,
        });
    }
    Ok(())
}

/// Generates after a tokenized prompt; `on_token` gets each id and returns false to stop.
pub fn complete(
    model: &ServedModel,
    prompt: &[u32],
    params: &GenerationParams,
    on_token: impl FnMut(u32) -> bool,
) -> Result<Generation> {
    match &model.network {
        Network::Generator(g) => generate(g.as_ref(), prompt, params, model.eos, on_token),
        Network::Encoder(_) => Err(ModelError::BadParameter(format!(
            "model `{}` is an encoder, not a generator",
            model.name
        ))),
    }
}
