//! A loaded model with everything needed to answer requests.

use super::spec::Task;
use crate::models::encoder::{EncoderModel, EncoderTask};
use crate::models::generator::Generator;
use crate::models::techniques::{PruningChoice, Techniques};
use crate::quant::WeightsInfo;
use crate::tokenizer::TextTokenizer;

/// The network of a served model.
#[derive(Debug)]
pub enum Network {
    /// An encoder with a classification or span head.
    Encoder(Box<EncoderModel>),
    /// A decoder-only generator.
    Generator(Box<dyn Generator>),
}

/// A loaded model with everything needed to answer requests.
#[derive(Debug)]
pub struct ServedModel {
    /// Name in requests.
    pub name: String,
    /// What it does.
    pub task: Task,
    /// The network.
    pub network: Network,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
    /// Number of parameters.
    pub parameters: usize,
    /// Parameters one token goes through (fewer than all in a mixture of experts).
    pub active_parameters: usize,
    /// Format and bytes of the weights as stored.
    pub weights: WeightsInfo,
    /// Architecture, e.g. `BertForSequenceClassification`.
    pub architecture: &'static str,
    /// Where it came from (`preset small (BERT-Small), seed 0` or the folder).
    pub source: String,
    /// Longest accepted input in tokens (prompt plus new tokens, for generators).
    pub max_input_tokens: usize,
    /// End-of-sequence token of a generator.
    pub eos: Option<u32>,
    /// How layer pruning chose the blocks it removed, when it did.
    pub pruning: Option<PruningChoice>,
    /// What a distilled preset was distilled from.
    pub distilled_from: Option<String>,
}

impl ServedModel {
    /// What the model's layout and launch did to save work (live: Mixture-of-Depths counts
    /// grow as it serves).
    pub fn techniques(&self) -> Techniques {
        let mut t = match &self.network {
            Network::Generator(g) => g.techniques(),
            Network::Encoder(_) => Techniques::default(),
        };
        t.layer_pruning = self.pruning.clone();
        t.distilled_from = self.distilled_from.clone();
        t
    }

    /// Labels of a classifier (empty for other models).
    pub fn labels(&self) -> &[String] {
        match &self.network {
            Network::Encoder(m) => match m.task() {
                EncoderTask::Classification(l) => l,
                EncoderTask::QuestionAnswering => &[],
            },
            Network::Generator(_) => &[],
        }
    }
}
