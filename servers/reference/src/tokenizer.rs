//! Text to token ids and back: a Hugging Face `tokenizer.json`, or the built-in tokenizer.

use crate::builtin_tokenizer::BuiltinTokenizer;
use crate::error::{ModelError, Result};
use std::path::Path;

/// Token ids of one input, with segment (token type) ids.
#[derive(Debug, Clone, Default)]
pub struct Encoded {
    /// Token ids, special tokens included.
    pub ids: Vec<u32>,
    /// Segment ids (0 for the first text, 1 for the second of a pair).
    pub type_ids: Vec<u32>,
    /// For each token of the second text of a pair, its byte range in that text.
    pub second_spans: Vec<Option<(usize, usize)>>,
}

/// Where token ids come from.
#[derive(Debug, Clone)]
enum Kind {
    HuggingFace(Box<tokenizers::Tokenizer>),
    Builtin(BuiltinTokenizer),
}

/// A tokenizer of a served model.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    kind: Kind,
    cls: Option<u32>,
    sep: Option<u32>,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` from a file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let t = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))?;
        Ok(Self {
            kind: Kind::HuggingFace(Box::new(t)),
            cls: None,
            sep: None,
        })
    }

    /// The built-in tokenizer; with `cls`/`sep`, inputs are framed BERT-style.
    pub fn builtin(inner: BuiltinTokenizer, cls: Option<u32>, sep: Option<u32>) -> Self {
        Self {
            kind: Kind::Builtin(inner),
            cls,
            sep,
        }
    }

    /// Whether this is the built-in tokenizer (no `tokenizer.json` was given).
    pub fn is_builtin(&self) -> bool {
        matches!(self.kind, Kind::Builtin(_))
    }

    /// A short description for logs and the model list.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::HuggingFace(_) => "tokenizer.json",
            Kind::Builtin(_) => "built-in word tokenizer (no tokenizer.json)",
        }
    }

    /// Encodes one text, with the model's special tokens.
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        match &self.kind {
            Kind::HuggingFace(t) => {
                let e = t
                    .encode(text, true)
                    .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
                Ok(Encoded {
                    ids: e.get_ids().to_vec(),
                    type_ids: e.get_type_ids().to_vec(),
                    second_spans: Vec::new(),
                })
            }
            Kind::Builtin(b) => {
                let mut ids = Vec::new();
                ids.extend(self.cls);
                ids.extend(b.encode(text));
                ids.extend(self.sep);
                let type_ids = vec![0; ids.len()];
                Ok(Encoded {
                    ids,
                    type_ids,
                    second_spans: Vec::new(),
                })
            }
        }
    }

    /// Encodes a pair of texts (question, context), keeping where context tokens lie.
    pub fn encode_pair(&self, first: &str, second: &str) -> Result<Encoded> {
        match &self.kind {
            Kind::HuggingFace(t) => {
                let e = t
                    .encode((first, second), true)
                    .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
                let second_spans = e
                    .get_sequence_ids()
                    .iter()
                    .zip(e.get_offsets())
                    .map(|(seq, &off)| (*seq == Some(1)).then_some(off))
                    .collect();
                Ok(Encoded {
                    ids: e.get_ids().to_vec(),
                    type_ids: e.get_type_ids().to_vec(),
                    second_spans,
                })
            }
            Kind::Builtin(b) => {
                let mut ids = Vec::new();
                ids.extend(self.cls);
                ids.extend(b.encode(first));
                ids.extend(self.sep);
                let first_len = ids.len();
                let mut second_spans = vec![None; first_len];
                for p in b.pieces(second) {
                    ids.push(p.id);
                    second_spans.push(Some(p.span));
                }
                if let Some(sep) = self.sep {
                    ids.push(sep);
                    second_spans.push(None);
                }
                let mut type_ids = vec![0; first_len];
                type_ids.resize(ids.len(), 1);
                Ok(Encoded {
                    ids,
                    type_ids,
                    second_spans,
                })
            }
        }
    }

    /// Decodes generated ids to text, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match &self.kind {
            Kind::HuggingFace(t) => t
                .decode(ids, true)
                .map_err(|e| ModelError::Tokenizer(e.to_string())),
            Kind::Builtin(b) => Ok(b.decode(ids)),
        }
    }

    /// Decodes the text that token `ids[n]` adds after `ids[..n]` (for streaming): the
    /// built-in tokenizer joins words with spaces, real tokenizers decode the whole prefix.
    pub fn decode_step(&self, ids: &[u32], emitted: &mut String) -> Result<String> {
        let full = self.decode(ids)?;
        if full.ends_with('\u{FFFD}') || !full.starts_with(emitted.as_str()) {
            return Ok(String::new());
        }
        let delta = full[emitted.len()..].to_string();
        *emitted = full;
        Ok(delta)
    }
}
