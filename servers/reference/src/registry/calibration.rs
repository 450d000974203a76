//! Calibration prompts for layer pruning and Mixture-of-Depths thresholds: the bundled
//! samples the suites measure on (sentiment sentences, QA contexts, news texts), or a file
//! of one prompt per line.

use std::path::Path;

use crate::error::{ModelError, Result};
use crate::tokenizer::TextTokenizer;

/// The bundled samples, as shipped with the suites.
const BUNDLED: [(&str, &str); 3] = [
    (
        "sentiment",
        include_str!("../../../../suites/data/sentiment-sample.jsonl"),
    ),
    (
        "qa",
        include_str!("../../../../suites/data/qa-sample.jsonl"),
    ),
    (
        "summarization",
        include_str!("../../../../suites/data/summarization-sample.jsonl"),
    ),
];

/// Tokens kept of each calibration prompt (the paper's distances are taken at the last token;
/// a longer prompt costs time and changes little).
pub const MAX_PROMPT_TOKENS: usize = 64;

/// Calibration texts and what they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The texts.
    pub texts: Vec<String>,
    /// Where they came from, for /v1/models.
    pub source: String,
}

impl Calibration {
    /// The bundled samples' texts: each line's `sentence`, `context` or `text`.
    pub fn bundled() -> Self {
        let mut texts = Vec::new();
        for (_, jsonl) in BUNDLED {
            for line in jsonl.lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if let Some(t) = ["sentence", "context", "text"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(|x| x.as_str()))
                {
                    texts.push(t.to_string());
                }
            }
        }
        let source = format!(
            "the bundled samples (suites/data: sentiment, QA and summarization; {} texts, first {MAX_PROMPT_TOKENS} tokens of each)",
            texts.len()
        );
        Self { texts, source }
    }

    /// One prompt per non-empty line of `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|cause| ModelError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        let texts: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if texts.is_empty() {
            return Err(ModelError::Config {
                path: path.to_path_buf(),
                message: "no calibration prompt: give one prompt per line".into(),
            });
        }
        let source = format!(
            "{} ({} prompts, first {MAX_PROMPT_TOKENS} tokens of each)",
            path.display(),
            texts.len()
        );
        Ok(Self { texts, source })
    }

    /// The texts as token ids, each cut to [`MAX_PROMPT_TOKENS`] and to the model's
    /// `context`.
    pub fn token_ids(&self, tokenizer: &TextTokenizer, context: usize) -> Result<Vec<Vec<u32>>> {
        self.texts
            .iter()
            .map(|t| {
                let mut ids = tokenizer.encode(t)?.ids;
                ids.truncate(MAX_PROMPT_TOKENS.min(context));
                Ok(ids)
            })
            .collect()
    }
}
